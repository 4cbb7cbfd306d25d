"""The real portal (`streamlit run portal_app.py`) as a subprocess on an ephemeral port, for Chromium tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.config.settings import PROJECT_ROOT

PORTAL_SCRIPT = PROJECT_ROOT / "portal_app.py"
START_TIMEOUT = 90
# As the Procfile and the image start it: uvicorn (under Streamlit) trusts nobody's X-Forwarded-For;
# the portal decides that itself from MIA_TRUST_PROXY_HEADERS (shared.client_address).
PORTAL_PROCESS_ENV = {"FORWARDED_ALLOW_IPS": ""}


def free_port() -> int:
    """A port the OS just handed out; the server binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PortalServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    _log: IO[bytes]

    @classmethod
    def start(cls, environment: dict[str, str], log_path: Path) -> PortalServer:
        port = free_port()
        env = {**os.environ, **PORTAL_PROCESS_ENV, **environment}
        log = log_path.open("wb")
        command = [
            sys.executable, "-m", "streamlit", "run", str(PORTAL_SCRIPT),
            "--server.port", str(port), "--server.address", "127.0.0.1",
        ]  # fmt: skip
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        server = cls(process, f"http://127.0.0.1:{port}", log_path, log)
        server._wait_until_healthy()
        return server

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"portal exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:  # noqa: S310
                    if response.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"portal did not become healthy in {START_TIMEOUT}s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()
