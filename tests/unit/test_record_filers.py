"""manage.py's filers registry: one filer per destination that is on, and none for one that is off."""

from __future__ import annotations

from pathlib import Path

from manage import record_filers
from shared.records.fhir import file_fhir
from shared.records.xds import file_xds
from tests.conftest import make_settings


def test_only_the_destinations_that_are_on_get_a_filer(tmp_path: Path) -> None:
    assert record_filers(make_settings(tmp_path)) == {}
    every = make_settings(
        tmp_path,
        MIA_DICOMWEB_URL="https://pacs.example.nhs.uk/dicom-web",
        MIA_FHIR_BASE_URL="https://fhir.example.nhs.uk/R4",
        MIA_XDS_REPOSITORY_URL="https://xds.example.nhs.uk/iti41",
    )
    filers = record_filers(every)
    assert list(filers) == ["dicom", "fhir", "xds"]
    assert filers["fhir"] is file_fhir and filers["xds"] is file_xds and callable(filers["dicom"])
    only_xds = make_settings(tmp_path, MIA_XDS_REPOSITORY_URL="https://xds.example.nhs.uk/iti41")
    assert list(record_filers(only_xds)) == ["xds"]
