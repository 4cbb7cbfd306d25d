"""The photo pipeline: size without decoding, orientation, metadata stripping, HEIC/PNG/WebP → JPEG, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from PIL import Image

from processors import failures
from processors.failures import MediaRejected
from processors.images import THUMBNAIL_EDGE, displayed_size, open_untrusted, process_image
from processors.process_file import sniff_file
from shared.media_types.sniff import HEIC, JPEG, PNG
from tests.support import media_samples
from tests.support.media_checks import assert_clean_jpeg


def process(path: Path, out: Path):  # type: ignore[no-untyped-def]
    out.mkdir(exist_ok=True)
    return process_image(path, sniff_file(path), out)


def top_and_bottom(image: Image.Image) -> tuple[tuple[int, ...], tuple[int, ...]]:
    rgb = image.convert("RGB")
    return rgb.getpixel((rgb.width // 2, 2)), rgb.getpixel((rgb.width // 2, rgb.height - 3))


def is_red(pixel: tuple[int, ...]) -> bool:
    return pixel[0] > 150 and pixel[1] < 90 and pixel[2] < 90


def is_blue(pixel: tuple[int, ...]) -> bool:
    return pixel[2] > 150 and pixel[0] < 90 and pixel[1] < 90


def test_portrait_jpeg_with_gps_is_shown_upright_with_no_metadata(tmp_path: Path) -> None:
    source = media_samples.portrait_jpeg(tmp_path)
    stored = Image.open(source)
    assert stored.size == (640, 480) and stored.getexif()[0x0112] == 6  # sideways on disk, as phones store it
    assert stored.getexif().get_ifd(0x8825)  # and it carries GPS

    result = process(source, tmp_path / "out")

    assert (result.width, result.height) == (480, 640)
    display = assert_clean_jpeg(result.display.path)
    assert display.size == (480, 640)
    top, bottom = top_and_bottom(display)
    assert is_red(top) and is_blue(bottom), (top, bottom)  # really turned, not just relabelled
    thumbnail = assert_clean_jpeg(result.thumbnail.path)
    assert max(thumbnail.size) == THUMBNAIL_EDGE and thumbnail.size == (360, 480)


def test_the_original_file_is_not_modified(tmp_path: Path) -> None:
    source = media_samples.portrait_jpeg(tmp_path)
    before = source.read_bytes()
    process(source, tmp_path / "out")
    assert source.read_bytes() == before


def test_heic_with_gps_becomes_a_clean_jpeg(tmp_path: Path) -> None:
    source = media_samples.gps_heic(tmp_path)
    assert sniff_file(source) == HEIC
    result = process(source, tmp_path / "out")
    assert result.content_type == "image/heic" and result.display.content_type == "image/jpeg"
    display = assert_clean_jpeg(result.display.path)
    assert display.size == (480, 640) == (result.width, result.height)
    top, bottom = top_and_bottom(display)
    assert is_red(top) and is_blue(bottom)
    assert_clean_jpeg(result.thumbnail.path)


def test_png_with_transparency_and_text_becomes_jpeg_on_white(tmp_path: Path) -> None:
    source = media_samples.alpha_png(tmp_path)
    result = process(source, tmp_path / "out")
    display = assert_clean_jpeg(result.display.path)
    assert display.size == (300, 200)
    left, right = display.getpixel((10, 100)), display.getpixel((290, 100))
    assert left[0] > 180 and left[1] < 40  # the opaque red half
    assert min(right) > 240  # transparent became white, not black


def test_webp_with_exif_and_xmp_becomes_a_clean_jpeg(tmp_path: Path) -> None:
    result = process(media_samples.exif_webp(tmp_path), tmp_path / "out")
    assert assert_clean_jpeg(result.display.path).size == (400, 300)


def test_icc_profile_is_applied_then_dropped(tmp_path: Path) -> None:
    source = media_samples.srgb_icc_jpeg(tmp_path)
    assert "icc_profile" in Image.open(source).info
    result = process(source, tmp_path / "out")
    display = assert_clean_jpeg(result.display.path)
    top, _ = top_and_bottom(display)
    assert is_red(top)


def test_size_comes_from_the_header_without_decoding(tmp_path: Path) -> None:
    source = media_samples.portrait_jpeg(tmp_path)
    header_only = media_samples.truncated(source, tmp_path, 0.5, "half.jpg")
    with open_untrusted(header_only, JPEG) as image:
        assert displayed_size(image) == (480, 640)  # orientation-aware, from the header alone
        assert image.tile  # the pixel data is still waiting to be decoded
    with pytest.raises(MediaRejected) as refused:
        process(header_only, tmp_path / "out")
    assert refused.value.reason == failures.IMAGE_TRUNCATED


@pytest.mark.parametrize(
    ("width", "height"),
    [(10_000, 10_000), (40_000, 40_000)],  # over the warning limit (≈89 MP), and over the error limit
)
def test_decompression_bombs_are_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    bomb = media_samples.png_bomb(tmp_path, width, height)
    filters_before = list(warnings.filters)
    assert bomb.stat().st_size < 2000
    with pytest.raises(MediaRejected) as refused:
        process(bomb, tmp_path / "out")
    assert refused.value.reason == failures.IMAGE_TOO_LARGE.format(megapixels=89)
    assert not (tmp_path / "out" / "display.jpg").exists()
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # the limit is kept, not disabled
    assert filters_before == warnings.filters  # the error filter was local to the open


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.jpg", media_samples.HTML),
        ("photo.jpg", media_samples.SVG),
        ("photo.png", media_samples.PDF),
        ("photo.jpg", media_samples.EPS),
        ("photo.heic", b""),
    ],
)
def test_documents_dressed_as_photos_are_refused_by_type(tmp_path: Path, name: str, content: str | bytes) -> None:
    path = media_samples.dressed_as(tmp_path, name, content)
    with pytest.raises(MediaRejected) as refused:
        sniff_file(path)
    assert refused.value.reason in (failures.UNSUPPORTED, failures.EMPTY)


@pytest.mark.parametrize("content", [media_samples.EPS, media_samples.SVG, media_samples.PDF, media_samples.HTML])
def test_pillow_opens_only_the_sniffed_format(tmp_path: Path, content: str) -> None:
    """Even if a document reached the image pipeline, Pillow would not pick another plugin (EPS runs Ghostscript)."""
    path = media_samples.dressed_as(tmp_path, "photo.jpg", content)
    for file_type in (JPEG, PNG):
        with pytest.raises(MediaRejected) as refused:
            process_image(path, file_type, tmp_path)
        assert refused.value.reason == failures.IMAGE_UNREADABLE
    if content == media_samples.EPS:
        assert Image.open(path).format == "EPS"  # what an open without the allowlist would have used


def test_corrupt_heic_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    path = media_samples.corrupt_heic(tmp_path)
    assert sniff_file(path) == HEIC
    with pytest.raises(MediaRejected) as refused:
        process(path, tmp_path / "out")
    assert refused.value.reason in (failures.IMAGE_UNREADABLE, failures.IMAGE_TRUNCATED)


def test_truncated_heic_is_refused(tmp_path: Path) -> None:
    path = media_samples.truncated(media_samples.gps_heic(tmp_path), tmp_path, 0.6, "cut.heic")
    with pytest.raises(MediaRejected) as refused:
        process(path, tmp_path / "out")
    assert refused.value.reason in (failures.IMAGE_UNREADABLE, failures.IMAGE_TRUNCATED)
