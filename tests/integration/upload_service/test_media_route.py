"""GET /media/{key}: signed, expiring URLs of the filesystem store, with Range support for video seeking."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from shared.context import AppContext
from tests.integration.upload_service.conftest import ClientFactory, app_client

KEY = "derived/e1/m1/video.mp4"
BODY = bytes(range(256)) * 400  # 102,400 bytes


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
async def media_client(aiohttp_client: ClientFactory, sqlite_ctx: AppContext) -> TestClient:
    sqlite_ctx.store.put(KEY, BODY)
    return await app_client(aiohttp_client, sqlite_ctx)


async def test_a_signed_url_serves_the_object_with_ranges(media_client: TestClient, sqlite_ctx: AppContext) -> None:
    url = local(sqlite_ctx.store.url(KEY, 300, content_type="video/mp4"))
    whole = await media_client.get(url)
    assert whole.status == 200 and await whole.read() == BODY
    assert whole.headers["Content-Type"] == "video/mp4" and whole.headers["Content-Disposition"] == "inline"
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Cache-Control"] == "private, no-store"
    assert "default-src 'none'" in whole.headers["Content-Security-Policy"]
    assert "script-src 'none'" in whole.headers["Content-Security-Policy"]
    assert whole.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    part = await media_client.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status == 206 and await part.read() == BODY[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(BODY)}"
    tail = await media_client.get(url, headers={"Range": "bytes=-100"})
    assert tail.status == 206 and await tail.read() == BODY[-100:]


async def test_download_names_are_encoded(media_client: TestClient, sqlite_ctx: AppContext) -> None:
    url = local(sqlite_ctx.store.url(KEY, 300, download_name='Zoë "arm".mp4', content_type="video/mp4"))
    response = await media_client.get(url)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; ") and "filename*=UTF-8''Zo%C3%AB%20%22arm%22.mp4" in disposition
    assert '"' not in disposition.split("filename=")[1].split(";")[0].strip('"')


async def test_unsigned_expired_tampered_or_moved_urls_are_refused(
    media_client: TestClient, sqlite_ctx: AppContext
) -> None:
    good = local(sqlite_ctx.store.url(KEY, 300, content_type="video/mp4"))
    sqlite_ctx.store.put("derived/e2/m2/video.mp4", b"another patient's video")
    refused = [
        f"/media/{KEY}",
        local(sqlite_ctx.store.url(KEY, -1)),
        good.replace("sig=", "sig=0"),
        good.replace("video%2Fmp4", "text%2Fhtml"),
        good.replace("e1/m1", "e2/m2"),
    ]
    for url in refused:
        assert (await media_client.get(url)).status == 403, url
    assert (await media_client.get("/media/..%2F..%2Fkeys.json?expires=9999999999&sig=x")).status in (403, 404)
    missing = local(sqlite_ctx.store.url("derived/e9/m9/none.jpg", 300))
    assert (await media_client.get(missing)).status == 404


async def test_no_media_route_in_s3_mode(aiohttp_client: ClientFactory, sqlite_ctx: AppContext, s3_store) -> None:  # type: ignore[no-untyped-def]
    url = local(sqlite_ctx.store.url(KEY, 300))
    sqlite_ctx.store = s3_store
    client = await app_client(aiohttp_client, sqlite_ctx)
    assert (await client.get(url)).status == 404
