"""Photos: size from the header, a clean display copy and a thumbnail.

Untrusted files are opened with exactly the Pillow decoder the sniffed type
names (never EPS, which would run Ghostscript, nor any other plugin), with
Pillow's decompression-bomb limit kept and its warning treated as an error.
The size is read from the header without decoding, and reported as the
picture is displayed (EXIF orientation 5–8 swaps width and height).

The display copy is a fresh baseline JPEG (DICOM files it as it is): orientation applied, colours converted to
sRGB when the file carries an ICC profile, and nothing else carried over —
no EXIF (so no GPS, MakerNote or camera serial), no XMP, no comments, no
ICC profile. HEIC, PNG and WebP become JPEG the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pillow_heif
from PIL import Image, ImageCms, ImageOps

from processors import failures
from processors.capture_time import EXIF_IFD, exif_taken_at
from processors.failures import MediaRejected
from processors.results import DISPLAY_IMAGE, THUMBNAIL_IMAGE, OutputFile, ProcessedMedia
from shared.db.statuses import MediaKind
from shared.media_types.sniff import FileType

pillow_heif.register_heif_opener()

THUMBNAIL_EDGE = 480
DISPLAY_QUALITY = 90
THUMBNAIL_QUALITY = 85
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, RuntimeError)


def _too_large() -> MediaRejected:
    megapixels = (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000
    return MediaRejected(failures.IMAGE_TOO_LARGE.format(megapixels=megapixels), "decompression bomb limit")


@contextmanager
def open_untrusted(path: Path, file_type: FileType) -> Iterator[Image.Image]:
    """Open with only the decoder for `file_type`; bomb warnings are errors; failures become MediaRejected."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path, formats=[file_type.decoder])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large() from None
        except _DECODE_ERRORS as exc:
            raise MediaRejected(failures.IMAGE_UNREADABLE, f"open: {type(exc).__name__}: {exc}") from None
        with image:
            yield image


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """Width and height as shown, from the header alone (no pixel is decoded)."""
    width, height = image.size
    if _orientation(image) in _SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def _decode(image: Image.Image) -> Image.Image:
    """Decode the pixels, mapping Pillow's complaints to reasons a clinician can read."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
            return ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large() from None
        except _DECODE_ERRORS as exc:
            message = str(exc)
            reason = failures.IMAGE_TRUNCATED if "truncated" in message else failures.IMAGE_UNREADABLE
            raise MediaRejected(reason, f"decode: {type(exc).__name__}: {message}") from None


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """RGB pixels in sRGB: colour-managed when the file names its colour space (iPhones use Display P3)."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if icc_profile and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        # a broken profile: fall back to the pixels as they are
        with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError):
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    return image.convert("RGB")


def _clean_copy(image: Image.Image) -> Image.Image:
    """Pixels only: a new image object whose `info` carries nothing from the file."""
    clean = image.copy()
    clean.info = {}
    return clean


def _save_jpeg(image: Image.Image, path: Path, quality: int) -> None:
    """Baseline (SOF0), not progressive: DICOM's JPEG Baseline syntax files the display copy as it is."""
    image.save(path, "JPEG", quality=quality, optimize=False, progressive=False)


def _taken_at(image: Image.Image) -> dt.datetime | None:
    """When the photo was taken, from EXIF read before it is stripped (unreadable EXIF: unknown)."""
    try:
        return exif_taken_at(dict(image.getexif().get_ifd(EXIF_IFD)))
    except _DECODE_ERRORS:
        return None


def process_image(path: Path, file_type: FileType, out_dir: Path) -> ProcessedMedia:
    """Make the display copy and thumbnail of one photo; raises MediaRejected for bad input."""
    with open_untrusted(path, file_type) as image:
        width, height = displayed_size(image)
        taken_at = _taken_at(image)
        icc_profile = image.info.get("icc_profile")
        upright = _decode(image)
        try:
            pixels = _clean_copy(_to_srgb(upright, icc_profile))
        except _DECODE_ERRORS as exc:
            raise MediaRejected(failures.IMAGE_UNREADABLE, f"convert: {type(exc).__name__}: {exc}") from None
    display_path = out_dir / DISPLAY_IMAGE
    _save_jpeg(pixels, display_path, DISPLAY_QUALITY)
    thumbnail = pixels.copy()
    thumbnail.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    thumbnail_path = out_dir / THUMBNAIL_IMAGE
    _save_jpeg(_clean_copy(thumbnail), thumbnail_path, THUMBNAIL_QUALITY)
    if pixels.size != (width, height):
        # the header and the decoded picture disagree: trust what was decoded
        width, height = pixels.size
    return ProcessedMedia(
        kind=MediaKind.IMAGE,
        content_type=file_type.content_type,
        width=width,
        height=height,
        display=OutputFile("display", display_path, "image/jpeg"),
        thumbnail=OutputFile("thumbnail", thumbnail_path, "image/jpeg"),
        method="image",
        acquired_at=taken_at,
    )
