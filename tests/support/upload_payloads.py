"""Payloads for upload tests: real photos and videos, and large JPEG-signed payloads for protocol tests."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import imageio_ffmpeg
from PIL import Image

JPEG_MAGIC = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
MP4_MAGIC = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def real_jpeg(width: int = 640, height: int = 480, colour: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def jpeg_payload(size: int, seed: int = 1) -> bytes:
    """`size` bytes that sniff as a JPEG (random after the signature, so no two chunks are alike)."""
    import random

    rng = random.Random(seed)
    return JPEG_MAGIC + rng.randbytes(max(0, size - len(JPEG_MAGIC)))


def write_jpeg_payload(path: Path, size: int, magic: bytes = JPEG_MAGIC) -> Path:
    """A large file that sniffs as a JPEG (or as `magic` says), written in blocks (never whole in memory)."""
    with open(path, "wb") as handle:
        handle.write(magic)
        remaining = size - len(magic)
        while remaining > 0:
            block = os.urandom(min(remaining, 4 * 1024 * 1024))
            handle.write(block)
            remaining -= len(block)
    return path


def write_video_payload(path: Path, size: int) -> Path:
    """A large file that sniffs as an MP4 video (videos may be far bigger than photos)."""
    return write_jpeg_payload(path, size, MP4_MAGIC)


def real_mp4(path: Path, seconds: float = 1.0) -> Path:
    """A short H.264 MP4 (test pattern) made with the ffmpeg binary imageio-ffmpeg ships."""
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=320x240:rate=15:duration={seconds}",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path
