"""Start a Lambda runtime with the MIA secrets in its environment.

Lambda has no equivalent of ECS `secrets`, and the processors read their
keys and database URL from environment variables (shared/config/settings.py,
shared/config/keys.py) like every other component. This script runs as the
function's AWS_LAMBDA_EXEC_WRAPPER (through bin/mia-secrets-env), once per
execution environment and before the Python runtime starts: it reads
MIA_SECRET_ARNS, a JSON object of environment variable name -> secret ARN,
fetches each secret from Secrets Manager, and replaces itself with the
runtime command it was given. No secret value is ever part of the function's
configuration. A missing or unreadable secret stops the start-up with one
line naming the variable, which Lambda reports as an initialisation error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

PROGRAM = "mia-secrets-env"
ARNS_VARIABLE = "MIA_SECRET_ARNS"
NOT_FOUND = "ResourceNotFoundException"


class SecretsError(Exception):
    """A secret could not be read; the message is one line for the operator."""


def secret_ids(env: Mapping[str, str]) -> dict[str, str]:
    """The variable -> secret mapping from MIA_SECRET_ARNS."""
    try:
        mapping = json.loads(env.get(ARNS_VARIABLE) or "")
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or not all(
        isinstance(name, str) and isinstance(secret, str) and name and secret for name, secret in mapping.items()
    ):
        raise SecretsError(f'{ARNS_VARIABLE}: expected a JSON object such as {{"MIA_DATABASE_URL": "arn:aws:..."}}')
    return mapping


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or type(exc).__name__)


def load_secrets(env: MutableMapping[str, str], get_secret_value: Callable[..., Any]) -> list[str]:
    """Put each secret into `env` (a variable already set wins); returns the names set."""
    loaded = []
    for name, secret_id in sorted(secret_ids(env).items()):
        if env.get(name):
            continue
        try:
            value = get_secret_value(SecretId=secret_id).get("SecretString")
        except Exception as exc:  # any SDK or network failure ends the start-up the same way
            code = _error_code(exc)
            # Secrets Manager answers the same for a missing secret and for one never given a value.
            hint = "; missing, or never given a value (terraform/README.md: seed the keys)" if code == NOT_FOUND else ""
            raise SecretsError(f"{name}: cannot read secret {secret_id} ({code}{hint})") from None
        if not value:
            raise SecretsError(f"{name}: secret {secret_id} has no value yet (terraform/README.md: seed the keys)")
        env[name] = value
        loaded.append(name)
    return loaded


def _secrets_client() -> Any:
    # Before the runtime starts, only the interpreter's own paths are set:
    # boto3 is in the function package or in the runtime directory.
    for path in (os.environ.get("LAMBDA_TASK_ROOT", "/var/task"), os.environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime")):
        if path not in sys.path:
            sys.path.append(path)
    import boto3

    return boto3.client("secretsmanager")


def main(argv: list[str]) -> int:
    if not argv:
        print(f"{PROGRAM}: expected the runtime command to start as arguments", file=sys.stderr)
        return 2
    env = dict(os.environ)
    try:
        load_secrets(env, _secrets_client().get_secret_value)
    except SecretsError as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 1
    env.pop(ARNS_VARIABLE, None)
    os.execvpe(argv[0], argv, env)  # noqa: S606 - replaces this process with the runtime it was given
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
