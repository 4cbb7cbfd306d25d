"""GOV.UK Notify's delivery callbacks, POSTed as Notify documents them to the real upload service (both databases).

The right bearer token updates the message (delivered, or failed with a
reason a clinician can act on, and the times Notify gives); a failed patient
invite alerts the clinician. A wrong token, an unknown id or a body that is
not a receipt is refused, 401/404/400, and logged without the body.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine, Row, select, update

from patient_upload.app import create_app
from shared import audit
from shared.config.settings import Settings
from shared.context import AppContext, build_context
from shared.db.statuses import NotificationStatus
from shared.db.tables import notifications
from shared.notifications import outbox
from shared.notifications.outbox import KIND_CLINICIAN_ALERT, KIND_PATIENT_INVITE
from tests.conftest import make_settings
from tests.integration.upload_service.conftest import ClientFactory
from tests.support.factories import PATIENT, make_encounter
from tests.support.messages import (
    assert_no_patient_details,
    make_alerted_clinician,
    mark_sent_by_notify,
    message_rows,
)

TOKEN = "n0tify-callback-token-" + "9f8e7d6c5b4a" * 3
URL = "/notify/callbacks"
SENT_AT = "2026-12-02T10:15:30.000000Z"
COMPLETED_AT = "2026-12-02T10:15:42.123456Z"
FAILURE_WORDS = {
    ("sms", "permanent-failure"): "can't receive texts",
    ("email", "permanent-failure"): "does not exist or its mailbox refuses mail",
    ("sms", "temporary-failure"): "switched off or out of signal",
    ("email", "temporary-failure"): "mailbox was full",
    ("sms", "technical-failure"): "fault at GOV.UK Notify",
    ("email", "technical-failure"): "fault at GOV.UK Notify",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "var", MIA_NOTIFY_CALLBACK_TOKEN=TOKEN)


def callback(
    provider_id: str, status: str, *, reference: str | None, to: str, notification_type: str = "sms"
) -> dict[str, object]:
    """A delivery receipt exactly as Notify's documentation shows it."""
    return {
        "id": provider_id,
        "reference": reference,
        "to": to,
        "status": status,
        "created_at": "2026-12-02T10:15:29.000000Z",
        "completed_at": COMPLETED_AT,
        "sent_at": SENT_AT,
        "notification_type": notification_type,
        "template_id": str(uuid.uuid4()),
        "template_version": 3,
    }


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def row(ctx: AppContext, notification_id: str) -> Row:
    with ctx.engine.connect() as conn:
        return conn.execute(select(notifications).where(notifications.c.id == notification_id)).one()


@pytest.fixture
def sent_invites(ctx: AppContext) -> Iterator[dict[str, tuple[Row, str]]]:
    """channel → (invite row, Notify's id): an SMS and an email invite Notify accepted."""
    encounter_id = make_encounter(ctx, make_alerted_clinician(ctx)).encounter_id
    found = {}
    for invite in message_rows(ctx, encounter_id, KIND_PATIENT_INVITE):
        found[invite.channel] = (invite, mark_sent_by_notify(ctx, invite.id))
    yield found


@pytest.mark.parametrize("status", ["delivered", "permanent-failure", "temporary-failure", "technical-failure"])
async def test_a_callback_with_the_right_token_records_the_messages_fate(
    page_client: TestClient, ctx: AppContext, sent_invites: dict[str, tuple[Row, str]], status: str
) -> None:
    for channel, to in (("sms", PATIENT.phone), ("email", PATIENT.email)):
        invite, provider_id = sent_invites[channel]
        body = callback(provider_id, status, reference=invite.id, to=to or "", notification_type=channel)
        response = await page_client.post(URL, json=body, headers=bearer())
        assert response.status == 200, await response.text()
        assert await response.json() == {"result": "recorded"}
        after = row(ctx, invite.id)
        assert after.provider_id == provider_id and after.sent_at is not None
        if status == "delivered":
            assert after.status == NotificationStatus.DELIVERED and after.failure_reason is None
            assert after.delivered_at.isoformat() == "2026-12-02T10:15:42.123456" and after.failed_at is None
        else:
            assert after.status == NotificationStatus.FAILED and after.delivered_at is None
            assert after.failed_at.isoformat() == "2026-12-02T10:15:42.123456"
            assert FAILURE_WORDS[(channel, status)] in after.failure_reason
            assert after.last_error == f"GOV.UK Notify: {status}"

    encounter_id = sent_invites["sms"][0].encounter_id
    with ctx.engine.connect() as conn:
        events = audit.search(conn, encounter_id=encounter_id, actor_id="notify")
    action = "notification.delivered" if status == "delivered" else "notification.failed"
    assert [event["action"] for event in events] == [action, action]
    alerts = message_rows(ctx, encounter_id, KIND_CLINICIAN_ALERT)
    if status == "delivered":
        assert alerts == []
    else:  # one alert per failed invite, to the clinician and the team mailbox
        assert len(alerts) == 4 and all(alert.dedupe_key.startswith("alert:invite_failed:") for alert in alerts)
        with ctx.engine.connect() as conn:
            found = outbox.for_encounter(conn, ctx.cipher, encounter_id)
        bodies = [message.body for message in found if message.kind == KIND_CLINICIAN_ALERT]
        assert any(FAILURE_WORDS[("sms", status)] in text and "text message" in text for text in bodies)
        assert all(encounter_id[:8].upper() in text for text in bodies)
        for text in bodies:
            assert_no_patient_details(text)


