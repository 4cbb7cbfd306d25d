"""Put and rotate MIA's keys in AWS Secrets Manager (production, terraform/).

Terraform creates the key secrets empty so that no key passes through it or
its state; this tool gives them values, on the operator's machine, straight
from a cryptographic random source to Secrets Manager:

    terraform -chdir=terraform output -json app_key_secret_arns > /tmp/mia-secrets.json
    .venv/bin/python scripts/aws_app_keys.py --secrets /tmp/mia-secrets.json seed
    .venv/bin/python scripts/aws_app_keys.py --secrets /tmp/mia-secrets.json add-encryption-key
    .venv/bin/python scripts/aws_app_keys.py --secrets /tmp/mia-secrets.json retire-encryption-keys --keep k2026...

`seed` never replaces a value. Key ids and formats are those of shared/keys.py
(one implementation of each idea); key material is never printed. The AWS
region and credentials come from the usual AWS environment or profile.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botocore.exceptions import BotoCoreError, ClientError

from shared.keys import SINGLE_KEYS, new_key, new_key_id, parse_keyring
from shared.settings import ConfigError

KEYRING = "MIA_ENCRYPTION_KEYS"
EXPECTED = {KEYRING, *SINGLE_KEYS.values()}


class KeyToolError(Exception):
    """One line for the operator."""


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def read_secret_arns(source: str) -> dict[str, str]:
    """The `terraform output -json app_key_secret_arns` mapping, from a file or '-'."""
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text()
        mapping = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise KeyToolError(f"--secrets: cannot read the secret ARNs from {source}: {exc}") from None
    if not isinstance(mapping, dict) or set(mapping) != EXPECTED:
        raise KeyToolError(f"--secrets: expected a JSON object with exactly {', '.join(sorted(EXPECTED))}")
    return mapping


def current_value(client: Any, secret_id: str) -> str | None:
    """The secret's current value, or None when it was never given one."""
    try:
        return client.get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException" and _exists(client, secret_id):
            return None
        raise


def _exists(client: Any, secret_id: str) -> bool:
    try:
        client.describe_secret(SecretId=secret_id)
    except ClientError:
        return False
    return True


def seed(client: Any, arns: dict[str, str]) -> list[str]:
    """Give every key secret without a value a fresh key; returns report lines."""
    lines = []
    for name in sorted(arns):
        if current_value(client, arns[name]) is not None:
            lines.append(f"{name}: already has a value, left unchanged")
            continue
        if name == KEYRING:
            key_id = new_key_id()
            value = f"{key_id}:{_b64(new_key())}"
            lines.append(f"{name}: new keyring with key {key_id}")
        else:
            value = _b64(new_key())
            lines.append(f"{name}: new key")
        client.put_secret_value(SecretId=arns[name], SecretString=value)
    return lines


def _keyring(client: Any, secret_id: str) -> list[tuple[str, str]]:
    raw = current_value(client, secret_id)
    if raw is None:
        raise KeyToolError(f"{KEYRING}: the secret has no value yet; run `seed` first")
    parse_keyring(KEYRING, raw, None)  # refuses a malformed keyring before anything changes
    return [tuple(item.strip().split(":", 1)) for item in raw.split(",") if item.strip()]  # type: ignore[misc]


def _store_keyring(client: Any, secret_id: str, entries: list[tuple[str, str]]) -> None:
    value = ",".join(f"{key_id}:{encoded}" for key_id, encoded in entries)
    parse_keyring(KEYRING, value, None)
    client.put_secret_value(SecretId=secret_id, SecretString=value)


def add_encryption_key(client: Any, arns: dict[str, str]) -> str:
    """Append a fresh key, which becomes the one that encrypts new values (the last)."""
    entries = _keyring(client, arns[KEYRING])
    key_id = new_key_id()
    if key_id in dict(entries):
        raise KeyToolError(f"{KEYRING}: key {key_id} exists already; wait a second and try again")
    _store_keyring(client, arns[KEYRING], [*entries, (key_id, _b64(new_key()))])
    return key_id


def retire_encryption_keys(client: Any, arns: dict[str, str], keep: list[str]) -> list[str]:
    """Drop every key not in `keep` (the current key is always kept); returns the dropped ids."""
    entries = _keyring(client, arns[KEYRING])
    ids = [key_id for key_id, _ in entries]
    unknown = sorted(set(keep) - set(ids))
    if unknown:
        raise KeyToolError(f"--keep: no key {', '.join(unknown)} in {KEYRING} (it has {', '.join(ids)})")
    kept = [(key_id, encoded) for key_id, encoded in entries if key_id in keep or key_id == ids[-1]]
    dropped = [key_id for key_id in ids if key_id not in dict(kept)]
    if dropped:
        _store_keyring(client, arns[KEYRING], kept)
    return dropped


def main(argv: list[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", required=True, help="JSON from `terraform output -json app_key_secret_arns`, or -")
    parser.add_argument("--region", help="AWS region (default: from the AWS environment)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("seed", help="give each key secret without a value a fresh key")
    commands.add_parser("add-encryption-key", help="add a field-encryption key that encrypts new values from now on")
    retire = commands.add_parser("retire-encryption-keys", help="drop field-encryption keys no value uses any more")
    retire.add_argument("--keep", required=True, help="comma-separated ids `manage.py rotate-keys` reports in use")
    args = parser.parse_args(argv)
    try:
        arns = read_secret_arns(args.secrets)
        if client is None:
            import boto3

            client = boto3.client("secretsmanager", region_name=args.region)
        if args.command == "seed":
            print("\n".join(seed(client, arns)))
        elif args.command == "add-encryption-key":
            key_id = add_encryption_key(client, arns)
            print(f"{KEYRING}: added key {key_id}; it encrypts new values once the services restart")
        else:
            keep = [item.strip() for item in args.keep.split(",") if item.strip()]
            dropped = retire_encryption_keys(client, arns, keep)
            print(f"{KEYRING}: retired {', '.join(dropped) or 'nothing'}")
    except (KeyToolError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"error: AWS: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
