"""The H.264 video track of a display MP4, read in pure Python: its facts and its Annex B byte stream.

DICOM's MPEG-4 AVC/H.264 transfer syntaxes hold the video as an elementary
stream (start codes, parameter sets in band), while MP4 stores each frame as
length-prefixed NAL units with the SPS/PPS in the `avcC` box. `AvcTrack`
reads the sample table (stsz, stsc, stco/co64, stss, stts), the track's
display matrix (a phone held upright stores landscape pixels and a rotation
that an elementary stream cannot carry) and the SPS fields that decide which
transfer syntax the stream fits (profile, level, frame coding).

Only the first video track is read; sound is not part of the DICOM copy.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
# profile_idc values whose SPS carries chroma format and bit depth (H.264 §7.3.2.1.1)
_HIGH_FAMILY = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class NotAnAvcVideo(ValueError):
    """The MP4 has no H.264 video track that can be read."""


@dataclass(frozen=True)
class SequenceParameters:
    profile_idc: int
    constraint_flags: int  # constraint_set0..5 in the top six bits
    level_idc: int
    chroma_format_idc: int
    bit_depth: int
    progressive: bool  # frame_mbs_only_flag

    @property
    def high_profile_decodable(self) -> bool:
        """High, Main or Constrained Baseline, 8-bit 4:2:0: what a High Profile decoder plays."""
        constrained_baseline = self.profile_idc == 66 and bool(self.constraint_flags & 0x40)
        known = self.profile_idc in (77, 100) or constrained_baseline
        return known and self.chroma_format_idc == 1 and self.bit_depth == 8


@dataclass(frozen=True)
class AvcTrack:
    width: int
    height: int
    rotation: int  # degrees the player turns the picture (0, 90, 180, 270)
    frame_count: int
    duration_seconds: float
    sps: SequenceParameters
    _parameter_sets: tuple[bytes, ...]
    _length_size: int
    _samples: tuple[tuple[int, int, bool], ...]  # offset, size, is sync

    @property
    def frame_rate(self) -> float:
        return self.frame_count / self.duration_seconds if self.duration_seconds else 0.0

    @property
    def frame_time_ms(self) -> float:
        return 1000.0 * self.duration_seconds / self.frame_count if self.frame_count else 0.0

    def annex_b(self, mp4: bytes) -> bytes:
        """The elementary stream: start codes, with the SPS and PPS before every sync frame."""
        return b"".join(self._annex_b_parts(memoryview(mp4)))

    def _annex_b_parts(self, mp4: memoryview) -> Iterator[bytes]:
        header = b"".join(START_CODE + unit for unit in self._parameter_sets)
        for index, (offset, size, sync) in enumerate(self._samples):
            if sync or index == 0:
                yield header
            position, end = offset, offset + size
            while position + self._length_size <= end:
                length = int.from_bytes(mp4[position : position + self._length_size], "big")
                position += self._length_size
                if length == 0 or position + length > end:
                    raise NotAnAvcVideo(f"frame {index + 1}: a NAL unit runs past its sample")
                yield START_CODE
                yield bytes(mp4[position : position + length])
                position += length


def read_avc_track(mp4: bytes) -> AvcTrack:
    """Read the first video track of an MP4; raises NotAnAvcVideo when it is not H.264."""
    view = memoryview(mp4)
    moov = _child(view, b"moov")
    for trak in _boxes(moov):
        if trak[0] != b"trak":
            continue
        mdia = _child(trak[1], b"mdia")
        handler = _child(mdia, b"hdlr")
        if bytes(handler[8:12]) == b"vide":
            return _track(trak[1], mdia)
    raise NotAnAvcVideo("no video track")


def _boxes(view: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    offset = 0
    while offset + 8 <= len(view):
        size, kind = struct.unpack(">I4s", view[offset : offset + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", view[offset + 8 : offset + 16])
            header = 16
        elif size == 0:
            size = len(view) - offset
        if size < header or offset + size > len(view):
            raise NotAnAvcVideo(f"box {kind!r} runs past its parent")
        yield kind, view[offset + header : offset + size]
        offset += size


def _child(view: memoryview, kind: bytes) -> memoryview:
    for found, body in _boxes(view):
        if found == kind:
            return body
    raise NotAnAvcVideo(f"no {kind.decode()} box")


def _optional_child(view: memoryview, kind: bytes) -> memoryview | None:
    return next((body for found, body in _boxes(view) if found == kind), None)


def _track(trak: memoryview, mdia: memoryview) -> AvcTrack:
    rotation = _rotation(_child(trak, b"tkhd"))
    timescale, _ = _media_header(_child(mdia, b"mdhd"))
    stbl = _child(_child(mdia, b"minf"), b"stbl")
    width, height, avcc = _sample_entry(_child(stbl, b"stsd"))
    length_size, parameter_sets, sps = _decoder_configuration(avcc)
    sizes = _sample_sizes(_child(stbl, b"stsz"))
    offsets = _sample_offsets(stbl, sizes)
    sync = _sync_samples(stbl)
    ticks = sum(count * delta for count, delta in _pairs(_child(stbl, b"stts")))
    samples = tuple(
        (offset, size, sync is None or number in sync)
        for number, (offset, size) in enumerate(zip(offsets, sizes, strict=True), start=1)
    )
    if not samples or not timescale:
        raise NotAnAvcVideo("the video track has no frames")
    return AvcTrack(width, height, rotation, len(samples), ticks / timescale, sps, parameter_sets, length_size, samples)


def _rotation(tkhd: memoryview) -> int:
    matrix_at = 4 + (32 if tkhd[0] == 1 else 20) + 16
    a, b = struct.unpack(">ii", tkhd[matrix_at : matrix_at + 8])
    return round(math.degrees(math.atan2(b, a))) % 360


def _media_header(mdhd: memoryview) -> tuple[int, int]:
    if mdhd[0] == 1:
        timescale, duration = struct.unpack(">IQ", mdhd[20:32])
    else:
        timescale, duration = struct.unpack(">II", mdhd[12:20])
    return timescale, duration


def _sample_entry(stsd: memoryview) -> tuple[int, int, memoryview]:
    entries = list(_boxes(stsd[8:]))
    if not entries or entries[0][0] not in (b"avc1", b"avc3"):
        kind = entries[0][0].decode("latin-1") if entries else "none"
        raise NotAnAvcVideo(f"the video is {kind}, not H.264")
    entry = entries[0][1]
    width, height = struct.unpack(">HH", entry[24:28])
    return width, height, _child(entry[78:], b"avcC")


def _decoder_configuration(avcc: memoryview) -> tuple[int, tuple[bytes, ...], SequenceParameters]:
    length_size = (avcc[4] & 0x03) + 1
    units: list[bytes] = []
    position = 5
    sps_units: list[bytes] = []
    for count_mask, is_sps in ((0x1F, True), (0xFF, False)):
        count = avcc[position] & count_mask
        position += 1
        for _ in range(count):
            (length,) = struct.unpack(">H", avcc[position : position + 2])
            unit = bytes(avcc[position + 2 : position + 2 + length])
            units.append(unit)
            if is_sps:
                sps_units.append(unit)
            position += 2 + length
    if not sps_units:
        raise NotAnAvcVideo("no sequence parameter set")
    return length_size, tuple(units), parse_sps(sps_units[0])


def _sample_sizes(stsz: memoryview) -> list[int]:
    fixed, count = struct.unpack(">II", stsz[4:12])
    if fixed:
        return [fixed] * count
    return list(struct.unpack(f">{count}I", stsz[12 : 12 + 4 * count]))


def _pairs(box: memoryview) -> list[tuple[int, int]]:
    (count,) = struct.unpack(">I", box[4:8])
    values = struct.unpack(f">{2 * count}I", box[8 : 8 + 8 * count])
    return list(zip(values[::2], values[1::2], strict=True))


def _sample_offsets(stbl: memoryview, sizes: list[int]) -> list[int]:
    if (stco := _optional_child(stbl, b"stco")) is not None:
        (count,) = struct.unpack(">I", stco[4:8])
        chunks = list(struct.unpack(f">{count}I", stco[8 : 8 + 4 * count]))
    else:
        co64 = _child(stbl, b"co64")
        (count,) = struct.unpack(">I", co64[4:8])
        chunks = list(struct.unpack(f">{count}Q", co64[8 : 8 + 8 * count]))
    stsc = _child(stbl, b"stsc")
    (entries,) = struct.unpack(">I", stsc[4:8])
    runs = [struct.unpack(">III", stsc[8 + 12 * index : 20 + 12 * index]) for index in range(entries)]
    sample_count = len(sizes)
    offsets: list[int] = []
    for run, (first_chunk, per_chunk, _) in enumerate(runs):
        last_chunk = runs[run + 1][0] - 1 if run + 1 < len(runs) else len(chunks)
        for chunk in range(first_chunk, last_chunk + 1):
            position = chunks[chunk - 1]
            for _ in range(per_chunk):
                if len(offsets) == sample_count:
                    return offsets
                offsets.append(position)
                position += sizes[len(offsets) - 1]
    if len(offsets) != sample_count:
        raise NotAnAvcVideo("the sample table does not place every frame")
    return offsets


def _sync_samples(stbl: memoryview) -> set[int] | None:
    stss = _optional_child(stbl, b"stss")
    if stss is None:
        return None  # every frame is a sync frame
    (count,) = struct.unpack(">I", stss[4:8])
    return set(struct.unpack(f">{count}I", stss[8 : 8 + 4 * count]))


class _Bits:
    """Reads an RBSP (emulation prevention bytes removed) bit by bit, with Exp-Golomb codes."""

    def __init__(self, rbsp: bytes) -> None:
        self.value = int.from_bytes(rbsp, "big")
        self.length = 8 * len(rbsp)
        self.position = 0

    def bits(self, count: int) -> int:
        if self.position + count > self.length:
            raise NotAnAvcVideo("the sequence parameter set is truncated")
        self.position += count
        return (self.value >> (self.length - self.position)) & ((1 << count) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise NotAnAvcVideo("a malformed Exp-Golomb code in the sequence parameter set")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def _rbsp(unit: bytes) -> bytes:
    return unit[1:].replace(b"\x00\x00\x03", b"\x00\x00")


def parse_sps(unit: bytes) -> SequenceParameters:
    """The SPS fields up to frame_mbs_only_flag (H.264 §7.3.2.1.1)."""
    if len(unit) < 4 or unit[0] & 0x1F != 7:
        raise NotAnAvcVideo("not a sequence parameter set")
    profile_idc, constraint_flags, level_idc = unit[1], unit[2], unit[3]
    reader = _Bits(_rbsp(unit)[3:])
    reader.ue()  # seq_parameter_set_id
    chroma_format_idc, bit_depth = 1, 8
    if profile_idc in _HIGH_FAMILY:
        chroma_format_idc = reader.ue()
        if chroma_format_idc == 3:
            reader.bits(1)
        bit_depth = reader.ue() + 8
        reader.ue()  # bit_depth_chroma_minus8
        reader.bits(1)
        if reader.bits(1):  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format_idc != 3 else 12):
                if reader.bits(1):
                    _skip_scaling_list(reader, 16 if index < 6 else 64)
    reader.ue()  # log2_max_frame_num_minus4
    poc_type = reader.ue()
    if poc_type == 0:
        reader.ue()
    elif poc_type == 1:
        reader.bits(1)
        reader.se()
        reader.se()
        for _ in range(reader.ue()):
            reader.se()
    reader.ue()  # max_num_ref_frames
    reader.bits(1)
    reader.ue()  # pic_width_in_mbs_minus1
    reader.ue()  # pic_height_in_map_units_minus1
    progressive = bool(reader.bits(1))
    return SequenceParameters(profile_idc, constraint_flags, level_idc, chroma_format_idc, bit_depth, progressive)


def _skip_scaling_list(reader: _Bits, size: int) -> None:
    last, following = 8, 8
    for _ in range(size):
        if following:
            following = (last + reader.se() + 256) % 256
        last = following or last
