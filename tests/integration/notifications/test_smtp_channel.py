"""Email through a real SMTP server on loopback (aiosmtpd), read back as a mail client would receive it."""

from __future__ import annotations

import ssl
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from shared.config.messaging import SmtpTarget, _smtp_target
from shared.notifications import messages
from shared.notifications.channels import smtp as smtp_module
from shared.notifications.channels.base import Outgoing, PermanentFailure, TemporaryFailure
from shared.notifications.channels.smtp import SmtpChannel
from tests.support.factories import PATIENT
from tests.support.smtp_server import SilentServer, SmtpTestServer

LINK = "https://photos.example.nhs.uk/p/" + "T" * 43
ORGANISATION = "Leeds Teaching Hospitals – Dermatology"
MAIL_FROM = "mia.dermatology@example.nhs.uk"
PATIENT_EMAIL = "patient@example.org"


def channel_for(server: SmtpTestServer, timeout: float = 5, url: str | None = None) -> SmtpChannel:
    target = _smtp_target(url or server.url)
    assert target is not None
    return SmtpChannel(target, MAIL_FROM, timeout, tls_context=server.client_tls)


def invite() -> messages.OutgoingMessage:
    return messages.patient_invite("email", organisation=ORGANISATION, link=LINK, expires_text="30 May 2026 10:00 UTC")


def no_handover() -> None:
    return None


@pytest.mark.parametrize(
    ("security", "auth"), [("starttls", True), ("tls", True), ("none", False)], ids=["starttls", "smtps", "plain"]
)
def test_an_invite_arrives_as_the_patient_reads_it(tmp_path: Path, security: str, auth: bool) -> None:
    handed_over: list[int] = []
    with SmtpTestServer(tmp_path, security=security, auth=auth) as server:
        provider_id = channel_for(server).send(
            Outgoing("0123456789abcdef", PATIENT_EMAIL, invite()), lambda: handed_over.append(len(server.received))
        )
        (received,) = server.received
    assert handed_over == [0]  # recorded before the server held anything
    assert received.over_tls == (security != "none")
    assert received.login == ("mia-relay" if auth else None)
    assert (received.mail_from, received.rcpt_tos) == (MAIL_FROM, [PATIENT_EMAIL])
    email = received.email
    assert email["From"].addresses[0].display_name == ORGANISATION
    assert email["From"].addresses[0].addr_spec == MAIL_FROM
    assert email["To"] == PATIENT_EMAIL
    assert email["Subject"] == f"{ORGANISATION}: please send photos or videos to your care team"
    assert (
        email["Message-ID"] == "<0123456789abcdef@example.nhs.uk>" and provider_id == "0123456789abcdef@example.nhs.uk"
    )
    assert email["Auto-Submitted"] == "auto-generated"
    assert abs(time.time() - parsedate_to_datetime(email["Date"]).timestamp()) < 60
    body = received.text
    assert LINK in body and ORGANISATION in body and "30 May 2026 10:00 UTC" in body
    for detail in (*PATIENT.name.split(), PATIENT.nhs_number, PATIENT.date_of_birth.isoformat()):
        assert detail not in body and detail.encode() not in received.raw


def test_a_line_starting_with_a_dot_arrives_whole(tmp_path: Path) -> None:
    alert = messages.OutgoingMessage(
        "clinician_email", {"subject": "MIA: test", "body": ".hidden line\n..two dots\n.\nend"}
    )
    with SmtpTestServer(tmp_path) as server:
        channel_for(server).send(Outgoing("dots", "dr@example.nhs.uk", alert), no_handover)
        (received,) = server.received
    assert received.text.rstrip("\n") == ".hidden line\n..two dots\n.\nend"
    assert received.email["From"].addresses[0].display_name == "MIA"


def test_a_refused_recipient_fails_for_good_without_the_address_in_the_detail(smtp: SmtpTestServer) -> None:
    smtp.refused_recipients.add("nobody@example.org")
    with pytest.raises(PermanentFailure) as failure:
        channel_for(smtp).send(Outgoing("r1", "nobody@example.org", invite()), no_handover)
    assert failure.value.reason == smtp_module.RECIPIENT_REFUSED
    assert failure.value.detail == "smtp 550 5.1.1 at RCPT"  # the server quoted the address back; we do not
    assert smtp.received == []


def test_a_message_refused_at_the_end_of_data_fails_for_good(smtp: SmtpTestServer) -> None:
    smtp.refuse_message = True
    with pytest.raises(PermanentFailure) as failure:
        channel_for(smtp).send(Outgoing("r2", PATIENT_EMAIL, invite()), no_handover)
    assert failure.value.reason == smtp_module.MESSAGE_REFUSED and "554" in failure.value.detail


