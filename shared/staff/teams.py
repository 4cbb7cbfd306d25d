"""What an administrator sets per team: the organisation name its patients see, the mailbox that hears of
submissions, and how its reviewed requests are filed to the patient record.

A team is the `team` string on users and encounters; its settings row exists
once an administrator saved one. Without it the team's patients see
MIA_ORGANISATION_NAME, no team mailbox is told anything, nothing is filed on
review and a patient without an NHS number is not filed at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Row, select, update

from shared import audit
from shared.clock import utcnow
from shared.config.messaging import MAX_ORGANISATION_NAME
from shared.context import Actor, AppContext
from shared.db.tables import teams, users
from shared.email_addresses import InvalidEmail, normalize_email_address


class TeamSettingsError(ValueError):
    """A team setting an administrator typed cannot be saved (message is for them)."""


@dataclass(frozen=True)
class TeamSettings:
    name: str
    organisation_name: str | None
    mailbox: str | None
    updated_at: dt.datetime | None
    file_on_review: bool = False  # "Mark as reviewed" also files to the record (shared.records.runner)
    allow_local_identifier: bool = False  # a patient without an NHS number is filed under a local identifier

    @classmethod
    def from_row(cls, row: Row) -> TeamSettings:
        return cls(
            row.name,
            row.organisation_name,
            row.mailbox,
            row.updated_at,
            bool(row.file_on_review),
            bool(row.allow_local_identifier),
        )


def team_settings(conn: Connection, team: str | None) -> TeamSettings | None:
    if not team:
        return None
    row = conn.execute(select(teams).where(teams.c.name == team)).first()
    return TeamSettings.from_row(row) if row is not None else None


def organisation_name(conn: Connection, ctx: AppContext, team: str | None) -> str:
    """The name a team's patients see in every message and on every page."""
    settings = team_settings(conn, team)
    if settings is not None and settings.organisation_name:
        return settings.organisation_name
    return ctx.settings.messaging.organisation_name


def team_mailbox(conn: Connection, team: str | None) -> str | None:
    settings = team_settings(conn, team)
    return settings.mailbox if settings is not None else None


def all_teams(ctx: AppContext) -> list[TeamSettings]:
    """Every team staff or settings name, with its settings (None fields where nothing was saved)."""
    with ctx.engine.connect() as conn:
        saved = {row.name: TeamSettings.from_row(row) for row in conn.execute(select(teams))}
        named = {row[0] for row in conn.execute(select(users.c.team).where(users.c.team.is_not(None)).distinct())}
    for name in named - saved.keys():
        saved[name] = TeamSettings(name, None, None, None)
    return [saved[name] for name in sorted(saved)]


def save_team_settings(
    ctx: AppContext,
    team: str,
    *,
    organisation_name: str | None,
    mailbox: str | None,
    actor: Actor,
    file_on_review: bool | None = None,
    allow_local_identifier: bool | None = None,
) -> TeamSettings:
    """Set a team's organisation name (blank: MIA_ORGANISATION_NAME), mailbox (blank: none) and filing rules
    (None: as they were; off for a new team); audited.

    Raises TeamSettingsError with a sentence for the administrator.
    """
    team = " ".join(team.split())
    if not team or len(team) > 100:
        raise TeamSettingsError("Name the team (at most 100 characters).")
    name = " ".join((organisation_name or "").split()) or None
    if name is not None and len(name) > MAX_ORGANISATION_NAME:
        raise TeamSettingsError(
            f"The organisation name is too long ({len(name)} characters; at most {MAX_ORGANISATION_NAME}, "
            "so that a text message still fits)."
        )
    try:
        box = normalize_email_address(mailbox) if mailbox and mailbox.strip() else None
    except InvalidEmail as error:
        raise TeamSettingsError(f"The team mailbox: {error}") from None
    now = utcnow()
    values: dict[str, object] = {
        "organisation_name": name,
        "mailbox": box,
        "updated_at": now,
        "updated_by": actor.user_id,
    }
    with ctx.engine.begin() as conn:
        current = conn.execute(select(teams).where(teams.c.name == team).with_for_update()).first()
        values["file_on_review"] = _kept(file_on_review, current.file_on_review if current else False)
        values["allow_local_identifier"] = _kept(
            allow_local_identifier, current.allow_local_identifier if current else False
        )
        if current is not None:
            conn.execute(update(teams).where(teams.c.name == team).values(**values))
        else:
            conn.execute(teams.insert().values(name=team, **values))
        audit.record(
            conn,
            "team.settings_changed",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            remote_addr=actor.remote_addr,
            detail={
                "team": team,
                "organisation_name": name,
                "mailbox_set": box is not None,
                "file_on_review": values["file_on_review"],
                "allow_local_identifier": values["allow_local_identifier"],
            },
        )
    return TeamSettings(team, name, box, now, bool(values["file_on_review"]), bool(values["allow_local_identifier"]))


def _kept(asked: bool | None, current: bool) -> bool:
    return bool(current) if asked is None else asked
