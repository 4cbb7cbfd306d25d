"""What each DICOM attribute holds, for a document built in the test, and that dciodvfy finds no error in it."""

from __future__ import annotations

import dataclasses
import io
import subprocess
from pathlib import Path

import pydicom
import pytest
from PIL import Image, ImageChops
from pydicom.encaps import generate_frames

from processors.dicom_copies import baseline_jpeg
from shared.config.records import RecordSettings
from shared.records.dicom import encode_item, part10
from shared.records.document import PatientIdentifier, RecordDocument
from shared.records.errors import DestinationRefused
from shared.records.jpeg_frames import jpeg_frame
from tests.support.record_documents import content_of, photo_and_video, record_document

SETTINGS = RecordSettings(institution_name="Riverside NHS FT")


@pytest.fixture(scope="module")
def contents() -> dict[str, tuple[str, bytes]]:
    return photo_and_video()


def encoded(document: RecordDocument, contents: dict[str, tuple[str, bytes]], tmp_path: Path) -> list[Path]:
    paths = []
    for item in document.items:
        dataset, _ = encode_item(document, item, content_of(contents)(item), SETTINGS)
        path = tmp_path / f"{item.media_id}.dcm"
        path.write_bytes(part10(dataset))
        paths.append(path)
    return paths


def dciodvfy_errors(path: Path) -> list[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def test_every_attribute_where_the_readme_says(contents: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    document = record_document(contents)

    photo, second_photo, video = (pydicom.dcmread(path) for path in encoded(document, contents, tmp_path))

    assert photo.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4" and photo.Modality == "XC"
    assert video.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4.1"
    assert {photo.StudyInstanceUID, video.StudyInstanceUID} == {document.study_uid}
    assert photo.SeriesInstanceUID == second_photo.SeriesInstanceUID != video.SeriesInstanceUID
    assert (photo.InstanceNumber, second_photo.InstanceNumber, video.InstanceNumber) == (1, 2, 1)
    assert (photo.PatientID, photo.IssuerOfPatientID, str(photo.PatientName)) == ("9990000018", "NHS", "Lovelace^Ada")
    assert photo.PatientBirthDate == "19851210"
    assert photo.AccessionNumber == photo.StudyID == document.reference
    assert photo.StudyDescription == "Please send photos of the rash on your forearm"
    assert photo.RequestAttributesSequence[0].RequestedProcedureDescription == photo.StudyDescription
    assert str(photo.ReferringPhysicianName) == str(photo.OperatorsName) == "Jones^Dr Jo"
    assert (photo.Manufacturer, photo.InstitutionName) == ("MIA", "Riverside NHS FT")
    assert photo.AcquisitionDateTime == "20261129093001.000000" and photo.TimezoneOffsetFromUTC == "+0000"
    assert (photo.ContentDate, photo.ContentTime) == ("20261129", "093001")
    assert photo.ImageComments.splitlines() == [
        "Request: Please send photos of the rash on your forearm",
        "Body site: left forearm",
        "Patient's note: It itches at night",
    ]
    assert "Patient's note" not in second_photo.ImageComments
    assert (photo.BodyPartExamined, photo.ImageLaterality) == ("ARM", "L")
    assert photo.PhotometricInterpretation == "YBR_FULL_422" and photo.LossyImageCompression == "01"
    assert video.NumberOfFrames == 25 and float(video.FrameTime) == pytest.approx(40.0)


def test_without_a_body_site_a_photo_names_no_region_and_a_video_an_unspecified_one(
    contents: dict[str, tuple[str, bytes]], tmp_path: Path
) -> None:
    document = dataclasses.replace(record_document(contents), body_site=None)

    photo, _, video = (pydicom.dcmread(path) for path in encoded(document, contents, tmp_path))

    assert "AnatomicRegionSequence" not in photo and "BodyPartExamined" not in photo
    assert video.AnatomicRegionSequence[0].CodeMeaning == "Body structure"
    assert photo.Laterality == ""


def test_long_and_awkward_text_still_validates(contents: dict[str, tuple[str, bytes]], tmp_path: Path) -> None:
    document = dataclasses.replace(
        record_document(contents, identifier=PatientIdentifier("ABC123", "MIA", "2.25.1", "urn:mia", False)),
        request_note="Photos of the ŵ-shaped rash \\ both sides, " * 5,
        body_site="hand and foot",
    )

    paths = encoded(document, contents, tmp_path)

    photo = pydicom.dcmread(paths[0])
    assert len(photo.StudyDescription.encode()) <= 64 and photo.StudyDescription.endswith("…")
    assert "\\" not in photo.StudyDescription
    assert photo.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID == "2.25.1"
    for path in paths:
        assert dciodvfy_errors(path) == []


def test_a_progressive_display_copy_is_refused_with_what_to_do(contents: dict[str, tuple[str, bytes]]) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 90)).save(buffer, "JPEG", progressive=True)
    progressive = {"0a0b0c0d0e0f40a1b2c3d4e5f6a7b8c9": ("photo", buffer.getvalue())}
    document = record_document(progressive)

    with pytest.raises(
        DestinationRefused, match=r"Photo 1 of 1: .* not a baseline 8-bit JPEG .* process the photo again"
    ):
        encode_item(document, document.items[0], buffer.getvalue(), SETTINGS)


def test_a_progressive_display_copy_is_rewritten_losslessly_when_jpegtran_is_given() -> None:
    buffer = io.BytesIO()
    Image.effect_mandelbrot((96, 64), (-2, -1, 1, 1), 50).convert("RGB").save(buffer, "JPEG", progressive=True)
    progressive = buffer.getvalue()
    document = record_document({"0a0b0c0d0e0f40a1b2c3d4e5f6a7b8c9": ("photo", progressive)})

    dataset, rewritten = encode_item(document, document.items[0], progressive, SETTINGS, fit_photo=baseline_jpeg)

    assert rewritten and dataset.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    frame = next(generate_frames(dataset.PixelData, number_of_frames=1))
    assert jpeg_frame(frame).is_baseline
    with Image.open(io.BytesIO(frame)) as filed, Image.open(io.BytesIO(progressive)) as original:
        assert ImageChops.difference(filed.convert("RGB"), original.convert("RGB")).getbbox() is None
