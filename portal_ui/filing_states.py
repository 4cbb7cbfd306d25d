"""How the portal words a filing to the patient record: where it stands, the timeline's lines, the delete warning.

`shared.records.filings` says what state each destination's filing is in
(`FilingState`); this module chooses the words, for the review page's
table, the timeline and the warnings before and after a deletion. No
Streamlit here, so the words are tested as plain functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from portal_ui.message_states import short_time
from shared.db.statuses import FilingStatus
from shared.records.filings import FilingState

NO_REASON = "the destination gave no reason"


def state_words(filing: FilingState, now: dt.datetime) -> str:
    """One destination's filing in a sentence: the state, and when (UK time)."""
    match filing.status:
        case FilingStatus.QUEUED if filing.attempts and filing.next_attempt_at is not None:
            tried = f" ({filing.detail})" if filing.detail else ""
            return f"Queued: not filed yet, trying again at {short_time(filing.next_attempt_at, now)}{tried}"
        case FilingStatus.QUEUED:
            return f"Queued at {short_time(filing.queued_at, now)}, waiting to be sent"
        case FilingStatus.SENDING:
            return "Sending now"
        case FilingStatus.SENT:
            return f"Filed at {short_time(filing.sent_at, now)}; waiting for the record to confirm"
        case FilingStatus.ACKNOWLEDGED:
            return (
                f"Filed at {short_time(filing.sent_at or filing.acknowledged_at, now)}, "
                f"acknowledged at {short_time(filing.acknowledged_at, now)}"
            )
        case _:
            return f"Failed at {short_time(filing.failed_at, now)}: {filing.failure_reason or NO_REASON}"


def timeline_entries(filing: FilingState) -> list[tuple[str, dt.datetime | None]]:
    """The timeline's lines for one destination (a line whose time is None did not happen)."""
    label = filing.label
    return [
        (f"Filing to {label} asked for", filing.queued_at),
        (f"Filed to {label}", filing.sent_at),
        (f"Acknowledged by {label}", filing.acknowledged_at),
        (f"Filing to {label} failed: {filing.failure_reason or NO_REASON}", filing.failed_at),
    ]


def _filed_when(copy: FilingState, now: dt.datetime) -> str:
    return f"{copy.label} at {short_time(copy.sent_at or copy.acknowledged_at, now)}"


def _joined(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def before_delete(copies: Sequence[FilingState], what: str, now: dt.datetime) -> str | None:
    """Said before deleting something already filed: the record keeps its copy. None when nothing was filed."""
    if not copies:
        return None
    where = _joined([_filed_when(copy, now) for copy in copies])
    return (
        f"{what} has been filed to the patient record: {where}. Deleting it here does not remove it there: "
        f"the copy in the record remains and must be withdrawn in {_joined([c.label for c in copies])}."
    )


def after_delete(copies: Sequence[FilingState], what: str, now: dt.datetime) -> str:
    """Said once the deletion is done; names where the copy remains."""
    where = _joined([_filed_when(copy, now) for copy in copies])
    return (
        f"{what} was deleted here, but not from the patient record: the copy filed to {where} remains "
        "and must be withdrawn there."
    )
