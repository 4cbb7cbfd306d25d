"""A patient's phone talking to a running upload service with `requests` (for real-process tests and benchmarks)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import requests

from tests.support.patient_client import metadata

TUS = {"Tus-Resumable": "1.0.0"}


class SyncPatient:
    def __init__(self, base_url: str, token: str, date_of_birth: str) -> None:
        self.base_url = base_url
        self.token = token
        self.date_of_birth = date_of_birth
        self.http = requests.Session()
        self.csrf = ""

    def ready(self) -> SyncPatient:
        page = self.http.get(f"{self.base_url}/p/{self.token}", timeout=10)
        form_token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        year, month, day = self.date_of_birth.split("-")
        self.http.post(
            f"{self.base_url}/p/{self.token}",
            data={"form_token": form_token, "day": day, "month": month, "year": year},
            timeout=10,
        )
        consent = self.http.get(f"{self.base_url}/consent", timeout=10)
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', consent.text).group(1)  # type: ignore[union-attr]
        answers = {"share_with_care_team": "yes", "keep_in_record": "yes", "use_for_teaching": "no"}
        response = self.http.post(
            f"{self.base_url}/consent",
            data={"csrf_token": self.csrf, "safeguarding": "understood", **answers},
            timeout=10,
        )
        assert response.url.endswith("/upload"), response.text
        return self

    def rebase(self, base_url: str) -> None:
        """The service came back on another port; cookies are per host, so the session carries over."""
        self.base_url = base_url

    def headers(self, **extra: str) -> dict[str, str]:
        return {**TUS, "X-CSRF-Token": self.csrf, **extra}

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())

    def create(self, length: int, filename: str) -> str:
        response = self.http.post(
            f"{self.base_url}/files/",
            headers=self.headers(**{"Upload-Length": str(length), "Upload-Metadata": metadata(filename=filename)}),
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return response.headers["Location"]

    def offset(self, path: str) -> int:
        response = self.http.head(f"{self.base_url}{path}", headers=self.headers(), timeout=30)
        assert response.status_code == 200, response.status_code
        return int(response.headers["Upload-Offset"])

    def patch_stream(self, path: str, offset: int, body: Iterator[bytes]) -> requests.Response:
        headers = self.headers(**{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        return self.http.patch(f"{self.base_url}{path}", headers=headers, data=body, timeout=600)
