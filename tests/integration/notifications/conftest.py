"""The providers as real servers on loopback: the Notify contract server and an aiosmtpd SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.notify_contract import NotifyContractServer
from tests.support.smtp_server import SmtpTestServer


@pytest.fixture
def notify() -> Iterator[NotifyContractServer]:
    with NotifyContractServer() as server:
        yield server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpTestServer]:
    """STARTTLS required, AUTH required: how NHSmail's relay is reached."""
    with SmtpTestServer(tmp_path, security="starttls", auth=True) as server:
        yield server
