"""HMAC-signed, expiring URLs for objects in the filesystem store.

The upload service serves `/media/{key}` only when `verify()` accepts the
query string; the signature covers the key, the expiry, the download name and
the content type, so none can be changed without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from shared.numbers import whole_number

MEDIA_PATH = "/media/"
MAX_EXPIRES_DIGITS = 12  # Unix seconds: 10 digits until the year 2286


def content_disposition(download_name: str | None) -> str:
    """`inline`, or an attachment whose (patient-given) name cannot break the header (RFC 6266, ASCII fallback)."""
    if not download_name:
        return "inline"
    ascii_name = "".join(
        "'" if char == '"' else char if 32 <= ord(char) < 127 and char != "\\" else "_" for char in download_name
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(download_name, safe='')}"


@dataclass(frozen=True)
class SignedRequest:
    key: str
    download_name: str | None
    content_type: str | None


class UrlSigner:
    def __init__(self, key: bytes, base_url: str) -> None:
        self._key = key
        self._base_url = base_url.rstrip("/")

    def _signature(self, object_key: str, expires: int, download_name: str, content_type: str) -> str:
        message = "\n".join((object_key, str(expires), download_name, content_type)).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(
        self,
        object_key: str,
        expires_in: int,
        download_name: str | None = None,
        content_type: str | None = None,
        now: float | None = None,
    ) -> str:
        expires = int((time.time() if now is None else now) + expires_in)
        params = {"expires": str(expires)}
        if download_name:
            params["dl"] = download_name
        if content_type:
            params["ct"] = content_type
        params["sig"] = self._signature(object_key, expires, download_name or "", content_type or "")
        return f"{self._base_url}{MEDIA_PATH}{quote(object_key)}?{urlencode(params)}"

    def verify(self, object_key: str, query: Mapping[str, str], now: float | None = None) -> SignedRequest | None:
        """The request if the signature is valid and unexpired, else None."""
        expires = whole_number(query.get("expires"), MAX_EXPIRES_DIGITS)
        if expires is None:
            return None
        if expires < (time.time() if now is None else now):
            return None
        download_name = query.get("dl", "")
        content_type = query.get("ct", "")
        expected = self._signature(object_key, expires, download_name, content_type)
        if not hmac.compare_digest(expected, query.get("sig", "")):
            return None
        return SignedRequest(object_key, download_name or None, content_type or None)
