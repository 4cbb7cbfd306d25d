"""The secrets no log line may carry, and the one step that blanks them.

Invite tokens, session and form cookies, CSRF and enrollment tokens, signed
URL signatures and credentials (a GOV.UK Notify key's secret half, the
password in MIA_SMTP_URL, Notify's callback bearer token) reach log text by ways we do not write
ourselves: aiohttp logs the first 100 bytes of a request line or header that
is too long, a library's exception quotes a URL, a debug log prints headers.
So the whole formatted line (message, arguments, `extra` fields, traceback)
goes through `Redactor.redact` just before it is written: whatever put the
secret there, the name stays and the value becomes `[redacted]`.

The line is usually JSON, so a value stops at a quote or backslash: blanking
it never breaks the line's JSON or an escape sequence in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

# Cookies whose value is a credential; each may carry the `__Host-` prefix.
# The portal's cookie name is configurable (MIA_PORTAL_COOKIE_NAME): callers add it.
SECRET_COOKIES = ("mia_session", "mia_form", "mia_portal_auth", "_streamlit_xsrf")

# Form fields, query parameters and single-token headers whose value is a credential:
# CSRF and form tokens, the portal's enrollment link (`?enroll=`), the filesystem
# store's signed media URLs (`sig`, see shared/storage/signed_urls.py), S3
# pre-signed URLs (SigV4, and SigV2's `Signature`/`AWSAccessKeyId`).
SECRET_FIELDS = (
    "csrf_token",
    "form_token",
    "x-csrf-token",
    "enroll",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "awsaccesskeyid",
)

# Headers whose whole value (spaces included) is a credential or holds credentials.
SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")

# `name=value`, `name: value`, `'name': 'value'`, `"name": b"value"`, and their JSON-escaped forms.
_SEPARATOR = r"""\\?["']?[ \t]*(?:=|:|%3d)[ \t]*(?:b?\\?["'])?"""
# A token-like value: stops where a URL, cookie, header or quoted string would end it.
_FIELD_VALUE = r"""[^\s&;,#?"'\\<>\[\]{}()]+"""
# A header value: the rest of the header, up to a line break or the end of the quoted string.
_HEADER_VALUE = r"""[^\r\n"'\\]+"""
# The invite link's path `/p/<token>` (also percent-encoded, e.g. inside another URL's query).
_INVITE_PATH = r"(?:/|%2f)p(?:/|%2f)"
_INVITE_VALUE = r"""[^\s/&;,#?"'\\<>\[\]{}()]+"""
# aiohttp's "Got more than 8190 bytes when reading: b'…'": the first 100 bytes of an over-long line. For a
# header value that is the value alone (an X-CSRF-Token, a bearer token), with no name to recognise it by.
_EXCERPT_START = r"""bytes when reading: (?:bytearray\()?b?\\?["']"""
_EXCERPT = r"""[^\r\n]{0,600}?(?=\.\.\.\\?["'])"""
# Two more, each its own pass that starts from a literal ("://", "-"), so that they cost about 1 µs a line
# together (':' and '-' in the main pattern's first-character check would make every line 70 % slower):
# the password in a URL's user information (`smtp://user:PASSWORD@relay`: MIA_SMTP_URL in an error) ...
_USERINFO = re.compile(r"""(?P<keep>://[^\s/@:"'\\]*:)[^\s/@"'\\]+(?=@)""")
# ... and the secret half of a GOV.UK Notify API key, NAME-SERVICE_ID-SECRET (two UUIDs; the service id stays).
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_NOTIFY_KEY = re.compile(rf"(?P<keep>-{_UUID}-){_UUID}")
# A name starts a word, or follows an escaped line break (`\r\nCookie:` in a bytes repr).
_BOUNDARY = r"(?:(?<![A-Za-z0-9_-])|(?<=\\[rnt]))"


def _names(names: Iterable[str]) -> str:
    # longest first, so `x-amz-signature` wins over `signature` at the same place
    return "|".join(re.escape(name) for name in sorted(set(names), key=len, reverse=True))


class Redactor:
    """One compiled pattern for every kind of secret, so a line costs one regex pass."""

    def __init__(self, cookie_names: Iterable[str] = ()) -> None:
        cookies = _names((*SECRET_COOKIES, *cookie_names))
        # Every match starts with one of these characters: checking it first lets the scan skip most places fast.
        first = {name[0] for name in (*SECRET_HEADERS, *SECRET_COOKIES, *cookie_names, *SECRET_FIELDS)} | set("/%b")
        self._pattern = re.compile(
            rf"(?=[{re.escape(''.join(sorted(first)))}])"
            rf"(?:(?P<header>{_BOUNDARY}(?:{_names(SECRET_HEADERS)}){_SEPARATOR}){_HEADER_VALUE}"
            rf"|(?P<field>{_BOUNDARY}(?:(?:__Host-)?(?:{cookies})|{_names(SECRET_FIELDS)}){_SEPARATOR}){_FIELD_VALUE}"
            rf"|(?P<invite>{_INVITE_PATH}){_INVITE_VALUE}"
            rf"|(?P<excerpt>{_EXCERPT_START}){_EXCERPT})",
            re.IGNORECASE,
        )

    def redact(self, text: str) -> str:
        """`text` with every secret value replaced by `[redacted]` (names and separators kept)."""
        text = self._pattern.sub(_keep_name, text)
        text = _USERINFO.sub(_keep_start, text)
        return _NOTIFY_KEY.sub(_keep_start, text)


_PREFIXES = ("header", "field", "invite", "excerpt")


def _keep_name(match: re.Match[str]) -> str:
    prefix = next(match.group(name) for name in _PREFIXES if match.group(name) is not None)
    return prefix + REDACTED


def _keep_start(match: re.Match[str]) -> str:
    return match.group("keep") + REDACTED
