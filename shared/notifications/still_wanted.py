"""Whether a patient's invite or reminder is still worth sending when its turn comes.

A message may wait: queued while the provider is down, or retried for
hours. By then the request may have been deleted (perhaps registered for the
wrong patient), the patient may have sent already, or the link may have
expired, been locked or replaced by a newer one. Sending it then would reach
someone with a dead link, or a stranger: such a message is not sent, and its
reason says why. This reads the encounter's row as stored (the table, not the
encounters package, which imports this one).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from shared.db.statuses import EncounterStatus
from shared.db.tables import encounters
from shared.ids import token_hash
from shared.notifications.outbox import PATIENT_KINDS, Notification

DELETED = "Not sent: the request was deleted."
ALREADY_SENT = "Not sent: the patient had already sent their photos or videos."
EXPIRED = "Not sent: the link had expired."
LOCKED = "Not sent: the link was locked after wrong dates of birth."
REPLACED = "Not sent: a newer link had been issued for this request."


def reason_not_to_send(conn: Connection, notification: Notification, now: dt.datetime) -> str | None:
    """None when the message should go; else why not, in words for the clinician's timeline."""
    if notification.kind not in PATIENT_KINDS or notification.encounter_id is None:
        return None
    row = conn.execute(
        select(
            encounters.c.status,
            encounters.c.deleted_at,
            encounters.c.invite_expires_at,
            encounters.c.invite_token_hash,
            encounters.c.locked_at,
        ).where(encounters.c.id == notification.encounter_id)
    ).first()
    if row is None or row.deleted_at is not None:
        return DELETED
    if row.status in (EncounterStatus.SUBMITTED, EncounterStatus.REVIEWED):
        return ALREADY_SENT
    if row.invite_expires_at is not None and row.invite_expires_at <= now:
        return EXPIRED
    if row.locked_at is not None:
        return LOCKED
    message = notification.message
    link = message.values.get("link", "") if message is not None else ""
    if row.invite_token_hash is not None and token_hash(link.rsplit("/", 1)[-1]) != row.invite_token_hash:
        return REPLACED
    return None
