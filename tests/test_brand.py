"""Brand images HA 2026.3+ reads from custom_components/sungaze/brand/."""

from pathlib import Path

from PIL import Image
import pytest

BRAND = Path(__file__).resolve().parents[1] / "custom_components" / "sungaze" / "brand"


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_brand_images(prefix: str) -> None:
    """Icons are square 256/512 px, logos 128/256 px high; all transparent PNGs."""
    sizes = {}
    for name in ("icon", "icon@2x", "logo", "logo@2x"):
        with Image.open(BRAND / f"{prefix}{name}.png") as image:
            assert image.format == "PNG"
            assert image.mode == "RGBA"
            assert image.getpixel((0, 0))[3] == 0  # transparent corner
            sizes[name] = image.size
    assert sizes["icon"] == (256, 256)
    assert sizes["icon@2x"] == (512, 512)
    assert sizes["logo"][1] == 128
    assert sizes["logo@2x"] == (sizes["logo"][0] * 2, 256)
