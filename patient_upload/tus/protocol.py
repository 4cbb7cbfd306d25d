"""tus 1.0 protocol details: versions, extensions, header parsing and Upload-Metadata.

Upload-Metadata values come from the browser: file names are reduced to a
plain base name without control characters, CR/LF or path parts, and notes
to one tidy paragraph. Neither is trusted for anything but display.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from email.utils import format_datetime

from shared.encounters.uploads.service import DIGESTS, ExpectedDigest
from shared.numbers import whole_number

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "checksum", "termination", "expiration")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
CSRF_HEADER = "X-CSRF-Token"
REFUSAL_HEADER = "X-MIA-Refusal"

CHECKSUM_ALGORITHMS = DIGESTS

MAX_METADATA_HEADER = 8192
MAX_FILENAME_CHARS = 200
MAX_NOTE_CHARS = 500
FALLBACK_FILENAME = "file"

_KEY = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class ProtocolError(ValueError):
    """A request that breaks the tus protocol (answered 400 with this message)."""


def base_headers() -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}


def http_date(moment: dt.datetime) -> str:
    """RFC 7231 date for Upload-Expires (our datetimes are naive UTC)."""
    return format_datetime(moment.replace(tzinfo=dt.UTC), usegmt=True)


MAX_NUMBER_DIGITS = 19  # a signed 64-bit integer has at most 19 digits


def parse_non_negative(name: str, raw: str | None) -> int:
    """Upload-Length and Upload-Offset: ASCII digits only (tus 1.0 says "non-negative integer")."""
    value = whole_number(raw, MAX_NUMBER_DIGITS)
    if value is None:
        raise ProtocolError(f"{name} must be a non-negative whole number (digits 0-9, at most {MAX_NUMBER_DIGITS})")
    return value


def parse_checksum(raw: str | None) -> ExpectedDigest | None:
    """`Upload-Checksum: sha1 <base64>`; None when absent."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ProtocolError(f"checksum algorithm not supported; use one of {', '.join(CHECKSUM_ALGORITHMS)}")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("Upload-Checksum must be an algorithm name and a base64 digest") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise ProtocolError("Upload-Checksum digest has the wrong length for its algorithm")
    return ExpectedDigest(algorithm, digest)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """`key base64,key base64` → {key: text}; values must be UTF-8."""
    if not raw:
        return {}
    if len(raw) > MAX_METADATA_HEADER:
        raise ProtocolError("Upload-Metadata is too long")
    result: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        if not _KEY.fullmatch(key) or key in result:
            raise ProtocolError("Upload-Metadata keys must be unique ASCII words")
        try:
            result[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded else ""
        except (binascii.Error, ValueError):
            raise ProtocolError(f"Upload-Metadata value for {key!r} is not base64-encoded UTF-8") from None
    return result


def encode_metadata(values: Mapping[str, str | None]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}" for key, value in values.items() if value
    )


def clean_filename(raw: str | None) -> str:
    """A display name only: base name, no control characters, no leading dots, bounded length."""
    text = unicodedata.normalize("NFC", raw or "")
    text = _CONTROL.sub("", text)
    text = re.split(r"[/\\]", text)[-1]
    text = text.replace('"', "'").strip().lstrip(".").strip()
    if len(text) > MAX_FILENAME_CHARS:
        _stem, dot, extension = text.rpartition(".")
        keep = extension[:10] if dot and len(extension) <= 10 else ""
        text = text[: MAX_FILENAME_CHARS - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return text or FALLBACK_FILENAME


def clean_note(raw: str | None) -> str | None:
    """A patient's note about one file: one paragraph, control characters and CR/LF collapsed."""
    text = unicodedata.normalize("NFC", raw or "")
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) > MAX_NOTE_CHARS:
        raise ProtocolError(f"The note is too long ({len(text)} characters; at most {MAX_NOTE_CHARS}).")
    return text or None
