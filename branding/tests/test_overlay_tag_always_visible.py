"""The tag is in the pixels of every composed portrait, whatever the brand spec says."""

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from branding.overlay import (
    FRAMES,
    MIN_TAG_FONT_PX,
    BrandSpec,
    compose,
    draw_tag,
    overlay_layout,
    relative_luminance,
)

COLOURS = [
    ("#ffffff", "#ffffff"),  # everything white: the plate must still stand out
    ("#111111", "#111111"),  # the tag plate's own colour as the brand colour
    ("#7a2e4d", "#f3e6da"),
]
CAPTIONS = ["", "A very long caption that would love to run straight over the tag " * 3]


def _logo_png() -> bytes:
    logo = Image.new("RGBA", (400, 400), (255, 255, 255, 255))
    out = io.BytesIO()
    logo.save(out, "PNG")
    return out.getvalue()


def _photo(kind: str, size=(864, 1080)) -> np.ndarray:
    width, height = size
    if kind == "white":
        return np.full((height, width, 3), 255, np.uint8)
    if kind == "black":
        return np.zeros((height, width, 3), np.uint8)
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _text_mask(image: Image.Image, box) -> np.ndarray:
    region = np.asarray(image.crop(box)).astype(int)
    return region.min(axis=2) > 170


def _reference_text_mask(layout) -> np.ndarray:
    """The tag drawn alone on a black canvas: what its glyphs look like at this layout."""
    blank = Image.new("RGB", layout.canvas_size, (0, 0, 0))
    draw_tag(blank, layout)
    return _text_mask(blank, layout.tag_box)


def assert_tag_is_readable(image: Image.Image, layout) -> None:
    found = _text_mask(image, layout.tag_box)
    expected = _reference_text_mask(layout)
    assert expected.sum() > 500, "reference tag rendering has no glyphs"
    iou = (found & expected).sum() / (found | expected).sum()
    assert iou > 0.9, f"tag glyphs differ from the reference rendering (IoU {iou:.2f})"

    region = np.asarray(image.crop(layout.tag_box)).astype(float)
    plate = region[~expected & ~_grow(expected)]
    # Skip the rounded corners, where the photo shows through by design.
    plate = plate[len(plate) // 10 : -len(plate) // 10]
    plate_l = relative_luminance(tuple(int(v) for v in np.median(plate, axis=0)))
    text_l = relative_luminance(tuple(int(v) for v in np.percentile(region[expected], 50, axis=0)))
    contrast = (max(plate_l, text_l) + 0.05) / (min(plate_l, text_l) + 0.05)
    assert contrast >= 7.0, f"tag contrast {contrast:.1f} is below WCAG AAA"


def _grow(mask: np.ndarray) -> np.ndarray:
    grown = mask.copy()
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        grown |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return grown


@pytest.mark.parametrize(
    "frame, colours, caption, cobranded",
    list(itertools.product(FRAMES, COLOURS, CAPTIONS, (True, False))),
)
def test_no_brand_spec_combination_removes_the_tag(frame, colours, caption, cobranded):
    spec = BrandSpec(
        studio_name="Bloom",
        primary_hex=colours[0],
        accent_hex=colours[1],
        font="serif",
        frame=frame,
        caption=caption,
        logo_png=_logo_png(),
        cobranded=cobranded,
    )
    photo = _photo("white")
    image = compose(photo, spec)
    assert_tag_is_readable(image, overlay_layout((864, 1080), frame))


@pytest.mark.parametrize("kind", ["white", "black", "noise"])
def test_the_tag_reads_on_any_photo(kind):
    spec = BrandSpec("Bloom", "#000000", "#000000", "sans", "none", "", None, False)
    image = compose(_photo(kind), spec)
    assert_tag_is_readable(image, overlay_layout((864, 1080), "none"))


@pytest.mark.parametrize("size", [(1920, 400), (300, 1080), (64, 64)])
def test_odd_aspect_ratios_still_fit_a_readable_tag_inside_the_canvas(size):
    spec = BrandSpec("Bloom", "#7a2e4d", "#f3e6da", "sans", "thin", "Hello", None, True)
    image = compose(_photo("noise", size), spec)
    layout = overlay_layout(size, "thin")
    left, top, right, bottom = layout.tag_box
    assert left >= 0 and top >= 0 and right <= image.width and bottom <= image.height
    assert layout.tag_font_px >= MIN_TAG_FONT_PX
    assert_tag_is_readable(image, layout)


def test_the_tag_region_is_not_the_photo():
    """Against a render without the tag: the tag region really changed."""
    spec = BrandSpec("Bloom", "#7a2e4d", "#f3e6da", "sans", "none", "", None, False)
    photo = _photo("white")
    image = np.asarray(compose(photo, spec)).astype(int)
    layout = overlay_layout((864, 1080), "none")
    left, top, right, bottom = layout.tag_box
    changed = np.abs(image[top:bottom, left:right] - 255).max(axis=2) > 60
    assert changed.mean() > 0.6
    # ...and outside it (and the caption-free corners) the white photo is untouched.
    assert np.abs(image[: top - 2, : left - 2] - 255).max() == 0


def test_print_size_scales_the_tag_with_the_file():
    spec = BrandSpec("Bloom", "#7a2e4d", "#f3e6da", "sans", "mat", "Hello", None, True)
    web = overlay_layout((2048, 2560), "mat", size="web")
    print_ = overlay_layout((2048, 2560), "mat", size="print")
    assert print_.tag_font_px == pytest.approx(web.tag_font_px * 2560 / 1080, abs=1)
    image = compose(_photo("noise", (2048, 2560)), spec, size="print")
    assert_tag_is_readable(image, print_)
