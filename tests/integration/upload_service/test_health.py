"""Liveness and readiness, and what patients get while the database or the object store is down.

Outages are real: the database behind a TCP proxy that the test cuts (the
pool's connections die as in a failover), S3 a moto server that is stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from shared.config.settings import Settings
from shared.context import AppContext, build_context
from shared.db.engine import make_engine
from shared.storage.filesystem import FilesystemStore
from shared.storage.s3 import S3Store
from tests.conftest import MYSQL_URL, make_settings
from tests.integration.upload_service.conftest import ClientFactory, app_client, patient_factory
from tests.support.databases import MySqlTestDatabase
from tests.support.s3 import MotoS3
from tests.support.tcp_proxy import TcpProxy
from tests.support.upload_payloads import jpeg_payload

READY = {"status": "ok", "database": "ok", "storage": "ok", "disk": "ok"}


def files_under(store: FilesystemStore) -> list[str]:
    """Every file in the store's directory, hidden ones (uploads in progress) included."""
    return [str(path) for path in store.root.rglob("*") if path.is_file()]


async def test_liveness_asks_nothing_and_readiness_checks_every_dependency(
    aiohttp_client: ClientFactory, upload_ctx: AppContext
) -> None:
    store = upload_ctx.store
    if isinstance(store, S3Store):  # as in production: a deleted object would leave a version and a marker
        store.client.put_bucket_versioning(Bucket=store.bucket, VersioningConfiguration={"Status": "Enabled"})
    client = await app_client(aiohttp_client, upload_ctx)
    live = await client.get("/healthz")
    assert live.status == 200 and await live.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200 and await ready.json() == READY
    assert ready.headers["Cache-Control"] == "no-store"
    # the storage probe wrote bytes and left nothing behind
    if isinstance(store, S3Store):
        versions = store.client.list_object_versions(Bucket=store.bucket)
        assert "Versions" not in versions and "DeleteMarkers" not in versions
        assert "Uploads" not in store.client.list_multipart_uploads(Bucket=store.bucket)
    else:
        assert isinstance(store, FilesystemStore) and files_under(store) == []


async def test_readiness_fails_below_the_free_space_floor(
    aiohttp_client: ClientFactory, sqlite_engine: Engine, settings: Settings
) -> None:
    ctx = build_context(make_settings(settings.data_dir, MIA_MIN_FREE_BYTES="1000000GiB"), engine=sqlite_engine)
    client = await app_client(aiohttp_client, ctx)
    ready = await client.get("/readyz")
    assert ready.status == 503 and await ready.json() == {**READY, "status": "failing", "disk": "failing"}
    assert (await client.get("/healthz")).status == 200  # nothing for ECS to replace


@pytest.fixture
def database_proxy(mysql_database: MySqlTestDatabase, mysql_engine: Engine) -> Iterator[tuple[TcpProxy, Engine]]:
    """The test database reached through a proxy the test can cut: (proxy, engine through it)."""
    server = make_url(MYSQL_URL)
    proxy = TcpProxy(server.host or "127.0.0.1", server.port or 3306).start()
    url = server.set(host="127.0.0.1", port=proxy.port, database=mysql_database.name)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        yield proxy, engine
    finally:
        proxy.stop()
        engine.dispose()


def assert_unavailable(response, what: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status == 503, what
    assert response.headers["Retry-After"] == "30", what


@pytest.mark.mysql
async def test_while_the_database_is_down_patients_get_503_and_ecs_sees_a_live_task(
    aiohttp_client: ClientFactory,
    settings: Settings,
    database_proxy: tuple[TcpProxy, Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, engine = database_proxy
    ctx = build_context(settings, engine=engine)
    client: TestClient = await app_client(aiohttp_client, ctx, readiness_cache_seconds=0)
    patient = await patient_factory(aiohttp_client, client, ctx)()
    data = jpeg_payload(50_000)
    url = await patient.create_url(len(data))
    assert (await client.get("/readyz")).status == 200

    proxy.stop()  # the database goes away, taking the pool's connections with it
    try:
        caplog.set_level(logging.ERROR, logger="mia.upload.http")
        patch = await patient.patch(url, 0, data)
        assert_unavailable(patch, "tus PATCH")
        assert patch.headers["Tus-Resumable"] == "1.0.0" and patch.headers["X-MIA-Refusal"] == "unavailable"
        assert "try again in a few minutes" in await patch.text()
        assert_unavailable(await patient.create(1000), "tus POST")
        page = await patient.client.get("/upload")
        assert_unavailable(page, "page")
        html = await page.text()
        assert "Sorry, the service is unavailable" in html and 'data-refusal="unavailable"' in html
        api = await patient.client.get("/api/uploads")
        assert_unavailable(api, "API")
        assert (await api.json())["error"] == "unavailable"
        logged = [record for record in caplog.records if record.getMessage() == "dependency unavailable"]
        assert logged and {record.__dict__["dependency"] for record in logged} == {"database"}

        assert (await client.get("/healthz")).status == 200  # ECS's check: the task is alive, keep it
        ready = await client.get("/readyz")  # the load balancer's: do not send it patients
        assert ready.status == 503 and (await ready.json())["database"] == "failing"
    finally:
        proxy.start()
    assert (await patient.patch(url, 0, data)).status == 204  # back: the upload carries on where it was
    assert (await client.get("/readyz")).status == 200


@pytest.mark.s3
@pytest.mark.slow
async def test_while_s3_is_down_patients_get_503_and_readiness_names_storage(
    aiohttp_client: ClientFactory, sqlite_ctx: AppContext
) -> None:
    moto = MotoS3.start()  # a server of this test's own, to stop
    try:
        sqlite_ctx.store = moto.new_store()
        client = await app_client(aiohttp_client, sqlite_ctx)
        patient = await patient_factory(aiohttp_client, client, sqlite_ctx)()
        data = jpeg_payload(50_000)
        url = await patient.create_url(len(data))
    finally:
        moto.stop()
    assert_unavailable(await patient.patch(url, 0, data), "tus PATCH")  # after the S3 client's own retries
    ready = await client.get("/readyz")
    assert ready.status == 503 and await ready.json() == {**READY, "status": "failing", "storage": "failing"}
    assert (await client.get("/healthz")).status == 200
