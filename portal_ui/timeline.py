"""A request's timeline: what happened to it and when, oldest first.

The link's part comes from the messages that carried it (sent, delivered,
not delivered, as the provider reported) and from the first time a
clinician showed it in the portal: a link nobody sent is never "sent".
The record's part is each destination's filing: asked for, filed,
acknowledged, or failed with its reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from portal_ui import filing_states
from portal_ui.message_states import timeline_entries
from shared.encounters.encounter import Encounter
from shared.encounters.invites import PatientMessage
from shared.records.filings import FilingState

# A link issued this long after the request was created is a new one (reissued), worth its own line.
REISSUE_GAP = dt.timedelta(seconds=5)


def timeline(
    encounter: Encounter, messages: list[PatientMessage], filings: Sequence[FilingState] = ()
) -> list[tuple[str, dt.datetime]]:
    steps: list[tuple[str, dt.datetime | None]] = [("Requested", encounter.created_at)]
    if encounter.invited_at is not None and encounter.invited_at - encounter.created_at > REISSUE_GAP:
        steps.append(("New link issued (the earlier one stopped working)", encounter.invited_at))
    steps.append(("Link shown in the portal (link or QR code)", encounter.link_shown_at))
    for message in messages:
        steps += timeline_entries(message)
    steps += [
        ("Link opened", encounter.opened_at),
        ("Date of birth confirmed", encounter.verified_at),
        ("Consent given", encounter.consented_at),
        ("Sent by the patient", encounter.submitted_at),
        ("Reviewed", encounter.reviewed_at),
    ]
    for filing in filings:
        steps += filing_states.timeline_entries(filing)
    happened = [(name, at) for name, at in steps if at is not None]
    return sorted(happened, key=lambda step: step[1])
