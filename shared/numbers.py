"""Whole numbers written by people and programs: ASCII digits 0-9 only, bounded in length.

Python's own tests are wider than they look: `str.isdigit()` is true for
superscripts ('²', which `int()` then refuses with a ValueError), and both
`int()` and regex `\\d` accept the decimal digits of every script ('١٢٣',
fullwidth '５'). No header, form field, query parameter or setting of ours
means any of those, so every place where outside text becomes a number (or a
string of digits such as an NHS number) goes through here. The length bound
is checked first, so a hostile value costs nothing to refuse.
"""

from __future__ import annotations


def ascii_digits(raw: str | None, max_digits: int, min_digits: int = 1) -> str | None:
    """`raw` itself when it is `min_digits` to `max_digits` ASCII digits and nothing else, else None.

    No sign, no spaces, no underscores: callers strip what their users may
    type around the number before asking.
    """
    if raw is None or not min_digits <= len(raw) <= max_digits:
        return None
    return raw if raw.isascii() and raw.isdigit() else None


def whole_number(raw: str | None, max_digits: int) -> int | None:
    """The value of `raw` when `ascii_digits` accepts it, else None."""
    digits = ascii_digits(raw, max_digits)
    return None if digits is None else int(digits)
