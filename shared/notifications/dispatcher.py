"""The dispatcher: drains the outbox through the configured providers (`manage.py deliver-notifications`).

Each cycle runs the per-cycle tasks it was given (reminders to queue,
receipts to poll: owned elsewhere, passed in by the command), then claims
due messages one at a time under a lease (`deliveries`) and sends each:

1. claimed: `sending`, in its own transaction, before any provider is called;
2. handed over: `provider` recorded just before the provider may hold it
   (`channels.base`); a lost lease stops the send here;
3. sent: the provider's id stored.

A message found `sending` after its dispatcher died is looked up first when
it may have been handed over (Notify, by reference), so a SIGKILL anywhere
in a batch sends nothing twice through Notify; SMTP cannot be asked, so at
most the one message in that window is sent again (README, "Exactly
once"). Temporary failures are retried with the jobs table's backoff, up to
MAX_ATTEMPTS; permanent ones are recorded with their reason, and for a
patient's message the failure hook (the clinician's alert) runs in the same
transaction. SIGTERM stops after the message in hand.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from shared.clock import utcnow
from shared.config.messaging import MessagingSettings
from shared.context import AppContext
from shared.db.leases import new_owner_id
from shared.notifications import deliveries, outbox
from shared.notifications.channels.base import Channel, Outgoing, PermanentFailure, TemporaryFailure
from shared.notifications.channels.notify import NotifyChannel
from shared.notifications.channels.smtp import SmtpChannel
from shared.notifications.messages import CHANNEL_EMAIL, CHANNEL_SMS
from shared.notifications.outbox import PATIENT_KINDS, Notification
from shared.notifications.still_wanted import reason_not_to_send

log = logging.getLogger("mia.notifications.dispatcher")

MAX_IDLE_BACKOFF_SECONDS = 60
CHANNEL_NAMES = {CHANNEL_SMS: "texts", CHANNEL_EMAIL: "email"}
UNREADABLE = "MIA could not read this message to send it. Send it again from the request page."


def gave_up(channel: str, attempts: int) -> str:
    """Why a message that kept failing for a temporary reason was given up, in a clinician's words."""
    service = "text message" if channel == CHANNEL_SMS else "email"
    return (
        f"The {service} service could not be reached after {attempts} tries over several hours. "
        "Send it again, or give the patient the link another way."
    )


FailureHook = Callable[[Connection, AppContext, Notification], None]


@dataclass(frozen=True)
class CycleTask:
    """Work run once per cycle before delivering, e.g. queueing due reminders; `run(now)`."""

    name: str
    run: Callable[[dt.datetime], object]


@dataclass
class CycleReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    not_configured: int = 0
    tasks: dict[str, object] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.not_configured


def configured_channels(settings: MessagingSettings) -> tuple[dict[str, Channel], NotifyChannel | None]:
    """The provider for each outbox channel the settings set up (texts: Notify; email: Notify or SMTP), and the
    Notify channel itself when there is one (its `lookup` serves receipt polling)."""
    timeout = float(settings.dispatch_timeout_seconds)
    notify = (
        NotifyChannel(settings.notify_api_key, settings.notify_base_url, settings.notify_templates, timeout)
        if settings.notify_api_key
        else None
    )
    channels: dict[str, Channel] = {}
    if notify is not None:
        channels[CHANNEL_SMS] = notify
    if settings.email_provider == "notify" and notify is not None:
        channels[CHANNEL_EMAIL] = notify
    elif settings.email_provider == "smtp" and settings.smtp is not None and settings.mail_from:
        channels[CHANNEL_EMAIL] = SmtpChannel(settings.smtp, settings.mail_from, timeout)
    return channels, notify


class _LeaseLost(Exception):
    """Another dispatcher holds the message now: leave it alone."""


