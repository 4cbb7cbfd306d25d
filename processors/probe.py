"""What a video holds, read by the same ffmpeg binary that converts it.

Why not PyAV or ffprobe: a fresh machine has no ffprobe, and PyAV (~100 MB
of libav) would push the Lambda package past its 250 MB limit next to the
ffmpeg layer; it would also parse untrusted files inside our own process,
where a decoder crash takes the worker down. Running `ffmpeg -i` with the
same hardening as the conversion keeps parsing out of process, under the
same limits, and sees the file exactly as the conversion will.

ffmpeg prints the input's description on stderr; `parse_ffmpeg_header`
reads the lines it needs (duration, first video and audio stream, display
rotation) and ignores the rest.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from processors.capture_time import CONTAINER_KEYS
from processors.ffmpeg_runner import input_args, run_ffmpeg

PROBE_TIMEOUT_SECONDS = 60

_DURATION = re.compile(r"^\s*Duration: (?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)")
_STREAM = re.compile(
    r"^\s*Stream #0:(\d+)(?:\[0x[0-9a-fA-F]+\])?(?:\([^)]*\))?: (Video|Audio|Data|Subtitle|Attachment): (.*)$"
)
_ROTATION = re.compile(r"(?i)^\s*display ?matrix: rotation of (-?\d+(?:\.\d+)?) degrees")
_SIZE = re.compile(r"^(\d+)x(\d+)(?:\s|$)")
_FPS = re.compile(r"^(\d+(?:\.\d+)?k?) fps$")
_METADATA_KEY = re.compile(r"^\s+([A-Za-z0-9_.:@\-© ]+?)\s*: ")


@dataclass(frozen=True)
class VideoStream:
    index: int
    codec: str
    profile: str | None
    pix_fmt: str | None
    color_transfer: str | None
    width: int
    height: int
    fps: float | None
    rotation: int  # degrees, as ffmpeg reports the display matrix (0, ±90, 180)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as the picture is shown (a 90° rotation swaps them)."""
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height

    @property
    def is_hdr(self) -> bool:
        return self.color_transfer in ("smpte2084", "arib-std-b67")


@dataclass(frozen=True)
class AudioStream:
    index: int
    codec: str


@dataclass(frozen=True)
class MediaInfo:
    duration_seconds: float | None
    video: VideoStream | None
    audio: AudioStream | None
    stream_kinds: tuple[str, ...]
    metadata_keys: frozenset[str] = field(default_factory=frozenset)
    # the values of the keys that say when it was recorded (processors.capture_time), first of each
    capture_times: dict[str, str] = field(default_factory=dict)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    parts, depth, current = [], 0, []
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _codec_and_profile(description: str) -> tuple[str, str | None]:
    match = re.match(r"^(\w+)(?: \(([^)]*)\))?", description)
    if not match:
        return description.split(" ")[0], None
    profile = match.group(2)
    if profile and "/" in profile:  # "(hvc1 / 0x31637668)" is the tag, not a profile
        profile = None
    return match.group(1), profile


def _pixel_format(field_text: str) -> tuple[str | None, str | None]:
    """`yuv420p10le(tv, bt2020nc/bt2020/arib-std-b67, progressive)` → (pix_fmt, transfer)."""
    match = re.match(r"^([a-z0-9_]+)(?:\((.*)\))?$", field_text)
    if not match:
        return None, None
    transfer = None
    for item in (match.group(2) or "").split(","):
        item = item.strip()
        if item.count("/") == 2:
            transfer = item.split("/")[2]
        elif item in ("smpte2084", "arib-std-b67", "bt709", "bt2020"):
            transfer = item  # all three the same: printed once
    return match.group(1), transfer


def _video_stream(index: int, description: str) -> VideoStream | None:
    fields = _split_top_level(description)
    codec, profile = _codec_and_profile(fields[0])
    pix_fmt, transfer = _pixel_format(fields[1]) if len(fields) > 1 else (None, None)
    width = height = 0
    fps = None
    for item in fields[1:]:
        size = _SIZE.match(item)
        if size and not width:
            width, height = int(size.group(1)), int(size.group(2))
        rate = _FPS.match(item)
        if rate:
            value = rate.group(1)
            fps = float(value[:-1]) * 1000 if value.endswith("k") else float(value)
    if not width or not height:
        return None
    return VideoStream(index, codec, profile, pix_fmt, transfer, width, height, fps, 0)


def parse_ffmpeg_header(text: str) -> MediaInfo:
    """Read ffmpeg's description of input #0 (its stderr) into a MediaInfo."""
    duration: float | None = None
    video: VideoStream | None = None
    audio: AudioStream | None = None
    kinds: list[str] = []
    seen: set[int] = set()
    current_is_first_video = False
    metadata_keys: set[str] = set()
    capture_times: dict[str, str] = {}
    in_input = False
    for line in text.splitlines():
        if line.startswith("Input #0"):
            in_input = True
            continue
        if line.startswith(("Input #", "Output #", "Stream mapping")):
            in_input = False
        if not in_input:
            continue
        if match := _DURATION.match(line):
            if match.group(1) is not None:
                hours, minutes, seconds = match.groups()
                duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            continue
        if match := _STREAM.match(line):
            index, kind, description = int(match.group(1)), match.group(2), match.group(3)
            current_is_first_video = False
            if index in seen:
                continue
            seen.add(index)
            kinds.append(kind.lower())
            if kind == "Video" and video is None and "(attached pic)" not in description:
                video = _video_stream(index, description)
                current_is_first_video = video is not None
            elif kind == "Audio" and audio is None:
                audio = AudioStream(index, _codec_and_profile(description)[0])
            continue
        if (match := _ROTATION.match(line)) and current_is_first_video and video is not None:
            rotation = round(float(match.group(1))) % 360
            video = VideoStream(**{**video.__dict__, "rotation": rotation})
            continue
        if match := _METADATA_KEY.match(line):
            key = match.group(1).strip().lower()
            metadata_keys.add(key)
            if key in CONTAINER_KEYS:
                capture_times.setdefault(key, line[match.end() :].strip())
    return MediaInfo(duration, video, audio, tuple(kinds), frozenset(metadata_keys), capture_times)


def probe(
    ffmpeg: str, path: Path, demuxer: str, *, work_dir: Path, cancel: threading.Event | None = None
) -> tuple[MediaInfo, str]:
    """Describe `path` (opened with exactly `demuxer`); returns the info and ffmpeg's raw text."""
    result = run_ffmpeg(
        ffmpeg, input_args(path, demuxer), timeout=PROBE_TIMEOUT_SECONDS, cwd=work_dir, cancel=cancel, check=False
    )
    return parse_ffmpeg_header(result.stderr), result.stderr
