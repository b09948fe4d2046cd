"""Draw Sungaze's brand images into custom_components/sungaze/brand/.

Home Assistant 2026.3+ reads a custom integration's own brand images from
`custom_components/<domain>/brand/`: icon.png (256x256), icon@2x.png (512x512),
logo.png / logo@2x.png (the mark and the name), and dark_ variants for dark
themes. The mark is our own: a sun whose disk holds a pupil (a sun you gaze
at). Drawn at 4x and scaled down for smooth edges, on a transparent ground.

    .venv/bin/python scripts/brand.py
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parents[1] / "custom_components" / "sungaze" / "brand"
SUPERSAMPLE = 4
RAY = (255, 143, 0, 255)  # amber 800
DISK = (255, 179, 0, 255)  # amber 600
PUPIL = {"light": (120, 53, 15, 255), "dark": (255, 236, 179, 255)}
TEXT = {"light": (38, 50, 56, 255), "dark": (236, 239, 241, 255)}
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def mark(size: int, theme: str) -> Image.Image:
    """The sun mark, `size` pixels square."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    centre = big / 2
    width = big * 0.07
    for ray in range(12):
        angle = math.tau * ray / 12
        inner, outer = big * 0.33, big * (0.455 if ray % 3 == 0 else 0.41)
        start = (centre + inner * math.cos(angle), centre + inner * math.sin(angle))
        end = (centre + outer * math.cos(angle), centre + outer * math.sin(angle))
        draw.line([start, end], fill=RAY, width=round(width))
        for x, y in (start, end):  # round caps
            r = width / 2
            draw.ellipse([x - r, y - r, x + r, y + r], fill=RAY)
    disk = big * 0.26
    draw.ellipse(
        [centre - disk, centre - disk, centre + disk, centre + disk], fill=DISK
    )
    pupil = big * 0.095
    draw.ellipse(
        [centre - pupil, centre - pupil, centre + pupil, centre + pupil],
        fill=PUPIL[theme],
    )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, theme: str) -> Image.Image:
    """The mark followed by the name, `height` pixels high."""
    font_size = round(height * 0.5)
    font = (
        ImageFont.truetype(str(FONT), font_size)
        if FONT.exists()
        else ImageFont.load_default(font_size)
    )
    text = "Sungaze"
    left, top, right, bottom = font.getbbox(text)
    gap = round(height * 0.15)
    width = height + gap + (right - left) + round(height * 0.1)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.alpha_composite(mark(height, theme))
    draw = ImageDraw.Draw(image)
    y = (height - (bottom - top)) / 2 - top
    draw.text((height + gap - left, y), text, font=font, fill=TEXT[theme])
    return image


def main() -> None:
    """Write every image."""
    OUT.mkdir(exist_ok=True)
    for theme, prefix in (("light", ""), ("dark", "dark_")):
        mark(256, theme).save(OUT / f"{prefix}icon.png", optimize=True)
        mark(512, theme).save(OUT / f"{prefix}icon@2x.png", optimize=True)
        logo(128, theme).save(OUT / f"{prefix}logo.png", optimize=True)
        logo(256, theme).save(OUT / f"{prefix}logo@2x.png", optimize=True)
    for path in sorted(OUT.glob("*.png")):
        with Image.open(path) as image:
            print(path.name, image.size)


if __name__ == "__main__":
    main()
