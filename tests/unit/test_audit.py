"""The audit log is append-only: it can be written and searched, never changed."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path

from sqlalchemy import Engine, select

from shared import audit
from shared.config.settings import PROJECT_ROOT
from shared.db.tables import audit_events


def test_record_and_search(sqlite_engine: Engine) -> None:
    with sqlite_engine.begin() as conn:
        audit.record(
            conn, "encounter.viewed", actor_type="user", actor_id="u1", encounter_id="e1", detail={"page": "review"}
        )
        audit.record(conn, "media.viewed", actor_type="user", actor_id="u2", encounter_id="e1", media_id="m1")
        audit.record(conn, "patient.verified", actor_type="patient", encounter_id="e2", remote_addr="203.0.113.9")
    with sqlite_engine.connect() as conn:
        assert [e["action"] for e in audit.search(conn)] == ["patient.verified", "media.viewed", "encounter.viewed"]
        assert [e["media_id"] for e in audit.search(conn, actor_id="u2")] == ["m1"]
        assert len(audit.search(conn, encounter_id="e1")) == 2
        assert audit.search(conn, since=dt.datetime.now() + dt.timedelta(days=1)) == []
        detail = conn.execute(select(audit_events.c.detail).where(audit_events.c.action == "encounter.viewed")).scalar()
    assert json.loads(detail) == {"page": "review"}


RAW_SQL_CHANGE = re.compile(r"(UPDATE|DELETE\s+FROM|TRUNCATE(\s+TABLE)?)\s+`?audit_events", re.IGNORECASE)


def _python_sources() -> list[Path]:
    skip = {".venv", ".venv-checkov", "node_modules", "tests", "var", "build"}
    return [p for p in PROJECT_ROOT.rglob("*.py") if not skip.intersection(p.relative_to(PROJECT_ROOT).parts)]


def test_no_code_updates_or_deletes_audit_events() -> None:
    offenders = []
    for path in _python_sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", ""))
                in (
                    "update",
                    "delete",
                )
                and any(isinstance(arg, ast.Name) and arg.id == "audit_events" for arg in node.args)
            ):
                offenders.append(str(path))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_SQL_CHANGE.search(node.value):
                offenders.append(str(path))
    assert offenders == []
