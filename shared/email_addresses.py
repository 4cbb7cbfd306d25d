"""Email addresses people type, checked and normalised with email-validator (RFC 5322/6531 syntax, no DNS).

Used for patients' addresses at registration, team mailboxes and the sender
address. Deliverability is not checked here (no network at registration);
the provider's delivery receipt says whether it arrived.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254


class InvalidEmail(ValueError):
    """Not an email address; the message is a sentence for the person who typed it."""


def normalize_email_address(raw: str) -> str:
    value = (raw or "").strip()
    if not value or len(value) > MAX_LENGTH:
        raise InvalidEmail("Enter an email address such as name@example.com.")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidEmail("Enter an email address such as name@example.com.") from None
