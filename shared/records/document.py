"""What a filing sends: one reviewed encounter, decrypted, with its items.

Every filer (DICOM, FHIR, XDS) builds its message from a `RecordDocument` and
reads the items' bytes through `ItemContent`; none of them reads the database
or the store itself, so each can be tested from a document built in the test.
Identifiers that must stay the same across retries (the DICOM study and
instance UIDs, XDS unique ids, FHIR fullUrls) are derived from the encounter
and media ids here, never stored or generated at filing time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from shared.config.records import NHS_NUMBER_OID, NHS_NUMBER_SYSTEM

# uuid5 namespace for every identifier MIA derives for the record (a fixed random UUID; never change it:
# a refiling must produce the same identifiers as the first filing).
RECORD_NAMESPACE = uuid.UUID("6d1f5a36-3f0e-4d0b-9a54-2b3c7b6f8e21")


def derived_uuid(*parts: str) -> uuid.UUID:
    """A UUID that is the same every time for the same parts (study, instance, document, bundle entry)."""
    return uuid.uuid5(RECORD_NAMESPACE, "/".join(parts))


def derived_oid(*parts: str) -> str:
    """A DICOM/XDS OID under 2.25 (ISO/IEC 9834-8: the UUID as one integer), stable for the same parts."""
    return f"2.25.{derived_uuid(*parts).int}"


@dataclass(frozen=True)
class PatientIdentifier:
    """The NHS number with its issuer, or (where the team allows it) a local identifier under MIA's issuer."""

    value: str
    issuer: str  # DICOM IssuerOfPatientID: "NHS" or the local issuer's name
    oid: str  # assigning authority OID: NHS_NUMBER_OID or MIA_LOCAL_ID_OID
    system: str  # FHIR identifier system
    is_nhs_number: bool

    @classmethod
    def nhs_number(cls, value: str) -> PatientIdentifier:
        return cls(value=value, issuer="NHS", oid=NHS_NUMBER_OID, system=NHS_NUMBER_SYSTEM, is_nhs_number=True)


@dataclass(frozen=True)
class RecordPatient:
    name: str  # as the patient's record holds it ("Ada Lovelace"); filers split it for DICOM's PN
    date_of_birth: dt.date
    identifier: PatientIdentifier


@dataclass(frozen=True)
class RecordConsent:
    """The patient's consent answers as given (text version and time), for the record."""

    text_version: str
    share_with_care_team: bool
    keep_in_record: bool
    use_for_teaching: bool
    answered_at: dt.datetime


@dataclass(frozen=True)
class RecordAuthor:
    """The reviewing clinician: the author of the filed documents."""

    user_id: str
    username: str
    display_name: str
    team: str | None


@dataclass(frozen=True)
class RecordItem:
    """One photo or video as filed: its display copy (a baseline JPEG, or an H.264 MP4), never the original."""

    media_id: str
    kind: str  # "photo" or "video"
    content_type: str  # of the display copy: image/jpeg or video/mp4
    size: int  # bytes of the display copy
    width: int | None
    height: int | None
    duration_seconds: float | None
    acquired_at: dt.datetime  # when it was taken where known (EXIF / container), else when it arrived
    title: str  # "Photo 1 of 3", for record viewers that list documents
    note: str | None  # the patient's note on this item
    storage_key: str  # the display copy's key in the object store

    @property
    def is_video(self) -> bool:
        return self.kind == "video"


@dataclass(frozen=True)
class RecordDocument:
    """One reviewed encounter as every destination files it."""

    encounter_id: str
    reference: str  # the request's reference (first 8 characters of its id, upper case): AccessionNumber
    organisation_name: str
    team: str | None
    patient: RecordPatient
    request_note: str | None  # what the clinician asked for
    body_site: str | None  # where the clinician gave one, e.g. "left forearm"
    consent: RecordConsent
    author: RecordAuthor
    submitted_at: dt.datetime
    reviewed_at: dt.datetime
    review_note: str | None
    items: tuple[RecordItem, ...]

    @property
    def study_uid(self) -> str:
        """StudyInstanceUID, the same on every retry: refiling updates the study rather than duplicating it."""
        return derived_oid("study", self.encounter_id)

    def instance_uid(self, item: RecordItem) -> str:
        return derived_oid("instance", self.encounter_id, item.media_id)

    def series_uid(self, kind: str) -> str:
        """One series per kind (photos, videos) in the study."""
        return derived_oid("series", self.encounter_id, kind)


# Reads the display copy's bytes of one item (from the object store, in production; from memory in tests).
ItemContent = Callable[[RecordItem], bytes]
