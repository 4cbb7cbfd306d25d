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


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("07700 900123", "+447700900123"),  # Ofcom's drama range, used by Notify's smoke tests
        ("+44 7700 900123", "+447700900123"),
        ("447700900123", "+447700900123"),
        ("0044 7700 900 123", "+447700900123"),
        ("07700\u00a0900123", "+447700900123"),  # pasted with a no-break space
        ("07911 123456", "+447911123456"),
        ("(07624) 123-456", "+447624123456"),  # Isle of Man: +44, texted as a UK number
        ("07781 123456", "+447781123456"),  # Guernsey
    ],
)
def test_uk_mobile_numbers_become_e164(raw: str, e164: str) -> None:
    assert normalize_uk_mobile(raw) == e164


@pytest.mark.parametrize("raw", ["020 7946 0000", "0113 496 0000", "0161 496 0000", "0800 123 4567", "070 1234 5678"])
def test_a_uk_number_that_cannot_receive_texts_is_refused_as_such(raw: str) -> None:
    """Landline, freephone, personal number: said at registration, not as a failed text later."""
    with pytest.raises(InvalidIdentifier, match="can't receive texts"):
        normalize_uk_mobile(raw)


@pytest.mark.parametrize("raw", ["+33 6 12 34 56 78", "+1 202 555 0123", "0033612345678"])
def test_a_number_from_another_country_is_refused_with_the_way_round_it(raw: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"Only UK mobile numbers .* email address"):
        normalize_uk_mobile(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "12345",
        "",
        "07700 90012",  # a digit short
        "07700 9001234",  # a digit too many
        "0770O 900123",  # a letter O: never read as a digit
        "+44 7700 900123 ext 4",
        "07700 ٩٠٠١٢٣",  # Arabic-Indic digits
        "０７７００ ９００１２３",  # fullwidth digits
    ],
)
def test_not_a_phone_number(raw: str) -> None:
    with pytest.raises(InvalidIdentifier, match="Enter a UK mobile number, for example"):
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
