"""Read the terraform/ configuration with python-hcl2 for static assertions.

Only what the tests need: every block of every .tf file by type and name,
and a resolver that replaces `${local.X}` and `${var.X}` (its default) in a
string, so that a test can compare what a policy or a filter will say in AWS,
not the expression that builds it. References to resources
(`${aws_s3_bucket.media.arn}`) stay as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"
_OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=False)
_WHOLE_REFERENCE = re.compile(r"^\$\{\(?(local|var)\.([A-Za-z0-9_]+)\)?\}$")
_INNER_REFERENCE = re.compile(r"\$\{(local|var)\.([A-Za-z0-9_]+)\}")
_MERGE = re.compile(r"^\$\{merge\((.*)\)\}$", re.S)


@dataclass
class Terraform:
    resources: dict[str, dict[str, dict]]
    data: dict[str, dict[str, dict]]
    variables: dict[str, dict]
    locals: dict[str, Any]

    def resource(self, kind: str, name: str) -> dict:
        return self.resources[kind][name]

    def resolve(self, value: Any) -> Any:
        """Substitute locals and variable defaults, recursively, where they are known."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {self.resolve(key): self.resolve(item) for key, item in value.items()}
        if not isinstance(value, str):
            return value
        whole = _WHOLE_REFERENCE.match(value)
        if whole:
            known, found = self._lookup(whole.group(1), whole.group(2))
            return self.resolve(found) if known else value
        return _INNER_REFERENCE.sub(self._inline, value)

    def mapping(self, value: Any) -> dict:
        """A map as Terraform builds it: a literal, a local or variable, or merge() of those (later wins).

        hcl2 leaves a function call as the text of the expression; this reads
        merge's arguments back with hcl2 and evaluates them, so a test can ask
        what environment a container really gets.
        """
        value = self.resolve(value)
        if isinstance(value, dict):
            return value
        merged = _MERGE.fullmatch(value) if isinstance(value, str) else None
        assert merged, f"expected a map, a local or merge(...), got {value!r}"
        arguments = hcl2.loads(f"arguments = [{merged.group(1)}]", serialization_options=_OPTIONS)["arguments"]
        result: dict = {}
        for argument in arguments:
            result.update(self.mapping(argument))
        return result

    def _lookup(self, kind: str, name: str) -> tuple[bool, Any]:
        """(known, value): a local, or a variable's default (a variable without one is unknown)."""
        if kind == "local":
            return name in self.locals, self.locals.get(name)
        variable = self.variables.get(name, {})
        return "default" in variable, variable.get("default")

    def _inline(self, match: re.Match[str]) -> str:
        known, found = self._lookup(match.group(1), match.group(2))
        value = self.resolve(found) if known else None
        return value if isinstance(value, str) else match.group(0)


def load_terraform(directory: Path = TERRAFORM_DIR) -> Terraform:
    resources: dict[str, dict[str, dict]] = {}
    data: dict[str, dict[str, dict]] = {}
    variables: dict[str, dict] = {}
    local_values: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        parsed = hcl2.loads(path.read_text(), serialization_options=_OPTIONS)
        for target, key in ((resources, "resource"), (data, "data")):
            for block in parsed.get(key, []):
                for kind, named in block.items():
                    for name, body in named.items():
                        assert name not in target.setdefault(kind, {}), f"{kind}.{name} defined twice"
                        target[kind][name] = body
        for block in parsed.get("variable", []):
            variables.update(block)
        for block in parsed.get("locals", []):
            local_values.update(block)
    return Terraform(resources, data, variables, local_values)


def single(blocks: Any) -> dict:
    """A nested block that must appear exactly once (hcl2 gives lists of blocks)."""
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one block, got {blocks!r}"
    return blocks[0]


def reference_name(expression: str, kind: str) -> str:
    """The name in '${kind.NAME.attr}' (e.g. which policy document a policy uses)."""
    match = re.fullmatch(rf"\$\{{{re.escape(kind)}\.([A-Za-z0-9_]+)(\[[^\]]*\])?\.[a-z_]+\}}", expression)
    assert match, f"expected a reference to {kind}, got {expression!r}"
    return match.group(1)
