"""Put, rotate and hand over MIA's keys in AWS Secrets Manager (production, terraform/).

Terraform creates the key secrets empty so that no key passes through it or
its state; this tool gives them values, on the operator's machine, straight
from a cryptographic random source to Secrets Manager:

    terraform -chdir=terraform output -json app_key_secret_arns > /tmp/mia-secrets.json
    .venv/bin/python scripts/aws_app_keys.py --secrets /tmp/mia-secrets.json seed
    .venv/bin/python scripts/aws_app_keys.py --secrets /tmp/mia-secrets.json add-encryption-key
    .venv/bin/python scripts/aws_app_keys.py --secrets /tmp/mia-secrets.json retire-encryption-keys --keep k2026...

Without Terraform (the production shape on other hosting, or a Secrets
Manager emulator such as moto or LocalStack through --endpoint-url), `create`
makes the four secrets, named as terraform/secrets.tf names them, and prints
the same JSON; `export-env` hands the values to a process that is not on ECS
as `export NAME='value'` lines (to a 0600 file with --out):

    .venv/bin/python scripts/aws_app_keys.py --endpoint-url URL create --name-prefix mia-prod > secrets.json
    .venv/bin/python scripts/aws_app_keys.py --endpoint-url URL --secrets secrets.json seed
    .venv/bin/python scripts/aws_app_keys.py --endpoint-url URL --secrets secrets.json export-env --out keys.env

`seed` never replaces a value. Key ids and formats are those of shared/config/keys.py
(one implementation of each idea); key material is never printed, except by
`export-env`, whose purpose it is. The AWS region and credentials come from
the usual AWS environment or profile (AWS_REGION, AWS_ACCESS_KEY_ID, ...).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botocore.exceptions import BotoCoreError, ClientError

from shared.config.keys import (
    KEYRING_VARIABLE,
    SINGLE_KEYS,
    load_keys,
    missing_key_variables,
    new_key,
    new_key_id,
    parse_keyring,
)
from shared.config.settings import ConfigError, load_settings
from shared.private_files import open_private

KEYRING = KEYRING_VARIABLE
EXPECTED = {KEYRING, *SINGLE_KEYS.values()}
# Secret names under the prefix, as terraform/secrets.tf names them (a test holds the two together).
SECRET_NAMES = {
    "MIA_ENCRYPTION_KEYS": "field-encryption-keys",
    "MIA_BLIND_INDEX_KEY": "blind-index-key",
    "MIA_URL_SIGNING_KEY": "url-signing-key",
    "MIA_COOKIE_KEY": "cookie-key",
}


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


def create_secrets(client: Any, name_prefix: str) -> dict[str, str]:
    """Create the four key secrets, empty, unless they exist; returns { ENV_NAME: ARN } for --secrets."""
    arns = {}
    for env_name, name in sorted(SECRET_NAMES.items()):
        secret_id = f"{name_prefix}/{name}"
        try:
            arns[env_name] = client.describe_secret(SecretId=secret_id)["ARN"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            arns[env_name] = client.create_secret(Name=secret_id, Description=f"MIA {env_name}")["ARN"]
    return arns


def environment_lines(client: Any, arns: dict[str, str]) -> list[str]:
    """`export NAME='value'` for every key, once the application's own loader accepts them all."""
    values = {name: current_value(client, arns[name]) or "" for name in sorted(arns)}
    unseeded = missing_key_variables(values)
    if unseeded:
        raise KeyToolError(f"{', '.join(unseeded)}: the secret has no value yet; run `seed` first")
    load_keys(load_settings({"MIA_ENV": "production"}), values)  # refuses a value the services would refuse
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def write_private(path: str, text: str) -> None:
    """Key material to a file only its owner can read (created 0600, whatever the umask)."""
    try:
        with os.fdopen(open_private(Path(path), os.O_WRONLY | os.O_TRUNC), "w") as handle:
            handle.write(text)
    except OSError as exc:
        raise KeyToolError(f"--out: cannot write {path}: {exc.strerror or exc}") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--secrets", help="JSON from `terraform output -json app_key_secret_arns` (or from `create`), or -"
    )
    parser.add_argument("--region", help="AWS region (default: from the AWS environment)")
    parser.add_argument(
        "--endpoint-url", help="Secrets Manager endpoint, e.g. http://127.0.0.1:5000 (moto, LocalStack); default AWS"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create the four key secrets (empty) and print the --secrets JSON")
    create.add_argument("--name-prefix", required=True, help="secret names become PREFIX/field-encryption-keys, ...")
    commands.add_parser("seed", help="give each key secret without a value a fresh key")
    commands.add_parser("add-encryption-key", help="add a field-encryption key that encrypts new values from now on")
    retire = commands.add_parser("retire-encryption-keys", help="drop field-encryption keys no value uses any more")
    retire.add_argument("--keep", required=True, help="comma-separated ids `manage.py rotate-keys` reports in use")
    export = commands.add_parser("export-env", help="print the keys as `export NAME=value` lines for a shell")
    export.add_argument("--out", help="write them to this file (mode 0600) instead of standard output")
    return parser


def _run(client: Any, args: argparse.Namespace) -> None:
    """One command; what it prints is the operator's answer."""
    if args.command == "create":
        print(json.dumps(create_secrets(client, args.name_prefix), indent=2, sort_keys=True))
        return
    if not args.secrets:
        raise KeyToolError(f"--secrets: {args.command} needs the secret ARNs (terraform output, or `create`)")
    arns = read_secret_arns(args.secrets)
    if args.command == "seed":
        print("\n".join(seed(client, arns)))
    elif args.command == "add-encryption-key":
        key_id = add_encryption_key(client, arns)
        print(f"{KEYRING}: added key {key_id}; it encrypts new values once the services restart")
    elif args.command == "retire-encryption-keys":
        keep = [item.strip() for item in args.keep.split(",") if item.strip()]
        dropped = retire_encryption_keys(client, arns, keep)
        print(f"{KEYRING}: retired {', '.join(dropped) or 'nothing'}")
    else:
        text = "\n".join(environment_lines(client, arns)) + "\n"
        if args.out:
            write_private(args.out, text)
            shown = args.out if "/" in args.out else f"./{args.out}"  # `. NAME` would search PATH
            print(f"wrote {len(arns)} keys to {args.out} (mode 0600); load them with: . {shown}", file=sys.stderr)
        else:
            sys.stdout.write(text)


def main(argv: list[str] | None = None, client: Any = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager", region_name=args.region, endpoint_url=args.endpoint_url)
        _run(client, args)
    except (KeyToolError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"error: AWS: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
