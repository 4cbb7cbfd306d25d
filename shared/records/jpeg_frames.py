"""What a JPEG's header says about its coding: enough to encapsulate it in DICOM without decoding it.

DICOM's JPEG Baseline transfer syntax (1.2.840.10008.1.2.4.50) holds only
Process 1 data: a SOF0 frame, 8 bits per sample. A progressive (SOF2) or
12-bit file under that syntax is a lie a PACS viewer may fail on, so the
frame type is read from the markers, not assumed. PS3.5 §8.2.1 ties the
Photometric Interpretation to the JPEG's colour model: three components with
subsampled chroma are YBR_FULL_422, unsubsampled YBR_FULL (or RGB when an
Adobe APP14 marker says no colour transform), one component MONOCHROME2.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RSTn: no length field
BASELINE_SOF = 0xC0


class NotAJpeg(ValueError):
    """The bytes are not a JPEG whose frame header can be read."""


@dataclass(frozen=True)
class JpegComponent:
    identifier: int
    horizontal_sampling: int
    vertical_sampling: int


@dataclass(frozen=True)
class JpegFrame:
    marker: int  # 0xC0 baseline, 0xC2 progressive, …
    precision: int  # bits per sample
    width: int
    height: int
    components: tuple[JpegComponent, ...]
    adobe_transform: int | None  # APP14 "Adobe" colour transform flag (0: none, 1: YCbCr), when present

    @property
    def is_baseline(self) -> bool:
        """Process 1: what DICOM's JPEG Baseline transfer syntax may hold."""
        return self.marker == BASELINE_SOF and self.precision == 8 and len(self.components) in (1, 3)

    @property
    def photometric_interpretation(self) -> str:
        """PS3.5 §8.2.1: the colour model the JPEG's bytes are in, as DICOM names it."""
        if len(self.components) == 1:
            return "MONOCHROME2"
        if self.adobe_transform == 0:
            return "RGB"
        luma, *chroma = self.components
        subsampled = any(
            (part.horizontal_sampling, part.vertical_sampling) != (luma.horizontal_sampling, luma.vertical_sampling)
            for part in chroma
        )
        return "YBR_FULL_422" if subsampled else "YBR_FULL"


def jpeg_frame(data: bytes) -> JpegFrame:
    """Read the frame header (and any Adobe marker before it); raises NotAJpeg."""
    if data[:2] != b"\xff\xd8":
        raise NotAJpeg("no start-of-image marker")
    offset, adobe_transform = 2, None
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            raise NotAJpeg(f"expected a marker at byte {offset}")
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _STANDALONE:
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        segment = data[offset + 4 : offset + 2 + length]
        if marker == 0xEE and segment[:5] == b"Adobe" and len(segment) >= 12:
            adobe_transform = segment[11]
        if marker in _SOF_MARKERS:
            return _frame(marker, segment, adobe_transform)
        if marker == 0xDA:
            break  # scan data before any frame header
        offset += 2 + length
    raise NotAJpeg("no frame header before the image data")


def _frame(marker: int, segment: bytes, adobe_transform: int | None) -> JpegFrame:
    if len(segment) < 6:
        raise NotAJpeg("short frame header")
    precision, height, width, count = struct.unpack(">BHHB", segment[:6])
    if len(segment) < 6 + 3 * count or not width or not height:
        raise NotAJpeg("frame header with no size or missing components")
    components = tuple(
        JpegComponent(segment[6 + 3 * index], segment[7 + 3 * index] >> 4, segment[7 + 3 * index] & 0x0F)
        for index in range(count)
    )
    return JpegFrame(marker, precision, width, height, components, adobe_transform)
