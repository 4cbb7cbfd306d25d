"""A real Orthanc PACS with its DICOMweb plugin, on loopback, for the DICOM filing tests.

Started from a configuration generated per run: HTTP on a free loopback port,
the DICOM (DIMSE) port on another free port and bound nowhere else (remote
access off), storage and index in a temporary directory, HTTP basic auth with
one user, the DICOMweb plugin at /dicom-web/ (STOW-RS, QIDO-RS, WADO-RS).
`/system` answering means it is ready. Debian's packages `orthanc` and
`orthanc-dicomweb` provide the binary and the plugin.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from tests.support.portal_server import free_port

ORTHANC = Path("/usr/sbin/Orthanc")
PLUGINS = Path("/usr/share/orthanc/plugins")
USERNAME = "mia-filer"
PASSWORD = "pacs-password-for-tests"
START_TIMEOUT = 60


@dataclass
class Orthanc:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        """What MIA_DICOMWEB_URL names."""
        return f"{self.url}/dicom-web"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(f"{self.url}{path}", auth=(USERNAME, PASSWORD), timeout=30, **kwargs)

    def delete_everything(self) -> None:
        for patient in self.get("/patients").json():
            requests.delete(f"{self.url}/patients/{patient}", auth=(USERNAME, PASSWORD), timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}"
                )
            try:
                if self.get("/system").status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {START_TIMEOUT} s: {self.log_path.read_text()[-2000:]}")


def configuration(directory: Path, http_port: int, dicom_port: int) -> dict[str, Any]:
    return {
        "Name": "MIA-TEST-PACS",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "MIATEST",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USERNAME: PASSWORD},
        "Plugins": [str(PLUGINS)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Ssl": False},
        "OverwriteInstances": False,
        "SaveJobs": False,
        "StableAge": 1,
        "HttpDescribeErrors": True,
    }


@contextmanager
def running_orthanc(directory: Path) -> Iterator[Orthanc]:
    """Start Orthanc with a fresh configuration and storage under `directory`; stop it afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "orthanc.json"
    http_port, dicom_port = free_port(), free_port()
    config_path.write_text(json.dumps(configuration(directory, http_port, dicom_port), indent=2))
    log_path = directory / "orthanc.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(ORTHANC), str(config_path)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    server = Orthanc(process, http_port, log_path, log)
    try:
        server._wait_until_ready()
        yield server
    finally:
        server.stop()
