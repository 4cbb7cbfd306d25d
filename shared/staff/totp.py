"""Time-based one-time codes (RFC 6238) for the portal's second factor.

`pyotp.TOTP.verify` is stateless, so a code could be used twice within its
window. `matching_step` returns the time step a code belongs to; callers
store the last accepted step per user and refuse any code at or below it
(RFC 6238 §5.2).
"""

from __future__ import annotations

import re
import time

import pyotp
from pyotp.utils import strings_equal

from shared.numbers import ascii_digits

ISSUER = "MIA"
INTERVAL_SECONDS = 30
DIGITS = 6
VALID_WINDOW = 1  # accept the previous and next step too: phone clocks drift


def new_secret() -> str:
    """160 random bits, base32 (what authenticator apps expect)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app scans from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def normalize_code(raw: str) -> str | None:
    """Six ASCII digits, with any spaces people type removed; None when it cannot be a code."""
    return ascii_digits(re.sub(r"\s", "", raw or ""), max_digits=DIGITS, min_digits=DIGITS)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // INTERVAL_SECONDS)


def code_for_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS).generate_otp(step)


def matching_step(secret: str, raw_code: str, now: float | None = None) -> int | None:
    """The time step within the window whose code equals `raw_code`, or None."""
    code = normalize_code(raw_code)
    if code is None:
        return None
    step = current_step(now)
    matched = None
    for candidate in range(step - VALID_WINDOW, step + VALID_WINDOW + 1):
        if strings_equal(code, code_for_step(secret, candidate)):
            matched = candidate  # keep looping: same work whatever matched
    return matched
