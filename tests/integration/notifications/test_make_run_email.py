"""Issue 12's "done when", with the real processes: the Procfile under honcho (as `make run` starts it) with
MIA_SMTP_URL pointing at a loopback SMTP server, then `manage.py create-encounter … --email someone@example.org`.

One email arrives within 30 s; it holds the patient link and the organisation name and not the patient's
name; the link it carries opens the date-of-birth page of the upload service that honcho started.
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
import requests

from shared.config.settings import PROJECT_ROOT
from tests.support.processes import wait_for
from tests.support.smtp_server import SmtpTestServer, free_port

pytestmark = pytest.mark.slow

ORGANISATION = "Leeds Teaching Hospitals – Dermatology"
PATIENT_NAME = ("Philomena", "Ravenscroft")
HONCHO = Path(sys.executable).with_name("honcho")


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[dict[str, str], SmtpTestServer, Path]]:
    """`make run`'s two steps (manage.py init, then honcho start -f Procfile), the notifications and upload lines."""
    with SmtpTestServer(tmp_path) as smtp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIA_")}
        env.update(
            MIA_DATA_DIR=str(tmp_path / "var"),
            MIA_SMTP_URL=smtp.url,
            MIA_MAIL_FROM="mia.dermatology@example.nhs.uk",
            MIA_ORGANISATION_NAME=ORGANISATION,
            MIA_UPLOAD_PORT=str(port),
            MIA_PATIENT_BASE_URL=f"http://127.0.0.1:{port}",
        )
        manage(env, "init")
        log_path = tmp_path / "honcho.log"
        with log_path.open("ab") as log:
            honcho = subprocess.Popen(
                [str(HONCHO), "start", "-f", "Procfile", "--no-colour", "notifications", "upload"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: the services are stopped with it
            )
        try:
            healthy = wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), seconds=60)
            assert healthy, log_path.read_text()[-3000:]
            yield env, smtp, log_path
        finally:
            os.killpg(honcho.pid, signal.SIGTERM)
            try:
                honcho.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
                honcho.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_create_encounter_under_make_run_emails_the_link_within_30_seconds(
    make_run: tuple[dict[str, str], SmtpTestServer, Path],
) -> None:
    env, smtp, log_path = make_run
    manage(
        env,
        "create-user",
        "--username",
        "drjones",
        "--name",
        "Dr Jones",
        "--role",
        "clinician",
        "--team",
        "Dermatology",
    )
    started = time.monotonic()
    created = manage(
        env,
        "create-encounter",
        "--clinician",
        "drjones",
        "--name",
        " ".join(PATIENT_NAME),
        "--dob",
        "1975-02-28",
        "--email",
        "someone@example.org",
    )
    link = created.stdout.strip().splitlines()[-1]
    assert link.startswith(f"{env['MIA_PATIENT_BASE_URL']}/p/")
    assert "email: queued" in created.stdout

    assert smtp.wait_for(1, seconds=30), log_path.read_text()[-3000:]
    elapsed = time.monotonic() - started
    assert elapsed < 30
    time.sleep(6)  # more than one poll of the dispatcher (MIA_DISPATCH_POLL_SECONDS, 5): still one email
    (received,) = smtp.received

    assert received.rcpt_tos == ["someone@example.org"]
    email = received.email
    assert email["To"] == "someone@example.org"
    assert email["From"].addresses[0].display_name == ORGANISATION
    assert ORGANISATION in email["Subject"]
    body = received.text
    assert link in body and ORGANISATION in body
    for part in PATIENT_NAME:
        assert part not in body and part not in str(email["Subject"]) and part.encode() not in received.raw

    page = requests.get(link, timeout=10)  # the link in the email works
    assert page.status_code == 200 and "Confirm your date of birth" in page.text
    print(f"email received {elapsed:.1f} s after create-encounter")  # the figure, shown with -s
