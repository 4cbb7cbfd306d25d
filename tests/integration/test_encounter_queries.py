"""What a clinician may see, status filters, NHS-number search, counts and resending links (both databases)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext, build_context
from shared.db.statuses import EncounterStatus
from shared.db.tables import encounters, notifications
from shared.encounters.encounter import load_encounter
from shared.encounters.errors import EncounterError
from shared.encounters.identifiers import InvalidIdentifier
from shared.encounters.invites import current_invite, patient_messages, resend_invite, show_link
from shared.encounters.queries import (
    SCOPE_MINE,
    SCOPE_TEAM,
    EncounterFilter,
    Viewer,
    awaiting_review,
    list_encounters,
    load_visible,
    search_by_nhs_number,
    submission_counts,
)
from shared.encounters.requests import PatientDetails, reissue_invite
from shared.notifications.outbox import KIND_PATIENT_INVITE
from tests.conftest import make_settings
from tests.support.factories import PATIENT, make_clinician, make_encounter
from tests.support.message_states import CONFIGURED
from tests.support.submissions import submit

OTHER_PATIENT = PatientDetails.from_input(name="Ada Lovelace", date_of_birth="1950-12-10", nhs_number="401 023 2137")


def setup_teams(ctx: AppContext) -> dict[str, str]:
    return {
        "jones": make_clinician(ctx, "drjones", team="Dermatology"),
        "smith": make_clinician(ctx, "drsmith", team="Dermatology"),
        "brown": make_clinician(ctx, "drbrown", team="Neurology"),
        "solo": make_clinician(ctx, "drsolo", team=""),
    }


def set_row(ctx: AppContext, encounter_id: str, **values: object) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(encounters).where(encounters.c.id == encounter_id).values(**values))


def test_clinicians_see_their_own_and_their_teams_encounters_only(ctx: AppContext) -> None:
    people = setup_teams(ctx)
    mine = make_encounter(ctx, people["jones"]).encounter_id
    colleague = make_encounter(ctx, people["smith"]).encounter_id
    other_team = make_encounter(ctx, people["brown"]).encounter_id
    jones = Viewer(people["jones"], "Dermatology")
    now = utcnow()
    team_rows, total = list_encounters(ctx, jones, EncounterFilter(scope=SCOPE_TEAM), now=now)
    mine_rows, _ = list_encounters(ctx, jones, EncounterFilter(scope=SCOPE_MINE), now=now)
    assert {r.id for r in team_rows} == {mine, colleague} and total == 2
    assert [r.id for r in mine_rows] == [mine]
    assert load_visible(ctx, jones, colleague) is not None
    assert load_visible(ctx, jones, other_team) is None
    solo = Viewer(people["solo"], None)
    assert list_encounters(ctx, solo, EncounterFilter(scope=SCOPE_TEAM), now=now) == ([], 0)
    set_row(ctx, colleague, deleted_at=now)
    assert load_visible(ctx, jones, colleague) is None


def test_status_filters_agree_with_the_status_clinicians_see(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    now = utcnow()
    ids = {status: make_encounter(ctx, clinician).encounter_id for status in EncounterStatus}
    set_row(ctx, ids[EncounterStatus.OPENED], status="opened")
    set_row(ctx, ids[EncounterStatus.VERIFIED], status="verified")
    set_row(ctx, ids[EncounterStatus.CONSENTED], status="consented")
    set_row(ctx, ids[EncounterStatus.SUBMITTED], status="submitted", invite_expires_at=now - dt.timedelta(days=1))
    set_row(ctx, ids[EncounterStatus.REVIEWED], status="reviewed", locked_at=now)
    set_row(ctx, ids[EncounterStatus.EXPIRED], status="opened", invite_expires_at=now - dt.timedelta(hours=1))
    set_row(ctx, ids[EncounterStatus.LOCKED], status="verified", locked_at=now)
    viewer = Viewer(clinician, "Dermatology")
    for status, encounter_id in ids.items():
        rows, _ = list_encounters(ctx, viewer, EncounterFilter(statuses=(status,)), now=now)
        assert [r.id for r in rows] == [encounter_id], status
        assert rows[0].status == status  # the status a clinician sees (derived_status)
    both = (EncounterStatus.SUBMITTED, EncounterStatus.LOCKED)
    assert list_encounters(ctx, viewer, EncounterFilter(statuses=both), now=now)[1] == 2


def test_date_filters_and_paging(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    made = [make_encounter(ctx, clinician).encounter_id for _ in range(5)]
    base = dt.datetime(2026, 3, 1, 12, 0)
    for days, encounter_id in enumerate(made):
        set_row(ctx, encounter_id, created_at=base + dt.timedelta(days=days))
    viewer = Viewer(clinician, "Dermatology")
    now = utcnow()
    flt = EncounterFilter(created_since=dt.datetime(2026, 3, 2), created_before=dt.datetime(2026, 3, 5))
    rows, total = list_encounters(ctx, viewer, flt, now=now)
    assert total == 3 and [r.id for r in rows] == [made[3], made[2], made[1]]
    page, total = list_encounters(ctx, viewer, EncounterFilter(), now=now, limit=2, offset=2)
    assert total == 5 and [r.id for r in page] == [made[2], made[1]]


def test_nhs_number_search_finds_only_visible_encounters_and_audits_no_number(ctx: AppContext) -> None:
    people = setup_teams(ctx)
    mine = make_encounter(ctx, people["jones"]).encounter_id
    make_encounter(ctx, people["brown"])  # same patient, other team
    make_encounter(ctx, people["jones"], OTHER_PATIENT)
    viewer = Viewer(people["jones"], "Dermatology")
    actor = Actor(people["jones"], "198.51.100.7")
    rows = search_by_nhs_number(ctx, viewer, "943-476-5919", EncounterFilter(), actor=actor, now=utcnow())
    assert [r.id for r in rows] == [mine]
    with pytest.raises(InvalidIdentifier):
        search_by_nhs_number(ctx, viewer, "943 476 5918", EncounterFilter(), actor=actor, now=utcnow())
    again = search_by_nhs_number(ctx, viewer, "9434765919", EncounterFilter(), actor=actor, now=utcnow(), record=False)
    assert [r.id for r in again] == [mine]
    with ctx.engine.connect() as conn:
        (event,) = audit.search(conn, action="encounter.searched")
    assert "9434765919" not in (event["detail"] or "") and '"results": 1' in event["detail"]
    assert event["actor_id"] == people["jones"] and event["remote_addr"] == "198.51.100.7"


def test_summaries_decrypt_for_display_and_count_files(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    (summary,), _ = list_encounters(ctx, Viewer(clinician, "Dermatology"), EncounterFilter(), now=utcnow())
    assert summary.id == encounter_id and summary.patient_name == PATIENT.name
    assert summary.nhs_number == "9434765919" and summary.clinician_name == "Dr drjones"
    assert (summary.media_count, summary.media_ready) == (0, 0)


def test_submission_counts_and_review_queue(ctx: AppContext) -> None:
    people = setup_teams(ctx)
    first = make_encounter(ctx, people["jones"]).encounter_id
    second = make_encounter(ctx, people["smith"]).encounter_id
    make_encounter(ctx, people["jones"])
    submit(ctx, first, people["jones"], at=utcnow() - dt.timedelta(hours=1))
    submit(ctx, second, people["smith"])
    viewer = Viewer(people["jones"], "Dermatology")
    counts = submission_counts(ctx, viewer)
    assert (counts.new_for_me, counts.awaiting_mine, counts.awaiting_team) == (1, 1, 2)
    assert [r.id for r in awaiting_review(ctx, viewer, now=utcnow())] == [first, second]  # oldest first


def test_resend_queues_the_same_live_link_and_reissue_kills_it(tmp_path: Path, engine: Engine) -> None:
    ctx = build_context(make_settings(tmp_path / "var", **CONFIGURED), engine=engine)
    clinician = make_clinician(ctx)
    actor = Actor(clinician)
    invite = make_encounter(ctx, clinician)
    now = utcnow()

    def row():  # type: ignore[no-untyped-def]
        with ctx.engine.connect() as conn:
            return load_encounter(conn, invite.encounter_id)

    with ctx.engine.connect() as conn:
        assert current_invite(ctx, conn, row()).link == invite.link
    assert show_link(ctx, invite.encounter_id, actor=actor).link == invite.link
    resent = resend_invite(ctx, invite.encounter_id, actor=actor, now=now)
    assert resent.link == invite.link
    with ctx.engine.connect() as conn:
        invites = conn.execute(
            select(notifications).where(
                notifications.c.encounter_id == invite.encounter_id, notifications.c.kind == KIND_PATIENT_INVITE
            )
        ).all()
    assert len(invites) == 4  # SMS and email, twice
    assert sorted(m.channel for m in patient_messages(ctx, invite.encounter_id)) == ["email", "email", "sms", "sms"]
    fresh = reissue_invite(ctx, invite.encounter_id, actor=actor)
    with ctx.engine.connect() as conn:
        assert current_invite(ctx, conn, row()).link == fresh.link != invite.link
    set_row(ctx, invite.encounter_id, locked_at=now)
    with pytest.raises(EncounterError, match="locked"):
        resend_invite(ctx, invite.encounter_id, actor=actor, now=now)
    set_row(ctx, invite.encounter_id, locked_at=None, invite_expires_at=now - dt.timedelta(minutes=1))
    with pytest.raises(EncounterError, match="expired"):
        resend_invite(ctx, invite.encounter_id, actor=actor, now=now)
    with ctx.engine.connect() as conn:
        assert audit.search(conn, action="invite.resent", encounter_id=invite.encounter_id)
        assert audit.search(conn, action="invite.shown", encounter_id=invite.encounter_id)


def test_showing_a_link_no_longer_in_the_outbox_says_to_issue_a_new_one(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)
    with ctx.engine.begin() as conn:
        conn.execute(notifications.delete().where(notifications.c.encounter_id == invite.encounter_id))
    with pytest.raises(EncounterError, match="no longer in the outbox"):
        show_link(ctx, invite.encounter_id, actor=Actor(clinician))
    with ctx.engine.connect() as conn:
        assert not audit.search(conn, action="invite.shown")
