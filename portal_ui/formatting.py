"""How times, sizes and statuses read in the portal (UK time, human-friendly)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import humanize

from shared.db.statuses import EncounterStatus

try:
    DISPLAY_ZONE: dt.tzinfo = ZoneInfo("Europe/London")
except ZoneInfoNotFoundError:  # a minimal image without tzdata: say UTC rather than guess
    DISPLAY_ZONE = dt.UTC

STATUS_LABELS = {
    EncounterStatus.INVITED: "Invited",
    EncounterStatus.OPENED: "Link opened",
    EncounterStatus.VERIFIED: "Identity confirmed",
    EncounterStatus.CONSENTED: "Consent given",
    EncounterStatus.SUBMITTED: "Submitted — to review",
    EncounterStatus.REVIEWED: "Reviewed",
    EncounterStatus.EXPIRED: "Link expired",
    EncounterStatus.LOCKED: "Locked (wrong dates of birth)",
}


def status_label(status: str) -> str:
    try:
        return STATUS_LABELS[EncounterStatus(status)]
    except ValueError:
        return status


def local_time(moment: dt.datetime | None) -> str:
    """'21 Nov 2026 14:05' in UK time, from a naive UTC datetime."""
    if moment is None:
        return "—"
    local = moment.replace(tzinfo=dt.UTC).astimezone(DISPLAY_ZONE)
    return local.strftime("%d %b %Y %H:%M")


def utc_bound(day: dt.date | None, *, end: bool = False) -> dt.datetime | None:
    """The start of a UK calendar day (or of the day after, for an inclusive end) as naive UTC."""
    if day is None:
        return None
    local = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), tzinfo=DISPLAY_ZONE)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def relative_time(moment: dt.datetime | None, now: dt.datetime) -> str:
    """'3 minutes ago' / 'in 2 days'."""
    if moment is None:
        return "—"
    return humanize.naturaltime(moment, when=now)


def when(moment: dt.datetime | None, now: dt.datetime) -> str:
    """Both: '21 Nov 2026 14:05 (3 minutes ago)'."""
    if moment is None:
        return "—"
    return f"{local_time(moment)} ({relative_time(moment, now)})"


def file_size(size: int | None) -> str:
    return "—" if size is None else humanize.naturalsize(size, binary=True)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def date_of_birth(value: dt.date) -> str:
    return value.strftime("%d %b %Y")


_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:")


def plain(text: str | None) -> str:
    """Text typed by someone else (a patient's note, a file name) shown literally inside Markdown.

    Without this a note could carry a link or formatting into the clinician's screen.
    """
    return "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIAL else ch for ch in (text or "")).replace("\n", "  \n")
