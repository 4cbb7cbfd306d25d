"""Key material: from the environment in production, or generated once into var/.

Each purpose has its own key so that one leaking does not expose the others:
field encryption (a keyring with ids, for rotation), the NHS-number blind
index, signed media URLs and the portal's auth cookie.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.config.settings import ConfigError, Settings
from shared.logging.json_lines import get_logger
from shared.private_files import make_private_dirs, open_private

log = get_logger(__name__)

KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,16}")
KEYRING_VARIABLE = "MIA_ENCRYPTION_KEYS"
SINGLE_KEYS = {
    "blind_index": "MIA_BLIND_INDEX_KEY",
    "url_signing": "MIA_URL_SIGNING_KEY",
    "cookie": "MIA_COOKIE_KEY",
}


@dataclass(frozen=True)
class KeyRing:
    """Field-encryption keys by id; `current` encrypts, every key decrypts."""

    current: str
    keys: Mapping[str, bytes] = field(repr=False)


@dataclass(frozen=True)
class KeyMaterial:
    encryption: KeyRing
    blind_index: bytes = field(repr=False)
    url_signing: bytes = field(repr=False)
    cookie: bytes = field(repr=False)


def new_key() -> bytes:
    return secrets.token_bytes(32)


def new_key_id() -> str:
    return "k" + time.strftime("%Y%m%d%H%M%S", time.gmtime())


def _decode_key(name: str, raw: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{name}: expected 32 random bytes, base64-encoded (openssl rand -base64 32)")
    return key


def _encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def parse_keyring(name: str, raw: str, current: str | None) -> KeyRing:
    """Parse 'id:base64,id:base64' (MIA_ENCRYPTION_KEYS)."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not KEY_ID_PATTERN.fullmatch(key_id):
            raise ConfigError(f"{name}: expected comma-separated KEY_ID:BASE64 pairs (ids of letters, digits, _ or -)")
        keys[key_id] = _decode_key(f"{name} ({key_id})", encoded)
    if not keys:
        raise ConfigError(f"{name}: expected at least one KEY_ID:BASE64 pair")
    chosen = current or next(reversed(keys))
    if chosen not in keys:
        raise ConfigError(f"MIA_ENCRYPTION_KEY_ID: expected one of the ids in {name}, got {chosen!r}")
    return KeyRing(current=chosen, keys=keys)


def _generated_file_content() -> dict:
    key_id = new_key_id()
    content = {"encryption": {"current": key_id, "keys": {key_id: _encode_key(new_key())}}}
    content.update({purpose: _encode_key(new_key()) for purpose in SINGLE_KEYS})
    return content


def read_keys_file(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"MIA_KEYS_FILE: cannot read key file {path}: {exc}") from None


def write_keys_file(path: Path, content: dict) -> None:
    """Write atomically with owner-only permissions."""
    make_private_dirs(path.parent)
    tmp = path.with_suffix(".tmp")
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w") as handle:
        json.dump(content, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def ensure_keys_file(settings: Settings) -> bool:
    """Generate the embedded key file once; returns True when it was created.

    Production never generates keys: a fresh key there would silently make
    every stored value unreadable, so `load_keys` refuses first.
    """
    if settings.keys_file.exists():
        return False
    if settings.is_production:
        raise ConfigError(f"{KEYRING_VARIABLE}: production takes its keys from the environment; refusing to generate")
    write_keys_file(settings.keys_file, _generated_file_content())
    log.warning(
        "generated new key material; back it up, losing it makes patient data unreadable",
        extra={"keys_file": str(settings.keys_file)},
    )
    return True


def missing_key_variables(env: Mapping[str, str]) -> list[str]:
    """The key variables not set in `env`, in a fixed order (the keyring first)."""
    return [name for name in (KEYRING_VARIABLE, *SINGLE_KEYS.values()) if not env.get(name, "").strip()]


def _refuse_missing_in_production(missing: list[str]) -> None:
    """Production reads keys only from the environment; name every variable that is not set."""
    raise ConfigError(
        f"{', '.join(missing)}: not set; production takes every key from the environment "
        "(ECS injects them from Secrets Manager; see scripts/aws_app_keys.py)"
    )


def _keyring_from_file(content: dict) -> KeyRing:
    ring = content.get("encryption") or {}
    raw = ",".join(f"{key_id}:{value}" for key_id, value in (ring.get("keys") or {}).items())
    return parse_keyring("MIA_KEYS_FILE encryption keys", raw, ring.get("current"))


def load_keys(settings: Settings, env: Mapping[str, str] | None = None) -> KeyMaterial:
    """Environment variables win; in the embedded mode the key file fills in what they leave out.

    Production takes every key from the environment and never reads a key
    file: a stray var/keys.json must not stand in for a missing secret.
    """
    env = os.environ if env is None else env
    missing = missing_key_variables(env)
    if missing and settings.is_production:
        _refuse_missing_in_production(missing)
    content: dict = {}
    if missing:
        ensure_keys_file(settings)
        content = read_keys_file(settings.keys_file)
    if env.get(KEYRING_VARIABLE):
        ring = parse_keyring(KEYRING_VARIABLE, env[KEYRING_VARIABLE], env.get("MIA_ENCRYPTION_KEY_ID") or None)
    else:
        ring = _keyring_from_file(content)
    singles = {}
    for purpose, name in SINGLE_KEYS.items():
        raw = env.get(name) or content.get(purpose)
        if not raw:
            raise ConfigError(
                f"{name}: expected 32 random bytes, base64-encoded; not set and not in {settings.keys_file}"
            )
        singles[purpose] = _decode_key(name, raw)
    return KeyMaterial(encryption=ring, **singles)


def add_file_key(settings: Settings) -> str:
    """Add a fresh encryption key to the key file and make it current (rotation)."""
    content = read_keys_file(settings.keys_file)
    key_id = new_key_id()
    while key_id in content["encryption"]["keys"]:
        time.sleep(1)
        key_id = new_key_id()
    content["encryption"]["keys"][key_id] = _encode_key(new_key())
    content["encryption"]["current"] = key_id
    write_keys_file(settings.keys_file, content)
    return key_id


def retire_file_keys(settings: Settings, keep: set[str]) -> list[str]:
    """Drop keys no value uses any more; returns the retired ids."""
    content = read_keys_file(settings.keys_file)
    keys = content["encryption"]["keys"]
    retired = [key_id for key_id in keys if key_id not in keep and key_id != content["encryption"]["current"]]
    for key_id in retired:
        del keys[key_id]
    write_keys_file(settings.keys_file, content)
    return retired
