"""The organisation name on every patient page: the team's once the patient is verified, the default before.

Before the date of birth is confirmed the page must not tell a valid link
from an invalid one, so it shows MIA_ORGANISATION_NAME whatever the token.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from shared.context import Actor, AppContext, build_context
from shared.ids import new_secret_token
from shared.staff.teams import save_team_settings
from tests.conftest import make_settings
from tests.integration.upload_service.conftest import ClientFactory, app_client
from tests.support.factories import make_clinician, make_encounter
from tests.support.patient_client import PatientClient, form_field
from tests.support.upload_payloads import real_jpeg

TRUST = "Leeds Teaching Hospitals NHS Trust"
TEAM_NAME = "Leeds Teaching Hospitals – Dermatology"  # an en dash, as people write it


@pytest.fixture
def named_ctx(tmp_path: Path, engine: Engine) -> AppContext:
    ctx = build_context(make_settings(tmp_path / "var", MIA_ORGANISATION_NAME=TRUST), engine=engine)
    admin = make_clinician(ctx, "admin1", team="")
    save_team_settings(ctx, "Dermatology", organisation_name=TEAM_NAME, mailbox="", actor=Actor(admin))
    return ctx


@pytest.fixture
async def named_client(aiohttp_client: ClientFactory, named_ctx: AppContext) -> TestClient:
    return await app_client(aiohttp_client, named_ctx)


def organisation_on(html: str) -> str:
    match = re.search(r'<span class="organisation" id="organisation">([^<]*)</span>', html)
    assert match, "no organisation name in the page header"
    return match.group(1)


def without_tokens(html: str, token: str) -> str:
    return html.replace(token, "TOKEN").replace(form_field(html, "form_token"), "FORM-TOKEN")


async def test_before_verification_every_link_shows_the_same_default_name(
    named_client: TestClient, named_ctx: AppContext
) -> None:
    invite = make_encounter(named_ctx, make_clinician(named_ctx))  # a Dermatology request
    valid = await named_client.get(f"/p/{invite.token}")
    unknown_token = new_secret_token()
    unknown = await named_client.get(f"/p/{unknown_token}")
    valid_html, unknown_html = await valid.text(), await unknown.text()
    assert organisation_on(valid_html) == organisation_on(unknown_html) == TRUST
    assert TEAM_NAME not in valid_html
    assert without_tokens(valid_html, invite.token) == without_tokens(unknown_html, unknown_token)
    assert f"{TRUST} asked you to use this service." in valid_html
    home = await (await named_client.get("/")).text()
    missing = await named_client.get("/no-such-page")
    assert organisation_on(home) == organisation_on(await missing.text()) == TRUST and missing.status == 404


async def test_a_verified_patient_sees_their_teams_name_on_every_page(
    aiohttp_client: ClientFactory, named_client: TestClient, named_ctx: AppContext
) -> None:
    invite = make_encounter(named_ctx, make_clinician(named_ctx))
    patient = PatientClient(await aiohttp_client(named_client.server), invite.token)
    await patient.verify()
    for path in ("/consent", "/upload", "/send"):
        html = await (await patient.client.get(path)).text()
        assert organisation_on(html) == TEAM_NAME, path
    assert (await patient.consent()).status == 303
    await patient.upload(real_jpeg(120, 90), filename="rash.jpg")
    sent = await patient.send()
    assert sent.status == 303
    done = await (await patient.client.get("/done")).text()
    assert organisation_on(done) == TEAM_NAME and f"{TEAM_NAME} asked you to use this service." in done
    signed_out = await patient.client.post("/sign-out", data={"csrf_token": patient.csrf})
    assert organisation_on(await signed_out.text()) == TEAM_NAME


async def test_a_team_without_its_own_name_shows_the_default(
    aiohttp_client: ClientFactory, named_client: TestClient, named_ctx: AppContext
) -> None:
    invite = make_encounter(named_ctx, make_clinician(named_ctx, "drbrown", team="Neurology"))
    patient = PatientClient(await aiohttp_client(named_client.server), invite.token)
    await patient.verify()
    assert organisation_on(await (await patient.client.get("/consent")).text()) == TRUST
