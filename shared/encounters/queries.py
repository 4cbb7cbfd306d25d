"""Which encounters a clinician may see, and the lists, searches and counts the portal shows.

A clinician sees the encounters they registered and, when they belong to a
team, those of their team. Status filters use the status a clinician sees
(`requests.derived_status`), expressed in SQL so paging stays right. Each
query opens its own connection (the audited NHS-number search its own
transaction) and returns dataclasses, decrypted for display only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from shared import audit
from shared.context import Actor, AppContext
from shared.db.statuses import EncounterStatus, MediaStatus, NotificationStatus
from shared.db.tables import encounters, media, notifications, users
from shared.encounters.encounter import Encounter, encounters_from, load_encounter
from shared.encounters.invites import PATIENT_MESSAGE_KINDS, PatientMessage, latest_by_channel
from shared.encounters.requests import CLOSED_STATUSES, decrypt_patient, derived_status, find_by_nhs_number
from shared.notifications.outbox import KIND_SUBMISSION

SCOPE_MINE = "mine"
SCOPE_TEAM = "team"


@dataclass(frozen=True)
class Viewer:
    """The clinician asking: what they may see depends on who they are and their team."""

    user_id: str
    team: str | None


def visible_condition(viewer: Viewer, scope: str = SCOPE_TEAM) -> ColumnElement[bool]:
    mine = encounters.c.clinician_id == viewer.user_id
    if scope == SCOPE_MINE or not viewer.team:
        return mine
    return or_(mine, encounters.c.team == viewer.team)


def can_view(viewer: Viewer, row: Encounter) -> bool:
    return row.clinician_id == viewer.user_id or bool(viewer.team and row.team == viewer.team)


def visible_in(conn: Connection, viewer: Viewer, encounter_id: str) -> Encounter | None:
    """The encounter if it exists, is not deleted and the viewer may see it; else None (in the caller's connection)."""
    row = load_encounter(conn, encounter_id)
    return row if row is not None and row.deleted_at is None and can_view(viewer, row) else None


def load_visible(ctx: AppContext, viewer: Viewer, encounter_id: str) -> Encounter | None:
    """The encounter if it exists, is not deleted and the viewer may see it; else None."""
    with ctx.engine.connect() as conn:
        return visible_in(conn, viewer, encounter_id)


def status_condition(status: EncounterStatus, now: dt.datetime) -> ColumnElement[bool]:
    """SQL for 'derived_status(row) == status'."""
    is_open = encounters.c.status.not_in([s.value for s in CLOSED_STATUSES])
    if status in CLOSED_STATUSES:
        return encounters.c.status == status.value
    if status == EncounterStatus.LOCKED:
        return and_(is_open, encounters.c.locked_at.is_not(None))
    expired = and_(encounters.c.invite_expires_at.is_not(None), encounters.c.invite_expires_at <= now)
    if status == EncounterStatus.EXPIRED:
        return and_(is_open, encounters.c.locked_at.is_(None), expired)
    return and_(encounters.c.status == status.value, encounters.c.locked_at.is_(None), ~expired)


@dataclass(frozen=True)
class EncounterFilter:
    scope: str = SCOPE_TEAM
    statuses: tuple[EncounterStatus, ...] = ()
    created_since: dt.datetime | None = None  # naive UTC, inclusive
    created_before: dt.datetime | None = None  # naive UTC, exclusive


def _filter_conditions(viewer: Viewer, flt: EncounterFilter, now: dt.datetime) -> list[ColumnElement[bool]]:
    conditions = [encounters.c.deleted_at.is_(None), visible_condition(viewer, flt.scope)]
    if flt.statuses:
        conditions.append(or_(*(status_condition(status, now) for status in flt.statuses)))
    if flt.created_since:
        conditions.append(encounters.c.created_at >= flt.created_since)
    if flt.created_before:
        conditions.append(encounters.c.created_at < flt.created_before)
    return conditions


def list_encounters(
    ctx: AppContext, viewer: Viewer, flt: EncounterFilter, *, now: dt.datetime, limit: int = 50, offset: int = 0
) -> tuple[list[EncounterSummary], int]:
    """One page of encounters, newest first, and how many match in all."""
    conditions = _filter_conditions(viewer, flt, now)
    with ctx.engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(encounters).where(*conditions)).scalar() or 0)
        rows = encounters_from(
            conn.execute(
                select(encounters)
                .where(*conditions)
                .order_by(encounters.c.created_at.desc(), encounters.c.id)
                .limit(limit)
                .offset(offset)
            )
        )
        return _summaries(ctx, conn, rows, now=now), total


def search_by_nhs_number(
    ctx: AppContext,
    viewer: Viewer,
    nhs_number: str,
    flt: EncounterFilter,
    *,
    actor: Actor,
    now: dt.datetime,
    record: bool = True,
) -> list[EncounterSummary]:
    """Exact NHS-number search through the blind index, limited to what the viewer may see.

    Raises InvalidIdentifier for a mistyped number. Audited (without the
    number) unless `record` is False: a page showing the same search again.
    """
    with ctx.engine.begin() as conn:
        matches = find_by_nhs_number(conn, ctx.blind_index, nhs_number)
        allowed = {row.id for row in conn.execute(select(encounters.c.id).where(*_filter_conditions(viewer, flt, now)))}
        rows = [row for row in matches if row.id in allowed]
        if record:
            audit.record(
                conn,
                "encounter.searched",
                actor_type=audit.ACTOR_USER,
                actor_id=actor.user_id,
                remote_addr=actor.remote_addr,
                detail={"by": "nhs_number", "results": len(rows)},
            )
        return _summaries(ctx, conn, rows, now=now)


