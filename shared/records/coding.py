"""The codes and document identifiers the FHIR and XDS destinations share, so both describe an item alike.

A record holding both the FHIR DocumentReference and the XDS DocumentEntry of
one photo sees the same unique id (FHIR masterIdentifier = XDS uniqueId, as
IHE MHD maps them) and the same class, type, facility, practice setting and
confidentiality codes. Codes are SNOMED CT where a SNOMED concept fits (UK
Core binds DocumentReference.type and category to SNOMED), with the source
each was checked against beside it; a trust that indexes differently maps
them at its registry.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from shared.records.document import RecordDocument, RecordItem, derived_oid, derived_uuid

SNOMED_SYSTEM = "http://snomed.info/sct"
SNOMED_OID = "2.16.840.1.113883.6.96"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"


@dataclass(frozen=True)
class Code:
    code: str
    display: str
    system: str = SNOMED_SYSTEM  # FHIR's system URI
    scheme_oid: str = SNOMED_OID  # XDS codingScheme

    def fhir(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


# Category / XDS classCode: "Imaging (procedure)" 363679005, the SNOMED parent of both kinds below.
IMAGING = Code("363679005", "Imaging")
# Type / XDS typeCode, one per kind: "Medical photography (procedure)" 169283005 and "Video imaging
# (procedure)" 371576000 (SNOMED CT International; 371576000 is listed beside 312337001 Thermography
# imaging among the imaging procedures).
PHOTO_TYPE = Code("169283005", "Medical photography")
VIDEO_TYPE = Code("371576000", "Video imaging")
# XDS healthcareFacilityTypeCode: "Hospital (environment)" 22232009.
FACILITY_TYPE = Code("22232009", "Hospital")
# XDS practiceSettingCode: "General medicine (qualifier value)" 394802001, the SNOMED specialty for a service
# that is not one specialty (MIA serves whichever team asked).
PRACTICE_SETTING = Code("394802001", "General medicine")
# Confidentiality: HL7 v3 "N" (normal health information), FHIR securityLabel and XDS confidentialityCode.
NORMAL = Code("N", "normal", system=CONFIDENTIALITY_SYSTEM, scheme_oid=CONFIDENTIALITY_OID)


def item_type(item: RecordItem) -> Code:
    return VIDEO_TYPE if item.is_video else PHOTO_TYPE


def document_unique_id(document: RecordDocument, item: RecordItem) -> str:
    """XDS uniqueId and FHIR masterIdentifier of one item: the same on every refiling and at every destination."""
    return derived_oid("record-document", document.encounter_id, item.media_id)


def document_entry_uuid(document: RecordDocument, item: RecordItem) -> str:
    """XDS entryUUID and the FHIR bundle entry's fullUrl (urn:uuid:…)."""
    return f"urn:uuid:{derived_uuid('record-document-entry', document.encounter_id, item.media_id)}"


def sha1_hex(content: bytes) -> str:
    """XDS hash: SHA-1, hex (ITI TF-3 4.2.3.2.18)."""
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()


def sha1_base64(content: bytes) -> str:
    """FHIR Attachment.hash: SHA-1, base64 (FHIR R4 datatypes, Attachment)."""
    return base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest()).decode("ascii")


def consent_sentence(document: RecordDocument) -> str:
    """The patient's consent in one sentence, for record viewers that show only text."""
    consent = document.consent
    teaching = "agreed" if consent.use_for_teaching else "did not agree"
    shared = "yes" if consent.share_with_care_team else "no"
    kept = "yes" if consent.keep_in_record else "no"
    return (
        f"Patient consent (version {consent.text_version}, {as_utc(consent.answered_at):%Y-%m-%d %H:%M} UTC): "
        f"share with care team {shared}; keep in health record {kept}; {teaching} to use for teaching."
    )


def as_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (the database's datetimes are naive UTC, shared.clock)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def fhir_instant(value: dt.datetime) -> str:
    """FHIR instant/dateTime: seconds and a zone are required."""
    return as_utc(value).replace(microsecond=0).isoformat()


def hl7_timestamp(value: dt.datetime) -> str:
    """XDS DTM (ITI TF-3 4.2.3.1.7): YYYYMMDDhhmmss in UTC."""
    return as_utc(value).strftime("%Y%m%d%H%M%S")
