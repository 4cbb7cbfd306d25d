"""The runner against the loopback FHIR server: 5xx, timeouts and a server that is down are retried, then failed
with a reason; the retry button files it, once (tests/support/fhir_server.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.context import Actor, AppContext, build_context
from shared.records.fhir import file_fhir
from shared.records.filings import filing_states, request_filing, retry_filing
from shared.records.runner import FilingRunner
from tests.conftest import make_settings
from tests.integration.records.test_runner import Clock
from tests.support.fhir_server import TOKEN, Fault, FhirServer
from tests.support.records import reviewed_encounter


@pytest.fixture
def server() -> Iterator[FhirServer]:
    with FhirServer() as running:
        yield running


def fhir_ctx(tmp_path: Path, engine: Engine, base_url: str) -> AppContext:
    settings = make_settings(
        tmp_path / "var",
        MIA_FHIR_BASE_URL=base_url,
        MIA_FHIR_TOKEN=TOKEN,
        MIA_RECORDS_TIMEOUT_SECONDS="1",
        MIA_RECORDS_MAX_ATTEMPTS="3",
    )
    return build_context(settings, engine=engine)


def test_5xx_and_timeouts_are_retried_then_failed_and_retry_files_once(
    tmp_path: Path, engine: Engine, server: FhirServer
) -> None:
    ctx = fhir_ctx(tmp_path, engine, server.base_url)
    reviewed = reviewed_encounter(ctx, photos=2)
    actor = Actor(reviewed.clinician_id)
    clock = Clock()
    request_filing(ctx, reviewed.encounter_id, actor=actor, now=clock())
    runner = FilingRunner(ctx, {"fhir": file_fhir}, clock=clock)
    server.fail_next(Fault(status=503))
    server.fail_next(Fault(delay_seconds=2.5))  # processed, but the answer comes after the timeout
    server.fail_next(Fault(status=500))

    details = []
    for wait in (0, 30, 60):
        clock.advance(seconds=wait)
        runner.run_cycle()
        details.append(filing_states(ctx, reviewed.encounter_id)[0])
    assert [state.status for state in details] == ["queued", "queued", "failed"]
    assert all(
        state.detail and state.detail.startswith(f"Not reached on try {n}") for n, state in enumerate(details[:2], 1)
    )
    failed = details[-1]
    assert failed.can_retry and failed.failure_reason is not None
    assert failed.failure_reason.startswith("The FHIR record could not be reached after 3 tries: ")
    assert "token" not in failed.failure_reason.lower()

    retry_filing(ctx, failed.id, actor=actor, now=clock())
    assert runner.run_cycle().filed == 1
    (filed,) = filing_states(ctx, reviewed.encounter_id)
    assert filed.status == "acknowledged"
    assert len(server.documents()) == 2  # the slow answer's documents were updated, not duplicated


def test_a_server_that_is_down_is_retried_and_shown_as_failed(tmp_path: Path, engine: Engine) -> None:
    with FhirServer() as server:
        base_url = server.base_url
    # stopped: nothing listens on its port any more
    ctx = fhir_ctx(tmp_path, engine, base_url)
    reviewed = reviewed_encounter(ctx, photos=1)
    clock = Clock()
    request_filing(ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=clock())
    runner = FilingRunner(ctx, {"fhir": file_fhir}, clock=clock)
    for _ in range(3):
        runner.run_cycle()
        clock.advance(hours=1)
    (state,) = filing_states(ctx, reviewed.encounter_id)
    assert state.status == "failed" and state.attempts == 3
    assert state.failure_reason is not None and "could not be reached after 3 tries" in state.failure_reason
    assert state.failed_at is not None and state.failed_at - utcnow() < dt.timedelta(hours=4)
