"""The dispatcher draining a real outbox (SQLite and MariaDB) through the contract server and a real SMTP server."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext, build_context
from shared.db.jobs import backoff
from shared.db.statuses import EncounterStatus
from shared.db.tables import audit_events, encounters, notifications
from shared.encounters.invites import invite_messages
from shared.encounters.requests import Invite, PatientDetails, reissue_invite
from shared.encounters.review import delete_encounter
from shared.notifications import deliveries, messages, outbox, still_wanted
from shared.notifications.channels.base import Channel, Outgoing
from shared.notifications.channels.notify import CANNOT_TEXT, NotifyChannel
from shared.notifications.channels.smtp import SmtpChannel
from shared.notifications.dispatcher import CycleReport, CycleTask, Dispatcher, configured_channels, gave_up
from shared.notifications.outbox import Notification
from tests.conftest import make_settings
from tests.support.factories import PATIENT, make_clinician, make_encounter
from tests.support.notify_contract import NotifyContractServer
from tests.support.smtp_server import SmtpTestServer

FAST = {"MIA_DISPATCH_TIMEOUT_SECONDS": "1", "MIA_DISPATCH_LEASE_SECONDS": "3"}
ORGANISATION = "Leeds Teaching Hospitals – Dermatology"


class Clock:
    """The dispatcher's notion of now, moved by the test (backoff and leases without waiting)."""

    def __init__(self) -> None:
        self.now = utcnow() + dt.timedelta(seconds=1)  # messages queued by the test just before are due

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


def context(engine: Engine, tmp_path: Path, **env: str) -> AppContext:
    return build_context(
        make_settings(tmp_path / "var", MIA_ORGANISATION_NAME=ORGANISATION, **FAST, **env), engine=engine
    )


def notify_context(engine: Engine, tmp_path: Path, notify: NotifyContractServer, **env: str) -> AppContext:
    return context(engine, tmp_path, **notify.environment(), **env)


def register(ctx: AppContext, patient: PatientDetails = PATIENT) -> Invite:
    return make_encounter(ctx, make_clinician(ctx), patient)


def statuses(ctx: AppContext, encounter_id: str) -> dict[str, str]:
    return {message.channel: message.status for message in invite_messages(ctx, encounter_id)}


def queue_text(
    ctx: AppContext, link: str = "https://photos.example.nhs.uk/p/abc", kind: str = outbox.KIND_PATIENT_INVITE
) -> str:
    message = messages.patient_invite("sms", organisation=ORGANISATION, link=link, expires_text="30 May 2026 10:00 UTC")
    with ctx.engine.begin() as conn:
        return outbox.enqueue_message(conn, ctx, kind=kind, message=message, recipient="+447700900123")


def row(ctx: AppContext, notification_id: str) -> Notification:
    with ctx.engine.connect() as conn:
        found = outbox.load(conn, ctx.cipher, notification_id)
    assert found is not None
    return found


def dispatcher(ctx: AppContext, channels: dict[str, Channel] | None = None, **kwargs: object) -> Dispatcher:
    return Dispatcher(ctx, configured_channels(ctx.settings.messaging)[0] if channels is None else channels, **kwargs)  # type: ignore[arg-type]


# --- what is queued ------------------------------------------------------------------


def test_with_nothing_configured_invites_are_not_configured_and_nothing_pretends(
    engine: Engine, tmp_path: Path
) -> None:
    ctx = context(engine, tmp_path)
    invite = register(ctx)
    assert statuses(ctx, invite.encounter_id) == {"sms": "not_configured", "email": "not_configured"}
    report = dispatcher(ctx).run_cycle()
    assert report.handled == 0
    assert statuses(ctx, invite.encounter_id) == {"sms": "not_configured", "email": "not_configured"}
    assert all(message.sent_at is None for message in invite_messages(ctx, invite.encounter_id))


def test_only_the_channel_with_a_service_is_queued(engine: Engine, tmp_path: Path) -> None:
    ctx = context(
        engine, tmp_path, MIA_SMTP_URL="smtp://127.0.0.1:2525?starttls=false", MIA_MAIL_FROM="mia@example.nhs.uk"
    )
    invite = register(ctx)
    assert statuses(ctx, invite.encounter_id) == {"sms": "not_configured", "email": "pending"}


