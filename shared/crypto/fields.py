"""Application-level encryption of patient fields (AES-256-GCM).

Stored value layout: version (1 byte) | key-id length (1 byte) | key id |
nonce (12 bytes) | ciphertext with GCM tag. The associated data names the
table, column and row, so a ciphertext copied to another row or column does
not decrypt. MySQL's AES_ENCRYPT is not used: ECB, and the key in SQL text.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.config.keys import KeyRing

FORMAT_VERSION = 1
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value is corrupt, moved from another row, or its key is gone."""


def associated_data(table: str, column: str, row_id: str) -> bytes:
    return f"mia:v{FORMAT_VERSION}|{table}|{column}|{row_id}".encode()


class FieldCipher:
    """Encrypts and decrypts single field values bound to their row."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring
        self._aead = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    @property
    def current_key_id(self) -> str:
        return self._keyring.current

    def encrypt(self, table: str, column: str, row_id: str, plaintext: str) -> bytes:
        key_id = self._keyring.current.encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self._keyring.current].encrypt(
            nonce, plaintext.encode("utf-8"), associated_data(table, column, row_id)
        )
        return bytes([FORMAT_VERSION, len(key_id)]) + key_id + nonce + sealed

    def encrypt_optional(self, table: str, column: str, row_id: str, plaintext: str | None) -> bytes | None:
        return None if plaintext is None else self.encrypt(table, column, row_id, plaintext)

    def decrypt(self, table: str, column: str, row_id: str, stored: bytes) -> str:
        key_id, nonce, sealed = self._split(stored)
        aead = self._aead.get(key_id)
        if aead is None:
            raise DecryptionError(f"{table}.{column} of {row_id}: key {key_id!r} is not loaded")
        try:
            plaintext = aead.decrypt(nonce, sealed, associated_data(table, column, row_id))
        except InvalidTag:
            raise DecryptionError(f"{table}.{column} of {row_id}: value is corrupt or belongs elsewhere") from None
        return plaintext.decode("utf-8")

    def decrypt_optional(self, table: str, column: str, row_id: str, stored: bytes | None) -> str | None:
        return None if stored is None else self.decrypt(table, column, row_id, stored)

    def key_id_of(self, stored: bytes) -> str:
        return self._split(stored)[0]

    @staticmethod
    def _split(stored: bytes) -> tuple[str, bytes, bytes]:
        stored = bytes(stored)
        if len(stored) < 2 or stored[0] != FORMAT_VERSION:
            raise DecryptionError("stored value is not in the MIA field-encryption format")
        id_len = stored[1]
        key_id = stored[2 : 2 + id_len].decode("ascii", errors="replace")
        nonce = stored[2 + id_len : 2 + id_len + NONCE_BYTES]
        sealed = stored[2 + id_len + NONCE_BYTES :]
        if len(nonce) != NONCE_BYTES or len(sealed) < 16:
            raise DecryptionError("stored value is truncated")
        return key_id, nonce, sealed


class BlindIndex:
    """Keyed hash for exact-match search (NHS number) without storing plaintext."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, purpose: str, normalized_value: str) -> str:
        message = f"{purpose}|{normalized_value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
