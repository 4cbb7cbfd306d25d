"""How the portal words a filing to the record: its state, its timeline lines, the warnings around a deletion."""

from __future__ import annotations

import datetime as dt

from portal_ui.filing_states import after_delete, before_delete, state_words, timeline_entries
from portal_ui.timeline import timeline
from shared.records.filings import FilingState
from tests.unit.test_portal_message_states import encounter

NOW = dt.datetime(2026, 12, 2, 11, 0)  # naive UTC, as stored (UK time is UTC in December)
QUEUED = dt.datetime(2026, 12, 2, 10, 41)
SENT = dt.datetime(2026, 12, 2, 10, 42)
ACKNOWLEDGED = dt.datetime(2026, 12, 2, 10, 43)


def filing(destination: str = "dicom", status: str = "queued", **values: object) -> FilingState:
    fields: dict[str, object] = {
        "id": f"f-{destination}",
        "encounter_id": "e1",
        "destination": destination,
        "status": status,
        "attempts": 0,
        "queued_at": QUEUED,
        "sent_at": None,
        "acknowledged_at": None,
        "failed_at": None,
        "failure_reason": None,
        "detail": None,
        "requested_by": "u1",
    }
    fields.update(values)
    return FilingState(**fields)  # type: ignore[arg-type]


def test_each_state_reads_with_its_time() -> None:
    assert state_words(filing(), NOW) == "Queued at 10:41, waiting to be sent"
    assert state_words(filing(status="sending"), NOW) == "Sending now"
    assert state_words(filing(status="sent", sent_at=SENT), NOW) == (
        "Filed at 10:42; waiting for the record to confirm"
    )
    acknowledged = filing(status="acknowledged", sent_at=SENT, acknowledged_at=ACKNOWLEDGED)
    assert state_words(acknowledged, NOW) == "Filed at 10:42, acknowledged at 10:43"
    failed = filing(status="failed", failed_at=SENT, failure_reason="The PACS refused the study: no patient id.")
    assert state_words(failed, NOW) == "Failed at 10:42: The PACS refused the study: no patient id."
    assert state_words(filing(status="failed", failed_at=SENT), NOW).endswith("the destination gave no reason")


def test_a_filing_waiting_to_be_tried_again_says_when_and_why() -> None:
    waiting = filing(
        attempts=2, next_attempt_at=dt.datetime(2026, 12, 2, 11, 5), detail="Not reached on try 2: 503 from PACS"
    )
    assert (
        state_words(waiting, NOW)
        == "Queued: not filed yet, trying again at 11:05 (Not reached on try 2: 503 from PACS)"
    )


def test_the_timeline_shows_filed_and_acknowledged_times_after_the_review() -> None:
    reviewed = encounter(reviewed_at=dt.datetime(2026, 12, 2, 10, 40))
    dicom = filing(status="acknowledged", sent_at=SENT, acknowledged_at=ACKNOWLEDGED)
    fhir = filing("fhir", "failed", failed_at=dt.datetime(2026, 12, 2, 10, 44), failure_reason="401 from the server.")
    steps = timeline(reviewed, [], [dicom, fhir])
    assert [(name, at.strftime("%H:%M")) for name, at in steps][1:] == [
        ("Reviewed", "10:40"),
        ("Filing to PACS (DICOM) asked for", "10:41"),
        ("Filing to FHIR record asked for", "10:41"),
        ("Filed to PACS (DICOM)", "10:42"),
        ("Acknowledged by PACS (DICOM)", "10:43"),
        ("Filing to FHIR record failed: 401 from the server.", "10:44"),
    ]
    assert [name for name, at in timeline_entries(filing()) if at is not None] == ["Filing to PACS (DICOM) asked for"]


def test_deleting_what_was_filed_names_each_destination_before_and_after() -> None:
    assert before_delete([], "Photo 1", NOW) is None
    copies = [filing(status="acknowledged", sent_at=SENT), filing("xds", "sent", sent_at=ACKNOWLEDGED)]
    assert before_delete(copies, "Photo 1", NOW) == (
        "Photo 1 has been filed to the patient record: PACS (DICOM) at 10:42 and XDS repository at 10:43. "
        "Deleting it here does not remove it there: the copy in the record remains and must be withdrawn in "
        "PACS (DICOM) and XDS repository."
    )
    assert after_delete(copies[:1], "The request", NOW) == (
        "The request was deleted here, but not from the patient record: the copy filed to PACS (DICOM) at 10:42 "
        "remains and must be withdrawn there."
    )
