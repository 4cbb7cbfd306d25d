"""Test inputs shaped like what phones send, made with the bundled ffmpeg and Pillow.

Videos carry what iPhones put in them: a rotation matrix (portrait held
phone), location metadata (`com.apple.quicktime.location.ISO6709` and the
older `©xyz` atom), and an extra data track (a timecode track, which MP4
cannot hold, like the `mebx` tracks). Photos carry EXIF GPS, an orientation,
XMP and a comment.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import pillow_heif
from PIL import ExifTags, Image, ImageCms

from processors.ffmpeg_binary import ffmpeg_path

LATITUDE = "+51.5072"
LONGITUDE = "-000.1276"
ISO6709 = f"{LATITUDE}{LONGITUDE}+010.000/"
# Byte strings that must appear in no output: location, EXIF, XMP, the comment, the camera model.
LEAK_MARKERS = (b"51.5072", b"ISO6709", b"\xa9xyz", b"Exif\x00\x00", b"ns.adobe.com", b"Acacia", b"iPhone 15")
COMMENT = "Taken at 14 Acacia Avenue"
CREATION_DATE = "2026-03-01T10:59:58+0100"  # iPhone's local recording time; 09:59:58 UTC
SECRET_MARKER = "MIA-SECRET-7f3c9e"

pillow_heif.register_heif_opener()  # to write HEIC samples


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=300)


def _with_phone_metadata(plain: Path, target: Path, rotation: int) -> Path:
    """Add rotation, location and recording-time metadata and a timecode data track without re-encoding."""
    ffmpeg(
        "-display_rotation:v:0",
        str(rotation),
        "-i",
        str(plain),
        "-map",
        "0",
        "-c",
        "copy",
        "-metadata",
        f"com.apple.quicktime.location.ISO6709={ISO6709}",
        "-metadata",
        f"location={LATITUDE}{LONGITUDE}/",
        "-metadata",
        "com.apple.quicktime.make=Apple",
        "-metadata",
        "com.apple.quicktime.model=iPhone 15",
        "-metadata",
        f"com.apple.quicktime.creationdate={CREATION_DATE}",
        "-metadata",
        "creation_time=2026-03-01T10:00:00.000000Z",
        "-movflags",
        "use_metadata_tags",
        "-timecode",
        "01:00:00:00",
        "-f",
        "mov",
        str(target),
    )
    plain.unlink()
    return target


def hevc_mov(directory: Path, *, size: str = "640x360", seconds: int = 2, rotation: int = -90) -> Path:
    """iPhone default: HEVC Main in MOV (hvc1), AAC, held portrait."""
    plain = directory / "hevc-plain.mov"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-tag:v", "hvc1",
        "-x265-params", "log-level=error", "-c:a", "aac", "-f", "mov", str(plain),
    )  # fmt: skip
    return _with_phone_metadata(plain, directory / "IMG_0001.MOV", rotation)


def hdr_mov(directory: Path) -> Path:
    """iPhone HDR: HEVC Main 10, HLG transfer, BT.2020."""
    plain = directory / "hdr-plain.mov"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=2",
        "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-tag:v", "hvc1",
        "-x265-params", "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
        "-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc",
        "-f", "mov", str(plain),
    )  # fmt: skip
    return _with_phone_metadata(plain, directory / "IMG_HDR.MOV", -90)


def h264_mov(directory: Path, *, size: str = "640x360", seconds: int = 2, rotation: int = -90) -> Path:
    """iPhone "Most Compatible": H.264 High, AAC, in MOV, held portrait."""
    plain = directory / "h264-plain.mov"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mov", str(plain),
    )  # fmt: skip
    return _with_phone_metadata(plain, directory / "IMG_0002.MOV", rotation)


def mjpeg_mov(directory: Path, *, size: str = "640x480", seconds: int = 2) -> Path:
    """Older cameras and some Android apps: Motion JPEG with PCM sound, in MOV."""
    target = directory / "MVI_0003.MOV"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}",
        "-map", "0:v", "-map", "1:a", "-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj422p",
        "-c:a", "pcm_s16le", "-metadata", f"location={LATITUDE}{LONGITUDE}/", "-f", "mov", str(target),
    )  # fmt: skip
    return target


def gps_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 15"
    exif[ExifTags.Base.ImageDescription] = COMMENT
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (51.0, 30.0, 25.92),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.36),
    }
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="51,30.432N"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def upright_picture(width: int, height: int) -> Image.Image:
    """A picture whose top band is red and bottom band blue, so orientation can be checked by colour."""
    picture = Image.new("RGB", (width, height), (40, 160, 40))
    band = max(4, height // 8)
    picture.paste((220, 20, 20), (0, 0, width, band))
    picture.paste((20, 20, 220), (0, height - band, width, height))
    return picture


def portrait_jpeg(directory: Path, width: int = 480, height: int = 640) -> Path:
    """A portrait photo stored sideways with EXIF orientation 6, as phone cameras do, with GPS, XMP, a comment."""
    stored = upright_picture(width, height).rotate(90, expand=True)  # orientation 6 turns it back clockwise
    target = directory / "IMG_0004.JPG"
    stored.save(target, "JPEG", quality=90, exif=gps_exif(6).tobytes(), xmp=XMP, comment=COMMENT.encode())
    return target


def gps_heic(directory: Path, width: int = 480, height: int = 640) -> Path:
    target = directory / "IMG_0005.HEIC"
    upright_picture(width, height).save(target, "HEIF", quality=80, exif=gps_exif(1).tobytes())
    return target


def alpha_png(directory: Path) -> Path:
    target = directory / "screenshot.png"
    picture = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    picture.paste((200, 0, 0, 255), (0, 0, 150, 200))
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", COMMENT)
    info.add_text("GPS", ISO6709)
    picture.save(target, "PNG", pnginfo=info)
    return target


def exif_webp(directory: Path) -> Path:
    target = directory / "photo.webp"
    upright_picture(400, 300).save(target, "WEBP", quality=80, exif=gps_exif(1).tobytes(), xmp=XMP)
    return target


def srgb_icc_jpeg(directory: Path) -> Path:
    target = directory / "profiled.jpg"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    upright_picture(320, 240).save(target, "JPEG", icc_profile=profile, exif=gps_exif(1).tobytes())
    return target


def jpeg_with_size(directory: Path, width: int, height: int, name: str = "big.jpg") -> Path:
    target = directory / name
    Image.new("RGB", (width, height), (128, 90, 60)).save(target, "JPEG", quality=80)
    return target


# -- bad input -----------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(directory: Path, width: int, height: int, name: str = "bomb.png") -> Path:
    """A tiny PNG whose header claims a huge picture (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")
    target = directory / name
    target.write_bytes(data)
    return target


def truncated(source: Path, directory: Path, fraction: float, name: str) -> Path:
    data = source.read_bytes()
    target = directory / name
    target.write_bytes(data[: max(1, int(len(data) * fraction))])
    return target


def corrupt_heic(directory: Path) -> Path:
    """A real HEIC header (so it sniffs as HEIC) followed by garbage."""
    good = io.BytesIO()
    upright_picture(64, 64).save(good, "HEIF")
    head = good.getvalue()[:48]
    target = directory / "IMG_9999.HEIC"
    target.write_bytes(head + bytes((index * 37) % 251 for index in range(4096)))
    return target


def dressed_as(directory: Path, name: str, content: bytes | str) -> Path:
    target = directory / name
    target.write_bytes(content.encode() if isinstance(content, str) else content)
    return target


HTML = "<!DOCTYPE html><html><body><script>fetch('/steal')</script></body></html>"
SVG = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'
PDF = "%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
EPS = "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(/etc/passwd) (r) file\nshowpage\n%%EOF\n"
FTYP_QT = struct.pack(">I", 20) + b"ftypqt  " + b"\x00\x00\x02\x00" + b"qt  "


def hls_playlist(entries: list[str]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:10", "#EXT-X-MEDIA-SEQUENCE:0"]
    for entry in entries:
        lines += ["#EXTINF:10.0,", entry]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def concat_playlist(entries: list[str]) -> str:
    return "ffconcat version 1.0\n" + "".join(f"file '{entry}'\n" for entry in entries)
