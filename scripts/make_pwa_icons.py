#!/usr/bin/env python3
"""Draw MIA's icons: the patient upload service's app icons (a camera on NHS blue) into
patient_upload/static/icons/, and the clinician portal's page icon (a white cross on NHS blue)
into portal_ui/assets/, so neither ever loads an icon from a third-party server.

Run once when the design changes; the PNGs are committed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BLUE = (0, 94, 184, 255)
WHITE = (255, 255, 255, 255)
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "patient_upload" / "static" / "icons"
PORTAL_ICON = ROOT / "portal_ui" / "assets" / "portal-icon.png"
SCALE = 4  # draw large, then downsample for smooth edges


def camera(size: int, maskable: bool) -> Image.Image:
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle((0, 0, big, big), fill=BLUE)
        inset = big * 0.2  # keep the drawing inside the maskable safe zone
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.2, fill=BLUE)
        inset = big * 0.14
    left, right = inset, big - inset
    width = right - left
    top, bottom = big * 0.5 - width * 0.34, big * 0.5 + width * 0.36
    bump = (left + width * 0.3, top - width * 0.12, left + width * 0.62, top + width * 0.05)
    draw.rounded_rectangle(bump, radius=width * 0.05, fill=WHITE)
    draw.rounded_rectangle((left, top, right, bottom), radius=width * 0.12, fill=WHITE)
    cx, cy, radius = (left + right) / 2, (top + bottom) / 2 + width * 0.02, width * 0.23
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=BLUE)
    inner = radius * 0.62
    draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def cross(size: int) -> Image.Image:
    """The portal's page icon: a medical cross, white on an NHS blue rounded square."""
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.2, fill=BLUE)
    arm, reach = big * 0.13, big * 0.32
    middle = big / 2
    draw.rounded_rectangle((middle - arm, middle - reach, middle + arm, middle + reach), radius=arm * 0.3, fill=WHITE)
    draw.rounded_rectangle((middle - reach, middle - arm, middle + reach, middle + arm), radius=arm * 0.3, fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (48, 180, 192, 512):
        camera(size, maskable=False).save(OUT / f"icon-{size}.png", optimize=True)
    camera(512, maskable=True).save(OUT / "maskable-512.png", optimize=True)
    PORTAL_ICON.parent.mkdir(parents=True, exist_ok=True)
    cross(64).save(PORTAL_ICON, optimize=True)


if __name__ == "__main__":
    main()
