"""Phone videos → browser MP4 with the real ffmpeg, checked independently with PyAV."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from processors.ffmpeg_binary import ffmpeg_path
from processors.process_file import process_file
from processors.results import ProcessedMedia
from processors.video import VideoLimits, process_video
from shared.media_types.sniff import MOV
from tests.support.media_checks import assert_browser_mp4, assert_clean_jpeg, video_facts
from tests.support.media_fixtures import SampleCache, samples  # noqa: F401 - fixture

LIMITS = VideoLimits(timeout_cap_seconds=300)


def convert(source: Path, out: Path) -> ProcessedMedia:
    return process_file(source, out, ffmpeg=ffmpeg_path(), video_limits=LIMITS)


def test_samples_carry_what_phones_send(samples: SampleCache, tmp_path: Path) -> None:  # noqa: F811
    """The inputs really have the traps: rotation, location, and a data track MP4 cannot hold."""
    source = samples.hevc_mov()
    facts = video_facts(source)
    assert facts.video_codec == "hevc" and facts.rotation % 180 == 90 and facts.displayed_size == (360, 640)
    assert any("ISO6709" in key for key in facts.metadata), facts.metadata
    mapped_everything = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-i", str(source), "-map", "0", "-c", "copy", str(tmp_path / "all.mp4")],
        capture_output=True,
        text=True,
    )
    assert mapped_everything.returncode != 0 and "Could not find tag for codec" in mapped_everything.stderr


def test_iphone_hevc_is_transcoded_upright_without_location(samples: SampleCache, tmp_path: Path) -> None:  # noqa: F811
    result = convert(samples.hevc_mov(), tmp_path)
    assert result.method == "transcode"
    assert (result.width, result.height) == (360, 640)  # portrait, as it was filmed
    assert result.video_codec == "hevc" and result.audio_codec == "aac"
    assert result.duration_seconds == pytest.approx(2.0, abs=0.1)
    facts = assert_browser_mp4(result.display.path)
    assert facts.audio_codec == "aac"
    assert facts.displayed_size == (360, 640) and facts.rotation == 0  # rotation applied to the pixels
    poster = assert_clean_jpeg(result.thumbnail.path)
    assert poster.size == (360, 640)


def test_h264_is_remuxed_and_keeps_its_rotation(samples: SampleCache, tmp_path: Path) -> None:  # noqa: F811
    source = samples.h264_mov()
    result = convert(source, tmp_path)
    assert result.method == "remux"
    facts = assert_browser_mp4(result.display.path)
    assert facts.coded_size == (640, 360) and facts.rotation % 180 == 90  # display matrix kept, so it plays portrait
    assert facts.displayed_size == (360, 640) == (result.width, result.height)
    assert facts.duration == pytest.approx(2.0, abs=0.1)
    assert Image.open(result.thumbnail.path).size == (360, 640)
    assert_clean_jpeg(result.thumbnail.path)


def test_a_video_is_dated_by_when_the_phone_recorded_it(samples: SampleCache, tmp_path: Path) -> None:  # noqa: F811
    assert convert(samples.hevc_mov(), tmp_path / "hevc").acquired_at == dt.datetime(2026, 3, 1, 9, 59, 58)
    assert convert(samples.mjpeg_mov(), tmp_path / "mjpeg").acquired_at is None  # it says nothing


def test_motion_jpeg_with_pcm_sound_is_transcoded(samples: SampleCache, tmp_path: Path) -> None:  # noqa: F811
    result = convert(samples.mjpeg_mov(), tmp_path)
    assert result.method == "transcode" and result.video_codec == "mjpeg" and result.audio_codec == "pcm_s16le"
    facts = assert_browser_mp4(result.display.path)
    assert facts.audio_codec == "aac" and facts.displayed_size == (640, 480)


def test_hdr_is_tone_mapped_to_8_bit_sdr(samples: SampleCache, tmp_path: Path) -> None:  # noqa: F811
    source = samples.hdr_mov()
    assert video_facts(source).pix_fmt == "yuv420p10le"
    result = convert(source, tmp_path)
    assert result.notes["hdr"] is True
    facts = assert_browser_mp4(result.display.path)
    assert facts.displayed_size == (360, 640) and facts.audio_codec is None


def test_the_original_is_left_untouched(samples: SampleCache, tmp_path: Path) -> None:  # noqa: F811
    source = samples.h264_mov()
    before = source.read_bytes()
    convert(source, tmp_path)
    assert source.read_bytes() == before


def test_a_conversion_past_its_time_limit_is_stopped_with_a_reason(tmp_path: Path) -> None:
    from processors import failures
    from processors.failures import MediaRejected
    from tests.support import media_samples

    source = media_samples.mjpeg_mov(tmp_path, size="1280x720", seconds=20)
    with pytest.raises(MediaRejected) as refused:
        process_file(source, tmp_path / "out", ffmpeg=ffmpeg_path(), video_limits=VideoLimits(timeout_cap_seconds=1))
    assert refused.value.reason == failures.VIDEO_TIMEOUT.format(minutes=1)


def test_relative_paths_are_refused_below_the_entry_points(tmp_path: Path) -> None:
    """ffmpeg runs in the output directory: a relative path would name another file there."""
    with pytest.raises(ValueError, match="absolute"):
        process_video(ffmpeg_path(), Path("IMG_0002.MOV"), MOV, tmp_path, LIMITS)
    with pytest.raises(ValueError, match="absolute"):
        process_video(ffmpeg_path(), tmp_path / "IMG_0002.MOV", MOV, Path("out"), LIMITS)
