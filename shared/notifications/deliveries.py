"""Where each outbox message's delivery stands, and the only changes the dispatcher makes to it.

pending → (claim) sending → (handed over: `provider` set) → sent (provider id stored);
or back to pending with a later `next_attempt_at` (a temporary failure), or
failed with a reason a clinician can act on, or not_configured.

A claim is a lease (`shared.db.leases`, as in the jobs table): the row is
marked `sending` with an owner and `lease_until` in its own transaction,
before any provider is called. A row still `sending` after its lease ran out
belonged to a dispatcher that died; the next claim takes it again, and
`provider` says whether that dispatcher had reached the point where the
provider may hold the message (then it is looked up before being sent
again). Every later change names the owner, so a dispatcher that lost its
lease changes nothing. On MySQL claims use `FOR UPDATE SKIP LOCKED`; on
SQLite every write transaction is BEGIN IMMEDIATE (engine.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Connection, Engine, and_, or_, update

from shared.crypto.fields import FieldCipher
from shared.db import leases
from shared.db.jobs import backoff
from shared.db.statuses import NotificationStatus
from shared.db.tables import notifications
from shared.notifications.outbox import DELIVERED_CHANNELS, Notification, decrypted

MAX_ATTEMPTS = 10  # with the jobs table's backoff (30 s doubling, at most an hour): about three hours of trying
MAX_ERROR = 500


def _due(now: dt.datetime) -> ColumnElement[bool]:
    waiting = leases.due(
        notifications, waiting=NotificationStatus.PENDING, in_flight=NotificationStatus.SENDING, now=now
    )
    # a message for a channel MIA does not deliver (the portal's own) waits for no dispatcher
    return and_(
        waiting,
        or_(notifications.c.status == NotificationStatus.SENDING, notifications.c.channel.in_(DELIVERED_CHANNELS)),
    )


def claim_next(
    engine: Engine, cipher: FieldCipher, owner: str, lease: dt.timedelta, now: dt.datetime
) -> Notification | None:
    """Take the next due message (or one whose dispatcher died) under a lease; None when nothing is due.

    The returned Notification is as it stands after the claim: `sending`,
    `attempts` counting this one, `provider` still set if an earlier attempt
    handed it over without learning the provider's id.
    """
    claimed = leases.claim_next(
        engine,
        notifications,
        _due(now),
        (notifications.c.next_attempt_at, notifications.c.created_at),
        in_flight=NotificationStatus.SENDING,
        owner=owner,
        lease=lease,
        now=now,
    )
    return decrypted(cipher, claimed) if claimed is not None else None


def _held(notification_id: str, owner: str) -> ColumnElement[bool]:
    return leases.held(notifications, notification_id, owner, NotificationStatus.SENDING)


_released = leases.released


def mark_handed_over(engine: Engine, notification_id: str, owner: str, provider: str) -> bool:
    """The provider may hold the message from now on; False: the lease was lost, so do not send."""
    with engine.begin() as conn:
        return (
            conn.execute(update(notifications).where(_held(notification_id, owner)).values(provider=provider)).rowcount
            == 1
        )


def mark_sent(
    engine: Engine, notification_id: str, owner: str, provider: str, provider_id: str, now: dt.datetime
) -> bool:
    """The provider took the message: its id is stored (delivery receipts find the row by it)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(notifications)
            .where(_held(notification_id, owner))
            .values(
                **_released(
                    status=NotificationStatus.SENT,
                    provider=provider,
                    provider_id=provider_id[:100],
                    sent_at=now,
                    next_attempt_at=None,
                    last_error=None,
                    failure_reason=None,
                )
            )
        )
        return result.rowcount == 1


def schedule_retry(
    engine: Engine, notification: Notification, owner: str, detail: str, now: dt.datetime
) -> dt.datetime | None:
    """Back to the queue, due again after the backoff for this attempt; returns when (None: lease lost)."""
    due = now + backoff(notification.attempts)
    with engine.begin() as conn:
        result = conn.execute(
            update(notifications)
            .where(_held(notification.id, owner))
            .values(**_released(status=NotificationStatus.PENDING, next_attempt_at=due, last_error=detail[:MAX_ERROR]))
        )
    return due if result.rowcount == 1 else None


def mark_failed(conn: Connection, notification_id: str, owner: str, reason: str, detail: str, now: dt.datetime) -> bool:
    """Failed for good, in the caller's transaction (the failure hook runs in the same one)."""
    result = conn.execute(
        update(notifications)
        .where(_held(notification_id, owner))
        .values(
            **_released(
                status=NotificationStatus.FAILED,
                failure_reason=reason[:300],
                last_error=detail[:MAX_ERROR],
                failed_at=now,
                next_attempt_at=None,
            )
        )
    )
    return result.rowcount == 1


def mark_not_configured(engine: Engine, notification_id: str, owner: str) -> bool:
    """Its channel has no service any more (the settings changed since it was queued): it will not be sent."""
    with engine.begin() as conn:
        result = conn.execute(
            update(notifications)
            .where(_held(notification_id, owner))
            .values(**_released(status=NotificationStatus.NOT_CONFIGURED, next_attempt_at=None))
        )
        return result.rowcount == 1
