import pytest

from shared.config.keys import KeyRing
from shared.crypto.fields import BlindIndex, DecryptionError, FieldCipher


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(KeyRing("k1", {"k1": b"\x01" * 32}))


def test_round_trip_with_fresh_nonce(cipher: FieldCipher) -> None:
    first = cipher.encrypt("encounters", "patient_name", "row1", "Jane Doe")
    second = cipher.encrypt("encounters", "patient_name", "row1", "Jane Doe")
    assert first != second
    assert b"Jane" not in first
    assert cipher.decrypt("encounters", "patient_name", "row1", first) == "Jane Doe"
    assert cipher.key_id_of(first) == "k1"


def test_flipping_any_byte_fails(cipher: FieldCipher) -> None:
    stored = bytearray(cipher.encrypt("encounters", "patient_name", "row1", "Jane Doe"))
    for position in range(4, len(stored)):
        tampered = bytearray(stored)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            cipher.decrypt("encounters", "patient_name", "row1", bytes(tampered))


@pytest.mark.parametrize(
    ("table", "column", "row"),
    [("encounters", "patient_name", "row2"), ("encounters", "email", "row1"), ("media", "patient_name", "row1")],
)
def test_value_moved_elsewhere_fails(cipher: FieldCipher, table: str, column: str, row: str) -> None:
    stored = cipher.encrypt("encounters", "patient_name", "row1", "Jane Doe")
    with pytest.raises(DecryptionError):
        cipher.decrypt(table, column, row, stored)


def test_old_keys_still_decrypt_after_rotation() -> None:
    old = FieldCipher(KeyRing("k1", {"k1": b"\x01" * 32}))
    stored = old.encrypt("t", "c", "r", "value")
    rotated = FieldCipher(KeyRing("k2", {"k1": b"\x01" * 32, "k2": b"\x02" * 32}))
    assert rotated.decrypt("t", "c", "r", stored) == "value"
    assert rotated.key_id_of(rotated.encrypt("t", "c", "r", "value")) == "k2"
    with pytest.raises(DecryptionError, match="not loaded"):
        FieldCipher(KeyRing("k2", {"k2": b"\x02" * 32})).decrypt("t", "c", "r", stored)


def test_garbage_is_a_decryption_error(cipher: FieldCipher) -> None:
    for junk in (b"", b"\x01", b"plain text", b"\x01\x02k1short"):
        with pytest.raises(DecryptionError):
            cipher.decrypt("t", "c", "r", junk)


def test_blind_index_is_keyed_and_deterministic() -> None:
    index = BlindIndex(b"\x03" * 32)
    assert index.digest("nhs_number", "9434765919") == index.digest("nhs_number", "9434765919")
    assert index.digest("nhs_number", "9434765919") != BlindIndex(b"\x04" * 32).digest("nhs_number", "9434765919")
    assert "9434765919" not in index.digest("nhs_number", "9434765919")
