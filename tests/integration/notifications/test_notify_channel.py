"""Texts and email through the unmodified official Notify client, against the contract server on loopback."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from shared.notifications import messages
from shared.notifications.channels import notify as notify_module
from shared.notifications.channels.base import Outgoing, PermanentFailure, TemporaryFailure
from shared.notifications.channels.notify import NotifyChannel
from tests.support.notify_contract import NotifyContractServer

LINK = "https://photos.example.nhs.uk/p/" + "T" * 43
ORGANISATION = "Leeds Teaching Hospitals – Dermatology"
MOBILE = "+447700900123"
EMAIL = "patient@example.org"


def channel_for(server: NotifyContractServer, timeout: float = 5, api_key: str | None = None) -> NotifyChannel:
    return NotifyChannel(api_key or server.api_key, server.base_url, server.mia_templates, timeout)


def invite(channel: str = "sms") -> messages.OutgoingMessage:
    return messages.patient_invite(channel, organisation=ORGANISATION, link=LINK, expires_text="30 May 2026 10:00 UTC")


def no_handover() -> None:
    return None


def test_a_text_goes_through_notify_with_our_template_and_reference(notify: NotifyContractServer) -> None:
    handed_over: list[float] = []
    message = invite("sms")
    provider_id = channel_for(notify).send(Outgoing("row-1", MOBILE, message), lambda: handed_over.append(1))
    (accepted,) = notify.accepted
    assert handed_over == [1] and provider_id == accepted.id
    assert (accepted.type, accepted.recipient, accepted.reference) == ("sms", MOBILE, "row-1")
    assert accepted.template_id == notify.mia_templates["invite_sms"]
    assert accepted.body == message.text  # Notify renders our words from the template text the README gives
    assert "Leeds Teaching Hospitals - Dermatology:" in accepted.body and LINK in accepted.body


def test_an_email_goes_through_notify_with_its_subject(notify: NotifyContractServer) -> None:
    message = invite("email")
    provider_id = channel_for(notify).send(Outgoing("row-2", EMAIL, message), no_handover)
    (accepted,) = notify.accepted
    assert provider_id == accepted.id and accepted.type == "email" and accepted.recipient == EMAIL
    assert accepted.subject == message.subject and accepted.body == message.text
    assert ORGANISATION in accepted.body


def test_a_clinician_alert_goes_through_the_one_clinician_template(notify: NotifyContractServer) -> None:
    alert = messages.clinician_submission(reference="AB12CD34", portal_link="https://portal.example/review?encounter=1")
    channel_for(notify).send(Outgoing("row-3", "dr.jones@example.nhs.uk", alert), no_handover)
    (accepted,) = notify.accepted
    assert accepted.template_id == notify.mia_templates["clinician_email"]
    assert accepted.subject == alert.subject and accepted.body == alert.text


def test_a_token_signed_with_another_secret_is_refused_for_good(notify: NotifyContractServer) -> None:
    wrong_key = f"mia_test-{notify.service_id}-{uuid.uuid4()}"
    with pytest.raises(PermanentFailure) as failure:
        channel_for(notify, api_key=wrong_key).send(Outgoing("row-4", MOBILE, invite()), no_handover)
    assert failure.value.reason == notify_module.KEY_REFUSED and failure.value.detail == "notify 403 AuthError"
    assert notify.accepted == [] and notify.refused == [("/v2/notifications/sms", 403)]


def test_a_token_for_another_service_is_refused(notify: NotifyContractServer) -> None:
    wrong_service = f"mia_test-{uuid.uuid4()}-{notify.secret}"
    with pytest.raises(PermanentFailure):
        channel_for(notify, api_key=wrong_service).send(Outgoing("row-5", MOBILE, invite()), no_handover)
    assert notify.accepted == []


@pytest.mark.parametrize(("offset", "accepted"), [(20, True), (-20, True), (45, False), (-45, False)])
def test_notify_takes_a_token_only_within_30_seconds_of_its_clock(offset: float, accepted: bool) -> None:
    with NotifyContractServer(clock_offset_seconds=offset) as server:
        channel = channel_for(server)
        if accepted:
            channel.send(Outgoing("row-6", MOBILE, invite()), no_handover)
        else:
            with pytest.raises(PermanentFailure, match="403"):
                channel.send(Outgoing("row-6", MOBILE, invite()), no_handover)
        assert len(server.accepted) == (1 if accepted else 0)


@pytest.mark.parametrize(
    ("status", "message", "reason"),
    [
        (400, None, notify_module.TRIAL_MODE),
        (400, "Can't send to this recipient when service is in trial mode", notify_module.TRIAL_MODE),
        (400, "phone_number Not a UK mobile number", notify_module.CANNOT_TEXT),
        (400, "Missing personalisation: link", notify_module.TEMPLATE_MISMATCH),
        (400, "Something new Notify says", notify_module.REFUSED),
        (403, None, notify_module.KEY_REFUSED),
        (403, "Error: Your system clock must be accurate to within 30 seconds", notify_module.KEY_REFUSED),
    ],
)
def test_400_and_403_fail_for_good_with_a_reason_a_clinician_can_act_on(
    notify: NotifyContractServer, status: int, message: str | None, reason: str
) -> None:
    notify.fail_next(status, message=message)
    with pytest.raises(PermanentFailure) as failure:
        channel_for(notify).send(Outgoing("row-7", MOBILE, invite()), no_handover)
    assert failure.value.reason == reason and failure.value.detail.startswith(f"notify {status}")
    assert MOBILE not in failure.value.detail


@pytest.mark.parametrize("status", [429, 500])
def test_429_and_500_are_tried_again(notify: NotifyContractServer, status: int) -> None:
    notify.fail_next(status)
    channel = channel_for(notify)
    with pytest.raises(TemporaryFailure, match=f"notify {status}"):
        channel.send(Outgoing("row-8", MOBILE, invite()), no_handover)
    assert channel.accepted_earlier("row-8") is None  # a 429 or 500 left nothing at Notify
    channel.send(Outgoing("row-8", MOBILE, invite()), no_handover)
    assert [n.reference for n in notify.accepted] == ["row-8"]


def test_a_number_notify_cannot_text_fails_with_the_clinicians_words(notify: NotifyContractServer) -> None:
    """A landline reaching Notify (registration refuses them; an old row might not): Notify's own 400."""
    with pytest.raises(PermanentFailure) as failure:
        channel_for(notify).send(Outgoing("row-9", "+441134567890", invite()), no_handover)
    assert (
        failure.value.reason
        == "This number can't receive texts. Check the mobile number, or send the link by email instead."
    )


