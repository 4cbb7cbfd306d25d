"""Drives the patient upload service over HTTP the way a phone does (link → date of birth → consent),
then speaks tus to it. Works with aiohttp's test client."""

from __future__ import annotations

import base64
import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.support.factories import PATIENT

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = {"Content-Type": "application/offset+octet-stream"}


def form_field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field in the page"
    return match.group(1)


def meta_csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


class PatientClient:
    def __init__(
        self,
        client: TestClient,
        token: str,
        date_of_birth: str = PATIENT.date_of_birth.isoformat(),
        encounter_id: str | None = None,
    ) -> None:
        self.client = client
        self.token = token
        self.encounter_id = encounter_id
        self.date_of_birth = date_of_birth
        self.csrf = ""

    async def open_link(self) -> str:
        response = await self.client.get(f"/p/{self.token}")
        assert response.status == 200
        return await response.text()

    async def submit_date(self, date_of_birth: str | None = None) -> ClientResponse:
        html = await self.open_link()
        year, month, day = (date_of_birth or self.date_of_birth).split("-")
        return await self.client.post(
            f"/p/{self.token}",
            data={"form_token": form_field(html, "form_token"), "day": day, "month": month, "year": year},
            allow_redirects=False,
        )

    async def verify(self) -> None:
        response = await self.submit_date()
        assert response.status == 303, await response.text()
        page = await self.client.get(response.headers["Location"])
        self.csrf = meta_csrf(await page.text())

    async def consent(self, teaching: bool = True) -> ClientResponse:
        return await self.client.post(
            "/consent",
            data={
                "csrf_token": self.csrf,
                "share_with_care_team": "yes",
                "keep_in_record": "yes",
                "use_for_teaching": "yes" if teaching else "no",
                "safeguarding": "understood",
            },
            allow_redirects=False,
        )

    async def ready(self) -> PatientClient:
        """Verified and consented: ready to upload."""
        await self.verify()
        response = await self.consent()
        assert response.status == 303 and response.headers["Location"] == "/upload"
        return self

    def headers(self, **extra: str) -> dict[str, str]:
        return {**TUS, "X-CSRF-Token": self.csrf, **extra}

    async def create(
        self,
        length: int,
        filename: str = "rash.jpg",
        note: str | None = None,
        body: bytes | None = None,
        filetype: str | None = None,
        **extra: str,
    ) -> ClientResponse:
        values = {
            "filename": filename,
            **({"note": note} if note else {}),
            **({"filetype": filetype} if filetype else {}),
        }
        headers = self.headers(**{"Upload-Length": str(length), "Upload-Metadata": metadata(**values)}, **extra)
        if body is not None:
            headers.update(OFFSET_TYPE)
        return await self.client.post("/files/", headers=headers, data=body)

    async def create_url(self, length: int, **kwargs: Any) -> str:
        response = await self.create(length, **kwargs)
        assert response.status == 201, await response.text()
        return response.headers["Location"]

    async def patch(self, url: str, offset: int, data: Any, **extra: str) -> ClientResponse:
        return await self.client.patch(
            url, headers=self.headers(**OFFSET_TYPE, **{"Upload-Offset": str(offset)}, **extra), data=data
        )

    async def head(self, url: str) -> ClientResponse:
        return await self.client.head(url, headers=self.headers())

    async def offset(self, url: str) -> int:
        response = await self.head(url)
        assert response.status == 200
        return int(response.headers["Upload-Offset"])

    async def upload(self, data: bytes, filename: str = "rash.jpg", chunk: int | None = None) -> str:
        url = await self.create_url(len(data), filename=filename)
        step = chunk or len(data)
        for start in range(0, len(data), step):
            response = await self.patch(url, start, data[start : start + step])
            assert response.status == 204, await response.text()
        return url

    async def send(self) -> ClientResponse:
        return await self.client.post("/send", data={"csrf_token": self.csrf}, allow_redirects=False)
