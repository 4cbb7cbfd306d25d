"""The live patient link of an encounter: showing it again and sending it again.

Only the SHA-256 of an invite token is kept with the encounter; the link
itself exists only inside the (encrypted) outbox message that carried it.
Sending again re-queues that same link, so the patient's first message
keeps working; a new link is `shared.encounters.reissue_invite`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Connection

from shared import audit
from shared.context import AppContext
from shared.encounters.requests import (
    CLOSED_STATUSES,
    EncounterError,
    Invite,
    decrypt_patient,
    invite_expiry_text,
    invite_link,
)
from shared.ids import token_hash
from shared.notifications.outbox import KIND_PATIENT_INVITE


def _links_in(body: str, patient_base_url: str) -> list[str]:
    prefix = re.escape(invite_link(patient_base_url, ""))
    return re.findall(prefix + r"[A-Za-z0-9_-]+", body)


def current_invite(ctx: AppContext, conn: Connection, row: Any) -> Invite | None:
    """The encounter's live link read back from the outbox, or None when no message holds it."""
    if row.invite_token_hash is None or row.invite_expires_at is None:
        return None
    for message in ctx.notifier.for_encounter(conn, row.id):
        if message.kind != KIND_PATIENT_INVITE:
            continue
        for link in _links_in(message.body, ctx.settings.patient_base_url):
            token = link.rsplit("/", 1)[-1]
            if token_hash(token) == row.invite_token_hash:
                return Invite(row.id, token, link, row.invite_expires_at)
    return None


def resend_invite(
    ctx: AppContext,
    conn: Connection,
    row: Any,
    *,
    actor_id: str,
    now: dt.datetime,
    remote_addr: str | None = None,
) -> Invite:
    """Queue the same live link again to the patient's phone and/or email."""
    if row.deleted_at is not None:
        raise EncounterError("That encounter does not exist.")
    if row.status in CLOSED_STATUSES:
        raise EncounterError("The patient has already sent their photos and videos.")
    if row.locked_at is not None:
        raise EncounterError("The link is locked after wrong dates of birth. Unlock it, or issue a new link.")
    if row.invite_expires_at is None or row.invite_expires_at <= now:
        raise EncounterError("The link has expired. Issue a new link instead.")
    invite = current_invite(ctx, conn, row)
    if invite is None:
        raise EncounterError("The current link is no longer in the outbox. Issue a new link instead.")
    patient = decrypt_patient(ctx.cipher, row)
    ctx.notifier.invite_patient(
        conn,
        encounter_id=row.id,
        link=invite.link,
        expires_text=invite_expiry_text(invite.expires_at),
        phone=patient.phone,
        email=patient.email,
    )
    audit.record(
        conn,
        "invite.resent",
        actor_type=audit.ACTOR_USER,
        actor_id=actor_id,
        encounter_id=row.id,
        remote_addr=remote_addr,
    )
    return invite
