"""Where the ffmpeg binary is.

In order: `MIA_FFMPEG_BINARY` (validated by the settings), the Lambda layer's
`/opt/bin/ffmpeg`, then the static build that the imageio-ffmpeg package
ships, so a fresh machine needs no system ffmpeg. A system `ffmpeg` on PATH
is deliberately not used: its version and build options are unknown, and the
hardening flags (and the tests) were checked against the pinned build.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

LAMBDA_LAYER_FFMPEG = Path("/opt/bin/ffmpeg")


class FfmpegNotFound(RuntimeError):
    pass


@cache
def _bundled_ffmpeg() -> str:
    try:
        import imageio_ffmpeg  # imported lazily: the Lambda package leaves it out (ffmpeg is in the layer)
    except ImportError:
        raise FfmpegNotFound(
            "no ffmpeg: set MIA_FFMPEG_BINARY, add the ffmpeg layer (/opt/bin/ffmpeg) or install imageio-ffmpeg"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg_path(configured: str | None = None) -> str:
    """The ffmpeg to run: the configured one, the Lambda layer's, or the bundled one."""
    if configured:
        return configured
    if LAMBDA_LAYER_FFMPEG.is_file() and os.access(LAMBDA_LAYER_FFMPEG, os.X_OK):
        return str(LAMBDA_LAYER_FFMPEG)
    return _bundled_ffmpeg()
