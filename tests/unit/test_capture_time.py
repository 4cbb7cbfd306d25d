"""When a photo or video was taken, read from the original before its metadata is stripped (media.acquired_at)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from PIL import Image

from processors.capture_time import container_taken_at, exif_taken_at
from processors.images import process_image
from processors.probe import parse_ffmpeg_header
from processors.process_file import sniff_file
from shared.records.jpeg_frames import jpeg_frame
from tests.support import media_samples

EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x9003, 0x9011


def photo_taken(tmp_path: Path, taken: str | None, offset: str | None = None) -> Path:
    exif = media_samples.gps_exif(1)
    sub_ifd = exif.get_ifd(EXIF_IFD)
    if taken is not None:
        sub_ifd[DATE_TIME_ORIGINAL] = taken
    if offset is not None:
        sub_ifd[OFFSET_TIME_ORIGINAL] = offset
    target = tmp_path / "IMG_0100.JPG"
    media_samples.upright_picture(320, 240).save(target, "JPEG", exif=exif.tobytes())
    return target


@pytest.mark.parametrize(
    ("taken", "offset", "expected"),
    [
        ("2026:07:14 15:30:00", "+02:00", dt.datetime(2026, 7, 14, 13, 30)),  # taken abroad
        ("2026:07:14 15:30:00", None, dt.datetime(2026, 7, 14, 14, 30)),  # no offset: UK summer time
        ("2026:01:14 15:30:00", None, dt.datetime(2026, 1, 14, 15, 30)),  # UK winter: UTC
        ("0000:00:00 00:00:00", None, None),  # a camera whose clock was never set
        ("2099:01:01 00:00:00", "+00:00", None),  # a clock in the future
        (None, None, None),
    ],
)
def test_a_photo_is_dated_from_exif_in_utc(
    tmp_path: Path, taken: str | None, offset: str | None, expected: dt.datetime | None
) -> None:
    source = photo_taken(tmp_path, taken, offset)
    out = tmp_path / "out"
    out.mkdir()

    result = process_image(source, sniff_file(source), out)

    assert result.acquired_at == expected
    with Image.open(result.display.path) as display:
        assert not display.getexif()  # the date was read, then dropped with everything else


def test_the_display_copy_is_a_baseline_jpeg_that_dicom_files_as_it_is(tmp_path: Path) -> None:
    source = media_samples.portrait_jpeg(tmp_path)
    out = tmp_path / "out"
    out.mkdir()

    result = process_image(source, sniff_file(source), out)

    frame = jpeg_frame(result.display.path.read_bytes())
    assert frame.is_baseline and (frame.width, frame.height) == (result.width, result.height)


def test_an_iphone_video_is_dated_by_its_local_creation_date_before_the_container_time() -> None:
    header = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/tmp/mia-x/original':
  Metadata:
    creation_time   : 2026-03-01T10:00:00.000000Z
    com.apple.quicktime.creationdate: 2026-03-01T09:59:58+0000
  Duration: 00:00:02.00, start: 0.000000, bitrate: 8012 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709), 1920x1080, 30 fps (default)
"""
    info = parse_ffmpeg_header(header)

    assert container_taken_at(info.capture_times) == dt.datetime(2026, 3, 1, 9, 59, 58)
    assert container_taken_at({"creation_time": "2026-03-01T10:00:00.000000Z"}) == dt.datetime(2026, 3, 1, 10)
    assert container_taken_at({"creation_time": "1904-01-01T00:00:00.000000Z"}) is None  # MP4's zero time
    assert container_taken_at({}) is None


def test_an_exif_offset_that_is_not_one_is_ignored() -> None:
    moment = exif_taken_at({DATE_TIME_ORIGINAL: "2026:01:14 15:30:00", OFFSET_TIME_ORIGINAL: "local"})
    assert moment == dt.datetime(2026, 1, 14, 15, 30)