def test_a_wrong_password_fails_for_good_and_names_the_setting(smtp: SmtpTestServer) -> None:
    url = smtp.url.replace("correct%20horse", "wrong%20horse")
    with pytest.raises(PermanentFailure) as failure:
        channel_for(smtp, url=url).send(Outgoing("r3", PATIENT_EMAIL, invite()), no_handover)
    assert failure.value.reason == smtp_module.SIGN_IN_REFUSED and "MIA_SMTP_URL" in failure.value.reason
    assert "horse" not in failure.value.detail


def test_no_password_where_the_server_requires_one_is_refused(smtp: SmtpTestServer) -> None:
    url = f"smtp://127.0.0.1:{smtp.port}?starttls=true"
    with pytest.raises(PermanentFailure) as failure:
        channel_for(smtp, url=url).send(Outgoing("r4", PATIENT_EMAIL, invite()), no_handover)
    assert failure.value.detail.startswith("smtp 530")


def test_a_server_without_starttls_gets_nothing(tmp_path: Path) -> None:
    with SmtpTestServer(tmp_path, security="none") as server:
        url = f"smtp://127.0.0.1:{server.port}?starttls=true"
        with pytest.raises(PermanentFailure) as failure:
            channel_for(server, url=url).send(Outgoing("r5", PATIENT_EMAIL, invite()), no_handover)
        assert failure.value.reason == smtp_module.NO_TLS and server.received == []


def test_a_certificate_nobody_vouches_for_is_not_trusted(smtp: SmtpTestServer) -> None:
    target = _smtp_target(smtp.url)
    assert target is not None
    channel = SmtpChannel(target, MAIL_FROM, 5, tls_context=ssl.create_default_context())  # the system's CAs only
    with pytest.raises(TemporaryFailure, match="certificate not trusted"):
        channel.send(Outgoing("r6", PATIENT_EMAIL, invite()), no_handover)
    assert smtp.received == []


def test_a_server_that_hangs_at_rcpt_times_out_before_anything_was_handed_over(smtp: SmtpTestServer) -> None:
    smtp.hang_at = "RCPT"
    handed_over: list[int] = []
    started = time.monotonic()
    with pytest.raises(TemporaryFailure, match="at RCPT"):
        channel_for(smtp, timeout=1).send(Outgoing("r7", PATIENT_EMAIL, invite()), lambda: handed_over.append(1))
    assert time.monotonic() - started < 4 and handed_over == [] and smtp.received == []


def test_a_server_that_hangs_after_the_message_times_out_after_handing_over(smtp: SmtpTestServer) -> None:
    """The server holds the message but its 250 never comes: the caller cannot know (see README, exactly once)."""
    smtp.hang_at = "DATA"
    handed_over: list[int] = []
    with pytest.raises(TemporaryFailure, match="at end of data"):
        channel_for(smtp, timeout=1).send(Outgoing("r8", PATIENT_EMAIL, invite()), lambda: handed_over.append(1))
    assert handed_over == [1] and len(smtp.received) == 1


def test_a_server_that_never_greets_times_out() -> None:
    with SilentServer() as silent:
        channel = SmtpChannel(SmtpTarget("127.0.0.1", silent.port, security="none"), MAIL_FROM, 1)
        started = time.monotonic()
        with pytest.raises(TemporaryFailure, match="at connect"):
            channel.send(Outgoing("r9", PATIENT_EMAIL, invite()), no_handover)
        assert time.monotonic() - started < 4


def test_a_closed_port_is_a_temporary_failure(tmp_path: Path) -> None:
    with SmtpTestServer(tmp_path) as server:
        port = server.port
    channel = SmtpChannel(SmtpTarget("127.0.0.1", port, security="none"), MAIL_FROM, 1)
    with pytest.raises(TemporaryFailure, match="ConnectionRefusedError at connect"):
        channel.send(Outgoing("r10", PATIENT_EMAIL, invite()), no_handover)


def test_a_lease_lost_at_the_last_moment_sends_nothing(smtp: SmtpTestServer) -> None:
    class LeaseLost(Exception):
        pass

    def lost() -> None:
        raise LeaseLost

    with pytest.raises(LeaseLost):
        channel_for(smtp).send(Outgoing("r11", PATIENT_EMAIL, invite()), lost)
    time.sleep(0.2)
    assert smtp.received == []


def test_an_international_address_needs_a_server_that_takes_one(smtp: SmtpTestServer) -> None:
    channel_for(smtp).send(Outgoing("r12", "zoë@example.org", invite()), no_handover)  # aiosmtpd offers SMTPUTF8
    (received,) = smtp.received
    assert received.rcpt_tos == ["zoë@example.org"] and received.email["To"] == "zoë@example.org"
