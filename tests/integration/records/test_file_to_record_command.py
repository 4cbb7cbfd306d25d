"""`manage.py file-to-record` and `file-records --once` as an operator runs them: real processes, real FHIR server."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, update

from shared.clock import utcnow
from shared.config.settings import PROJECT_ROOT
from shared.context import AppContext
from shared.db.tables import record_filings
from shared.records.filings import filing_states
from tests.support.fhir_server import TOKEN, Fault, FhirServer
from tests.support.records import NO_NHS_NUMBER, reviewed_encounter


@pytest.fixture
def server() -> Iterator[FhirServer]:
    with FhirServer() as running:
        yield running


def manage(ctx: AppContext, engine: Engine, server: FhirServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MIA_")}
    env.update(
        MIA_DATA_DIR=str(ctx.settings.data_dir),
        MIA_DATABASE_URL=engine.url.render_as_string(hide_password=False),
        MIA_FHIR_BASE_URL=server.base_url,
        MIA_FHIR_TOKEN=TOKEN,
        MIA_RECORDS_TIMEOUT_SECONDS="5",
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def said(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What the command printed for the operator (the JSON log lines left out)."""
    return [line for line in result.stdout.splitlines() if not line.startswith('{"level": ')]


def test_file_to_record_files_now_and_says_so_per_destination(
    ctx: AppContext, engine: Engine, server: FhirServer
) -> None:
    reviewed = reviewed_encounter(ctx, photos=2)

    done = manage(ctx, engine, server, "file-to-record", "--encounter", reviewed.encounter_id, "--by", "drjones")
    assert done.returncode == 0, done.stderr
    assert said(done) == [
        "fhir: filed and acknowledged: 2 DocumentReferences on 127.0.0.1:"
        + server.base_url.split(":")[2].split("/")[0]
        + " (2 created, 0 updated)"
    ]
    assert len(server.documents()) == 2
    (state,) = filing_states(ctx, reviewed.encounter_id)
    assert state.status == "acknowledged" and state.requested_by == reviewed.clinician_id

    again = manage(ctx, engine, server, "file-to-record", "--encounter", reviewed.encounter_id)
    assert again.returncode == 0, again.stderr
    assert len(server.documents()) == 2  # filed twice: updated, not duplicated
    assert [s.id for s in filing_states(ctx, reviewed.encounter_id)] == [state.id]


def test_file_to_record_exits_1_when_a_destination_is_not_reached_and_2_when_it_cannot_be_asked(
    ctx: AppContext, engine: Engine, server: FhirServer
) -> None:
    reviewed = reviewed_encounter(ctx, photos=1)
    server.fail_next(Fault(status=503))
    failed = manage(ctx, engine, server, "file-to-record", "--encounter", reviewed.encounter_id)
    assert failed.returncode == 1
    (line,) = said(failed)
    assert line.startswith("fhir: NOT filed yet; the records service tries again: Not reached on try 1: ")

    nameless = reviewed_encounter(ctx, patient=NO_NHS_NUMBER, username="drtwo")
    refused = manage(ctx, engine, server, "file-to-record", "--encounter", nameless.encounter_id)
    assert refused.returncode == 2 and said(refused) == []
    assert refused.stderr.startswith("error: This patient has no NHS number;")
    not_on = manage(ctx, engine, server, "file-to-record", "--encounter", reviewed.encounter_id, "--destination", "xds")
    assert not_on.returncode == 2 and "XDS repository is not configured (set MIA_XDS_REPOSITORY_URL)" in not_on.stderr


def test_file_records_once_files_what_is_due(ctx: AppContext, engine: Engine, server: FhirServer) -> None:
    reviewed = reviewed_encounter(ctx, photos=1)
    server.fail_next(Fault(status=503))
    manage(ctx, engine, server, "file-to-record", "--encounter", reviewed.encounter_id)  # left queued, due in 30 s
    idle = manage(ctx, engine, server, "file-records", "--once")
    assert idle.returncode == 0, idle.stderr
    assert json.loads(said(idle)[0]) == {"failed": 0, "filed": 0, "queued_on_review": 0, "retried": 0}
    assert filing_states(ctx, reviewed.encounter_id)[0].status == "queued"

    with ctx.engine.begin() as conn:  # half a minute later
        conn.execute(update(record_filings).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    due = manage(ctx, engine, server, "file-records", "--once")
    assert json.loads(said(due)[0]) == {"failed": 0, "filed": 1, "queued_on_review": 0, "retried": 0}
    assert filing_states(ctx, reviewed.encounter_id)[0].status == "acknowledged"