@dataclass(frozen=True)
class EncounterSummary:
    """One line of the encounter list, decrypted for display only."""

    id: str
    patient_name: str
    date_of_birth: dt.date
    nhs_number: str | None
    status: EncounterStatus
    clinician_name: str
    team: str | None
    created_at: dt.datetime
    invite_expires_at: dt.datetime | None
    submitted_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    clinician_id: str = ""
    media_count: int = 0
    media_ready: int = 0
    messages: tuple[PatientMessage, ...] = ()  # the newest invite or reminder to each channel
    invite_failed: bool = False  # a failed invite or reminder nobody has acted on yet (the requester's badge)


def media_counts(conn: Connection, encounter_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(files, files ready to view) per encounter, deleted files left out."""
    if not encounter_ids:
        return {}
    ready = func.sum(case((media.c.status == MediaStatus.READY.value, 1), else_=0))
    rows = conn.execute(
        select(media.c.encounter_id, func.count(), ready)
        .where(media.c.encounter_id.in_(list(encounter_ids)), media.c.deleted_at.is_(None))
        .group_by(media.c.encounter_id)
    )
    return {row[0]: (int(row[1]), int(row[2] or 0)) for row in rows}


def _summaries(
    ctx: AppContext, conn: Connection, rows: Sequence[Encounter], *, now: dt.datetime
) -> list[EncounterSummary]:
    counts = media_counts(conn, [row.id for row in rows])
    messages = latest_by_channel(ctx, conn, [row.id for row in rows])
    failing = failed_invites_among(conn, [row.id for row in rows])
    clinician_ids = {row.clinician_id for row in rows}
    names = dict(
        conn.execute(select(users.c.id, users.c.display_name).where(users.c.id.in_(clinician_ids))).all()
        if clinician_ids
        else []
    )
    summaries = []
    for row in rows:
        patient = decrypt_patient(ctx.cipher, row)
        files, ready = counts.get(row.id, (0, 0))
        summaries.append(
            EncounterSummary(
                id=row.id,
                patient_name=patient.name,
                date_of_birth=patient.date_of_birth,
                nhs_number=patient.nhs_number,
                status=derived_status(row, now),
                clinician_name=names.get(row.clinician_id, "—"),
                team=row.team,
                created_at=row.created_at,
                invite_expires_at=row.invite_expires_at,
                submitted_at=row.submitted_at,
                reviewed_at=row.reviewed_at,
                clinician_id=row.clinician_id,
                media_count=files,
                media_ready=ready,
                messages=tuple(messages.get(row.id, ())),
                invite_failed=row.id in failing and row.status not in CLOSED_STATUSES,
            )
        )
    return summaries


def _failure_to_act_on() -> ColumnElement[bool]:
    """SQL: the encounter has a failed invite or reminder nobody has acted on (shared.encounters.invites)."""
    return exists().where(
        notifications.c.encounter_id == encounters.c.id,
        notifications.c.kind.in_(PATIENT_MESSAGE_KINDS),
        notifications.c.status == NotificationStatus.FAILED.value,
        notifications.c.read_at.is_(None),
    )


def failed_invites_among(conn: Connection, encounter_ids: Sequence[str]) -> set[str]:
    """Which of these encounters have a failed invite or reminder nobody has acted on."""
    if not encounter_ids:
        return set()
    query = select(encounters.c.id).where(encounters.c.id.in_(list(encounter_ids)), _failure_to_act_on())
    return set(conn.execute(query).scalars())


@dataclass(frozen=True)
class SubmissionCounts:
    new_for_me: int  # unread "patient sent their files" notices addressed to this clinician
    awaiting_mine: int  # submitted, not yet reviewed: registered by me
    awaiting_team: int  # submitted, not yet reviewed: anyone in my team (including me)
    invites_failed: int = 0  # my open requests whose invite or reminder failed and that I have not acted on


def submission_counts(ctx: AppContext, viewer: Viewer) -> SubmissionCounts:
    with ctx.engine.connect() as conn:
        unread = conn.execute(
            select(func.count()).where(
                notifications.c.user_id == viewer.user_id,
                notifications.c.kind == KIND_SUBMISSION,
                notifications.c.read_at.is_(None),
            )
        ).scalar()

        def awaiting(scope: str) -> int:
            query = select(func.count()).where(
                encounters.c.status == EncounterStatus.SUBMITTED.value,
                encounters.c.deleted_at.is_(None),
                visible_condition(viewer, scope),
            )
            return int(conn.execute(query).scalar() or 0)

        failed = conn.execute(
            select(func.count()).where(
                encounters.c.clinician_id == viewer.user_id,
                encounters.c.deleted_at.is_(None),
                encounters.c.status.not_in([s.value for s in CLOSED_STATUSES]),
                _failure_to_act_on(),
            )
        ).scalar()
        return SubmissionCounts(int(unread or 0), awaiting(SCOPE_MINE), awaiting(SCOPE_TEAM), int(failed or 0))


def awaiting_review(ctx: AppContext, viewer: Viewer, *, now: dt.datetime, limit: int = 50) -> list[EncounterSummary]:
    """Submitted encounters the viewer may review, oldest submission first (a queue)."""
    with ctx.engine.connect() as conn:
        rows = encounters_from(
            conn.execute(
                select(encounters)
                .where(
                    encounters.c.status == EncounterStatus.SUBMITTED.value,
                    encounters.c.deleted_at.is_(None),
                    visible_condition(viewer, SCOPE_TEAM),
                )
                .order_by(encounters.c.submitted_at, encounters.c.id)
                .limit(limit)
            )
        )
        return _summaries(ctx, conn, rows, now=now)
