"""A patient's Send, through the real upload service, queues the clinician's alert email (both databases)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from shared.context import AppContext
from shared.notifications import outbox
from shared.notifications.outbox import KIND_CLINICIAN_ALERT, KIND_SUBMISSION
from tests.integration.upload_service.conftest import ClientFactory
from tests.support.factories import make_encounter
from tests.support.messages import CLINICIAN_EMAIL, TEAM_MAILBOX, assert_no_patient_details, make_alerted_clinician
from tests.support.patient_client import PatientClient
from tests.support.upload_payloads import jpeg_payload


async def test_send_queues_an_alert_to_the_clinician_and_the_team_naming_only_the_reference(
    aiohttp_client: ClientFactory, page_client: TestClient, ctx: AppContext
) -> None:
    invite = make_encounter(ctx, make_alerted_clinician(ctx))
    patient = await PatientClient(await aiohttp_client(page_client.server), invite.token).ready()
    await patient.upload(jpeg_payload(3000), filename="Zebedee rash.jpg")
    assert (await patient.send()).status == 303

    with ctx.engine.connect() as conn:
        messages = outbox.for_encounter(conn, ctx.cipher, invite.encounter_id)
    alerts = [message for message in messages if message.kind == KIND_CLINICIAN_ALERT]
    assert sorted(message.recipient or "" for message in alerts) == sorted([CLINICIAN_EMAIL, TEAM_MAILBOX])
    assert [message.channel for message in messages if message.kind == KIND_SUBMISSION] == ["portal"]
    for alert in alerts:
        assert alert.channel == "email"
        assert f"request {invite.encounter_id[:8].upper()}" in alert.body
        assert f"{ctx.settings.portal_base_url}/review?encounter={invite.encounter_id}" in alert.body
        assert_no_patient_details(alert.body)
        assert "photo" in alert.body and "jpg" not in alert.body and "1 photo" not in alert.body
