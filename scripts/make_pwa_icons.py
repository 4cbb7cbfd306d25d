#!/usr/bin/env python3
"""Draw the patient upload service's app icons (a camera on NHS blue) into patient_upload/static/icons/.

Run once when the design changes; the PNGs are committed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BLUE = (0, 94, 184, 255)
WHITE = (255, 255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "patient_upload" / "static" / "icons"
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


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (48, 180, 192, 512):
        camera(size, maskable=False).save(OUT / f"icon-{size}.png", optimize=True)
    camera(512, maskable=True).save(OUT / "maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
