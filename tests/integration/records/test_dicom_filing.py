"""DICOM filing against a real Orthanc: what the PACS holds afterwards, read back by DICOMweb, pydicom and dciodvfy.

The items are real display copies: a phone photo (stored sideways with EXIF
orientation 6) and two iPhone videos run through the processors — an HEVC
one (transcoded: upright H.264 that fits a DICOM transfer syntax as it is)
and an H.264 one (remuxed: landscape pixels with a display matrix, which an
elementary stream cannot carry, so DICOM filing transcodes a copy).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames

from processors.dicom_copies import fit_for_dicom
from processors.ffmpeg_binary import ffmpeg_path
from processors.process_file import process_file
from processors.results import ProcessedMedia
from processors.video import VideoLimits
from shared.clock import utcnow
from shared.config.records import RecordSettings
from shared.config.settings import PROJECT_ROOT, Settings
from shared.context import Actor, build_context
from shared.encounters.requests import register_encounter
from shared.encounters.review import mark_reviewed
from shared.records.dicom import file_dicom
from shared.records.document import PatientIdentifier, RecordDocument, RecordItem, RecordPatient
from shared.records.errors import DestinationRefused, DestinationUnavailable
from tests.conftest import make_settings
from tests.support.databases import make_sqlite_engine
from tests.support.factories import PATIENT, make_clinician
from tests.support.media_samples import h264_mov, hevc_mov
from tests.support.orthanc import PASSWORD, USERNAME, Orthanc, running_orthanc
from tests.support.processed_media import phone_photo, store_photo, store_video
from tests.support.record_documents import TEST_NHS_NUMBER, record_document
from tests.support.submissions import give_consent, submit

VIDEO_SYNTAXES = {"1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.104"}


@dataclasses.dataclass(frozen=True)
class Filed:
    document: RecordDocument
    contents: dict[str, bytes]

    def content(self, item: RecordItem) -> bytes:
        return self.contents[item.media_id]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProcessedMedia]:
    """Display copies made by the processors from phone-shaped originals (small, to keep this quick)."""
    work = tmp_path_factory.mktemp("media")
    originals = {
        "photo": work / "IMG_0001.JPG",
        "hevc": hevc_mov(work, size="320x240", seconds=1),
        "h264": h264_mov(work, size="320x240", seconds=1),
    }
    originals["photo"].write_bytes(phone_photo(480, 640))
    limits = VideoLimits(timeout_cap_seconds=120)
    return {
        name: process_file(path, work / f"out-{name}", ffmpeg=ffmpeg_path(), video_limits=limits)
        for name, path in originals.items()
    }


@pytest.fixture
def filed(processed: dict[str, ProcessedMedia]) -> Filed:
    """A reviewed encounter (a fresh one per test) holding the photo and both videos."""
    encounter_id = uuid.uuid4().hex
    kinds = {"photo": "photo", "hevc": "video", "h264": "video"}
    items, contents = [], {}
    for position, (name, result) in enumerate(processed.items(), start=1):
        media_id = f"{position:02d}{encounter_id[2:]}"
        data = result.display.path.read_bytes()
        contents[media_id] = data
        items.append(
            RecordItem(
                media_id=media_id,
                kind=kinds[name],
                content_type=result.display.content_type,
                size=len(data),
                width=result.width,
                height=result.height,
                duration_seconds=result.duration_seconds,
                acquired_at=dt.datetime(2026, 11, 29, 9, 30, position),
                title=f"{kinds[name].title()} {position} of 3",
                note="It itches at night" if position == 1 else None,
                storage_key=f"derived/{encounter_id}/{media_id}/display",
            )
        )
    document = dataclasses.replace(
        record_document({}, encounter_id=encounter_id),
        patient=RecordPatient(
            "Siân Ada Lovelace", dt.date(1985, 12, 10), PatientIdentifier.nhs_number(TEST_NHS_NUMBER)
        ),
        request_note="Please send photos of the rash on your left forearm, close up and from arm's length",
        review_note=None,
        items=tuple(items),
    )
    return Filed(document, contents)


def record_settings(orthanc: Orthanc, password: str = PASSWORD) -> RecordSettings:
    return RecordSettings(
        dicomweb_url=orthanc.dicomweb_url,
        dicomweb_username=USERNAME,
        dicomweb_password=password,
        institution_name="Riverside NHS FT",
        timeout_seconds=30,
    )


def study_instances(orthanc: Orthanc, document: RecordDocument) -> list[dict]:
    found = orthanc.get(
        "/dicom-web/studies", params={"PatientID": TEST_NHS_NUMBER, "AccessionNumber": document.reference}
    ).json()
    assert [study["0020000D"]["Value"][0] for study in found] == [document.study_uid]
    return orthanc.get(f"/dicom-web/studies/{document.study_uid}/instances").json()


def retrieve(orthanc: Orthanc, document: RecordDocument, item: RecordItem) -> bytes:
    """WADO-RS: the instance as the PACS holds it (multipart/related, one application/dicom part)."""
    path = f"/dicom-web/studies/{document.study_uid}/series/{document.series_uid(item.kind)}"
    response = orthanc.get(
        f"{path}/instances/{document.instance_uid(item)}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},  # as stored
    )
    assert response.status_code == 200
    boundary = response.headers["Content-Type"].split("boundary=")[1].split(";")[0].strip('"')
    parts = [part for part in response.content.split(f"--{boundary}".encode()) if b"\r\n\r\n" in part]
    assert len(parts) == 1
    return parts[0].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")


def dciodvfy_errors(path: Path) -> list[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def test_filing_stores_one_instance_per_item_that_reads_back_and_validates(
    orthanc: Orthanc, filed: Filed, app_settings: Settings, tmp_path: Path
) -> None:
    document = filed.document
    outcome = file_dicom(document, filed.content, record_settings(orthanc), fit_video=fit_for_dicom(app_settings))

    assert outcome.acknowledged
    assert outcome.detail.startswith(f"3 instances in study {document.study_uid}")
    assert "rewritten for DICOM: Video 3 of 3" in outcome.detail  # only the one with a display matrix
    assert len(study_instances(orthanc, document)) == 3
    for item in document.items:
        data = retrieve(orthanc, document, item)
        dataset = pydicom.dcmread(io.BytesIO(data))
        assert dataset.PatientID == TEST_NHS_NUMBER
        assert dataset.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID == "2.16.840.1.113883.2.1.4.1"
        assert str(dataset.PatientName) == "Lovelace^Siân Ada"
        assert dataset.AccessionNumber == document.reference
        assert dataset.AcquisitionDateTime.startswith("20261129093")
        assert dataset.AnatomicRegionSequence[0].CodeValue == "14975008"  # forearm
        assert dataset.ImageLaterality == "L"
        frame = next(generate_frames(dataset.PixelData, number_of_frames=1))
        if item.is_video:
            assert dataset.file_meta.TransferSyntaxUID in VIDEO_SYNTAXES
            assert dataset.Rows > dataset.Columns  # held portrait: upright in the PACS too
            stream = tmp_path / f"{item.media_id}.h264"
            stream.write_bytes(frame)
            decoded = subprocess.run(
                [ffmpeg_path(), "-hide_banner", "-f", "h264", "-i", str(stream), "-f", "null", "-"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert decoded.returncode == 0, decoded.stderr[-500:]
            assert f"{dataset.Columns}x{dataset.Rows}" in decoded.stderr
        else:
            assert dataset.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
            assert frame.rstrip(b"\x00") == filed.contents[item.media_id].rstrip(b"\x00")  # as it was, byte for byte
            with Image.open(io.BytesIO(frame), formats=["JPEG"]) as picture:
                picture.load()
                assert picture.size == (item.width, item.height) == (dataset.Columns, dataset.Rows)
        copy = tmp_path / f"{item.media_id}.dcm"
        copy.write_bytes(data)
        assert dciodvfy_errors(copy) == []


def test_filing_twice_adds_no_instances(orthanc: Orthanc, filed: Filed, app_settings: Settings) -> None:
    settings = record_settings(orthanc)
    first = file_dicom(filed.document, filed.content, settings, fit_video=fit_for_dicom(app_settings))
    second = file_dicom(filed.document, filed.content, settings, fit_video=fit_for_dicom(app_settings))

    assert first.acknowledged and second.acknowledged
    assert len(study_instances(orthanc, filed.document)) == 3


def test_a_stopped_pacs_is_unavailable(filed: Filed, app_settings: Settings, tmp_path: Path) -> None:
    with running_orthanc(tmp_path / "stopped") as stopped:
        settings = record_settings(stopped)
    with pytest.raises(DestinationUnavailable, match="could not be reached"):
        file_dicom(filed.document, filed.content, settings, fit_video=fit_for_dicom(app_settings))


def test_a_wrong_password_is_refused_with_what_to_check(orthanc: Orthanc, filed: Filed, app_settings: Settings) -> None:
    settings = record_settings(orthanc, password="not-the-password")
    with pytest.raises(DestinationRefused, match="MIA_DICOMWEB_PASSWORD") as refused:
        file_dicom(filed.document, filed.content, settings, fit_video=fit_for_dicom(app_settings))

    assert "not-the-password" not in refused.value.reason
    assert orthanc.get("/dicom-web/studies", params={"AccessionNumber": filed.document.reference}).json() == []


@pytest.fixture
def app_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The app's settings (ffmpeg, timeouts) with a scratch directory of this test's own."""
    return dataclasses.replace(settings, scratch_dir=tmp_path / "scratch")


