import struct

import pytest

from shared.media_types.sniff import HEIC, HEIF, JPEG, MOV, MP4, PNG, THREE_GP, WEBP, FileType, sniff


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08free"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00" + b"\x00" * 50, JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 50, PNG),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 50, WEBP),
        (ftyp(b"heic", b"mif1", b"heic"), HEIC),
        (ftyp(b"mif1", b"mif1", b"heic"), HEIC),
        (ftyp(b"mif1", b"mif1"), HEIF),
        (ftyp(b"qt  ", b"qt  "), MOV),
        (ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), MP4),
        (ftyp(b"mp42", b"mp42", b"isom"), MP4),
        (ftyp(b"3gp4", b"3gp4", b"isom"), THREE_GP),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat" + b"\x00" * 50, MOV),
    ],
)
def test_allowed_types(head: bytes, expected: FileType) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html><script>alert(1)</script>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>',
        b"<svg onload=alert(1)>",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3",
        b"#!/bin/sh\nrm -rf /",
        b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10,\nfile:///etc/passwd\n",
        b"ffconcat version 1.0\nfile '/etc/passwd'\n",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00",
        b"\x7fELF\x02\x01\x01\x00",
        b"%!PS-Adobe-3.0 EPSF-3.0\n",
        b"GIF89a\x01\x00\x01\x00",
        ftyp(b"avif", b"avif", b"mif1"),
        ftyp(b"M4A ", b"M4A ", b"isom"),
        b"",
        b"\xff\xd8",
        b"\x00\x00\x00\x00ftyp",
    ],
)
def test_everything_else_is_refused(head: bytes) -> None:
    assert sniff(head) is None
