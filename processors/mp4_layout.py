"""The top-level box layout of an MP4 we wrote: is `moov` before `mdat`?

A browser can start playing (and seeking with Range requests) only once it
has the `moov` index; `-movflags +faststart` moves it to the front. The
output is checked before a job counts as done.
"""

from __future__ import annotations

import struct
from pathlib import Path


def top_level_boxes(path: Path, limit: int = 64) -> list[str]:
    """Types of the top-level boxes, in file order (at most `limit`)."""
    boxes: list[str] = []
    size_total = path.stat().st_size
    with open(path, "rb") as handle:
        offset = 0
        while offset < size_total and len(boxes) < limit:
            handle.seek(offset)
            header = handle.read(16)
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header[:8])
            if size == 1 and len(header) == 16:
                size = struct.unpack(">Q", header[8:16])[0]
            elif size == 0:
                size = size_total - offset
            if size < 8:
                break
            boxes.append(kind.decode("latin-1"))
            offset += size
    return boxes


def moov_before_mdat(path: Path) -> bool:
    boxes = top_level_boxes(path)
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
