"""FHIR R4 destination: one transaction Bundle per encounter, one UK Core DocumentReference per item.

Each entry is a conditional update, `PUT DocumentReference?identifier=<the
item's unique id>`: the server creates the resource the first time and
updates the same one on every refiling, so a retry never duplicates. The
Bundle is validated with `fhir.resources.R4B` before it leaves: the
package's newest release (8.x) models R5 at its top level and R4B (4.3.0)
beneath; R4B's Bundle, DocumentReference and datatypes are R4's
unchanged, which UK Core (R4 4.0.1) profiles, and no R4 module exists in it.
fhir.resources checks structure and datatypes but neither code values nor
1..* cardinalities, so those few rules are checked here too.

The transaction is all or nothing (FHIR http.html#transaction): a
transaction-response whose every entry is 2xx means the record holds every
item (acknowledged); an OperationOutcome is a refusal; no answer, a 5xx or
429 is "try again later".
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from shared.config.records import RecordSettings
from shared.records import coding
from shared.records.document import ItemContent, RecordDocument, RecordItem, derived_uuid
from shared.records.errors import DestinationRefused, DestinationUnavailable, RecordsError
from shared.records.filer import FilingOutcome
from shared.records.reach import reaching

UK_CORE_DOCUMENT_REFERENCE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-DocumentReference"
URI_SYSTEM = "urn:ietf:rfc:3986"
# MIA's extension carrying the patient's consent answers as given (a complex extension; the same words are in
# the description for viewers that ignore extensions).
CONSENT_EXTENSION = "urn:mia:fhir:StructureDefinition:patient-consent"
FHIR_JSON = "application/fhir+json"
DOCUMENT_STATUSES = {"current", "superseded", "entered-in-error"}
_REASON_LIMIT = 300


def fhir_bundle(document: RecordDocument, content: ItemContent, settings: RecordSettings) -> dict[str, object]:
    """The validated transaction Bundle as JSON-ready data (what is filed, and what the portal offers to download).

    Raises RecordsError when it cannot be made valid (a bug or a bad item, never fixed by retrying).
    """
    if not document.items:
        raise RecordsError("There is nothing to file: the encounter has no photos or videos.")
    entries = [_entry(document, item, content(item), settings) for item in document.items]
    _check_rules(entries)
    data = {
        "resourceType": "Bundle",
        "identifier": {"system": URI_SYSTEM, "value": f"urn:uuid:{derived_uuid('fhir-bundle', document.encounter_id)}"},
        "type": "transaction",
        "entry": entries,
    }
    try:
        validated = Bundle.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RecordsError(f"The FHIR bundle is not valid R4 ({where}: {first['msg']}).") from exc
    return json.loads(validated.model_dump_json())


def file_fhir(document: RecordDocument, content: ItemContent, settings: RecordSettings) -> FilingOutcome:
    """POST the transaction Bundle to MIA_FHIR_BASE_URL; acknowledged when every entry answers 2xx."""
    if not settings.fhir_base_url:
        raise DestinationRefused("FHIR filing is off: MIA_FHIR_BASE_URL is not set.")
    try:
        bundle = fhir_bundle(document, content, settings)
    except RecordsError as exc:
        raise DestinationRefused(str(exc)) from exc
    # return=minimal: the answer need not echo every document's base64 back (a video is megabytes)
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, "Prefer": "return=minimal"}
    if settings.fhir_token:
        headers["Authorization"] = f"Bearer {settings.fhir_token}"
    host = urlsplit(settings.fhir_base_url).netloc
    with reaching("The FHIR server", host, settings.timeout_seconds):
        response = requests.post(
            settings.fhir_base_url,
            data=json.dumps(bundle, separators=(",", ":")).encode("utf-8"),
            headers=headers,
            timeout=settings.timeout_seconds,
        )
    return _outcome(response, host, expected=len(document.items))


def _entry(document: RecordDocument, item: RecordItem, data: bytes, settings: RecordSettings) -> dict[str, Any]:
    unique_id = f"urn:oid:{coding.document_unique_id(document, item)}"
    query = urlencode({"identifier": f"{URI_SYSTEM}|{unique_id}"})
    return {
        "fullUrl": coding.document_entry_uuid(document, item),
        "resource": _document_reference(document, item, data, unique_id, settings),
        "request": {"method": "PUT", "url": f"DocumentReference?{query}"},
    }


def _document_reference(
    document: RecordDocument, item: RecordItem, data: bytes, unique_id: str, settings: RecordSettings
) -> dict[str, object]:
    patient = document.patient.identifier
    author = document.author
    return {
        "resourceType": "DocumentReference",
        "meta": {"profile": [UK_CORE_DOCUMENT_REFERENCE]},
        "extension": [_consent_extension(document)],
        "masterIdentifier": {"system": URI_SYSTEM, "value": unique_id},
        "identifier": [{"system": URI_SYSTEM, "value": coding.document_entry_uuid(document, item)}],
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [coding.item_type(item).fhir()],
            "text": "Clinical video" if item.is_video else "Clinical photograph",
        },
        "category": [{"coding": [coding.IMAGING.fhir()]}],
        "subject": {"identifier": {"system": patient.system, "value": patient.value}},
        "date": coding.fhir_instant(document.reviewed_at),
        "author": [
            {
                "identifier": {"system": URI_SYSTEM, "value": f"urn:uuid:{derived_uuid('staff', author.user_id)}"},
                "display": author.display_name,
            }
        ],
        "custodian": {"display": document.organisation_name},
        "description": _description(document, item),
        "securityLabel": [{"coding": [coding.NORMAL.fhir()]}],
        "content": [
            {
                "attachment": {
                    "contentType": item.content_type,
                    "data": base64.b64encode(data).decode("ascii"),
                    "size": len(data),
                    "hash": coding.sha1_base64(data),
                    "title": item.title,
                    "creation": coding.fhir_instant(item.acquired_at),
                }
            }
        ],
        "context": {
            "period": {"start": coding.fhir_instant(item.acquired_at), "end": coding.fhir_instant(item.acquired_at)},
            "practiceSetting": {"coding": [coding.PRACTICE_SETTING.fhir()]},
            "facilityType": {"coding": [coding.FACILITY_TYPE.fhir()]},
            "related": [
                {
                    "type": "ServiceRequest",
                    "identifier": {"system": f"urn:oid:{settings.xds_source_id}", "value": document.reference},
                    "display": f"Request {document.reference}",
                }
            ],
        },
    }


def _description(document: RecordDocument, item: RecordItem) -> str:
    """What a record viewer shows beside the document: what it is, where, the notes, and the consent."""
    parts = [f"{item.title} sent by the patient for request {document.reference}"]
    if document.body_site:
        parts.append(f"Body site: {document.body_site}")
    if document.request_note:
        parts.append(f"The clinician asked: {document.request_note}")
    if item.note:
        parts.append(f"The patient's note: {item.note}")
    if document.review_note:
        parts.append(f"Review note: {document.review_note}")
    return ". ".join(parts) + ". " + coding.consent_sentence(document)


def _consent_extension(document: RecordDocument) -> dict[str, object]:
    consent = document.consent
    return {
        "url": CONSENT_EXTENSION,
        "extension": [
            {"url": "textVersion", "valueString": consent.text_version},
            {"url": "shareWithCareTeam", "valueBoolean": consent.share_with_care_team},
            {"url": "keepInRecord", "valueBoolean": consent.keep_in_record},
            {"url": "useForTeaching", "valueBoolean": consent.use_for_teaching},
            {"url": "answeredAt", "valueDateTime": coding.fhir_instant(consent.answered_at)},
        ],
    }


def _check_rules(entries: list[dict[str, Any]]) -> None:
    """What fhir.resources does not check: the required code and the 1..* list our filing relies on."""
    for index, entry in enumerate(entries):
        resource = entry["resource"]
        if resource.get("status") not in DOCUMENT_STATUSES:
            raise RecordsError(f"The FHIR bundle is not valid R4 (entry {index}: DocumentReference.status).")
        if not resource.get("content"):
            raise RecordsError(f"The FHIR bundle is not valid R4 (entry {index}: DocumentReference.content is empty).")


def _outcome(response: requests.Response, host: str, *, expected: int) -> FilingOutcome:
    status = response.status_code
    if status in (401, 403):
        raise DestinationRefused(
            f"The FHIR server at {host} refused MIA's credentials ({status}): check MIA_FHIR_TOKEN."
        )
    if status == 429 or status >= 500:
        raise DestinationUnavailable(f"The FHIR server at {host} answered {status}{_diagnostics(response)}.")
    if status >= 300:
        raise DestinationRefused(f"The FHIR server at {host} refused the bundle ({status}){_diagnostics(response)}.")
    body = _json(response)
    if body.get("resourceType") != "Bundle" or body.get("type") != "transaction-response":
        raise DestinationRefused(f"The FHIR server at {host} answered {status} without a transaction-response.")
    entries = body.get("entry") if isinstance(body.get("entry"), list) else []
    statuses = [str((entry.get("response") or {}).get("status", "")) for entry in entries if isinstance(entry, dict)]
    failed = [answer for answer in statuses if not answer.startswith("2")]
    if len(statuses) != expected or failed:
        raise DestinationRefused(
            f"The FHIR server at {host} did not store every document ({len(statuses)} answers for {expected}"
            f"{', ' + failed[0] if failed else ''})."
        )
    created = sum(answer.startswith("201") for answer in statuses)
    return FilingOutcome(
        acknowledged=True,
        detail=f"{expected} DocumentReference{'s' if expected != 1 else ''} on {host} "
        f"({created} created, {expected - created} updated)",
    )


def _json(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object, or {} (a proxy's HTML error page, say)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _diagnostics(response: requests.Response) -> str:
    """The OperationOutcome's first issue, in one line: what the server says is wrong."""
    body = _json(response)
    issues = body.get("issue") if body.get("resourceType") == "OperationOutcome" else None
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, dict):
            continue
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code")
        if text:
            line = " ".join(str(text).split())
            return f": {line[:_REASON_LIMIT]}"
    return ""
