"""The staff password rule and bcrypt hashing."""

from __future__ import annotations

import pytest

from shared.staff.passwords import (
    MIN_LENGTH,
    PasswordError,
    check_new_password,
    check_password,
    hash_password,
    password_problem,
)

PERSON = {"username": "drjones", "display_name": "Dr Ada Jones"}


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Zebra-lamp-orbit-42",
        "739184620571",
        "walnut tractor velvet",
        "ünïcödé pässwörd zebra",
    ],
)
def test_good_passwords_are_accepted(password: str) -> None:
    assert password_problem(password, **PERSON) is None


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short pass", "too short"),
        (" leading space pass", "cannot start or end with a space"),
        ("trailing space pass ", "cannot start or end with a space"),
        ("aaaaaaaaaaaaaaa", "too few different characters"),
        ("abababababababab", "too few different characters"),
        ("drjones-is-great", "username or your name"),
        ("I am Ada, hello!", "username or your name"),
        ("P@ssw0rd2024!", "too easy to guess"),
        ("Summer2024!!", "too easy to guess"),
        ("Welcome2NHS!", "too easy to guess"),
        ("qwertyuiop12", "too easy to guess"),
        ("123456789012", "too easy to guess"),
        ("Trustno1trustno1", "too easy to guess"),
        ("x" * 30 + "é" * 30, "too long"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, says: str) -> None:
    problem = password_problem(password, **PERSON)
    assert problem is not None and says in problem


def test_minimum_length_is_twelve() -> None:
    assert MIN_LENGTH == 12
    assert "too short" in (password_problem("Zebra-lamp1", **PERSON) or "")
    assert password_problem("Zebra-lamp12", **PERSON) is None


def test_the_two_entries_must_match() -> None:
    with pytest.raises(PasswordError, match="not the same"):
        check_new_password("walnut tractor velvet", "walnut tractor velvet!", **PERSON)
    check_new_password("walnut tractor velvet", "walnut tractor velvet", **PERSON)


def test_hash_is_bcrypt_and_checks() -> None:
    hashed = hash_password("walnut tractor velvet", rounds=4)
    assert hashed.startswith("$2b$04$")
    assert check_password("walnut tractor velvet", hashed)
    assert not check_password("walnut tractor velvet ", hashed)
    assert not check_password("walnut tractor velvet", None)
    assert not check_password("x" * 100, hashed)  # over bcrypt's 72 bytes: refused, not truncated
    assert not check_password("walnut tractor velvet", "not a hash")
