"""The processing function's exec wrapper (terraform/lambda-layers/secrets-env).

Run as a real process against Secrets Manager on a moto server over HTTP, the
way Lambda runs it: it must start the given command with each secret in its
environment, or refuse to start with one line naming the variable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType

import boto3
import pytest

from shared.config.settings import PROJECT_ROOT
from tests.support.s3 import REGION, MotoS3

WRAPPER = PROJECT_ROOT / "terraform" / "lambda-layers" / "secrets-env" / "secrets_env.py"
PRINT_ENV = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('MIA_')}))"


def _load_wrapper_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mia_secrets_env", WRAPPER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def secrets(moto_s3: MotoS3) -> Iterator[tuple[object, str]]:
    client = boto3.client("secretsmanager", endpoint_url=moto_s3.endpoint_url, region_name=REGION)
    yield client, moto_s3.endpoint_url


def _new_secret(client: object, value: str | None) -> str:
    name = f"mia-test/{uuid.uuid4().hex[:10]}"
    kwargs = {"Name": name} if value is None else {"Name": name, "SecretString": value}
    return client.create_secret(**kwargs)["ARN"]  # type: ignore[attr-defined]


def _run(endpoint_url: str, arns: dict[str, str] | str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIA_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_REGION=REGION,
        MIA_SECRET_ARNS=arns if isinstance(arns, str) else json.dumps(arns),
        **extra,
    )
    return subprocess.run(
        [sys.executable, str(WRAPPER), sys.executable, "-c", PRINT_ENV],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_starts_the_runtime_with_every_secret_in_its_environment(secrets: tuple[object, str]) -> None:
    client, endpoint = secrets
    url = "mysql+pymysql://mia:pw@db.internal:3306/mia?ssl_ca=/opt/mia/rds-ca/global-bundle.pem"
    arns = {"MIA_DATABASE_URL": _new_secret(client, url), "MIA_COOKIE_KEY": _new_secret(client, "Y29va2ll")}
    result = _run(endpoint, arns, MIA_LOG_LEVEL="DEBUG")
    assert result.returncode == 0, result.stderr
    environment = json.loads(result.stdout)
    assert environment["MIA_DATABASE_URL"] == url
    assert environment["MIA_COOKIE_KEY"] == "Y29va2ll"
    assert environment["MIA_LOG_LEVEL"] == "DEBUG"  # the rest of the environment passes through
    assert "MIA_SECRET_ARNS" not in environment


def test_a_secret_without_a_value_stops_the_start_with_one_line(secrets: tuple[object, str]) -> None:
    client, endpoint = secrets
    arns = {"MIA_ENCRYPTION_KEYS": _new_secret(client, None)}
    result = _run(endpoint, arns)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mia-secrets-env: MIA_ENCRYPTION_KEYS: cannot read secret ")
    assert "never given a value (terraform/README.md: seed the keys)" in lines[0]


def test_an_unknown_secret_names_the_variable(secrets: tuple[object, str]) -> None:
    _, endpoint = secrets
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:mia-test/absent-AbCdEf"
    result = _run(endpoint, {"MIA_BLIND_INDEX_KEY": missing})
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        f"mia-secrets-env: MIA_BLIND_INDEX_KEY: cannot read secret {missing} (ResourceNotFoundException; missing"
    )


def test_malformed_mapping_is_refused(secrets: tuple[object, str]) -> None:
    _, endpoint = secrets
    result = _run(endpoint, '["not", "an", "object"]')
    assert result.returncode == 1
    assert result.stderr.startswith("mia-secrets-env: MIA_SECRET_ARNS: expected a JSON object")


def test_an_empty_secret_is_refused() -> None:
    module = _load_wrapper_module()
    env = {"MIA_SECRET_ARNS": json.dumps({"MIA_COOKIE_KEY": "arn:1"})}
    with pytest.raises(module.SecretsError, match=r"^MIA_COOKIE_KEY: secret arn:1 has no value"):
        module.load_secrets(env, lambda SecretId: {"SecretString": ""})


def test_variables_already_set_are_not_fetched() -> None:
    module = _load_wrapper_module()
    calls: list[str] = []

    def fake_get_secret_value(SecretId: str) -> dict:
        calls.append(SecretId)
        return {"SecretString": "from-secrets-manager"}

    env = {"MIA_SECRET_ARNS": json.dumps({"MIA_COOKIE_KEY": "arn:1", "MIA_URL_SIGNING_KEY": "arn:2"})}
    env["MIA_COOKIE_KEY"] = "set-by-hand"
    assert module.load_secrets(env, fake_get_secret_value) == ["MIA_URL_SIGNING_KEY"]
    assert calls == ["arn:2"]
    assert env["MIA_COOKIE_KEY"] == "set-by-hand"
    assert env["MIA_URL_SIGNING_KEY"] == "from-secrets-manager"
