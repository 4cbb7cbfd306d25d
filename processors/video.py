"""Videos: an H.264/AAC MP4 every browser plays, a poster frame, and the facts.

H.264 (8-bit 4:2:0) is copied as it is (a remux: fast, no quality loss);
anything else — HEVC from iPhones, MJPEG, 10-bit or HDR — is transcoded to
H.264 yuv420p at most 1920 px on the long edge, HDR tone-mapped to SDR.
Audio is copied when it is AAC, otherwise encoded to AAC.

Only the first video and first audio stream are mapped (iPhone files carry
`mebx` and timecode data tracks that MP4 cannot hold); all metadata is
dropped (global, per stream and chapters: no `com.apple.quicktime.location`
or `©xyz` location atom survives); rotation is kept as the display matrix
when copying and applied to the pixels when transcoding, so portrait video
plays portrait; `+faststart` puts the index first. The result is probed
before the job counts as done.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from processors import failures
from processors.capture_time import container_taken_at
from processors.failures import MediaRejected, ProcessingTimeout
from processors.ffmpeg_runner import FfmpegFailed, input_args, run_ffmpeg
from processors.mp4_layout import moov_before_mdat
from processors.probe import MediaInfo, probe
from processors.results import DISPLAY_VIDEO, POSTER_IMAGE, OutputFile, ProcessedMedia
from shared.db.statuses import MediaKind
from shared.media_types.sniff import FileType

log = logging.getLogger("mia.processors.video")

MAX_INPUT_WIDTH = 8192  # 8K UHD is 7680 × 4320
MAX_INPUT_HEIGHT = 8192
MAX_INPUT_PIXELS = 8192 * 4608
OUTPUT_MAX_EDGE = 1920
POSTER_MAX_EDGE = 960
TIMEOUT_BASE_SECONDS = 60
TIMEOUT_PER_VIDEO_SECOND = 8  # generous: 1080p HEVC transcodes at several times real time
UNKNOWN_DURATION_SECONDS = 600
FRESH_BUDGET_SECONDS = 600  # a timeout with less than this left is blamed on the deadline, not the video
BROWSER_PIXEL_FORMATS = {"yuv420p", "yuvj420p"}
LOCATION_KEYS = ("location", "iso6709", "gps", "©xyz")

_STRIP_METADATA = [
    "-map_metadata",
    "-1",
    "-map_metadata:s:v",
    "-1",
    "-map_metadata:s:a",
    "-1",
    "-map_chapters",
    "-1",
    "-fflags",
    "+bitexact",
]
_HDR_TO_SDR = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
)


@dataclass(frozen=True)
class VideoLimits:
    timeout_cap_seconds: float
    # Set when the caller must finish by a deadline (Lambda): the time it has left.
    time_left_seconds: float | None = None

    def timeout_for(self, duration: float | None) -> float:
        """Scales with the video's length, never past the cap nor the caller's deadline."""
        expected = TIMEOUT_BASE_SECONDS + TIMEOUT_PER_VIDEO_SECOND * (duration or UNKNOWN_DURATION_SECONDS)
        cap = self.timeout_cap_seconds
        if self.time_left_seconds is not None:
            cap = min(cap, self.time_left_seconds)
        return max(1.0, min(cap, expected))

    def timeout_is_the_callers(self) -> bool:
        """A timeout with little time left says more about the invocation than the video: retry afresh."""
        return self.time_left_seconds is not None and self.time_left_seconds < FRESH_BUDGET_SECONDS


def can_copy_video(info: MediaInfo) -> bool:
    video = info.video
    return video is not None and video.codec == "h264" and video.pix_fmt in BROWSER_PIXEL_FORMATS


def _fit(edge: int) -> str:
    return f"scale=w='min({edge},iw)':h='min({edge},ih)':force_original_aspect_ratio=decrease:force_divisible_by=2"


def conversion_args(info: MediaInfo, source: Path, file_type: FileType, target: Path, *, copy_video: bool) -> list[str]:
    """The whole ffmpeg argument list for one conversion (also used by the benchmark)."""
    args = [*input_args(source, file_type.decoder), "-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn"]
    args += _STRIP_METADATA
    if copy_video:
        args += ["-c:v", "copy", "-tag:v", "avc1"]
    else:
        assert info.video is not None
        filters = [_HDR_TO_SDR] if info.video.is_hdr else []
        filters += [_fit(OUTPUT_MAX_EDGE) + ":out_range=tv", "format=yuv420p"]  # limited range, as players expect
        args += ["-vf", ",".join(filters), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]
        args += ["-profile:v", "high", "-pix_fmt", "yuv420p", "-color_range", "tv"]
        if info.video.is_hdr:  # the tone-mapping chain converted the pixels to BT.709: say so
            args += ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"]
    if info.audio is not None and info.audio.codec == "aac":
        args += ["-c:a", "copy"]
    else:
        args += ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    args += ["-max_muxing_queue_size", "1024", "-movflags", "+faststart", "-f", "mp4", "-y", f"file:{target}"]
    return args


def poster_args(video: Path, target: Path, at_seconds: float) -> list[str]:
    return [
        "-ss",
        f"{at_seconds:.3f}",
        *input_args(video, "mov"),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-vf",
        _fit(POSTER_MAX_EDGE),
        *_STRIP_METADATA,
        "-c:v",
        "mjpeg",
        "-flags:v",
        "+bitexact",  # no encoder comment (COM segment) in the JPEG
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        "-y",
        f"file:{target}",
    ]


def _check_input(info: MediaInfo) -> None:
    if info.video is None:
        if "audio" in info.stream_kinds:
            raise MediaRejected(failures.VIDEO_NO_PICTURE, f"streams: {info.stream_kinds}")
        raise MediaRejected(failures.VIDEO_UNREADABLE, "no readable video stream")
    video = info.video
    if (
        video.width > MAX_INPUT_WIDTH
        or video.height > MAX_INPUT_HEIGHT
        or video.width * video.height > MAX_INPUT_PIXELS
    ):
        raise MediaRejected(
            failures.VIDEO_TOO_LARGE.format(width=MAX_INPUT_WIDTH, height=MAX_INPUT_HEIGHT),
            f"{video.width}x{video.height}",
        )


def _verify_output(source: MediaInfo, output: MediaInfo, path: Path) -> None:
    """The MP4 must be what a browser plays, as long as the original, index first, without location."""
    problems = []
    if output.video is None or output.video.codec != "h264" or output.video.pix_fmt not in BROWSER_PIXEL_FORMATS:
        problems.append(f"video stream {output.video}")
    if source.audio is not None and (output.audio is None or output.audio.codec != "aac"):
        problems.append(f"audio stream {output.audio}")
    if source.duration_seconds and output.duration_seconds is not None:
        tolerance = max(1.0, 0.05 * source.duration_seconds)
        if abs(source.duration_seconds - output.duration_seconds) > tolerance:
            problems.append(f"duration {output.duration_seconds} vs {source.duration_seconds}")
    if not moov_before_mdat(path):
        problems.append("moov not before mdat")
    leaked = [key for key in output.metadata_keys if any(word in key for word in LOCATION_KEYS)]
    if leaked:
        problems.append(f"location metadata {leaked}")
    if problems:
        raise MediaRejected(failures.VIDEO_FAILED, "output check failed: " + "; ".join(problems))


def _convert(
    ffmpeg: str,
    info: MediaInfo,
    source: Path,
    file_type: FileType,
    target: Path,
    *,
    timeout: float,
    work_dir: Path,
    cancel: threading.Event | None,
) -> str:
    """Remux when possible (falling back to a transcode if the copy fails); returns the method used."""
    if can_copy_video(info):
        try:
            args = conversion_args(info, source, file_type, target, copy_video=True)
            run_ffmpeg(ffmpeg, args, timeout=timeout, cwd=work_dir, cancel=cancel)
            return "remux"
        except FfmpegFailed as exc:
            log.warning("remux failed, transcoding instead", extra={"detail": exc.stderr[-300:]})
    args = conversion_args(info, source, file_type, target, copy_video=False)
    try:
        run_ffmpeg(ffmpeg, args, timeout=timeout, cwd=work_dir, cancel=cancel)
    except FfmpegFailed as exc:
        raise MediaRejected(failures.VIDEO_FAILED, exc.stderr[-300:]) from None
    return "transcode"


def _make_poster(
    ffmpeg: str, video: Path, target: Path, duration: float | None, work_dir: Path, cancel: threading.Event | None
) -> None:
    at = min(1.0, duration / 2) if duration else 0.0
    for seconds in (at, 0.0):
        result = run_ffmpeg(
            ffmpeg, poster_args(video, target, seconds), timeout=120, cwd=work_dir, cancel=cancel, check=False
        )
        if result.returncode == 0 and target.is_file() and target.stat().st_size > 0:
            return
    raise MediaRejected(failures.VIDEO_FAILED, "no poster frame could be decoded")


def process_video(
    ffmpeg: str,
    path: Path,
    file_type: FileType,
    out_dir: Path,
    limits: VideoLimits,
    *,
    cancel: threading.Event | None = None,
) -> ProcessedMedia:
    """Convert one video for viewing; raises MediaRejected for bad input.

    Paths must be absolute (entry points resolve them): ffmpeg runs in
    `out_dir`, not in our working directory, so a relative path would name
    another file there.
    """
    for given in (path, out_dir):
        if not given.is_absolute():
            raise ValueError(f"process_video needs absolute paths, got {str(given)!r}")
    info, raw = probe(ffmpeg, path, file_type.decoder, work_dir=out_dir, cancel=cancel)
    if info.video is None and info.duration_seconds is None:
        raise MediaRejected(failures.VIDEO_UNREADABLE, raw[-300:])
    _check_input(info)
    assert info.video is not None
    timeout = limits.timeout_for(info.duration_seconds)
    target = out_dir / DISPLAY_VIDEO
    try:
        method = _convert(ffmpeg, info, path, file_type, target, timeout=timeout, work_dir=out_dir, cancel=cancel)
        output, _ = probe(ffmpeg, target, "mov", work_dir=out_dir, cancel=cancel)
        _verify_output(info, output, target)
        poster = out_dir / POSTER_IMAGE
        _make_poster(ffmpeg, target, poster, output.duration_seconds, out_dir, cancel)
    except ProcessingTimeout as exc:
        if limits.timeout_is_the_callers():
            raise  # transient: a fresh invocation gets the full time
        minutes = max(1, round(exc.seconds / 60))
        raise MediaRejected(failures.VIDEO_TIMEOUT.format(minutes=minutes), str(exc)) from None
    assert output.video is not None
    width, height = output.video.display_size
    return ProcessedMedia(
        kind=MediaKind.VIDEO,
        content_type=file_type.content_type,
        width=width,
        height=height,
        display=OutputFile("display", target, "video/mp4"),
        thumbnail=OutputFile("thumbnail", poster, "image/jpeg"),
        duration_seconds=output.duration_seconds or info.duration_seconds,
        video_codec=info.video.codec,
        audio_codec=info.audio.codec if info.audio else None,
        method=method,
        acquired_at=container_taken_at(info.capture_times),
        notes={"hdr": info.video.is_hdr, "rotation": info.video.rotation},
    )
