"""Asking for a filing: what stops it, one row per destination, asking again, retry, and the audit trail."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.tables import encounters, media, record_filings
from shared.encounters.review import delete_encounter, delete_medium
from shared.records import gather
from shared.records.errors import RecordsError
from shared.records.filings import (
    NOTHING_CONFIGURED,
    filed_copies,
    filing_states,
    filing_unavailable,
    request_filing,
    retry_filing,
)
from shared.records.runner import FilingRunner
from shared.staff.teams import save_team_settings
from tests.support.factories import PATIENT, REQUEST_NOTE
from tests.support.records import BODY_SITE, NO_NHS_NUMBER, RecordingFiler, reviewed_encounter, set_acquired_at


def audit_actions(ctx: AppContext, encounter_id: str) -> list[tuple[str, dict]]:
    with ctx.engine.connect() as conn:
        events = audit.search(conn, encounter_id=encounter_id)
    return [
        (event["action"], json.loads(event["detail"] or "{}"))
        for event in reversed(events)
        if event["action"].startswith("records.")
    ]


def test_the_document_is_the_reviewed_encounter_decrypted(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx, photos=3)
    taken = dt.datetime(2026, 11, 30, 14, 5, 6)
    set_acquired_at(records_ctx, reviewed.media_ids[1], taken)
    save_team_settings(
        records_ctx,
        "Dermatology",
        organisation_name="Leeds Dermatology",
        mailbox="",
        actor=Actor(reviewed.clinician_id),
    )

    document = gather.load_document(records_ctx, reviewed.encounter_id)

    assert document.reference == reviewed.encounter_id[:8].upper()
    assert document.organisation_name == "Leeds Dermatology"
    assert document.patient.name == PATIENT.name and document.patient.date_of_birth == PATIENT.date_of_birth
    assert document.patient.identifier.value == "9434765919" and document.patient.identifier.is_nhs_number
    assert (document.request_note, document.body_site) == (REQUEST_NOTE, BODY_SITE)
    assert document.review_note == "Eczema; review in 6 weeks"
    assert (document.author.username, document.author.display_name) == ("drjones", "Dr drjones")
    assert document.consent.keep_in_record and document.consent.text_version
    assert [item.media_id for item in document.items] == list(reviewed.media_ids)
    assert [item.title for item in document.items] == ["Photo 1 of 3", "Photo 2 of 3", "Photo 3 of 3"]
    assert document.items[1].acquired_at == taken
    assert document.items[0].acquired_at != taken  # unknown: when it arrived
    assert document.items[0].note == "photo 0 note" and document.items[0].kind == "photo"
    content = gather.store_content(records_ctx)(document.items[0])
    assert content[:3] == b"\xff\xd8\xff" and len(content) == document.items[0].size


def test_deleted_and_unready_media_are_not_filed(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx, photos=3)
    actor = Actor(reviewed.clinician_id)
    delete_medium(
        records_ctx,
        encounter_id=reviewed.encounter_id,
        media_id=reviewed.media_ids[0],
        actor=actor,
        reason="blurred",
        now=utcnow(),
    )
    with records_ctx.engine.begin() as conn:
        conn.execute(update(media).where(media.c.id == reviewed.media_ids[2]).values(status="failed"))
    document = gather.load_document(records_ctx, reviewed.encounter_id)
    assert [(item.media_id, item.title) for item in document.items] == [(reviewed.media_ids[1], "Photo 1 of 1")]


def test_why_filing_cannot_be_offered(records_ctx: AppContext, ctx: AppContext) -> None:
    unreviewed = reviewed_encounter(records_ctx, review=False)
    assert filing_unavailable(records_ctx, unreviewed.encounter_id) == gather.NOT_REVIEWED
    assert filing_unavailable(ctx, unreviewed.encounter_id) == NOTHING_CONFIGURED  # no destination set
    assert "MIA_DICOMWEB_URL, MIA_FHIR_BASE_URL or MIA_XDS_REPOSITORY_URL" in NOTHING_CONFIGURED

    empty = reviewed_encounter(records_ctx, photos=0, username="drempty")
    assert filing_unavailable(records_ctx, empty.encounter_id) == gather.NOTHING_READY

    reviewed = reviewed_encounter(records_ctx, username="drready")
    assert filing_unavailable(records_ctx, reviewed.encounter_id) is None
    delete_encounter(
        records_ctx, encounter_id=reviewed.encounter_id, actor=Actor(reviewed.clinician_id), reason="x", now=utcnow()
    )
    assert filing_unavailable(records_ctx, reviewed.encounter_id) == gather.DELETED
    assert filing_unavailable(records_ctx, "0" * 32) == gather.NOT_FOUND
    with pytest.raises(RecordsError, match="deleted"):
        request_filing(records_ctx, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=utcnow())


def test_no_nhs_number_is_filed_under_a_local_identifier_only_where_the_team_allows_it(
    records_ctx: AppContext,
) -> None:
    reviewed = reviewed_encounter(records_ctx, patient=NO_NHS_NUMBER)
    actor = Actor(reviewed.clinician_id)
    message = filing_unavailable(records_ctx, reviewed.encounter_id)
    assert message is not None and message.startswith(
        "This patient has no NHS number; your team does not allow filing under a local identifier. Add the NHS number"
    )
    with pytest.raises(RecordsError, match="no NHS number"):
        request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=utcnow())
    assert filing_states(records_ctx, reviewed.encounter_id) == []

    save_team_settings(
        records_ctx, "Dermatology", organisation_name=None, mailbox=None, actor=actor, allow_local_identifier=True
    )
    assert filing_unavailable(records_ctx, reviewed.encounter_id) is None
    identifier = gather.load_document(records_ctx, reviewed.encounter_id).patient.identifier
    records = records_ctx.settings.records
    assert (identifier.value, identifier.issuer, identifier.oid) == (
        reviewed.encounter_id,
        records.local_id_issuer,
        records.local_id_oid,
    )
    assert not identifier.is_nhs_number and identifier.system == f"urn:oid:{records.local_id_oid}"


def test_one_row_per_destination_and_asking_again_requeues_it(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    actor = Actor(reviewed.clinician_id, "198.51.100.7")
    now = utcnow()

    states = request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=now)
    assert [(s.destination, s.label, s.status, s.requested_by) for s in states] == [
        ("dicom", "PACS (DICOM)", "queued", reviewed.clinician_id),
        ("fhir", "FHIR record", "queued", reviewed.clinician_id),
    ]
    again = request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=now)  # still queued: unchanged
    assert [state.id for state in again] == [state.id for state in states]

    FilingRunner(records_ctx, {"dicom": RecordingFiler(["ack"]), "fhir": RecordingFiler(["refuse"])}).run_cycle()
    dicom, fhir = filing_states(records_ctx, reviewed.encounter_id)
    assert (dicom.status, fhir.status) == ("acknowledged", "failed")
    assert fhir.can_retry and not dicom.can_retry
    assert fhir.failure_reason == "The test destination refused the documents: missing patient identifier."

    later = now + dt.timedelta(minutes=5)
    requeued = request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=later, destinations=["dicom"])
    assert [(s.id, s.status, s.attempts, s.queued_at) for s in requeued] == [(dicom.id, "queued", 0, later)]
    assert requeued[0].sent_at == dicom.sent_at  # the copy already in the record is still there
    with records_ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(record_filings)).scalar_one() == 2

    actions = audit_actions(records_ctx, reviewed.encounter_id)
    assert actions[:2] == [
        ("records.filing_requested", {"destination": "dicom", "again": False}),
        ("records.filing_requested", {"destination": "fhir", "again": False}),
    ]
    assert sorted(actions[2:4]) == [  # the runner takes either first
        ("records.filed", {"destination": "dicom", "acknowledged": True, "attempts": 1}),
        ("records.filing_failed", {"destination": "fhir", "attempts": 1}),
    ]
    assert actions[4:] == [("records.filing_requested", {"destination": "dicom", "again": True})]
    with records_ctx.engine.connect() as conn:
        requested = audit.search(conn, action="records.filing_requested", encounter_id=reviewed.encounter_id)
    assert {(event["actor_id"], event["remote_addr"]) for event in requested} == {
        (reviewed.clinician_id, "198.51.100.7")
    }


def test_destinations_asked_for_must_be_configured(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    actor = Actor(reviewed.clinician_id)
    with pytest.raises(RecordsError, match=r"The XDS repository is not configured \(set MIA_XDS_REPOSITORY_URL\)"):
        request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=utcnow(), destinations=["xds"])
    with pytest.raises(RecordsError, match="Unknown record destination 'pacs'"):
        request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=utcnow(), destinations=["pacs"])
    assert filing_states(records_ctx, reviewed.encounter_id) == []


def test_only_a_failed_filing_is_retried_and_the_retry_is_audited(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    actor = Actor(reviewed.clinician_id)
    (queued,) = request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=utcnow(), destinations=["fhir"])
    with pytest.raises(RecordsError, match="has not failed"):
        retry_filing(records_ctx, queued.id, actor=actor, now=utcnow())
    with pytest.raises(RecordsError, match="does not exist"):
        retry_filing(records_ctx, "f" * 32, actor=actor, now=utcnow())

    FilingRunner(records_ctx, {"fhir": RecordingFiler(["refuse"])}).run_cycle()
    retried = retry_filing(records_ctx, queued.id, actor=actor, now=utcnow())
    assert (retried.status, retried.attempts, retried.failure_reason, retried.failed_at) == ("queued", 0, None, None)
    assert audit_actions(records_ctx, reviewed.encounter_id)[-1] == (
        "records.filing_retried",
        {"destination": "fhir", "again": True},
    )
    FilingRunner(records_ctx, {"fhir": RecordingFiler(["ack"])}).run_cycle()
    assert filing_states(records_ctx, reviewed.encounter_id)[0].status == "acknowledged"


def test_filed_copies_name_what_deleting_in_mia_leaves_in_the_record(records_ctx: AppContext) -> None:
    reviewed = reviewed_encounter(records_ctx)
    actor = Actor(reviewed.clinician_id)
    assert filed_copies(records_ctx, reviewed.encounter_id) == []
    request_filing(records_ctx, reviewed.encounter_id, actor=actor, now=utcnow())
    FilingRunner(records_ctx, {"dicom": RecordingFiler(["sent"]), "fhir": RecordingFiler(["down"])}).run_cycle()

    copies = filed_copies(records_ctx, reviewed.encounter_id)
    assert [(copy.label, copy.status) for copy in copies] == [("PACS (DICOM)", "sent")]
    assert [copy.destination for copy in filed_copies(records_ctx, reviewed.encounter_id, reviewed.media_ids[0])] == [
        "dicom"
    ]
    with records_ctx.engine.begin() as conn:  # a medium ready only after the filing was not in it
        conn.execute(
            update(media)
            .where(media.c.id == reviewed.media_ids[1])
            .values(processed_at=copies[0].sent_at + dt.timedelta(seconds=1))
        )
    assert filed_copies(records_ctx, reviewed.encounter_id, reviewed.media_ids[1]) == []


def test_body_site_is_checked_and_stored_encrypted(records_ctx: AppContext) -> None:
    from shared.encounters.identifiers import InvalidIdentifier
    from shared.encounters.requests import register_encounter

    reviewed = reviewed_encounter(records_ctx, review=False)
    with records_ctx.engine.connect() as conn:
        stored = conn.execute(select(encounters.c.body_site).where(encounters.c.id == reviewed.encounter_id)).scalar()
    assert stored is not None and BODY_SITE.encode() not in stored
    actor = Actor(reviewed.clinician_id)
    for bad, says in [("x" * 101, "too long"), ("left\x07arm", "not allowed")]:
        with pytest.raises(InvalidIdentifier, match=says):
            register_encounter(records_ctx, actor, patient=PATIENT, body_site=bad)
    blank = register_encounter(records_ctx, actor, patient=PATIENT, body_site="   ")
    with records_ctx.engine.connect() as conn:
        row = conn.execute(select(encounters.c.body_site).where(encounters.c.id == blank.encounter_id)).scalar()
    assert row is None
