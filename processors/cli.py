"""`python -m processors.cli FILE --out DIR`: process a local file as an upload would be.

Prints one JSON object on stdout: the facts (kind, width, height, duration,
codecs, method) and the output files, or the reason the file was refused.
Exit status 0 when the file was processed, 1 when it was refused, 2 for a
usage or configuration error. For operators checking a file by hand; it
touches no database and no object store. Relative paths are resolved here,
once, against the directory the command was run from: nothing below depends
on the working directory (ffmpeg runs in another).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from processors.failures import MediaRejected
from processors.ffmpeg_binary import FfmpegNotFound, ffmpeg_path
from processors.process_file import process_file
from processors.video import VideoLimits
from shared.config.settings import ConfigError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m processors.cli", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the photo or video to process")
    parser.add_argument("--out", type=Path, required=True, help="directory for the outputs (created if missing)")
    return parser


def run(file: Path, out: Path) -> tuple[int, dict[str, Any]]:
    """Process `file` into `out`; returns the exit status and the JSON object to print."""
    source, out = file.resolve(), out.resolve()  # the one place relative paths are resolved
    if not source.is_file():
        return 2, {"file": str(file), "status": "error", "error": "No such file."}
    try:
        settings = load_settings()
        ffmpeg = ffmpeg_path(settings.ffmpeg_binary)
    except (ConfigError, FfmpegNotFound) as exc:
        return 2, {"file": str(file), "status": "error", "error": str(exc)}
    try:
        result = process_file(
            source, out, ffmpeg=ffmpeg, video_limits=VideoLimits(float(settings.video_timeout_seconds))
        )
    except MediaRejected as rejected:
        return 1, {"file": str(file), "status": "failed", "error": rejected.reason}
    return 0, {
        "file": str(file),
        "status": "ready",
        **result.summary(),
        "outputs": {
            output.role: {"path": str(output.path), "content_type": output.content_type, "size": output.size}
            for output in (result.display, result.thumbnail)
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    status, payload = run(args.file, args.out)
    print(json.dumps(payload, sort_keys=True))
    return status


if __name__ == "__main__":
    sys.exit(main())
