import base64
import json
from pathlib import Path

import pytest

from shared.config.keys import add_file_key, load_keys, parse_keyring
from shared.config.settings import ConfigError, Settings, load_settings


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_embedded_keys_are_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    settings = load_settings({"MIA_DATA_DIR": str(tmp_path)})
    first = load_keys(settings, env={})
    second = load_keys(settings, env={})
    assert first == second
    assert settings.keys_file.stat().st_mode & 0o777 == 0o600
    assert len({first.blind_index, first.url_signing, first.cookie, *first.encryption.keys.values()}) == 4


KEY_VARIABLES = ("MIA_ENCRYPTION_KEYS", "MIA_BLIND_INDEX_KEY", "MIA_URL_SIGNING_KEY", "MIA_COOKIE_KEY")


def production_env() -> dict[str, str]:
    """Every key a production process needs, as ECS would inject them."""
    return {
        "MIA_ENCRYPTION_KEYS": f"old:{b64(b'a' * 32)},new:{b64(b'b' * 32)}",
        "MIA_ENCRYPTION_KEY_ID": "old",
        "MIA_BLIND_INDEX_KEY": b64(b"c" * 32),
        "MIA_URL_SIGNING_KEY": b64(b"d" * 32),
        "MIA_COOKIE_KEY": b64(b"e" * 32),
    }


def production_settings(tmp_path: Path) -> Settings:
    return load_settings({"MIA_DATA_DIR": str(tmp_path), "MIA_ENV": "production"})


def test_production_refuses_to_generate_keys(tmp_path: Path) -> None:
    settings = production_settings(tmp_path)
    with pytest.raises(ConfigError, match="production"):
        load_keys(settings, env={})
    assert not settings.keys_file.exists()


@pytest.mark.parametrize("missing", KEY_VARIABLES)
def test_production_names_exactly_the_one_missing_key(tmp_path: Path, missing: str) -> None:
    env = {name: value for name, value in production_env().items() if name != missing}
    with pytest.raises(ConfigError) as refused:
        load_keys(production_settings(tmp_path), env=env)
    message = str(refused.value)
    assert message.startswith(f"{missing}: not set")
    assert [name for name in KEY_VARIABLES if name in message] == [missing]


def test_production_names_every_missing_key_on_one_line(tmp_path: Path) -> None:
    env = {"MIA_ENCRYPTION_KEYS": production_env()["MIA_ENCRYPTION_KEYS"], "MIA_URL_SIGNING_KEY": "  "}
    with pytest.raises(ConfigError) as refused:
        load_keys(production_settings(tmp_path), env=env)
    message = str(refused.value)
    assert message.startswith("MIA_BLIND_INDEX_KEY, MIA_URL_SIGNING_KEY, MIA_COOKIE_KEY: not set")
    assert "\n" not in message
    with pytest.raises(
        ConfigError, match=r"^MIA_ENCRYPTION_KEYS, MIA_BLIND_INDEX_KEY, MIA_URL_SIGNING_KEY, MIA_COOKIE"
    ):
        load_keys(production_settings(tmp_path), env={})


def test_production_never_reads_a_key_file(tmp_path: Path) -> None:
    embedded = load_settings({"MIA_DATA_DIR": str(tmp_path)})
    load_keys(embedded, env={})  # a key file now exists in the same data directory
    env = {name: value for name, value in production_env().items() if name != "MIA_COOKIE_KEY"}
    with pytest.raises(ConfigError, match=r"^MIA_COOKIE_KEY: not set"):
        load_keys(production_settings(tmp_path), env=env)


def test_environment_keys_win_and_need_no_file(tmp_path: Path) -> None:
    settings = production_settings(tmp_path)
    keys = load_keys(settings, env=production_env())
    assert keys.encryption.current == "old"
    assert set(keys.encryption.keys) == {"old", "new"}
    assert not settings.keys_file.exists()


@pytest.mark.parametrize("raw", ["k1:short", "nocolon", "bad id!:" + b64(b"a" * 32), ""])
def test_malformed_keyring_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^MIA_ENCRYPTION_KEYS"):
        parse_keyring("MIA_ENCRYPTION_KEYS", raw, None)


def test_rotation_adds_a_current_key_and_keeps_the_old(tmp_path: Path) -> None:
    settings = load_settings({"MIA_DATA_DIR": str(tmp_path)})
    before = load_keys(settings, env={})
    new_id = add_file_key(settings)
    after = load_keys(settings, env={})
    assert after.encryption.current == new_id != before.encryption.current
    assert before.encryption.current in after.encryption.keys
    assert json.loads(settings.keys_file.read_text())["encryption"]["current"] == new_id
