"""Independent checks on outputs: JPEG segments, PyAV's view of an MP4, leaked bytes.

PyAV (libav linked in-process) is the test oracle for videos, so the
processors' own ffmpeg-output parser is not checking itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image

from processors.mp4_layout import top_level_boxes
from tests.support.media_samples import LEAK_MARKERS

# Segments a plain JPEG needs; anything else (APP1 EXIF/XMP, APP2 ICC, APP13 IPTC, COM…) is metadata.
PLAIN_JPEG_SEGMENTS = {"SOI", "APP0", "DQT", "SOF0", "SOF2", "DHT", "DRI", "SOS"}
_MARKER_NAMES = {
    0xD8: "SOI",
    0xC0: "SOF0",
    0xC2: "SOF2",
    0xC4: "DHT",
    0xDB: "DQT",
    0xDD: "DRI",
    0xDA: "SOS",
    0xFE: "COM",
}


def jpeg_segments(path: Path) -> list[str]:
    """Marker names up to the first scan."""
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    names, offset = ["SOI"], 2
    while offset + 4 <= len(data):
        assert data[offset] == 0xFF, f"bad marker at {offset}"
        marker = data[offset + 1]
        name = _MARKER_NAMES.get(marker) or (f"APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else hex(marker))
        names.append(name)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        offset += 2 + length
    return names


def assert_clean_jpeg(path: Path) -> Image.Image:
    """A JPEG with no metadata segment at all and nothing Pillow reads as metadata."""
    segments = jpeg_segments(path)
    assert set(segments) <= PLAIN_JPEG_SEGMENTS, segments
    image = Image.open(path)
    assert image.format == "JPEG"
    assert not image.getexif(), dict(image.getexif())
    assert not {"exif", "xmp", "icc_profile", "comment", "photoshop"} & set(image.info), image.info.keys()
    assert_no_leak(path)
    return image


def assert_no_leak(path: Path) -> None:
    data = path.read_bytes()
    found = [marker for marker in LEAK_MARKERS if marker in data]
    assert not found, f"{path.name} contains {found}"


@dataclass(frozen=True)
class VideoFacts:
    video_codec: str
    pix_fmt: str
    audio_codec: str | None
    coded_size: tuple[int, int]
    rotation: int  # from the display matrix on decoded frames (0 if none)
    displayed_size: tuple[int, int]
    duration: float
    metadata: dict[str, str]


def video_facts(path: Path) -> VideoFacts:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        metadata = dict(container.metadata)
        for stream in container.streams:
            metadata.update({f"{stream.type}:{key}": value for key, value in stream.metadata.items()})
        frame = next(container.decode(video=0))
        rotation = round(frame.rotation or 0) % 360
        coded = (video.codec_context.width, video.codec_context.height)
        displayed = (coded[1], coded[0]) if rotation % 180 == 90 else coded
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return VideoFacts(
            video.codec_context.name,
            video.codec_context.format.name,
            audio.codec_context.name if audio else None,
            coded,
            rotation,
            displayed,
            duration,
            metadata,
        )


def assert_browser_mp4(path: Path) -> VideoFacts:
    """H.264 yuv420p (+ AAC) in MP4, index first, no location anywhere."""
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    facts = video_facts(path)
    assert facts.video_codec == "h264" and facts.pix_fmt == "yuv420p", facts
    assert facts.audio_codec in (None, "aac"), facts
    leaked = {key: value for key, value in facts.metadata.items() if "location" in key.lower() or "6709" in key}
    assert not leaked, leaked
    assert_no_leak(path)
    return facts
