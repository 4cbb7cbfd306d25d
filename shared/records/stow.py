"""DICOMweb STOW-RS (PS3.18 §10.5): one multipart POST of DICOM files, and what the answer means for a filing.

The answer's status says little on its own (200: all stored, 202: some
failed or were coerced, 409: all failed); the JSON body's
ReferencedSOPSequence and FailedSOPSequence (with each FailureReason) say
which instance fared how. A duplicate (0x0111: the PACS already holds that
SOP Instance UID, which a refiling sends again on purpose) counts as filed;
out of resources (0xA7xx) is worth retrying; any other failure is refused
with its meaning. Reasons never quote the server's text, which may echo
patient data back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from shared.config.records import RecordSettings
from shared.records.errors import DestinationRefused, DestinationUnavailable
from shared.records.reach import reaching

REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
DUPLICATE_SOP_INSTANCE = 0x0111
FAILURE_MEANINGS = {
    0x0110: "processing failure",
    0x0111: "duplicate SOP instance",
    0x0112: "no such object instance",
    0x0117: "invalid object instance",
    0x0122: "SOP class not supported",
    0x0124: "not authorised",
    0xA900: "data set does not match the SOP class",
    0xC122: "transfer syntax not supported",
}
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class StowAnswer:
    stored: int  # listed in ReferencedSOPSequence
    duplicates: int  # failed as already held: filed all the same
    unconfirmed: int  # accepted without the answer naming them (no JSON body, say)


class _MultipartBody:
    """The request body read part by part, so the DICOM files are not copied into one more buffer."""

    def __init__(self, boundary: str, files: Sequence[bytes]) -> None:
        head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        self._parts: list[bytes] = []
        for data in files:
            self._parts += [head, data, b"\r\n"]
        self._parts.append(f"--{boundary}--\r\n".encode())
        self._length = sum(len(part) for part in self._parts)
        self._index = 0
        self._offset = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        chunks: list[bytes] = []
        wanted = self._length if size is None or size < 0 else size
        while wanted > 0 and self._index < len(self._parts):
            part = self._parts[self._index]
            chunk = part[self._offset : self._offset + wanted]
            chunks.append(chunk)
            wanted -= len(chunk)
            self._offset += len(chunk)
            if self._offset >= len(part):
                self._index += 1
                self._offset = 0
        return b"".join(chunks)


def stow_request(session: requests.Session, settings: RecordSettings, files: Sequence[bytes]) -> requests.Response:
    """POST the files to {MIA_DICOMWEB_URL}/studies; raises DestinationUnavailable when the PACS can't be reached."""
    assert settings.dicomweb_url is not None
    url = f"{settings.dicomweb_url}/studies"
    boundary = f"mia-{uuid.uuid4().hex}"
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json",
    }
    auth = None
    if settings.dicomweb_token:
        headers["Authorization"] = f"Bearer {settings.dicomweb_token}"
    elif settings.dicomweb_username and settings.dicomweb_password:
        auth = (settings.dicomweb_username, settings.dicomweb_password)
    host = urlsplit(url).netloc
    with reaching("The PACS", host, settings.timeout_seconds):
        response = session.post(
            url,
            data=_MultipartBody(boundary, files),
            headers=headers,
            auth=auth,
            timeout=settings.timeout_seconds,
            allow_redirects=False,
        )
    return response


def read_stow_answer(response: requests.Response, sent: Sequence[str]) -> StowAnswer:
    """What the PACS did with the instances `sent` (their SOP Instance UIDs); raises for failures."""
    status = response.status_code
    _check_status(response)
    body = _json_body(response)
    stored = {_value(item, REFERENCED_SOP_INSTANCE_UID) for item in _sequence(body, REFERENCED_SOP_SEQUENCE)}
    failures = [
        (_value(item, REFERENCED_SOP_INSTANCE_UID), _value(item, FAILURE_REASON))
        for item in _sequence(body, FAILED_SOP_SEQUENCE)
    ]
    duplicates = {uid for uid, reason in failures if reason == DUPLICATE_SOP_INSTANCE}
    real_failures = [reason for uid, reason in failures if reason != DUPLICATE_SOP_INSTANCE]
    if real_failures:
        _raise_for_failures(real_failures, len(sent))
    if status == 409 and not duplicates:
        raise DestinationRefused(f"the PACS refused all {len(sent)} instance(s) (HTTP 409) without saying why")
    confirmed = (stored | duplicates) & set(sent)
    return StowAnswer(
        stored=len(stored & set(sent)),
        duplicates=len(duplicates & set(sent) - stored),
        unconfirmed=len(set(sent) - confirmed),
    )


def _check_status(response: requests.Response) -> None:
    status = response.status_code
    if status in (200, 202, 409):
        return
    label = f"HTTP {status}"
    if status in RETRY_STATUSES or status >= 500:
        raise DestinationUnavailable(f"the PACS is not taking instances now ({label}); MIA will try again")
    if status in (401, 403):
        raise DestinationRefused(
            f"the PACS refused MIA's credentials ({label}): check MIA_DICOMWEB_USERNAME and "
            "MIA_DICOMWEB_PASSWORD, or MIA_DICOMWEB_TOKEN"
        )
    if status in (404, 405) or 300 <= status < 400:
        raise DestinationRefused(f"no STOW-RS service at MIA_DICOMWEB_URL/studies ({label}): check MIA_DICOMWEB_URL")
    if status == 413:
        raise DestinationRefused(f"the PACS refused the upload as too large ({label})")
    if status == 415:
        raise DestinationRefused(f"the PACS does not take application/dicom over STOW-RS ({label})")
    raise DestinationRefused(f"the PACS refused the instances ({label})")


def _raise_for_failures(reasons: list[int | None], sent: int) -> None:
    if any(reason is not None and 0xA700 <= reason <= 0xA7FF for reason in reasons):
        raise DestinationUnavailable("the PACS is out of resources (failure 0xA7xx); MIA will try again")
    meanings = sorted({_meaning(reason) for reason in reasons})
    raise DestinationRefused(f"the PACS refused {len(reasons)} of {sent} instance(s): {'; '.join(meanings)}")


def _meaning(reason: int | None) -> str:
    if reason is None:
        return "no reason given"
    if reason in FAILURE_MEANINGS:
        return f"{FAILURE_MEANINGS[reason]} (0x{reason:04X})"
    if 0xC000 <= reason <= 0xCFFF:
        return f"cannot understand (0x{reason:04X})"
    return f"failure 0x{reason:04X}"


def _json_body(response: requests.Response) -> dict[str, Any]:
    if "json" not in response.headers.get("Content-Type", ""):
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    if isinstance(body, list):  # some servers wrap the one dataset in an array
        body = body[0] if body else {}
    return body if isinstance(body, dict) else {}


def _sequence(body: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    element = body.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return [item for item in values or [] if isinstance(item, dict)]


def _value(item: dict[str, Any], tag: str) -> Any:
    element = item.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return values[0] if values else None
