"""The records runner: claims under a lease, retries with backoff, fails with a reason, files on review."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.tables import encounters, record_filings
from shared.records import claims
from shared.records.filer import FilingOutcome
from shared.records.filings import filing_states, request_filing, retry_filing
from shared.records.runner import ON_REVIEW_WINDOW, FilingRunner
from shared.staff.teams import save_team_settings
from tests.support.records import NO_NHS_NUMBER, RecordingFiler, reviewed_encounter


class Clock:
    """The runner's clock, moved by the test (backoff and leases are minutes long)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def file_dermatology_on_review(ctx: AppContext, clinician_id: str) -> None:
    save_team_settings(
        ctx, "Dermatology", organisation_name=None, mailbox=None, actor=Actor(clinician_id), file_on_review=True
    )


def test_a_filing_is_acknowledged_with_what_the_destination_said(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    request_filing(records_ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=utcnow())
    dicom, fhir = RecordingFiler(["ack"]), RecordingFiler(["sent"])

    report = FilingRunner(records_ctx, {"dicom": dicom, "fhir": fhir}).run_cycle()

    assert (report.filed, report.retried, report.failed) == (2, 0, 0)
    (document, contents) = dicom.received[0]
    assert document.encounter_id == reviewed.encounter_id
    assert [len(data) for data in contents] == [item.size for item in document.items]
    states = {state.destination: state for state in filing_states(records_ctx, reviewed.encounter_id)}
    assert states["dicom"].status == "acknowledged" and states["dicom"].acknowledged_at == states["dicom"].sent_at
    assert states["fhir"].status == "sent" and states["fhir"].acknowledged_at is None
    assert states["dicom"].detail == "2 documents taken" and states["dicom"].attempts == 1
    assert FilingRunner(records_ctx, {"dicom": dicom, "fhir": fhir}).run_cycle().handled == 0


def test_an_unavailable_destination_is_retried_with_backoff_then_failed_and_retry_files_it(
    records_ctx: AppContext,
) -> None:
    reviewed = reviewed_encounter(records_ctx)
    actor = Actor(reviewed.clinician_id)
    clock = Clock()
    request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=clock(), destinations=["fhir"])
    down = RecordingFiler(["down"])
    runner = FilingRunner(records_ctx, {"fhir": down}, clock=clock)

    assert runner.run_cycle().retried == 1
    (state,) = filing_states(records_ctx, reviewed.encounter_id)
    assert state.status == "queued" and state.next_attempt_at == clock.now + dt.timedelta(seconds=30)
    assert state.detail == "Not reached on try 1: The test destination is down."
    assert runner.run_cycle().handled == 0  # not due yet
    request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=clock(), destinations=["fhir"])  # try now
    assert filing_states(records_ctx, reviewed.encounter_id)[0].next_attempt_at is None
    assert runner.run_cycle().retried == 1
    assert filing_states(records_ctx, reviewed.encounter_id)[0].next_attempt_at == clock.now + dt.timedelta(seconds=60)
    clock.advance(seconds=59)
    assert runner.run_cycle().handled == 0
    clock.advance(seconds=1)
    assert runner.run_cycle().failed == 1  # MIA_RECORDS_MAX_ATTEMPTS=3, the try asked for included

    (failed,) = filing_states(records_ctx, reviewed.encounter_id)
    assert failed.status == "failed" and failed.can_retry and failed.attempts == 3
    assert failed.failure_reason == (
        "The FHIR record could not be reached after 3 tries: The test destination is down. Press retry once it is back."
    )
    retry_filing(records_ctx, failed.id, actor=actor, now=clock())
    assert FilingRunner(records_ctx, {"fhir": RecordingFiler(["ack"])}, clock=clock).run_cycle().filed == 1
    assert filing_states(records_ctx, reviewed.encounter_id)[0].status == "acknowledged"
    with records_ctx.engine.connect() as conn:
        actions = [event["action"] for event in audit.search(conn, encounter_id=reviewed.encounter_id)]
    assert actions[:5] == [
        "records.filed",
        "records.filing_retried",
        "records.filing_failed",
        "records.filing_requested",  # try now
        "records.filing_requested",
    ]


