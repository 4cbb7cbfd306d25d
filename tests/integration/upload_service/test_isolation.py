"""A patient can never reach another patient's encounter or uploads (both databases, both stores)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from shared.context import AppContext
from tests.integration.upload_service.conftest import PatientFactory
from tests.support.patient_client import PatientClient
from tests.support.upload_payloads import jpeg_payload


async def test_two_patients_cannot_reach_each_other(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    alice = await new_patient()
    bob = await new_patient()
    data = jpeg_payload(20_000)
    alice_done = await alice.upload(data, filename="alice.jpg")
    alice_partial = await alice.create_url(50_000, filename="alice-2.jpg")
    assert (await alice.patch(alice_partial, 0, data[:10_000])).status == 204

    for url in (alice_done, alice_partial):
        assert (await bob.head(url)).status == 404
        assert (await bob.patch(url, 10_000, data[:100])).status == 404
        assert (await bob.client.delete(url, headers=bob.headers())).status == 404
        upload_id = url.rsplit("/", 1)[1]
        note = await bob.client.post(f"/api/uploads/{upload_id}/note", json={"note": "x"}, headers=bob.headers())
        assert note.status == 404
    assert (await bob.client.get("/api/uploads")).status == 200
    assert (await (await bob.client.get("/api/uploads")).json())["uploads"] == []
    assert "alice" not in await (await bob.client.get("/send")).text()
    assert await alice.offset(alice_partial) == 10_000  # untouched

    # Bob's session does not open Alice's link, and his date of birth does not verify it
    page = await bob.client.get(f"/p/{alice.token}", allow_redirects=False)
    assert page.status == 200 and "What is your date of birth?" in await page.text()
    stranger = PatientClient(bob.client, alice.token, date_of_birth="1990-01-01")
    assert (await stranger.submit_date()).status == 400

    # Bob sending does not send Alice's files
    await bob.upload(data, filename="bob.jpg")
    assert (await bob.send()).status == 303
    assert (await alice.client.get("/upload")).status == 200


async def test_another_device_of_the_same_patient_sees_but_cannot_touch(
    new_patient: PatientFactory, aiohttp_client, client: TestClient
) -> None:
    phone = await new_patient()
    url = await phone.create_url(30_000, filename="from-phone.jpg")
    tablet = await PatientClient(await aiohttp_client(client.server), phone.token).ready()
    listing = await (await tablet.client.get("/api/uploads")).json()
    assert [(item["filename"], item["mine"]) for item in listing["uploads"]] == [("from-phone.jpg", False)]
    assert (await tablet.head(url)).status == 404
    assert (await tablet.patch(url, 0, jpeg_payload(30_000))).status == 404
    assert (await phone.patch(url, 0, jpeg_payload(30_000))).status == 204
