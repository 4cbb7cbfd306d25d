"""TOTP codes: the window, the step a code belongs to, and what the QR code carries."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pyotp

from shared.staff import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_800_000_015.0  # 15 s into a step


def test_matching_step_accepts_one_step_either_side_and_says_which() -> None:
    step = totp.current_step(NOW)
    for offset in (-1, 0, 1):
        assert totp.matching_step(SECRET, totp.code_for_step(SECRET, step + offset), NOW) == step + offset
    assert totp.matching_step(SECRET, totp.code_for_step(SECRET, step + 2), NOW) is None
    assert totp.matching_step(SECRET, totp.code_for_step(SECRET, step - 2), NOW) is None


def test_codes_agree_with_authenticator_apps() -> None:
    assert totp.code_for_step(SECRET, totp.current_step(NOW)) == pyotp.TOTP(SECRET).at(NOW)


def test_spaces_are_ignored_and_anything_else_is_not_a_code() -> None:
    code = totp.code_for_step(SECRET, totp.current_step(NOW))
    assert totp.matching_step(SECRET, f" {code[:3]} {code[3:]} ", NOW) is not None
    for wrong in ("", "12345", "1234567", "abcdef", None):
        assert totp.matching_step(SECRET, wrong, NOW) is None  # type: ignore[arg-type]


def test_a_code_in_other_digits_is_not_a_code() -> None:
    code = totp.code_for_step(SECRET, totp.current_step(NOW))
    fullwidth = code.translate({ord("0") + n: 0xFF10 + n for n in range(10)})
    arabic = code.translate({ord("0") + n: 0x0660 + n for n in range(10)})
    for typed in (fullwidth, arabic):
        assert totp.normalize_code(typed) is None
        assert totp.matching_step(SECRET, typed, NOW) is None


def test_provisioning_uri_names_mia_and_the_user() -> None:
    uri = totp.provisioning_uri(SECRET, "drjones")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parts.path == "/MIA:drjones"
    query = parse_qs(parts.query)
    assert query["issuer"] == ["MIA"] and query["secret"] == [SECRET]


def test_new_secrets_are_random_base32() -> None:
    first, second = totp.new_secret(), totp.new_secret()
    assert first != second and len(first) >= 32
    assert totp.grouped_secret("ABCDEFGHIJ") == "ABCD EFGH IJ"
