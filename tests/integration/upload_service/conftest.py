"""Fixtures for the upload service.

`client` / `new_patient` run on each database × each store (tests that move
bytes); `page_client` / `new_page_patient` on each database with the
filesystem store (tests of pages, sessions and the database journey).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from patient_upload.app import create_app
from shared.context import AppContext
from tests.support.factories import make_clinician, make_encounter
from tests.support.patient_client import PatientClient

ClientFactory = Callable[..., Awaitable[TestClient]]
PatientFactory = Callable[..., Awaitable[PatientClient]]
TEST_LOCK_LEASE = dt.timedelta(seconds=6)


async def app_client(aiohttp_client: ClientFactory, ctx: AppContext, **options: object) -> TestClient:
    options.setdefault("lock_lease", TEST_LOCK_LEASE)
    options.setdefault("read_idle_timeout", 5.0)
    return await aiohttp_client(create_app(ctx, **options))  # type: ignore[arg-type]


def patient_factory(aiohttp_client: ClientFactory, client: TestClient, ctx: AppContext) -> PatientFactory:
    """Each patient has their own encounter and their own cookie jar (a separate phone)."""
    clinician_id = make_clinician(ctx, username=f"dr-{uuid.uuid4().hex[:8]}")

    async def make(verified: bool = True) -> PatientClient:
        invite = make_encounter(ctx, clinician_id)
        own_client = await aiohttp_client(client.server)
        patient = PatientClient(own_client, invite.token, encounter_id=invite.encounter_id)
        return await patient.ready() if verified else patient

    return make


@pytest.fixture
async def client(aiohttp_client: ClientFactory, upload_ctx: AppContext) -> TestClient:
    return await app_client(aiohttp_client, upload_ctx)


@pytest.fixture
def new_patient(aiohttp_client: ClientFactory, client: TestClient, upload_ctx: AppContext) -> PatientFactory:
    return patient_factory(aiohttp_client, client, upload_ctx)


@pytest.fixture
async def page_client(aiohttp_client: ClientFactory, ctx: AppContext) -> TestClient:
    return await app_client(aiohttp_client, ctx)


@pytest.fixture
def new_page_patient(aiohttp_client: ClientFactory, page_client: TestClient, ctx: AppContext) -> PatientFactory:
    return patient_factory(aiohttp_client, page_client, ctx)