def file_to_record(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=300)


def test_manage_file_to_record_files_every_item_once(orthanc: Orthanc, tmp_path: Path) -> None:
    """The issue's "done when": a reviewed encounter filed by the operator's command, twice, found by NHS number."""
    variables = {
        "MIA_DATA_DIR": str(tmp_path / "var"),
        "MIA_DICOMWEB_URL": orthanc.dicomweb_url,
        "MIA_DICOMWEB_USERNAME": USERNAME,
        "MIA_DICOMWEB_PASSWORD": PASSWORD,
    }
    settings = make_settings(tmp_path / "var", **variables)
    ctx = build_context(settings, engine=make_sqlite_engine(settings.database_url))
    clinician_id = make_clinician(ctx)
    encounter_id = register_encounter(
        ctx, Actor(clinician_id), patient=PATIENT, request_note="The rash, please", body_site="right hand"
    ).encounter_id
    give_consent(ctx, encounter_id)
    store_photo(ctx, encounter_id, width=320, height=240)
    store_video(ctx, encounter_id, width=320, height=240, seconds=1)
    submit(ctx, encounter_id, clinician_id)
    mark_reviewed(ctx, encounter_id, actor=Actor(clinician_id), note="Eczema", now=utcnow())
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MIA_")} | variables

    command = [sys.executable, "manage.py", "file-to-record", "--encounter", encounter_id, "--destination", "dicom"]
    runs = [file_to_record(command, environment) for _ in range(2)]

    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
        last_line = run.stdout.strip().splitlines()[-1]  # after the JSON log lines
        assert last_line.startswith("dicom: filed and acknowledged: 2 instances in study"), last_line
    nhs_number = PATIENT.nhs_number
    studies = orthanc.get("/dicom-web/studies", params={"PatientID": nhs_number}).json()
    assert len(studies) == 1
    study_uid = studies[0]["0020000D"]["Value"][0]
    assert len(orthanc.get(f"/dicom-web/studies/{study_uid}/instances").json()) == 2
