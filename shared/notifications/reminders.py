"""Reminders to a patient who has not sent yet: on a schedule, on the invite's channels, with the live link, once.

The schedule (MIA_REMINDER_AFTER_HOURS, MIA_REMINDER_BEFORE_EXPIRY_HOURS; 0
switches either off) counts from the link's issue: one reminder 48 h after
it, one 24 h before it expires. When the two would come less than
MIN_GAP apart (or in the wrong order: a short link), only the earlier is
sent; after downtime only the latest one due is sent, not a burst. A link
issued again starts its own schedule. No reminder once the patient has
sent, the link has expired or is locked, the request was deleted, or the
clinician switched reminders off for it.

A reminder goes to each channel (SMS, email) whose newest message carrying
the live link did not fail, to that message's recipient: a number that
cannot receive texts is not texted again. The link is read back from those
messages (only its hash is kept with the encounter), so it is the same link
the patient already has. Each reminder row carries a dedupe key (encounter,
link, stage, channel), and the encounter row is locked while it is queued:
`queue_due` run by two dispatchers at once queues each reminder once, and a
patient pressing Send at that moment gets none.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, Row, and_, or_, select, true
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from shared import audit
from shared.context import AppContext
from shared.db.statuses import EncounterStatus, NotificationStatus
from shared.db.tables import encounters, notifications
from shared.ids import token_hash
from shared.logging.json_lines import get_logger
from shared.notifications import outbox
from shared.notifications.outbox import CHANNEL_EMAIL, CHANNEL_SMS, KIND_PATIENT_INVITE, KIND_PATIENT_REMINDER

log = get_logger(__name__)

AFTER_INVITE = "after_invite"
BEFORE_EXPIRY = "before_expiry"
MIN_GAP = dt.timedelta(hours=12)
# Stages in which the patient has not sent (the journey only moves forward).
NOT_SENT = (EncounterStatus.INVITED, EncounterStatus.OPENED, EncounterStatus.VERIFIED, EncounterStatus.CONSENTED)
# A channel whose newest message ended like this gets no reminder (it would fail again, or nothing would be sent).
DEAD_ENDS = (NotificationStatus.FAILED, NotificationStatus.NOT_CONFIGURED)
CARRIERS = (KIND_PATIENT_INVITE, KIND_PATIENT_REMINDER)


@dataclass(frozen=True)
class Stage:
    name: str
    due_at: dt.datetime


@dataclass(frozen=True)
class OpenInvite:
    """What the schedule reads of an `encounters` row."""

    id: str
    team: str | None
    status: str
    invite_token_hash: str | None
    invited_at: dt.datetime | None
    invite_expires_at: dt.datetime | None
    locked_at: dt.datetime | None
    submitted_at: dt.datetime | None
    deleted_at: dt.datetime | None
    reminders_enabled: bool

    @classmethod
    def from_row(cls, row: Row) -> OpenInvite:
        values = row._mapping
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})

    def may_remind(self, now: dt.datetime) -> bool:
        return (
            self.reminders_enabled
            and self.deleted_at is None
            and self.submitted_at is None
            and self.status in NOT_SENT
            and self.locked_at is None
            and self.invite_token_hash is not None
            and self.invited_at is not None
            and self.invite_expires_at is not None
            and now < self.invite_expires_at
        )


COLUMNS = [encounters.c[name] for name in OpenInvite.__dataclass_fields__]


def schedule(invited_at: dt.datetime, expires_at: dt.datetime, after_hours: int, before_hours: int) -> list[Stage]:
    """The reminders a link issued at `invited_at` gets, in time order (hours of 0 switch a stage off)."""
    stages = []
    if after_hours:
        due = invited_at + dt.timedelta(hours=after_hours)
        if due < expires_at:
            stages.append(Stage(AFTER_INVITE, due))
    if before_hours:
        due = expires_at - dt.timedelta(hours=before_hours)
        if due > invited_at:
            stages.append(Stage(BEFORE_EXPIRY, due))
    if len(stages) == 2 and stages[1].due_at - stages[0].due_at < MIN_GAP:
        return [min(stages, key=lambda stage: stage.due_at)]
    return stages


def due_stage(invite: OpenInvite, after_hours: int, before_hours: int, now: dt.datetime) -> Stage | None:
    """The latest reminder due by `now` (earlier ones not sent by then are skipped), or None."""
    if invite.invited_at is None or invite.invite_expires_at is None:
        return None
    stages = schedule(invite.invited_at, invite.invite_expires_at, after_hours, before_hours)
    due = [stage for stage in stages if stage.due_at <= now]
    return due[-1] if due else None


def expiry_text(expires_at: dt.datetime) -> str:
    """The link's expiry in the words of the invite (shared.encounters.requests.invite_expiry_text)."""
    return expires_at.strftime("%d %B %Y %H:%M UTC")


def _key_prefix(invite: OpenInvite, stage: Stage) -> str:
    assert invite.invite_token_hash is not None
    return f"reminder:{invite.id}:{invite.invite_token_hash[:16]}:{stage.name}:"


def live_link(body: str, patient_base_url: str, link_hash: str) -> str | None:
    """The patient link in a message body whose token hashes to the encounter's `invite_token_hash`."""
    for link in re.findall(re.escape(f"{patient_base_url}/p/") + r"[A-Za-z0-9_-]+", body):
        if token_hash(link.rsplit("/", 1)[-1]) == link_hash:
            return link
    return None


