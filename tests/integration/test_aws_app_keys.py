"""scripts/aws_app_keys.py against Secrets Manager on a moto server over HTTP.

The values it stores must be exactly what the application's key loader
(shared.keys.load_keys) accepts in production, and it must never replace a
key that exists or drop the key that encrypts new values.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.aws_app_keys import KEYRING, SECRET_NAMES, main
from shared.config.keys import load_keys
from shared.config.settings import PROJECT_ROOT, load_settings
from tests.support.s3 import REGION, MotoS3
from tests.support.terraform import load_terraform

OLD_KEY = f"k20200101000000:{base64.b64encode(b'o' * 32).decode()}"


@pytest.fixture
def client(moto_s3: MotoS3) -> Any:
    return boto3.client("secretsmanager", endpoint_url=moto_s3.endpoint_url, region_name=REGION)


@pytest.fixture
def secrets_file(client: Any, tmp_path: Path) -> Path:
    run = uuid.uuid4().hex[:8]
    arns = {
        name: client.create_secret(Name=f"mia-test-{run}/{name}")["ARN"]
        for name in ("MIA_ENCRYPTION_KEYS", "MIA_BLIND_INDEX_KEY", "MIA_URL_SIGNING_KEY", "MIA_COOKIE_KEY")
    }
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(arns))
    return path


def _values(client: Any, secrets_file: Path) -> dict[str, str]:
    arns = json.loads(secrets_file.read_text())
    return {name: client.get_secret_value(SecretId=arn)["SecretString"] for name, arn in arns.items()}


def _run(client: Any, secrets_file: Path, *args: str) -> int:
    return main(["--secrets", str(secrets_file), *args], client=client)


def test_seed_stores_keys_the_application_accepts_and_never_replaces_them(
    client: Any, secrets_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(client, secrets_file, "seed") == 0
    values = _values(client, secrets_file)
    settings = load_settings({"MIA_ENV": "production", "MIA_DATA_DIR": str(tmp_path / "none")})
    keys = load_keys(settings, values)  # production refuses anything but complete, valid keys
    assert len(keys.encryption.keys) == 1 and len(keys.cookie) == 32
    assert len({keys.blind_index, keys.url_signing, keys.cookie, *keys.encryption.keys.values()}) == 4
    output = capsys.readouterr().out
    for value in values.values():
        assert value.split(":")[-1] not in output  # key material is never printed

    assert _run(client, secrets_file, "seed") == 0
    assert _values(client, secrets_file) == values
    assert capsys.readouterr().out.count("already has a value, left unchanged") == 4


def test_rotation_adds_a_current_key_and_retires_only_unused_ones(client: Any, secrets_file: Path) -> None:
    arn = json.loads(secrets_file.read_text())[KEYRING]
    client.put_secret_value(SecretId=arn, SecretString=OLD_KEY)

    assert _run(client, secrets_file, "add-encryption-key") == 0
    ring = client.get_secret_value(SecretId=arn)["SecretString"].split(",")
    assert ring[0] == OLD_KEY and len(ring) == 2
    new_id = ring[1].split(":")[0]

    assert _run(client, secrets_file, "retire-encryption-keys", "--keep", "k20200101000000") == 0
    assert client.get_secret_value(SecretId=arn)["SecretString"].split(",") == ring  # still in use: kept

    assert _run(client, secrets_file, "retire-encryption-keys", "--keep", new_id) == 0
    assert client.get_secret_value(SecretId=arn)["SecretString"] == ring[1]


def test_unknown_key_ids_and_unseeded_keyrings_are_refused(
    client: Any, secrets_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(client, secrets_file, "add-encryption-key") == 2
    assert "has no value yet; run `seed` first" in capsys.readouterr().err
    arn = json.loads(secrets_file.read_text())[KEYRING]
    client.put_secret_value(SecretId=arn, SecretString=OLD_KEY)
    assert _run(client, secrets_file, "retire-encryption-keys", "--keep", "k1999") == 2
    assert (
        capsys.readouterr().err.strip() == "error: --keep: no key k1999 in MIA_ENCRYPTION_KEYS (it has k20200101000000)"
    )
    assert client.get_secret_value(SecretId=arn)["SecretString"] == OLD_KEY


def test_a_wrong_secrets_file_is_refused(client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"MIA_COOKIE_KEY": "arn"}))
    assert main(["--secrets", str(path), "seed"], client=client) == 2
    assert capsys.readouterr().err.startswith("error: --secrets: expected a JSON object with exactly ")


# --- without Terraform: the script as a process, through --endpoint-url -------------------


def _script(endpoint_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The key tool as an operator runs it, against an endpoint (the AWS variables from conftest)."""
    command = [sys.executable, "scripts/aws_app_keys.py", "--endpoint-url", endpoint_url, "--region", REGION, *args]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)


def _sourced(script: str) -> dict[str, str]:
    """The MIA_ variables a POSIX shell has after running `script`."""
    shell = subprocess.run(["sh", "-c", f"{script}\nenv"], capture_output=True, text=True, check=True, env={})
    return dict(line.split("=", 1) for line in shell.stdout.splitlines() if line.startswith("MIA_"))


def test_create_seed_and_export_env_give_a_shell_the_keys_production_accepts(
    moto_s3: MotoS3, client: Any, tmp_path: Path
) -> None:
    prefix = f"mia-test-{uuid.uuid4().hex[:8]}"
    created = _script(moto_s3.endpoint_url, "create", "--name-prefix", prefix)
    assert created.returncode == 0, created.stderr
    arns = json.loads(created.stdout)
    assert set(arns) == set(SECRET_NAMES)
    assert client.describe_secret(SecretId=f"{prefix}/cookie-key")["ARN"] == arns["MIA_COOKIE_KEY"]
    again = _script(moto_s3.endpoint_url, "create", "--name-prefix", prefix)
    assert json.loads(again.stdout) == arns  # existing secrets are kept, not duplicated
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(created.stdout)

    unseeded = _script(moto_s3.endpoint_url, "--secrets", str(secrets_file), "export-env")
    assert unseeded.returncode == 2 and unseeded.stdout == ""
    assert unseeded.stderr.startswith(
        "error: MIA_ENCRYPTION_KEYS, MIA_BLIND_INDEX_KEY, MIA_URL_SIGNING_KEY, MIA_COOKIE_KEY: the secret has no value"
    )

    assert _script(moto_s3.endpoint_url, "--secrets", str(secrets_file), "seed").returncode == 0
    keys_env = tmp_path / "keys.env"
    previous = os.umask(0o022)
    try:
        exported = _script(moto_s3.endpoint_url, "--secrets", str(secrets_file), "export-env", "--out", str(keys_env))
    finally:
        os.umask(previous)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == "" and keys_env.stat().st_mode & 0o777 == 0o600
    environment = _sourced(f". {keys_env}")
    assert environment == {name: client.get_secret_value(SecretId=arn)["SecretString"] for name, arn in arns.items()}
    settings = load_settings({"MIA_ENV": "production", "MIA_DATA_DIR": str(tmp_path / "none")})
    load_keys(settings, environment)

    printed = _script(moto_s3.endpoint_url, "--secrets", str(secrets_file), "export-env")
    assert _sourced(printed.stdout) == environment


def test_commands_on_secrets_need_the_secrets_file(moto_s3: MotoS3) -> None:
    result = _script(moto_s3.endpoint_url, "seed")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --secrets: seed needs the secret ARNs")


def test_secret_names_are_those_terraform_creates() -> None:
    terraform = load_terraform()
    assert {name: secret["name"] for name, secret in terraform.locals["app_key_secrets"].items()} == SECRET_NAMES
