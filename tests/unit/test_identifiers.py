import datetime as dt

import pytest

from shared.encounters.identifiers import (
    InvalidIdentifier,
    format_nhs_number,
    normalize_email,
    normalize_nhs_number,
    normalize_person_name,
    normalize_uk_mobile,
    parse_date_of_birth,
)


@pytest.mark.parametrize("raw", ["943 476 5919", "9434765919", "943-476-5919", "401 023 2137"])
def test_valid_nhs_numbers(raw: str) -> None:
    assert len(normalize_nhs_number(raw)) == 10


@pytest.mark.parametrize(
    "raw",
    [
        "9434765918",
        "943476591",
        "94347659190",
        "abcdefghij",
        "",
        "1234567890",
        "٩٤٣٤٧٦٥٩١٩",  # a valid number in Arabic-Indic digits
        "９４３４７６５９１９",  # and in fullwidth ones
    ],
)
def test_invalid_nhs_numbers(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalize_nhs_number(raw)


def test_check_digit_ten_means_no_valid_number() -> None:
    # the ninth digit has weight 2: 6 * 2 = 12, 12 % 11 = 1, 11 - 1 = 10, which no digit can match
    for last in "0123456789":
        with pytest.raises(InvalidIdentifier):
            normalize_nhs_number("000000006" + last)
    assert format_nhs_number("9434765919") == "943 476 5919"


@pytest.mark.parametrize("raw", ["07700 900123", "+44 7700 900123", "447700900123", "0044 7700 900 123"])
def test_uk_mobile(raw: str) -> None:
    assert normalize_uk_mobile(raw) == "+447700900123"


@pytest.mark.parametrize(
    "raw", ["0161 496 0000", "12345", "+33612345678", "", "07700 ٩٠٠١٢٣", "０７７００ ９００１２３"]
)
def test_not_a_uk_mobile(raw: str) -> None:
    with pytest.raises(InvalidIdentifier, match="UK mobile"):
        normalize_uk_mobile(raw)


def test_email() -> None:
    assert normalize_email(" Jane.Doe@Example.NHS.uk ") == "Jane.Doe@example.nhs.uk"
    with pytest.raises(InvalidIdentifier):
        normalize_email("not-an-email")


def test_date_of_birth() -> None:
    today = dt.date(2026, 11, 21)
    assert parse_date_of_birth("1980-04-23", today) == dt.date(1980, 4, 23)
    for bad in ("23/04/1980", "2027-01-01", "1850-01-01", "", "1980-02-30", "19800423", "1980-W17-3", "١٩٨٠-٠٤-٢٣"):
        with pytest.raises(InvalidIdentifier):
            parse_date_of_birth(bad, today)


def test_names() -> None:
    assert normalize_person_name("  Jane   Doe ") == "Jane Doe"
    for bad in ("", "   ", "x" * 201, "Jane\x00Doe"):
        with pytest.raises(InvalidIdentifier):
            normalize_person_name(bad)
