"""`manage.py deliver-notifications` as a real process: SIGKILLed in the middle of a batch of 50, then restarted.

The providers hold the 20th message where a crash hurts most: accepted, its
answer not yet given. Notify is then asked by reference, so each of the 50
reaches it exactly once. SMTP cannot be asked: the held message is sent
again with the same Message-ID, and only that one (README, "Exactly once").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.config.settings import PROJECT_ROOT, load_settings
from shared.context import AppContext, build_context
from shared.db.migrations import migrate
from shared.db.tables import notifications
from shared.notifications import messages, outbox
from shared.notifications.outbox import Notification
from tests.support.notify_contract import NotifyContractServer
from tests.support.processes import wait_for
from tests.support.smtp_server import SmtpTestServer

pytestmark = pytest.mark.slow

BATCH = 50
HELD = 20
# The client gives up on a held request after 2 s; the test kills the process well before that.
TIMING = {"MIA_DISPATCH_TIMEOUT_SECONDS": "2", "MIA_DISPATCH_LEASE_SECONDS": "6", "MIA_DISPATCH_POLL_SECONDS": "1"}


class DispatcherProcess:
    """`python manage.py deliver-notifications`, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("MIA_")}, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> DispatcherProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "deliver-notifications", *args],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def ensure_stopped(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def processes() -> Iterator[list[DispatcherProcess]]:
    started: list[DispatcherProcess] = []
    yield started
    for process in started:
        process.ensure_stopped()


def prepare(tmp_path: Path, env: dict[str, str]) -> tuple[AppContext, dict[str, str]]:
    env = {"MIA_DATA_DIR": str(tmp_path / "var"), "MIA_ORGANISATION_NAME": "Leeds – Dermatology", **TIMING, **env}
    ctx = build_context(load_settings(env))
    migrate(ctx.engine)
    return ctx, env


def queue_batch(ctx: AppContext, channel: str, recipient: str) -> list[str]:
    ids = []
    with ctx.engine.begin() as conn:
        for n in range(BATCH):
            message = messages.patient_invite(
                channel,
                organisation="Leeds – Dermatology",
                link=f"https://photos.example.nhs.uk/p/token{n:02d}",
                expires_text="30 May 2026 10:00 UTC",
            )
            ids.append(outbox.enqueue_message(conn, ctx, kind="patient_invite", message=message, recipient=recipient))
    return ids


def rows(ctx: AppContext) -> dict[str, Notification]:
    with ctx.engine.connect() as conn:
        return {row.id: outbox.decrypted(ctx.cipher, row) for row in conn.execute(select(notifications))}


def kill_at_the_held_message(
    ctx: AppContext, env: dict[str, str], tmp_path: Path, processes: list[DispatcherProcess], held: object
) -> DispatcherProcess:
    first = DispatcherProcess(env, tmp_path / "dispatcher-1.log").start()
    processes.append(first)
    assert held.wait(60), first.log()  # type: ignore[attr-defined]
    first.kill()
    return first


def restart_until_all_sent(
    ctx: AppContext, env: dict[str, str], tmp_path: Path, processes: list[DispatcherProcess]
) -> DispatcherProcess:
    second = DispatcherProcess(env, tmp_path / "dispatcher-2.log").start()
    processes.append(second)
    assert wait_for(lambda: {r.status for r in rows(ctx).values()} == {"sent"}, seconds=90), second.log()
    assert second.terminate() == 0, second.log()  # SIGTERM: a clean stop
    return second


def test_a_dispatcher_killed_mid_batch_and_restarted_sends_each_text_once_through_notify(
    tmp_path: Path, processes: list[DispatcherProcess]
) -> None:
    with NotifyContractServer() as notify:
        ctx, env = prepare(tmp_path, notify.environment())
        queued = queue_batch(ctx, "sms", "+447700900123")
        hold = notify.hold_at(HELD)
        kill_at_the_held_message(ctx, env, tmp_path, processes, hold.held)

        # Killed inside the window: Notify has the 20th, the outbox has no id for it.
        assert len(notify.accepted) == HELD
        state = rows(ctx)
        held_id = notify.accepted[-1].reference
        assert held_id is not None
        assert (state[held_id].status, state[held_id].provider, state[held_id].provider_id) == (
            "sending",
            "notify",
            None,
        )
        assert sorted(r.status for r in state.values()).count("sent") == HELD - 1

        restart_until_all_sent(ctx, env, tmp_path, processes)
        by_reference = notify.by_reference()
        assert sorted(by_reference) == sorted(queued)
        assert {reference: len(found) for reference, found in by_reference.items() if len(found) != 1} == {}
        final = rows(ctx)
        assert all(final[reference].provider_id == found[0].id for reference, found in by_reference.items())
        assert notify.posts == BATCH  # the held one was looked up, never posted again
    ctx.close()


def test_a_dispatcher_killed_inside_the_smtp_transaction_resends_only_that_message(
    tmp_path: Path, processes: list[DispatcherProcess]
) -> None:
    with SmtpTestServer(tmp_path, security="starttls", auth=True) as smtp:
        smtp_env = {
            "MIA_SMTP_URL": smtp.url,
            "MIA_MAIL_FROM": "mia@example.nhs.uk",
            "SSL_CERT_FILE": str(smtp.cert_path),  # the process trusts the test server's certificate
        }
        ctx, env = prepare(tmp_path, smtp_env)
        queued = queue_batch(ctx, "email", "patient@example.org")
        hold = smtp.hold_at(HELD)
        kill_at_the_held_message(ctx, env, tmp_path, processes, hold.held)

        held_message_id = smtp.received[-1].email["Message-ID"]
        held_row = held_message_id.strip("<>").split("@")[0]
        state = rows(ctx)
        assert (state[held_row].status, state[held_row].provider, state[held_row].provider_id) == (
            "sending",
            "smtp",
            None,
        )

        restart_until_all_sent(ctx, env, tmp_path, processes)
        message_ids = [received.email["Message-ID"] for received in smtp.received]
        assert sorted({m.strip("<>").split("@")[0] for m in message_ids}) == sorted(queued)
        repeated = {m for m in message_ids if message_ids.count(m) > 1}
        assert repeated == {held_message_id} and len(message_ids) == BATCH + 1
        assert all(received.over_tls and received.login == "mia-relay" for received in smtp.received)
    ctx.close()


def test_with_nothing_configured_the_dispatcher_keeps_running_and_stops_on_sigterm(
    tmp_path: Path, processes: list[DispatcherProcess]
) -> None:
    """`make run` stops every service when one exits: an unconfigured dispatcher must stay up, sending nothing."""
    ctx, env = prepare(tmp_path, {})
    dispatcher = DispatcherProcess(env, tmp_path / "dispatcher.log").start()
    processes.append(dispatcher)
    assert wait_for(lambda: "no SMS or email service is configured" in dispatcher.log(), seconds=30), dispatcher.log()
    time.sleep(1.5)
    assert dispatcher.running()
    assert dispatcher.terminate() == 0
    assert '"service": "notifications"' in dispatcher.log()
    ctx.close()


def test_once_sends_what_is_due_and_exits(tmp_path: Path) -> None:
    with NotifyContractServer() as notify:
        ctx, env = prepare(tmp_path, notify.environment())
        queue_batch(ctx, "sms", "+447700900123")
        notify.fail_next(429)
        full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("MIA_")}, **env}
        done = subprocess.run(
            [sys.executable, "manage.py", "deliver-notifications", "--once"],
            cwd=PROJECT_ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        summary = done.stdout.strip().splitlines()[-1]  # after the JSON log lines
        assert summary == '{"failed": 0, "not_configured": 0, "retried": 1, "sent": 49}'
        assert "+447700900123" not in done.stdout + done.stderr  # no recipient in any log line
    ctx.close()
