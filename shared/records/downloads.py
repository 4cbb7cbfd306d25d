"""What a clinician takes away of a filing by hand: the FHIR bundle, audited like every other download.

A team whose record system MIA does not reach can still import the same
transaction Bundle a FHIR server would get; building it reads every display
copy, so it is built only when asked for, and each download is one audit
event (who, which encounter, how many documents and bytes — never content).
"""

from __future__ import annotations

import json

from shared import audit
from shared.context import Actor, AppContext
from shared.records.document import RecordDocument
from shared.records.fhir import fhir_bundle
from shared.records.gather import store_content


def fhir_bundle_json(ctx: AppContext, document: RecordDocument, *, actor: Actor) -> bytes:
    """The validated transaction Bundle as JSON bytes; records `records.bundle_downloaded`."""
    bundle = fhir_bundle(document, store_content(ctx), ctx.settings.records)
    body = json.dumps(bundle, indent=2, ensure_ascii=False).encode("utf-8")
    with ctx.engine.begin() as conn:
        audit.record(
            conn,
            "records.bundle_downloaded",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=document.encounter_id,
            remote_addr=actor.remote_addr,
            detail={"documents": len(document.items), "bytes": len(body)},
        )
    return body