def test_an_address_notify_refuses_fails_with_the_clinicians_words(notify: NotifyContractServer) -> None:
    with pytest.raises(PermanentFailure) as failure:
        channel_for(notify).send(Outgoing("row-10", "not-an-address", invite("email")), no_handover)
    assert failure.value.reason == notify_module.CANNOT_EMAIL


def test_a_template_of_the_wrong_kind_is_named_as_the_administrators_problem(notify: NotifyContractServer) -> None:
    templates = {**notify.mia_templates, "invite_sms": notify.mia_templates["invite_email"]}
    channel = NotifyChannel(notify.api_key, notify.base_url, templates, 5)
    with pytest.raises(PermanentFailure) as failure:
        channel.send(Outgoing("row-11", MOBILE, invite()), no_handover)
    assert failure.value.reason == notify_module.TEMPLATE_MISMATCH and "not suitable" in failure.value.detail


def test_a_hanging_notify_times_out_and_the_message_is_found_by_reference(notify: NotifyContractServer) -> None:
    """Notify took the message but its answer never came: retrying would send it twice, looking it up does not."""
    notify.hang_next(accept_first=True)
    channel = channel_for(notify, timeout=1)
    started = time.monotonic()
    with pytest.raises(TemporaryFailure, match="no answer"):
        channel.send(Outgoing("row-12", MOBILE, invite()), no_handover)
    assert time.monotonic() - started < 5
    (accepted,) = notify.accepted
    assert channel.accepted_earlier("row-12") == accepted.id
    assert channel.accepted_earlier("row-13") is None


def test_a_hang_before_accepting_leaves_nothing_to_find(notify: NotifyContractServer) -> None:
    notify.hang_next(accept_first=False)
    channel = channel_for(notify, timeout=1)
    with pytest.raises(TemporaryFailure):
        channel.send(Outgoing("row-14", MOBILE, invite()), no_handover)
    assert channel.accepted_earlier("row-14") is None and notify.accepted == []


def test_lookup_answers_with_notifys_notification_json(notify: NotifyContractServer) -> None:
    channel = channel_for(notify)
    provider_id = channel.send(Outgoing("row-15", MOBILE, invite()), no_handover)
    notify.set_status(provider_id, "delivered")
    found = channel.lookup(provider_id)
    assert (found["id"], found["reference"], found["status"], found["type"]) == (
        provider_id,
        "row-15",
        "delivered",
        "sms",
    )
    assert found["completed_at"] is not None


def test_a_message_without_a_configured_template_is_not_sent() -> None:
    channel = NotifyChannel(f"k-{uuid.uuid4()}-{uuid.uuid4()}", "http://127.0.0.1:9", {}, 1)
    with pytest.raises(PermanentFailure) as failure:
        channel.send(Outgoing("row-16", MOBILE, invite()), no_handover)
    assert failure.value.reason == notify_module.TEMPLATE_MISMATCH


def test_an_unreachable_notify_is_a_temporary_failure() -> None:
    with NotifyContractServer() as server:
        base_url, templates, key = server.base_url, server.mia_templates, server.api_key
    channel = NotifyChannel(key, base_url, templates, 1)  # the server has stopped: connection refused
    with pytest.raises(TemporaryFailure, match="no answer"):
        channel.send(Outgoing("row-17", MOBILE, invite()), no_handover)


def test_the_contract_server_sends_notifys_delivery_callback(notify: NotifyContractServer) -> None:
    """What the receipts route will receive: Notify's documented callback JSON with the service's bearer token."""
    received: list[tuple[str, dict]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Authorization"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        provider_id = channel_for(notify).send(Outgoing("row-18", MOBILE, invite()), no_handover)
        url = f"http://127.0.0.1:{server.server_address[1]}/notify/callbacks"
        answer = notify.send_callback(url, "callback-token", provider_id, "delivered")
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert answer.status_code == 204
    ((authorization, payload),) = received
    assert authorization == "Bearer callback-token"
    assert {key: payload[key] for key in ("id", "reference", "to", "status", "notification_type")} == {
        "id": provider_id,
        "reference": "row-18",
        "to": MOBILE,
        "status": "delivered",
        "notification_type": "sms",
    }
    assert payload["created_at"] and payload["completed_at"] and payload["sent_at"]
    assert channel_for(notify).lookup(provider_id)["status"] == "delivered"