async def test_a_callback_that_beats_the_dispatchers_bookkeeping_finds_the_message_by_reference(
    page_client: TestClient, ctx: AppContext, sent_invites: dict[str, tuple[Row, str]]
) -> None:
    invite, _ = sent_invites["email"]
    with ctx.engine.begin() as conn:  # handed to Notify, its id not yet stored
        conn.execute(
            update(notifications)
            .where(notifications.c.id == invite.id)
            .values(status=NotificationStatus.SENDING, provider_id=None, sent_at=None, lease_owner="d1")
        )
    provider_id = str(uuid.uuid4())
    body = callback(provider_id, "delivered", reference=invite.id, to=PATIENT.email or "", notification_type="email")
    assert (await page_client.post(URL, json=body, headers=bearer())).status == 200
    after = row(ctx, invite.id)
    assert after.status == NotificationStatus.DELIVERED and after.provider_id == provider_id
    assert after.provider == "notify" and after.lease_owner is None
    assert after.sent_at.isoformat() == "2026-12-02T10:15:30"


async def test_callbacks_are_final_and_may_come_twice(
    page_client: TestClient, ctx: AppContext, sent_invites: dict[str, tuple[Row, str]]
) -> None:
    invite, provider_id = sent_invites["sms"]
    delivered = callback(provider_id, "delivered", reference=invite.id, to=PATIENT.phone or "")
    for _ in range(2):
        assert (await page_client.post(URL, json=delivered, headers=bearer())).status == 200
    failed = callback(provider_id, "permanent-failure", reference=invite.id, to=PATIENT.phone or "")
    assert (await page_client.post(URL, json=failed, headers=bearer())).status == 200
    assert row(ctx, invite.id).status == NotificationStatus.DELIVERED
    assert message_rows(ctx, invite.encounter_id, KIND_CLINICIAN_ALERT) == []
    with ctx.engine.connect() as conn:
        assert len(audit.search(conn, action="notification.delivered", encounter_id=invite.encounter_id)) == 1


REFUSALS = {
    "no token": (401, None, lambda body: body),
    "wrong token": (401, bearer("x" * 40), lambda body: body),
    "basic scheme": (401, {"Authorization": f"Basic {TOKEN}"}, lambda body: body),
    "the right token with more": (401, bearer(TOKEN + "x"), lambda body: body),
    "unknown id": (404, bearer(), lambda body: {**body, "id": str(uuid.uuid4()), "reference": None}),
    "someone else's reference": (404, bearer(), lambda body: {**body, "id": str(uuid.uuid4()), "reference": "r1"}),
    "another channel": (404, bearer(), lambda body: {**body, "notification_type": "email"}),
    "no id": (400, bearer(), lambda body: {k: v for k, v in body.items() if k != "id"}),
    "not a uuid": (400, bearer(), lambda body: {**body, "id": "12345"}),
    "a status that is not final": (400, bearer(), lambda body: {**body, "status": "sending"}),
    "a bad time": (400, bearer(), lambda body: {**body, "completed_at": "yesterday"}),
    "a list": (400, bearer(), lambda body: [body]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_refused_callbacks_change_nothing_and_are_logged_without_the_body(
    page_client: TestClient,
    ctx: AppContext,
    sent_invites: dict[str, tuple[Row, str]],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    status, headers, change = REFUSALS[case]
    invite, provider_id = sent_invites["sms"]
    body = change(callback(provider_id, "permanent-failure", reference=invite.id, to=PATIENT.phone or ""))
    response = await page_client.post(URL, json=body, headers=headers or {})
    assert response.status == status
    answer = await response.json()
    assert answer["error"] in {401: ("unauthorised",), 404: ("unknown_notification",), 400: ("malformed",)}[status]
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert row(ctx, invite.id).status == NotificationStatus.SENT
    assert message_rows(ctx, invite.encounter_id, KIND_CLINICIAN_ALERT) == []

    ours = [record for record in caplog.records if record.name != "aiohttp.access"]
    refused = [record for record in ours if record.getMessage() == "notify callback refused"]
    assert len(refused) == 1 and refused[0].status == status  # type: ignore[attr-defined]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in ours)
    assert (PATIENT.phone or "") not in logged and "7700900123" not in logged and COMPLETED_AT not in logged
    assert TOKEN not in logged


async def test_not_json_is_refused(page_client: TestClient) -> None:
    response = await page_client.post(URL, data=b"status=delivered", headers=bearer())
    assert response.status == 400 and (await response.json())["error"] == "malformed"


async def test_without_a_configured_token_every_callback_is_refused(
    aiohttp_client: ClientFactory, engine: Engine, tmp_path: Path
) -> None:
    ctx = build_context(make_settings(tmp_path / "other"), engine=engine)
    client = await aiohttp_client(create_app(ctx))
    for headers in ({}, bearer(), {"Authorization": "Bearer "}):
        response = await client.post(URL, json={"id": str(uuid.uuid4()), "status": "delivered"}, headers=headers)
        assert response.status == 401 and (await response.json())["error"] == "not_configured"
    assert (await client.get(URL)).status == 405
