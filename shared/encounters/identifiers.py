"""Validation and normalisation of patient identifiers typed by people.

Each function returns the normalised value or raises `InvalidIdentifier`
with a message a clinician can act on.
"""

from __future__ import annotations

import datetime as dt
import re

import phonenumbers
from phonenumbers import PhoneNumberType

from shared.email_addresses import InvalidEmail, normalize_email_address
from shared.numbers import ascii_digits

_DATE_FORMAT = "Enter the date of birth as YYYY-MM-DD, for example 1980-04-23."


class InvalidIdentifier(ValueError):
    """The value was typed wrongly; the message says how to fix it."""


def normalize_nhs_number(raw: str) -> str:
    """Ten digits with a valid modulus-11 check digit; spaces and dashes allowed."""
    digits = ascii_digits(re.sub(r"[\s-]", "", raw or ""), max_digits=10, min_digits=10)
    if digits is None:
        raise InvalidIdentifier("An NHS number has 10 digits, for example 943 476 5919.")
    total = sum(int(digit) * weight for digit, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != int(digits[9]):
        raise InvalidIdentifier("That NHS number is not valid (its check digit does not match). Please check it.")
    return digits


def format_nhs_number(digits: str) -> str:
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


# Ofcom's range for drama and tests (07700 900000-900999): real mobile numbers in form, never anyone's
# phone; `phonenumbers` calls them invalid, GOV.UK Notify's smoke tests use them, so they are taken as mobiles.
_DRAMA_MOBILES = re.compile(r"\+447700900\d{3}")
_PHONE_CHARACTERS = re.compile(r"[0-9+() .-]{1,30}")
# Crown dependencies share +44 and Notify texts them as UK numbers.
_UK_REGIONS = {"GB", "GG", "JE", "IM"}
NOT_A_MOBILE = "Enter a UK mobile number, for example 07700 900123."
NOT_UK = (
    "Only UK mobile numbers (07…, or +44 7…) can be sent a text. For a number from another country, "
    "use the patient's email address or hand the link over in clinic."
)
CANNOT_TEXT = (
    "This number can't receive texts (it is a landline or another kind of number that is not a mobile). "
    "Enter a UK mobile number, use the patient's email address, or hand the link over in clinic."
)


def normalize_uk_mobile(raw: str) -> str:
    """A UK mobile number in E.164 form (+447…), parsed with `phonenumbers` (the libphonenumber data).

    Refused at registration rather than as a failed text later: anything
    that is not a phone number, a number outside the UK (texts go through
    GOV.UK Notify's UK service) and a UK number that cannot receive texts
    (landline, freephone, pager, VoIP, personal number), each with its own sentence.
    """
    value = " ".join((raw or "").split())  # a pasted number may carry tabs or no-break spaces
    if not _PHONE_CHARACTERS.fullmatch(value):  # ASCII digits only: no letters (vanity numbers), no other scripts
        raise InvalidIdentifier(NOT_A_MOBILE)
    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier(NOT_A_MOBILE) from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.country_code != 44:
        raise InvalidIdentifier(NOT_UK)
    if number.extension or not phonenumbers.is_possible_number(number):
        raise InvalidIdentifier(NOT_A_MOBILE)
    if _DRAMA_MOBILES.fullmatch(e164):
        return e164
    if not phonenumbers.is_valid_number(number) or phonenumbers.region_code_for_number(number) not in _UK_REGIONS:
        raise InvalidIdentifier(NOT_A_MOBILE)
    if phonenumbers.number_type(number) != PhoneNumberType.MOBILE:
        raise InvalidIdentifier(CANNOT_TEXT)
    return e164


def normalize_email(raw: str) -> str:
    """Checked and normalised by email-validator (shared.email_addresses)."""
    try:
        return normalize_email_address(raw)
    except InvalidEmail as error:
        raise InvalidIdentifier(str(error)) from None


def parse_date_of_birth(raw: str, today: dt.date | None = None) -> dt.date:
    """ISO date (YYYY-MM-DD) in the past, not more than 130 years ago.

    Only that one form, in ASCII digits: `date.fromisoformat` alone would also
    take 19800423 and week dates such as 1980-W17-3.
    """
    today = today or dt.date.today()
    fields = (raw or "").strip().split("-")
    sizes = (4, 2, 2)
    well_formed = len(fields) == len(sizes) and all(
        ascii_digits(field, max_digits=size, min_digits=size) for field, size in zip(fields, sizes, strict=False)
    )
    if not well_formed:
        raise InvalidIdentifier(_DATE_FORMAT)
    try:
        value = dt.date(int(fields[0]), int(fields[1]), int(fields[2]))
    except ValueError:  # 31 February
        raise InvalidIdentifier(_DATE_FORMAT) from None
    if value > today:
        raise InvalidIdentifier("The date of birth cannot be in the future.")
    if value.year < today.year - 130:
        raise InvalidIdentifier("That date of birth is more than 130 years ago. Please check it.")
    return value


def normalize_person_name(raw: str) -> str:
    value = " ".join((raw or "").split())
    if not value:
        raise InvalidIdentifier("Enter the patient's name.")
    if len(value) > 200 or any(ord(ch) < 32 for ch in value):
        raise InvalidIdentifier("The name is too long or contains characters that are not allowed.")
    return value