@dataclass(frozen=True)
class Route:
    channel: str
    recipient: str
    link: str


def routes(conn: Connection, ctx: AppContext, invite: OpenInvite) -> list[Route]:
    """Per channel, the newest message carrying the live link, unless it failed or was never sent."""
    assert invite.invite_token_hash is not None
    found: dict[str, Route | None] = {}
    for message in outbox.for_encounter(conn, ctx.cipher, invite.id):  # newest first
        if message.kind not in CARRIERS or message.channel not in (CHANNEL_SMS, CHANNEL_EMAIL):
            continue
        if message.channel in found:
            continue
        link = live_link(message.body, ctx.settings.patient_base_url, invite.invite_token_hash)
        if link is None:
            continue  # an earlier link's message
        usable = message.status not in DEAD_ENDS and message.recipient
        found[message.channel] = Route(message.channel, message.recipient, link) if usable else None
    return [route for _, route in sorted(found.items()) if route is not None]


def _candidates(conn: Connection, now: dt.datetime, after_hours: int, before_hours: int) -> list[OpenInvite]:
    """Open links past the time of some reminder (the schedule itself is checked in Python)."""
    windows = []
    if after_hours:
        windows.append(encounters.c.invited_at <= now - dt.timedelta(hours=after_hours))
    if before_hours:
        windows.append(encounters.c.invite_expires_at <= now + dt.timedelta(hours=before_hours))
    query = select(*COLUMNS).where(
        and_(
            encounters.c.deleted_at.is_(None),
            encounters.c.submitted_at.is_(None),
            encounters.c.status.in_(NOT_SENT),
            encounters.c.locked_at.is_(None),
            encounters.c.reminders_enabled == true(),
            encounters.c.invite_token_hash.is_not(None),
            encounters.c.invited_at.is_not(None),
            encounters.c.invite_expires_at > now,
            or_(*windows),
        )
    )
    return [OpenInvite.from_row(row) for row in conn.execute(query)]


def _queued_keys(conn: Connection, encounter_ids: list[str]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = defaultdict(set)
    if encounter_ids:
        rows = conn.execute(
            select(notifications.c.encounter_id, notifications.c.dedupe_key).where(
                notifications.c.kind == KIND_PATIENT_REMINDER,
                notifications.c.encounter_id.in_(encounter_ids),
                notifications.c.dedupe_key.is_not(None),
            )
        )
        for encounter_id, key in rows:
            keys[encounter_id].add(key)
    return keys


def queue_due(ctx: AppContext, now: dt.datetime) -> int:
    """Queue every reminder due by `now`; returns how many messages were queued. The dispatcher runs it each cycle."""
    after, before = ctx.settings.messaging.reminder_after_hours, ctx.settings.messaging.reminder_before_expiry_hours
    if not (after or before):
        return 0
    with ctx.engine.connect() as conn:
        candidates = _candidates(conn, now, after, before)
        queued_keys = _queued_keys(conn, [invite.id for invite in candidates])
    queued = 0
    for invite in candidates:
        stage = due_stage(invite, after, before, now)
        if stage is None or any(key.startswith(_key_prefix(invite, stage)) for key in queued_keys[invite.id]):
            continue
        try:
            queued += _queue(ctx, invite.id, now)
        except IntegrityError:
            continue  # another dispatcher queued this reminder first
        except SQLAlchemyError:
            raise  # the database is down: the dispatcher waits and tries again
        except Exception:
            # one request's fault (a message that no longer decrypts) must not stop the others' reminders
            log.exception("could not queue a reminder", extra={"encounter_id": invite.id})
    return queued


def _queue(ctx: AppContext, encounter_id: str, now: dt.datetime) -> int:
    """Queue the due reminder of one encounter, its row locked and every condition checked again."""
    settings = ctx.settings.messaging
    with ctx.engine.begin() as conn:
        row = conn.execute(select(*COLUMNS).where(encounters.c.id == encounter_id).with_for_update()).first()
        invite = OpenInvite.from_row(row) if row is not None else None
        if invite is None or not invite.may_remind(now):
            return 0
        stage = due_stage(invite, settings.reminder_after_hours, settings.reminder_before_expiry_hours, now)
        if stage is None:
            return 0
        prefix = _key_prefix(invite, stage)
        if any(key.startswith(prefix) for key in _queued_keys(conn, [encounter_id])[encounter_id]):
            return 0
        assert invite.invite_expires_at is not None
        channels = []
        for route in routes(conn, ctx, invite):
            outbox.remind_patient(
                conn,
                ctx,
                encounter_id=encounter_id,
                team=invite.team,
                channel=route.channel,
                recipient=route.recipient,
                link=route.link,
                expires_text=expiry_text(invite.invite_expires_at),
                dedupe_key=prefix + route.channel,
            )
            channels.append(route.channel)
        if channels:
            audit.record(
                conn,
                "reminder.queued",
                actor_type=audit.ACTOR_SYSTEM,
                actor_id="reminders",
                encounter_id=encounter_id,
                detail={"stage": stage.name, "channels": channels},
            )
    return len(channels)
