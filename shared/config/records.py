"""Settings for filing reviewed media to the patient record: DICOMweb (PACS), FHIR R4, IHE ITI-41 (XDS.b).

Each destination is on when its URL is set; any subset may be on. With none
set (the embedded default) the portal offers no "File to record" action and
says why. Every value comes from the environment; a bad one stops start-up
with one line naming the variable and never showing a secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.numbers import whole_number

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# The NHS number's assigning authority (HL7 UK OID); used for DICOM's issuer, FHIR's system and XDS's patientId.
NHS_NUMBER_OID = "2.16.840.1.113883.2.1.4.1"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
DESTINATIONS = ("dicom", "fhir", "xds")
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{8,4096}")


class RecordsConfigError(ValueError):
    """A records setting is malformed (message is one line naming the variable, never a secret)."""


@dataclass(frozen=True)
class RecordSettings:
    dicomweb_url: str | None = None  # STOW-RS base, e.g. https://pacs.example.nhs.uk/dicom-web
    dicomweb_token: str | None = field(default=None, repr=False)  # bearer
    dicomweb_username: str | None = None  # basic (with the password)
    dicomweb_password: str | None = field(default=None, repr=False)
    fhir_base_url: str | None = None
    fhir_token: str | None = field(default=None, repr=False)
    xds_repository_url: str | None = None  # the ITI-41 endpoint of the document repository
    xds_source_id: str = "2.25.1"  # SubmissionSet.sourceId: the OID this MIA installation submits as
    local_id_issuer: str = "MIA"  # issuer of a local patient identifier (encounter id) where a team allows it
    local_id_oid: str = "2.25.1"  # its OID, for XDS patientId and DICOM's issuer qualifiers
    institution_name: str = "MIA"  # DICOM InstitutionName, FHIR custodian display, XDS author institution
    timeout_seconds: int = 120  # one call to a destination (a video over a slow link takes a while)
    max_attempts: int = 6  # then the filing is failed, with its reason and a retry button
    poll_seconds: int = 5
    lease_seconds: int = 600  # at least three times the timeout: a filing in flight never outlives its lease

    @property
    def destinations(self) -> tuple[str, ...]:
        """The destinations that are on, in filing order."""
        urls = {"dicom": self.dicomweb_url, "fhir": self.fhir_base_url, "xds": self.xds_repository_url}
        return tuple(name for name in DESTINATIONS if urls[name])


def load_records(get: Callable[[str, str], str]) -> RecordSettings:
    """Read the records settings through `get(name, default)` (the settings loader's accessor)."""
    token = _token("MIA_DICOMWEB_TOKEN", get("MIA_DICOMWEB_TOKEN", ""))
    username = get("MIA_DICOMWEB_USERNAME", "") or None
    password = get("MIA_DICOMWEB_PASSWORD", "") or None
    if (username is None) != (password is None):
        raise RecordsConfigError("MIA_DICOMWEB_USERNAME and MIA_DICOMWEB_PASSWORD: set both (basic auth) or neither")
    if token and username:
        raise RecordsConfigError("MIA_DICOMWEB_TOKEN: set a bearer token or a username and password, not both")
    timeout = _count("MIA_RECORDS_TIMEOUT_SECONDS", get("MIA_RECORDS_TIMEOUT_SECONDS", "120"))
    lease = _count("MIA_RECORDS_LEASE_SECONDS", get("MIA_RECORDS_LEASE_SECONDS", str(max(600, 3 * timeout))))
    if lease < 3 * timeout:
        raise RecordsConfigError(
            f"MIA_RECORDS_LEASE_SECONDS: expected at least three times MIA_RECORDS_TIMEOUT_SECONDS ({3 * timeout}), "
            f"got {lease}: a filing in flight must never outlive its lease"
        )
    return RecordSettings(
        dicomweb_url=_url("MIA_DICOMWEB_URL", get("MIA_DICOMWEB_URL", "")),
        dicomweb_token=token,
        dicomweb_username=username,
        dicomweb_password=password,
        fhir_base_url=_url("MIA_FHIR_BASE_URL", get("MIA_FHIR_BASE_URL", "")),
        fhir_token=_token("MIA_FHIR_TOKEN", get("MIA_FHIR_TOKEN", "")),
        xds_repository_url=_url("MIA_XDS_REPOSITORY_URL", get("MIA_XDS_REPOSITORY_URL", "")),
        xds_source_id=_oid("MIA_XDS_SOURCE_ID", get("MIA_XDS_SOURCE_ID", "2.25.1")),
        local_id_issuer=_name("MIA_LOCAL_ID_ISSUER", get("MIA_LOCAL_ID_ISSUER", "MIA"), maximum=64),
        local_id_oid=_oid("MIA_LOCAL_ID_OID", get("MIA_LOCAL_ID_OID", "2.25.1")),
        institution_name=_name("MIA_INSTITUTION_NAME", get("MIA_INSTITUTION_NAME", "MIA"), maximum=64),
        timeout_seconds=timeout,
        max_attempts=_count("MIA_RECORDS_MAX_ATTEMPTS", get("MIA_RECORDS_MAX_ATTEMPTS", "6")),
        poll_seconds=_count("MIA_RECORDS_POLL_SECONDS", get("MIA_RECORDS_POLL_SECONDS", "5")),
        lease_seconds=lease,
    )


def _url(name: str, raw: str) -> str | None:
    """HTTPS, or plain HTTP to this machine only (the tests' Orthanc and loopback servers): records are PHI."""
    if not raw:
        return None
    parts = urlsplit(raw)
    plain_ok = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if (parts.scheme != "https" and not plain_ok) or not parts.hostname or parts.query or parts.fragment:
        raise RecordsConfigError(f"{name}: expected an https URL without a query, got {raw!r}")
    if parts.username or parts.password:
        raise RecordsConfigError(f"{name}: credentials belong in their own variables, not in the URL")
    return raw.rstrip("/")


def _token(name: str, raw: str) -> str | None:
    if not raw:
        return None
    if not _TOKEN.fullmatch(raw):
        raise RecordsConfigError(f"{name}: expected 8 to 4096 characters of letters, digits and -._~+/=")
    return raw


def _oid(name: str, raw: str) -> str:
    if not _OID.fullmatch(raw) or len(raw) > 64:
        raise RecordsConfigError(f"{name}: expected an OID such as 2.16.840.1.113883.2.1.4.1, got {raw!r}")
    return raw


def _name(name: str, raw: str, *, maximum: int) -> str:
    value = " ".join(raw.split())
    if not value or len(value) > maximum or any(ord(char) < 32 or char in "\\^=" for char in value):
        raise RecordsConfigError(f"{name}: expected 1 to {maximum} characters without \\ ^ or =, got {raw!r}")
    return value


def _count(name: str, raw: str) -> int:
    value = whole_number(raw, max_digits=6)
    if value is None or value == 0:
        raise RecordsConfigError(f"{name}: expected a whole number above 0 (digits 0-9), got {raw!r}")
    return value
