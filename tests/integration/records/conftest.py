"""A context with record destinations switched on (on each database), for the records tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.context import AppContext, build_context
from tests.conftest import make_settings

# Nothing listens here: tests that reach a destination start their own (Orthanc, the loopback servers).
DESTINATION_URLS = {
    "MIA_DICOMWEB_URL": "http://127.0.0.1:9/dicom-web",
    "MIA_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",
}


@pytest.fixture
def records_ctx(tmp_path: Path, engine: Engine) -> AppContext:
    """DICOM and FHIR on (XDS off), a few tries before failing, on SQLite and MariaDB."""
    settings = make_settings(tmp_path / "var", MIA_RECORDS_MAX_ATTEMPTS="3", **DESTINATION_URLS)
    return build_context(settings, engine=engine)
