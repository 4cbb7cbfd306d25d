"""Decide a file's real type from its first bytes, against an allowlist.

Shared by the upload service (refuse early) and the processors (force the
demuxer/decoder from the sniffed type). The browser's MIME type and the file
name are never trusted. Everything not listed here is refused: HTML, SVG,
PDF, scripts, playlists, archives, executables, AVIF, audio-only MP4…
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shared.db.statuses import MediaKind

SNIFF_BYTES = 64  # enough for every signature below, including an ftyp box's brands


@dataclass(frozen=True)
class FileType:
    name: str
    kind: MediaKind
    content_type: str
    extension: str
    decoder: str  # Pillow format name for images, ffmpeg demuxer for videos


JPEG = FileType("jpeg", MediaKind.IMAGE, "image/jpeg", "jpg", "JPEG")
PNG = FileType("png", MediaKind.IMAGE, "image/png", "png", "PNG")
WEBP = FileType("webp", MediaKind.IMAGE, "image/webp", "webp", "WEBP")
HEIC = FileType("heic", MediaKind.IMAGE, "image/heic", "heic", "HEIF")
HEIF = FileType("heif", MediaKind.IMAGE, "image/heif", "heif", "HEIF")
MOV = FileType("mov", MediaKind.VIDEO, "video/quicktime", "mov", "mov")
MP4 = FileType("mp4", MediaKind.VIDEO, "video/mp4", "mp4", "mov")
THREE_GP = FileType("3gp", MediaKind.VIDEO, "video/3gpp", "3gp", "mov")

ALLOWED = (JPEG, PNG, WEBP, HEIC, HEIF, MOV, MP4, THREE_GP)

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_BRANDS = {b"mif1", b"msf1"}
_MOV_BRANDS = {b"qt  "}
_MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"M4V ",
    b"M4VH",
    b"MSNV",
    b"dash",
}
_3GP_BRANDS = {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3ge6", b"3ge7", b"3gg6", b"3g2a", b"3g2b", b"3g2c"}
# Classic QuickTime files may start with one of these atoms instead of ftyp.
_QUICKTIME_FIRST_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _ftyp_brands(head: bytes) -> tuple[bytes, set[bytes]] | None:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    size = struct.unpack(">I", head[:4])[0]
    if size < 16 or size > 4096:
        return None
    major = head[8:12]
    end = min(size, len(head))
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    return major, compatible | {major}


def _sniff_ftyp(head: bytes) -> FileType | None:
    parsed = _ftyp_brands(head)
    if parsed is None:
        return None
    major, brands = parsed
    if b"avif" in brands or b"avis" in brands:
        return None  # AV1 images: not on the allowlist
    if major in _HEIC_BRANDS or (major in _HEIF_BRANDS and brands & _HEIC_BRANDS):
        return HEIC
    if major in _HEIF_BRANDS:
        return HEIF
    if major in _MOV_BRANDS:
        return MOV
    if major in _3GP_BRANDS:
        return THREE_GP
    if major in _MP4_BRANDS:
        return MP4
    return None


def sniff(head: bytes) -> FileType | None:
    """The allowed type these first bytes show, or None (refuse).

    Pass at least SNIFF_BYTES bytes (or the whole file if it is shorter).
    """
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    found = _sniff_ftyp(head)
    if found is not None:
        return found
    if len(head) >= 8 and head[4:8] in _QUICKTIME_FIRST_ATOMS and struct.unpack(">I", head[:4])[0] >= 8:
        return MOV
    return None