def test_an_in_clinic_request_is_never_handed_to_a_provider(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    invite = register(ctx, PatientDetails.from_input(name="Jo Bloggs", date_of_birth="1970-01-01"))
    assert dispatcher(ctx).run_cycle().handled == 0 and notify.accepted == []
    (message,) = invite_messages(ctx, invite.encounter_id)
    assert message.channel == "portal" and invite.link in message.body


# --- delivered -------------------------------------------------------------------------


def test_an_invite_is_delivered_by_text_and_email_through_notify(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    invite = register(ctx)
    report = dispatcher(ctx).run_cycle()
    assert report.sent == 2
    sent = {message.channel: message for message in invite_messages(ctx, invite.encounter_id)}
    assert {m.status for m in sent.values()} == {"sent"} and all(m.sent_at for m in sent.values())
    accepted = notify.by_reference()
    for channel, message in sent.items():
        (at_notify,) = accepted[message.id]
        assert message.provider == "notify" and message.provider_id == at_notify.id and at_notify.type == channel
        assert invite.link in at_notify.body
    assert ORGANISATION in accepted[sent["email"].id][0].body
    assert "Leeds Teaching Hospitals - Dermatology" in accepted[sent["sms"].id][0].body
    assert accepted[sent["sms"].id][0].recipient == "+447700900123"
    assert dispatcher(ctx).run_cycle().handled == 0 and len(notify.accepted) == 2  # nothing twice


def test_email_goes_through_smtp_when_smtp_serves_it(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer, smtp: SmtpTestServer
) -> None:
    ctx = notify_context(
        engine, tmp_path, notify, MIA_EMAIL_PROVIDER="smtp", MIA_SMTP_URL=smtp.url, MIA_MAIL_FROM="mia@example.nhs.uk"
    )
    settings = ctx.settings.messaging
    channels, _ = configured_channels(settings)
    assert isinstance(channels["sms"], NotifyChannel) and isinstance(channels["email"], SmtpChannel)
    assert settings.smtp is not None
    channels["email"] = SmtpChannel(settings.smtp, "mia@example.nhs.uk", 5, tls_context=smtp.client_tls)
    invite = register(ctx)
    assert dispatcher(ctx, channels).run_cycle().sent == 2
    (received,) = smtp.received
    email_row = next(m for m in invite_messages(ctx, invite.encounter_id) if m.channel == "email")
    assert email_row.provider == "smtp" and email_row.provider_id == f"{email_row.id}@example.nhs.uk"
    assert received.email["Message-ID"] == f"<{email_row.provider_id}>" and invite.link in received.text
    assert [n.type for n in notify.accepted] == ["sms"]


# --- failures -----------------------------------------------------------------------------


def test_429_500_and_a_timeout_are_retried_with_backoff_and_sent_once(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    clock = Clock()
    notification_id = queue_text(ctx)
    notify.fail_next(429)
    notify.fail_next(500)
    notify.hang_next(accept_first=True)  # Notify takes it, the answer never comes
    worker = dispatcher(ctx, clock=clock)
    for attempt, detail in ((1, "notify 429 RateLimitError"), (2, "notify 500 Exception"), (3, "notify: no answer")):
        assert worker.run_cycle().retried == 1
        waiting = row(ctx, notification_id)
        assert waiting.status == "pending" and waiting.attempts == attempt
        with ctx.engine.connect() as conn:
            last_error = conn.execute(select(notifications.c.last_error).where(notifications.c.id == notification_id))
            assert last_error.scalar_one().startswith(detail)
        assert waiting.next_attempt_at == clock.now + backoff(attempt)
        assert worker.run_cycle().handled == 0  # not due yet
        clock.advance(backoff(attempt))
    report = worker.run_cycle()
    assert report.sent == 1
    done = row(ctx, notification_id)
    (accepted,) = notify.accepted  # the timed-out request was found by reference, not sent again
    assert done.status == "sent" and done.provider_id == accepted.id and done.attempts == 4
    assert notify.posts == 3


def test_a_permanent_failure_records_the_reason_and_tells_the_hook_in_the_same_transaction(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    invite = register(ctx)
    told: list[Notification] = []

    def invite_failed(conn: Connection, hook_ctx: AppContext, notification: Notification) -> None:
        told.append(notification)
        audit.record(
            conn,
            "invite.failed",
            actor_type=audit.ACTOR_SYSTEM,
            actor_id="test",
            encounter_id=notification.encounter_id,
        )

    notify.fail_next(400, message="phone_number Not a UK mobile number")
    report = dispatcher(ctx, on_failure=invite_failed).run_cycle()
    assert (report.failed, report.sent) == (1, 1)
    failed = next(m for m in invite_messages(ctx, invite.encounter_id) if m.status == "failed")
    assert failed.failure_reason == CANNOT_TEXT and failed.failed_at is not None
    assert [(n.id, n.status, n.failure_reason) for n in told] == [(failed.id, "failed", CANNOT_TEXT)]
    with ctx.engine.connect() as conn:
        assert conn.execute(select(audit_events.c.action).where(audit_events.c.action == "invite.failed")).all()


def test_a_failing_hook_does_not_lose_the_failure(engine: Engine, tmp_path: Path, notify: NotifyContractServer) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    notification_id = queue_text(ctx)

    def broken(conn: Connection, hook_ctx: AppContext, notification: Notification) -> None:
        conn.execute(update(notifications).values(failure_reason="written by the broken hook"))
        raise RuntimeError("the alert could not be queued")

    notify.fail_next(403)
    assert dispatcher(ctx, on_failure=broken).run_cycle().failed == 1
    failed = row(ctx, notification_id)
    assert failed.status == "failed" and failed.failure_reason is not None
    assert "refused MIA's API key" in failed.failure_reason  # the hook's own write was rolled back


def test_a_clinicians_alert_that_fails_does_not_call_the_patient_hook(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    alert = messages.clinician_submission(reference="AB12CD34", portal_link="https://portal.example/review?encounter=1")
    with ctx.engine.begin() as conn:
        outbox.alert_clinician(conn, ctx, recipient="not-an-address", message=alert, encounter_id=None)
    told: list[Notification] = []
    assert dispatcher(ctx, on_failure=lambda conn, c, n: told.append(n)).run_cycle().failed == 1
    assert told == []


def test_a_message_that_keeps_failing_is_given_up_with_a_reason(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    clock = Clock()
    notification_id = queue_text(ctx)
    notify.fail_next(500, count=deliveries.MAX_ATTEMPTS)
    told: list[Notification] = []
    worker = dispatcher(ctx, clock=clock, on_failure=lambda conn, c, n: told.append(n))
    for _ in range(deliveries.MAX_ATTEMPTS):
        worker.run_cycle()
        clock.advance(dt.timedelta(hours=2))
    failed = row(ctx, notification_id)
    assert failed.status == "failed" and failed.attempts == deliveries.MAX_ATTEMPTS
    assert failed.failure_reason == gave_up("sms", deliveries.MAX_ATTEMPTS)
    assert [n.id for n in told] == [notification_id] and notify.accepted == []


def test_a_message_whose_service_was_removed_is_not_configured(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    notification_id = queue_text(ctx)
    assert dispatcher(ctx, channels={}).run_cycle().not_configured == 1
    assert row(ctx, notification_id).status == "not_configured" and notify.accepted == []


# --- after a crash ----------------------------------------------------------------------------


def dead_dispatcher_claims(ctx: AppContext, clock: Clock) -> Notification:
    claimed = deliveries.claim_next(ctx.engine, ctx.cipher, "dead", dt.timedelta(seconds=3), clock())
    assert claimed is not None and claimed.status == "sending"
    return claimed


def test_a_message_a_dead_dispatcher_handed_to_notify_is_found_not_sent_again(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    clock = Clock()
    notification_id = queue_text(ctx)
    claimed = dead_dispatcher_claims(ctx, clock)
    channel = configured_channels(ctx.settings.messaging)[0]["sms"]
    message = claimed.message
    assert message is not None
    channel.send(
        Outgoing(claimed.id, "+447700900123", message),
        lambda: deliveries.mark_handed_over(ctx.engine, claimed.id, "dead", "notify"),
    )
    # ... and it died before storing Notify's id
    worker = dispatcher(ctx, clock=clock)
    assert worker.run_cycle().handled == 0  # its lease still runs
    clock.advance(dt.timedelta(seconds=4))
    assert worker.run_cycle().sent == 1
    (accepted,) = notify.accepted
    done = row(ctx, notification_id)
    assert (done.status, done.provider_id, done.attempts) == ("sent", accepted.id, 2)


def test_a_message_a_dead_dispatcher_never_handed_over_is_sent(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    clock = Clock()
    notification_id = queue_text(ctx)
    assert dead_dispatcher_claims(ctx, clock).provider is None
    clock.advance(dt.timedelta(seconds=4))
    assert dispatcher(ctx, clock=clock).run_cycle().sent == 1
    assert [n.reference for n in notify.accepted] == [notification_id]


def test_smtp_cannot_be_asked_so_a_message_handed_over_before_a_crash_goes_again_with_the_same_message_id(
    engine: Engine, tmp_path: Path, smtp: SmtpTestServer
) -> None:
    ctx = context(engine, tmp_path, MIA_SMTP_URL=smtp.url, MIA_MAIL_FROM="mia@example.nhs.uk")
    settings = ctx.settings.messaging
    assert settings.smtp is not None
    channel = SmtpChannel(settings.smtp, "mia@example.nhs.uk", 5, tls_context=smtp.client_tls)
    clock = Clock()
    message = messages.patient_invite(
        "email", organisation=ORGANISATION, link="https://p.example/p/x", expires_text="1 May"
    )
    with ctx.engine.begin() as conn:
        notification_id = outbox.enqueue_message(
            conn, ctx, kind="patient_invite", message=message, recipient="pat@example.org"
        )
    claimed = dead_dispatcher_claims(ctx, clock)
    channel.send(
        Outgoing(claimed.id, "pat@example.org", message),
        lambda: deliveries.mark_handed_over(ctx.engine, claimed.id, "dead", "smtp"),
    )
    clock.advance(dt.timedelta(seconds=4))
    assert dispatcher(ctx, {"email": channel}, clock=clock).run_cycle().sent == 1
    first, second = smtp.received
    assert first.email["Message-ID"] == second.email["Message-ID"] == f"<{notification_id}@example.nhs.uk>"
    assert row(ctx, notification_id).status == "sent"


def test_a_dispatcher_that_lost_its_lease_sends_nothing(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    clock = Clock()
    notification_id = queue_text(ctx)
    slow = dispatcher(ctx, owner="slow", clock=clock)
    claimed = deliveries.claim_next(ctx.engine, ctx.cipher, "slow", slow.lease, clock())
    assert claimed is not None
    clock.advance(dt.timedelta(seconds=4))
    taken = deliveries.claim_next(ctx.engine, ctx.cipher, "other", slow.lease, clock())  # its lease ran out
    assert taken is not None and taken.id == notification_id
    report = CycleReport()
    slow.deliver(claimed, report)
    assert report.handled == 0 and notify.accepted == []
    assert row(ctx, notification_id).status == "sending"


def test_concurrent_dispatchers_send_each_message_once(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    queued = [queue_text(ctx, link=f"https://photos.example.nhs.uk/p/{n}") for n in range(20)]
    workers = [dispatcher(ctx, owner=f"d{n}") for n in range(3)]
    threads = [threading.Thread(target=worker.deliver_due) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    by_reference = notify.by_reference()
    assert sorted(by_reference) == sorted(queued) and all(len(found) == 1 for found in by_reference.values())
    with ctx.engine.connect() as conn:
        assert set(conn.execute(select(notifications.c.status)).scalars()) == {"sent"}


# --- not sent when nobody should get it any more ---------------------------------------------------


def close_by_submission(ctx: AppContext, invite: Invite) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            update(encounters).where(encounters.c.id == invite.encounter_id).values(status=EncounterStatus.SUBMITTED)
        )


def close_by_deletion(ctx: AppContext, invite: Invite) -> None:
    with ctx.engine.connect() as conn:
        clinician = conn.execute(select(encounters.c.clinician_id)).scalar_one()
    delete_encounter(
        ctx, encounter_id=invite.encounter_id, actor=Actor(clinician), reason="wrong patient", now=utcnow()
    )


def close_by_expiry(ctx: AppContext, invite: Invite) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            update(encounters)
            .where(encounters.c.id == invite.encounter_id)
            .values(invite_expires_at=utcnow() - dt.timedelta(minutes=1))
        )


def close_by_lockout(ctx: AppContext, invite: Invite) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(encounters).where(encounters.c.id == invite.encounter_id).values(locked_at=utcnow()))


@pytest.mark.parametrize(
    ("close", "reason"),
    [
        (close_by_submission, still_wanted.ALREADY_SENT),
        (close_by_deletion, still_wanted.DELETED),
        (close_by_expiry, still_wanted.EXPIRED),
        (close_by_lockout, still_wanted.LOCKED),
    ],
    ids=["submitted", "deleted", "expired", "locked"],
)
def test_an_invite_is_not_sent_once_its_request_has_closed(
    engine: Engine,
    tmp_path: Path,
    notify: NotifyContractServer,
    close: Callable[[AppContext, Invite], None],
    reason: str,
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    invite = register(ctx)
    close(ctx, invite)
    told: list[Notification] = []
    assert dispatcher(ctx, on_failure=lambda conn, c, n: told.append(n)).run_cycle().failed == 2
    assert notify.accepted == [] and told == []  # not a delivery failure: nobody is alerted
    assert {(m.status, m.failure_reason) for m in invite_messages(ctx, invite.encounter_id)} == {("failed", reason)}


def test_an_invite_whose_link_was_replaced_is_not_sent_but_the_new_one_is(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    invite = register(ctx)
    with ctx.engine.connect() as conn:
        clinician = conn.execute(select(encounters.c.clinician_id)).scalar_one()
    newer = reissue_invite(ctx, invite.encounter_id, actor=Actor(clinician))
    report = dispatcher(ctx).run_cycle()
    assert (report.sent, report.failed) == (2, 2)
    assert all(newer.link in n.body and invite.link not in n.body for n in notify.accepted)
    replaced = [m for m in invite_messages(ctx, invite.encounter_id) if m.status == "failed"]
    assert {m.failure_reason for m in replaced} == {still_wanted.REPLACED}


# --- the cycle ------------------------------------------------------------------------------------


def test_cycle_tasks_run_before_delivery_and_a_failing_task_stops_nothing(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    clock = Clock()
    seen: list[dt.datetime] = []

    def queue_reminder(now: dt.datetime) -> int:
        seen.append(now)
        queue_text(ctx, kind=outbox.KIND_PATIENT_REMINDER)
        return 1

    def broken(now: dt.datetime) -> int:
        raise RuntimeError("receipts could not be polled")

    worker = dispatcher(ctx, tasks=[CycleTask("broken", broken), CycleTask("reminders", queue_reminder)], clock=clock)
    report = worker.run_cycle()
    assert seen == [clock.now] and report.tasks == {"reminders": 1} and report.sent == 1
    assert len(notify.accepted) == 1


def test_the_dispatcher_stops_between_messages_when_asked(
    engine: Engine, tmp_path: Path, notify: NotifyContractServer
) -> None:
    ctx = notify_context(engine, tmp_path, notify)
    for n in range(3):
        queue_text(ctx, link=f"https://photos.example.nhs.uk/p/{n}")
    stop = threading.Event()
    worker = dispatcher(ctx, stop=stop)
    original = worker.deliver

    def deliver_then_stop(notification: Notification, report: CycleReport) -> None:
        original(notification, report)
        stop.set()

    worker.deliver = deliver_then_stop  # type: ignore[method-assign]
    worker.run_forever()
    assert len(notify.accepted) == 1
    with ctx.engine.connect() as conn:
        assert sorted(conn.execute(select(notifications.c.status)).scalars()) == ["pending", "pending", "sent"]
