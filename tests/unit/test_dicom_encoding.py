"""DICOM filing's decisions one by one: JPEG coding, H.264 facts and syntax, names, body site, STOW answers."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
import requests
from PIL import Image

from processors.ffmpeg_binary import ffmpeg_path
from shared.records.dicom_instances import (
    AVC_HIGH_41,
    AVC_HIGH_42_2D,
    avc_transfer_syntax,
    body_region,
    person_name,
)
from shared.records.errors import DestinationRefused, DestinationUnavailable
from shared.records.h264 import START_CODE, AvcTrack, NotAnAvcVideo, SequenceParameters, read_avc_track
from shared.records.jpeg_frames import NotAJpeg, jpeg_frame
from shared.records.stow import read_stow_answer


def jpeg(mode: str = "RGB", **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (64, 48), 128).save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("options", "mode", "baseline", "photometric"),
    [
        ({"quality": 90}, "RGB", True, "YBR_FULL_422"),  # Pillow's default: 4:2:0
        ({"quality": 90, "subsampling": 0}, "RGB", True, "YBR_FULL"),  # 4:4:4
        ({"quality": 90}, "L", True, "MONOCHROME2"),
        ({"quality": 90, "progressive": True}, "RGB", False, "YBR_FULL_422"),
    ],
)
def test_jpeg_coding_is_read_from_the_markers(
    options: dict[str, object], mode: str, baseline: bool, photometric: str
) -> None:
    frame = jpeg(mode, **options)

    found = jpeg_frame(frame)

    assert (found.width, found.height) == (64, 48)
    assert found.is_baseline is baseline
    assert found.photometric_interpretation == photometric


def test_bytes_that_are_not_a_jpeg_are_refused() -> None:
    with pytest.raises(NotAJpeg):
        jpeg_frame(b"\x89PNG\r\n\x1a\n" + bytes(100))


def mp4(tmp_path: Path, *args: str, size: str = "320x240", rate: int = 25) -> bytes:
    target = tmp_path / "clip.mp4"
    source = f"testsrc2=size={size}:rate={rate}:duration=1"
    subprocess.run(
        [ffmpeg_path(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, *args, str(target)],
        check=True,
        timeout=120,
    )
    return target.read_bytes()


def test_an_h264_track_gives_its_facts_and_an_annex_b_stream(tmp_path: Path) -> None:
    data = mp4(tmp_path, "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p")

    track = read_avc_track(data)

    assert (track.width, track.height, track.rotation, track.frame_count) == (320, 240, 0, 25)
    assert track.frame_rate == pytest.approx(25.0)
    assert (track.sps.profile_idc, track.sps.progressive, track.sps.bit_depth) == (100, True, 8)
    stream = track.annex_b(data)
    assert stream.startswith(START_CODE + b"\x67")  # the SPS first, as a decoder needs
    decoded = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-f", "h264", "-i", "pipe:0", "-f", "null", "-"],
        input=stream, capture_output=True, timeout=60,
    )  # fmt: skip
    assert decoded.returncode == 0 and b"frame=   25" in decoded.stderr


def test_a_display_matrix_and_ten_bit_video_fit_no_transfer_syntax(tmp_path: Path) -> None:
    turned = tmp_path / "turned.mp4"
    (tmp_path / "plain.mp4").write_bytes(mp4(tmp_path, "-c:v", "libx264", "-preset", "ultrafast"))
    subprocess.run(
        [ffmpeg_path(), "-loglevel", "error", "-y", "-display_rotation:v:0", "-90",
         "-i", str(tmp_path / "plain.mp4"), "-c", "copy", str(turned)],
        check=True, timeout=60,
    )  # fmt: skip
    ten_bit = mp4(tmp_path, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le")

    assert read_avc_track(turned.read_bytes()).rotation != 0
    assert avc_transfer_syntax(read_avc_track(turned.read_bytes())) is None
    assert read_avc_track(ten_bit).sps.bit_depth == 10
    assert avc_transfer_syntax(read_avc_track(ten_bit)) is None


def test_a_video_that_is_not_h264_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotAnAvcVideo, match=r"not H\.264"):
        read_avc_track(mp4(tmp_path, "-c:v", "mpeg4"))


def track(width: int, height: int, rate: float, level: int, profile: int = 100, progressive: bool = True) -> AvcTrack:
    sps = SequenceParameters(profile, 0, level, 1, 8, progressive)
    return AvcTrack(width, height, 0, int(rate * 10), 10.0, sps, (), 4, ())


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        (track(1920, 1080, 30, 40), AVC_HIGH_41),
        (track(1080, 1920, 30, 40), AVC_HIGH_41),  # portrait, as transcoded phone video is
        (track(1280, 720, 60, 32), AVC_HIGH_41),
        (track(1920, 1080, 60, 42), AVC_HIGH_42_2D),
        (track(1920, 1080, 60, 41), AVC_HIGH_42_2D),  # 1080p60 is past Level 4.1's rate: the 4.2 syntax
        (track(3840, 2160, 30, 51), None),
        (track(1920, 1080, 120, 42), None),
        (track(1920, 1080, 30, 40, progressive=False), None),
        (track(1920, 1080, 30, 40, profile=244), None),  # High 4:4:4
        (track(640, 480, 30, 30, profile=77), AVC_HIGH_41),  # Main decodes on a High decoder
    ],
)
def test_the_transfer_syntax_is_the_one_the_stream_fits(video: AvcTrack, expected: str | None) -> None:
    assert avc_transfer_syntax(video) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ada Lovelace", "Lovelace^Ada"),
        ("Mary Ann  Evans", "Evans^Mary Ann"),
        ("Cher", "Cher"),
        ("A^B=C\\D", "D^A B C"),  # PN's delimiters never come from the name
    ],
)
def test_a_recorded_name_becomes_family_then_given(name: str, expected: str) -> None:
    assert person_name(name) == expected


def test_a_long_name_component_is_cut_to_64_bytes_on_a_character_boundary() -> None:
    family = person_name("Ada " + "ŵ" * 40).split("^")[0]
    assert len(family.encode()) <= 64 and set(family) == {"ŵ"}


@pytest.mark.parametrize(
    ("body_site", "code", "term", "side"),
    [
        ("left forearm", "14975008", "ARM", "L"),
        ("Right upper arm", "40983000", "ARM", "R"),
        ("back of the hand", "85562004", "HAND", None),
        ("shin", "30021000", "LEG", None),
    ],
)
def test_a_body_site_naming_one_region_is_coded(body_site: str, code: str, term: str, side: str | None) -> None:
    region = body_region(body_site)
    assert region is not None
    assert (region.code.value, region.code.scheme_designator, region.body_part_examined) == (code, "SCT", term)
    assert region.laterality == side


@pytest.mark.parametrize("body_site", [None, "", "lower back", "hand and foot", "behind the ear"])
def test_a_body_site_without_one_known_region_stays_free_text(body_site: str | None) -> None:
    assert body_region(body_site) is None


SENT = ["2.25.1", "2.25.2"]


def answer(status: int, body: object | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if body is not None:
        response.headers["Content-Type"] = "application/dicom+json"
        response._content = json.dumps(body).encode()
    else:
        response._content = b""
    return response


def referenced(*uids: str) -> dict[str, object]:
    return {"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [uid]}} for uid in uids]}}


def failed(*pairs: tuple[str, int]) -> dict[str, object]:
    items = [
        {"00081155": {"vr": "UI", "Value": [uid]}, "00081197": {"vr": "US", "Value": [reason]}} for uid, reason in pairs
    ]
    return {"00081198": {"vr": "SQ", "Value": items}}


def test_all_stored_is_acknowledged() -> None:
    result = read_stow_answer(answer(200, referenced(*SENT)), SENT)
    assert (result.stored, result.duplicates, result.unconfirmed) == (2, 0, 0)


def test_duplicates_count_as_filed_even_when_every_instance_failed_as_one() -> None:
    some = read_stow_answer(answer(202, {**referenced("2.25.1"), **failed(("2.25.2", 0x0111))}), SENT)
    every = read_stow_answer(answer(409, failed(("2.25.1", 0x0111), ("2.25.2", 0x0111))), SENT)

    assert (some.stored, some.duplicates, some.unconfirmed) == (1, 1, 0)
    assert (every.stored, every.duplicates, every.unconfirmed) == (0, 2, 0)


def test_an_answer_without_a_body_is_accepted_but_unconfirmed() -> None:
    assert read_stow_answer(answer(200), SENT).unconfirmed == 2


def test_a_real_failure_is_refused_with_its_meaning() -> None:
    with pytest.raises(DestinationRefused, match=r"refused 1 of 2 instance\(s\): SOP class not supported \(0x0122\)"):
        read_stow_answer(answer(202, {**referenced("2.25.1"), **failed(("2.25.2", 0x0122))}), SENT)
    with pytest.raises(DestinationRefused, match="HTTP 409"):
        read_stow_answer(answer(409), SENT)


def test_out_of_resources_is_retried() -> None:
    with pytest.raises(DestinationUnavailable, match="out of resources"):
        read_stow_answer(answer(409, failed(("2.25.1", 0xA700), ("2.25.2", 0xA700))), SENT)


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, DestinationRefused, "MIA_DICOMWEB_USERNAME"),
        (403, DestinationRefused, "credentials"),
        (404, DestinationRefused, "check MIA_DICOMWEB_URL"),
        (413, DestinationRefused, "too large"),
        (400, DestinationRefused, "HTTP 400"),
        (429, DestinationUnavailable, "try again"),
        (503, DestinationUnavailable, "HTTP 503"),
    ],
)
def test_http_statuses_become_retry_or_refusal(status: int, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        read_stow_answer(answer(status), SENT)