def test_a_refusal_fails_at_once_and_a_fault_in_a_filer_is_retried(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    request_filing(records_ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=utcnow())

    def broken(*_: object) -> FilingOutcome:
        raise KeyError("a bug")

    report = FilingRunner(records_ctx, {"dicom": RecordingFiler(["refuse"]), "fhir": broken}).run_cycle()
    assert (report.failed, report.retried) == (1, 1)
    dicom, fhir = filing_states(records_ctx, reviewed.encounter_id)
    assert dicom.status == "failed" and dicom.attempts == 1
    assert fhir.status == "queued" and "MIA could not prepare the documents" in (fhir.detail or "")


def test_a_document_that_cannot_be_read_is_retried_not_left_sending(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    request_filing(
        records_ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=utcnow(), destinations=["dicom"]
    )
    with records_ctx.engine.begin() as conn:  # a field MIA cannot decrypt (a key not loaded, say)
        conn.execute(
            update(encounters).where(encounters.c.id == reviewed.encounter_id).values(review_note=b"\x01corrupt")
        )
    filer = RecordingFiler(["ack"])

    report = FilingRunner(records_ctx, {"dicom": filer}).run_cycle()

    assert (report.retried, filer.received) == (1, [])
    (state,) = filing_states(records_ctx, reviewed.encounter_id)
    assert state.status == "queued" and "MIA could not prepare the documents" in (state.detail or "")


def test_a_filing_whose_runner_died_is_claimed_again_after_its_lease(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    clock = Clock()
    request_filing(
        records_ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=clock(), destinations=["dicom"]
    )
    lease = dt.timedelta(seconds=records_ctx.settings.records.lease_seconds)
    dead = claims.claim_next(records_ctx.engine, "dead-runner", lease, clock())
    assert dead is not None and dead.status == "sending"
    assert claims.claim_next(records_ctx.engine, "other", lease, clock()) is None  # held

    clock.advance(seconds=lease.total_seconds() + 1)
    filer = RecordingFiler(["ack"])
    assert FilingRunner(records_ctx, {"dicom": filer}, owner="alive", clock=clock).run_cycle().filed == 1
    (state,) = filing_states(records_ctx, reviewed.encounter_id)
    assert state.status == "acknowledged" and state.attempts == 2
    late = FilingOutcome(acknowledged=True, detail="late answer")
    assert not claims.mark_filed(records_ctx.engine, dead, "dead-runner", late, clock())  # its lease is gone
    with records_ctx.engine.connect() as conn:
        assert conn.execute(select(record_filings.c.lease_owner)).scalar() is None


def test_a_filing_whose_runners_keep_dying_fails_instead_of_looping(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    clock = Clock()
    request_filing(
        records_ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=clock(), destinations=["dicom"]
    )
    lease = dt.timedelta(seconds=records_ctx.settings.records.lease_seconds)
    for death in range(records_ctx.settings.records.max_attempts):  # each holder dies before it answers
        assert claims.claim_next(records_ctx.engine, f"dead-{death}", lease, clock()) is not None
        clock.advance(seconds=lease.total_seconds() + 1)
    filer = RecordingFiler(["ack"])

    report = FilingRunner(records_ctx, {"dicom": filer}, owner="alive", clock=clock).run_cycle()

    assert (report.filed, report.failed) == (0, 1) and filer.received == []
    (state,) = filing_states(records_ctx, reviewed.encounter_id)
    assert state.status == "failed" and state.can_retry
    deaths = records_ctx.settings.records.max_attempts
    assert f"stopped part-way through filing this {deaths} times" in (state.failure_reason or "")


def test_a_destination_switched_off_fails_what_was_queued_for_it(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    request_filing(
        records_ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=utcnow(), destinations=["fhir"]
    )
    assert FilingRunner(records_ctx, {"dicom": RecordingFiler()}).run_cycle().failed == 1
    (state,) = filing_states(records_ctx, reviewed.encounter_id)
    assert (
        state.failure_reason
        == "The FHIR record is not configured any more (set MIA_FHIR_BASE_URL), so it was not filed."
    )


def test_teams_that_file_on_review_are_filed_once(records_ctx: AppContext) -> None:
    derm = reviewed_encounter(records_ctx)
    nameless = reviewed_encounter(records_ctx, patient=NO_NHS_NUMBER, username="drtwo")
    other = reviewed_encounter(records_ctx, username="drneuro", team="Neurology")
    unreviewed = reviewed_encounter(records_ctx, username="drthree", review=False)
    file_dermatology_on_review(records_ctx, derm.clinician_id)
    filers = {"dicom": RecordingFiler(["ack"]), "fhir": RecordingFiler(["ack"])}

    report = FilingRunner(records_ctx, filers).run_cycle()

    assert report.queued_on_review == 4 and report.filed == 2
    assert [s.status for s in filing_states(records_ctx, derm.encounter_id)] == ["acknowledged", "acknowledged"]
    refused = filing_states(records_ctx, nameless.encounter_id)
    assert [s.status for s in refused] == ["failed", "failed"]
    assert refused[0].failure_reason.startswith("This patient has no NHS number") and refused[0].requested_by is None
    assert filing_states(records_ctx, other.encounter_id) == []
    assert filing_states(records_ctx, unreviewed.encounter_id) == []
    again = FilingRunner(records_ctx, filers).run_cycle()
    assert (again.queued_on_review, again.handled) == (0, 0)
    with records_ctx.engine.connect() as conn:
        requested = audit.search(conn, action="records.filing_requested", encounter_id=derm.encounter_id)
    assert {event["actor_type"] for event in requested} == {"system"}


def test_filing_on_review_does_not_file_a_teams_history(records_ctx: AppContext) -> None:
    derm = reviewed_encounter(records_ctx)
    file_dermatology_on_review(records_ctx, derm.clinician_id)
    clock = Clock()
    clock.advance(seconds=ON_REVIEW_WINDOW.total_seconds() + 60)
    assert FilingRunner(records_ctx, {"dicom": RecordingFiler()}, clock=clock).run_cycle().queued_on_review == 0


def test_run_forever_stops_when_asked(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    request_filing(records_ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=utcnow())
    stop = threading.Event()
    runner = FilingRunner(records_ctx, {"dicom": RecordingFiler(), "fhir": RecordingFiler()})
    thread = threading.Thread(target=runner.run_forever, args=(stop,))
    thread.start()
    deadline = utcnow() + dt.timedelta(seconds=20)
    while utcnow() < deadline and any(
        s.status != "acknowledged" for s in filing_states(records_ctx, reviewed.encounter_id)
    ):
        stop.wait(0.05)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert [s.status for s in filing_states(records_ctx, reviewed.encounter_id)] == ["acknowledged", "acknowledged"]
