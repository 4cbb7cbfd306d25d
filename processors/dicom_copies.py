"""Copies of display copies that fit a DICOM transfer syntax, for DICOM filing only.

Photos: a display JPEG made before display copies were baseline is
progressive; `baseline_jpeg` rewrites it as baseline with jpegtran, which
re-orders the same DCT coefficients (pixel for pixel the same, no
re-encoding).

Videos: a copy that fits MPEG-4 AVC/H.264 High Profile / Level 4.1.

Used by DICOM filing only, and only for a stream that fits no H.264 transfer
syntax as it is (shared.records.dicom_instances.avc_transfer_syntax): larger
than 1920×1080, faster than the level allows, interlaced, 10-bit, or stored
turned with a display matrix (ffmpeg applies the rotation to the pixels when
it transcodes, so the DICOM copy plays upright). The display copy itself is
never changed; the transcoded copy lives in a scratch directory of its own
(claimed and locked as the worker's is: removed at the end, or by the next
process if this one dies) and is returned as bytes.

The input is our own display MP4, but it still goes through the confined
ffmpeg (forced demuxer, file protocol only, limits, timeout).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from processors.failures import ProcessingTimeout
from processors.ffmpeg_binary import FfmpegNotFound, ffmpeg_path
from processors.ffmpeg_runner import FfmpegFailed, FfmpegNotStarted, input_args, run_ffmpeg
from processors.scratch import claim
from shared.config.settings import Settings
from shared.private_files import open_private
from shared.records.errors import DestinationRefused, DestinationUnavailable

JPEGTRAN_TIMEOUT_SECONDS = 60
MAX_FRAME_RATE = 30  # 1080p at Level 4.1 (PS3.5 §8.2.8); smaller frames could go faster, but one rule is enough
# Fit inside 1920×1080 (landscape) or 1080×1920 (portrait), never enlarging, even dimensions for 4:2:0.
_FIT = (
    "scale=w='if(gte(iw,ih),min(1920,iw),min(1080,iw))':h='if(gte(iw,ih),min(1080,ih),min(1920,ih))'"
    ":force_original_aspect_ratio=decrease:force_divisible_by=2"
)


def dicom_copy_args(source: Path, target: Path) -> list[str]:
    """H.264 High@4.1, 8-bit 4:2:0, progressive, ≤ 1080p, ≤ 30 fps, video only, no metadata."""
    return [
        *input_args(source, "mov"),
        "-map", "0:v:0", "-an", "-sn", "-dn",
        "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact",
        "-vf", f"{_FIT},format=yuv420p", "-fpsmax", str(MAX_FRAME_RATE),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
        "-profile:v", "high", "-level:v", "4.1", "-pix_fmt", "yuv420p",
        "-f", "mp4", "-y", f"file:{target}",
    ]  # fmt: skip


def fit_for_dicom(settings: Settings) -> Callable[[bytes], bytes]:
    """The transcoder DICOM filing calls for a video that fits no transfer syntax as it is."""

    def fit(mp4: bytes) -> bytes:
        try:
            ffmpeg = ffmpeg_path(settings.ffmpeg_binary)
        except FfmpegNotFound as exc:
            raise DestinationUnavailable(f"cannot transcode the video for DICOM: {exc}") from None
        scratch = claim(settings.scratch_dir, f"records-{os.getpid()}-{threading.get_ident()}")
        try:
            source, target = scratch.path / "display.mp4", scratch.path / "dicom.mp4"
            _write_private(source, mp4)
            run_ffmpeg(
                ffmpeg,
                dicom_copy_args(source, target),
                timeout=settings.video_timeout_seconds,
                cwd=scratch.path,
            )
            return target.read_bytes()
        except (ProcessingTimeout, FfmpegNotStarted) as exc:
            raise DestinationUnavailable(f"transcoding the video for DICOM did not finish: {exc}") from None
        except FfmpegFailed as exc:
            raise DestinationRefused(f"the video could not be transcoded for DICOM (ffmpeg {exc.returncode})") from None
        finally:
            scratch.release()

    return fit


def baseline_jpeg(jpeg: bytes) -> bytes:
    """The same JPEG, losslessly rewritten as baseline (sequential, standard Huffman tables, no metadata)."""
    binary = shutil.which("jpegtran")
    if binary is None:
        raise DestinationRefused(
            "a progressive photo needs jpegtran (Debian package libjpeg-turbo-progs) to be filed to DICOM"
        )
    try:
        result = subprocess.run(
            [binary, "-copy", "none"],
            input=jpeg,
            capture_output=True,
            timeout=JPEGTRAN_TIMEOUT_SECONDS,
            env={"LC_ALL": "C"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DestinationUnavailable(f"jpegtran did not finish within {JPEGTRAN_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0 or not result.stdout:
        raise DestinationRefused(f"the photo could not be rewritten as a baseline JPEG (jpegtran {result.returncode})")
    return result.stdout


def _write_private(path: Path, data: bytes) -> None:
    descriptor = open_private(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