class Dispatcher:
    def __init__(
        self,
        ctx: AppContext,
        channels: Mapping[str, Channel],
        *,
        owner: str | None = None,
        tasks: Sequence[CycleTask] = (),
        on_failure: FailureHook | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.ctx = ctx
        self.channels = dict(channels)
        self.owner = owner or new_owner_id()
        self.tasks = list(tasks)
        self.on_failure = on_failure
        self.stop = stop or threading.Event()
        self.clock = clock
        settings = ctx.settings.messaging
        self.lease = dt.timedelta(seconds=settings.dispatch_lease_seconds)
        self.poll_seconds = float(settings.dispatch_poll_seconds)

    # -- the loop --------------------------------------------------------------
    def run_forever(self) -> None:
        configured = ", ".join(CHANNEL_NAMES[name] for name in sorted(self.channels)) or "nothing"
        log.info("dispatcher started", extra={"owner": self.owner, "sends": configured})
        if not self.channels:
            log.warning("no SMS or email service is configured: messages are stored as not configured, none sent")
        idle_backoff = self.poll_seconds
        while not self.stop.is_set():
            try:
                report = self.run_cycle()
            except SQLAlchemyError:
                log.exception("database unavailable; waiting", extra={"wait_seconds": idle_backoff})
                self.stop.wait(idle_backoff)
                idle_backoff = min(MAX_IDLE_BACKOFF_SECONDS, idle_backoff * 2)
                continue
            idle_backoff = self.poll_seconds
            if report.handled:
                log.info("cycle done", extra={"sent": report.sent, "retried": report.retried, "failed": report.failed})
            self.stop.wait(self.poll_seconds)
        log.info("dispatcher stopped", extra={"owner": self.owner})

    def run_cycle(self) -> CycleReport:
        """The per-cycle tasks, then every message due now."""
        report = CycleReport()
        now = self.clock()
        for task in self.tasks:
            try:
                report.tasks[task.name] = task.run(now)
            except Exception:  # one task's fault must not stop delivery
                log.exception("cycle task failed", extra={"task": task.name})
        self.deliver_due(report)
        return report

    def deliver_due(self, report: CycleReport | None = None) -> CycleReport:
        """Claim and send until nothing is due (or a stop is asked for)."""
        report = report or CycleReport()
        while not self.stop.is_set():
            notification = deliveries.claim_next(self.ctx.engine, self.ctx.cipher, self.owner, self.lease, self.clock())
            if notification is None:
                break
            self.deliver(notification, report)
        return report

    # -- one message -----------------------------------------------------------
    def deliver(self, notification: Notification, report: CycleReport) -> None:
        """Send one claimed message and record the outcome."""
        now = self.clock()
        channel = self.channels.get(notification.channel)
        if channel is None:
            if deliveries.mark_not_configured(self.ctx.engine, notification.id, self.owner):
                report.not_configured += 1
                self._log("message not sent: no service configured for its channel", notification)
            return
        if notification.attempts > deliveries.MAX_ATTEMPTS:
            self._fail(notification, gave_up(notification.channel, notification.attempts - 1), "gave up", report)
            return
        with self.ctx.engine.connect() as conn:
            unwanted = reason_not_to_send(conn, notification, now)
        if unwanted is not None:
            self._fail(notification, unwanted, "request closed", report, alert=False)
            return
        message = notification.message
        if message is None or not notification.recipient:
            self._fail(notification, UNREADABLE, "no recipient or no outgoing message", report)
            return
        try:
            if notification.provider is not None and self._accepted_earlier(notification, channel, report):
                return
            provider_id = channel.send(
                Outgoing(notification.id, notification.recipient, message),
                handing_over=lambda: self._hand_over(notification, channel.provider),
            )
        except _LeaseLost:
            self._log("lease lost before sending; another dispatcher has the message", notification, logging.WARNING)
        except TemporaryFailure as failure:
            self._retry(notification, failure.detail, report)
        except PermanentFailure as failure:
            self._fail(notification, failure.reason, failure.detail, report)
        else:
            if deliveries.mark_sent(
                self.ctx.engine, notification.id, self.owner, channel.provider, provider_id, self.clock()
            ):
                report.sent += 1
                self._log("message sent", notification, provider=channel.provider)

    def _accepted_earlier(self, notification: Notification, channel: Channel, report: CycleReport) -> bool:
        """An earlier attempt may have handed the message over: ask the provider before sending again."""
        if not channel.can_look_up_references:
            self._log(
                "sending again a message the provider may already hold (same Message-ID)",
                notification,
                logging.WARNING,
                provider=notification.provider,
            )
            return False
        earlier = channel.accepted_earlier(notification.id)
        if earlier is None:
            return False
        if deliveries.mark_sent(self.ctx.engine, notification.id, self.owner, channel.provider, earlier, self.clock()):
            report.sent += 1
            self._log("message found already accepted by the provider; not sent again", notification)
        return True

    def _hand_over(self, notification: Notification, provider: str) -> None:
        if not deliveries.mark_handed_over(self.ctx.engine, notification.id, self.owner, provider):
            raise _LeaseLost()

    def _retry(self, notification: Notification, detail: str, report: CycleReport) -> None:
        if notification.attempts >= deliveries.MAX_ATTEMPTS:
            self._fail(notification, gave_up(notification.channel, notification.attempts), detail, report)
            return
        due = deliveries.schedule_retry(self.ctx.engine, notification, self.owner, detail, self.clock())
        if due is not None:
            report.retried += 1
            self._log("message will be tried again", notification, logging.WARNING, detail=detail, due=due.isoformat())

    def _fail(
        self, notification: Notification, reason: str, detail: str, report: CycleReport, alert: bool = True
    ) -> None:
        """Record a permanent failure; for a patient's message, the failure hook runs in the same transaction."""
        now = self.clock()
        hook = self.on_failure if alert and notification.kind in PATIENT_KINDS else None
        try:
            with self.ctx.engine.begin() as conn:
                if not deliveries.mark_failed(conn, notification.id, self.owner, reason, detail, now):
                    return
                if hook is not None:
                    failed = outbox.load(conn, self.ctx.cipher, notification.id)
                    if failed is not None:
                        hook(conn, self.ctx, failed)
        except Exception:
            if hook is None:
                raise
            log.exception(
                "failure hook failed; recording the failure without it", extra={"notification_id": notification.id}
            )
            with self.ctx.engine.begin() as conn:
                if not deliveries.mark_failed(conn, notification.id, self.owner, reason, detail, now):
                    return
        report.failed += 1
        self._log("message failed", notification, logging.WARNING, detail=detail)

    @staticmethod
    def _log(text: str, notification: Notification, level: int = logging.INFO, **extra: object) -> None:
        """Ids, kinds and codes only: never a recipient or a message's words."""
        log.log(
            level,
            text,
            extra={
                "notification_id": notification.id,
                "kind": notification.kind,
                "channel": notification.channel,
                "attempt": notification.attempts,
                **extra,
            },
        )
