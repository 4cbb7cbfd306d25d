"""Identifiers and secret tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid


def new_id() -> str:
    """A random 128-bit row id (32 hex characters); known before insert, so it can bind ciphertexts."""
    return uuid.uuid4().hex


def new_secret_token() -> str:
    """256 bits from the OS CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What we store instead of a token: its SHA-256 (the token has 256 bits, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
