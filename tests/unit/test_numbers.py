"""The one test of "is this a number": ASCII digits 0-9 only, bounded in length."""

from __future__ import annotations

import pytest

from shared.numbers import ascii_digits, whole_number

# Each of these is "a digit" to str.isdigit(), int() or regex \d, and none is one to us.
NOT_ASCII = ["²", "١٢٣", "５", "१२", "৩", "𝟙"]


def test_ascii_digits_are_numbers() -> None:
    assert whole_number("0", 19) == 0
    assert whole_number("007", 3) == 7
    assert whole_number("9" * 19, 19) == 10**19 - 1
    assert ascii_digits("0123", max_digits=4, min_digits=4) == "0123"  # leading zeros kept for codes


@pytest.mark.parametrize("raw", NOT_ASCII)
def test_digits_of_other_scripts_are_not_numbers(raw: str) -> None:
    assert whole_number(raw, 19) is None
    assert ascii_digits(raw, 19) is None
    assert whole_number(f"1{raw}", 19) is None


@pytest.mark.parametrize("raw", [None, "", " 1", "1 ", "+1", "-1", "1_000", "1.5", "1e3", "0x10", "١"])
def test_anything_but_bare_digits_is_not_a_number(raw: str | None) -> None:
    assert whole_number(raw, 19) is None


def test_length_is_bounded_before_anything_else() -> None:
    assert whole_number("9" * 20, 19) is None
    assert whole_number("1" * 100_000, 19) is None  # int() would parse this (slowly) or raise past 4300 digits
    assert ascii_digits("12345", max_digits=6, min_digits=6) is None
    assert ascii_digits("1234567", max_digits=6, min_digits=6) is None
