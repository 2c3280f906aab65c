"""Web deliveries are 1080 px on the long side; print keeps the upscaled file's size."""

import numpy as np
import pytest
from PIL import Image

from branding.overlay import FRAMES, WEB_LONG_SIDE, BrandSpec, compose, overlay_layout


def _spec(frame: str) -> BrandSpec:
    return BrandSpec("Bloom", "#7a2e4d", "#f3e6da", "serif", frame, "Hello", None, True)


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("size", [(819, 1024), (1024, 819), (1024, 1024), (400, 500), (3000, 2000)])
def test_a_web_portrait_is_1080_px_on_its_long_side(frame, size):
    photo = np.full((size[1], size[0], 3), 128, np.uint8)
    image = compose(photo, _spec(frame), size="web")
    assert max(image.size) == WEB_LONG_SIDE
    # The photo keeps its aspect ratio inside the frame (no crop, no stretch).
    left, top, right, bottom = overlay_layout(size, frame).photo_box
    assert (right - left) / (bottom - top) == pytest.approx(size[0] / size[1], rel=0.01)


def test_a_print_portrait_keeps_the_upscaled_long_side():
    photo = Image.new("RGB", (3276, 4096), (200, 160, 140))
    image = compose(photo, _spec("none"), size="print")
    assert image.size == (3276, 4096)
    framed = compose(photo, _spec("polaroid"), size="print")
    assert max(framed.size) == 4096


def test_the_photo_pixels_land_in_the_photo_box():
    photo = np.zeros((1000, 800, 3), np.uint8)
    photo[:, :400] = (255, 0, 0)
    photo[:, 400:] = (0, 0, 255)
    image = np.asarray(compose(photo, _spec("mat")))
    left, top, right, bottom = overlay_layout((800, 1000), "mat").photo_box
    middle = (top + bottom) // 2
    assert tuple(image[middle, left + 20]) == (255, 0, 0)
    assert tuple(image[middle, right - 20]) == (0, 0, 255)
    # Outside the photo box is the mat, in the accent colour.
    assert tuple(image[middle, left // 2]) == (0xF3, 0xE6, 0xDA)


def test_float_and_grayscale_arrays_are_accepted():
    grey = np.full((500, 400), 0.5, np.float32)
    image = compose(grey, _spec("none"))
    assert image.mode == "RGB" and max(image.size) == WEB_LONG_SIDE
    assert tuple(np.asarray(image)[540, 100]) == (128, 128, 128)


def test_an_unknown_size_is_refused():
    with pytest.raises(ValueError):
        compose(np.zeros((10, 10, 3), np.uint8), _spec("none"), size="poster")


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("size", [(819, 1024), (300, 1080), (1920, 400)])
def test_the_logo_box_never_overlaps_the_tag_or_the_cradle_mark(frame, size):
    layout = overlay_layout(size, frame)

    def overlaps(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    assert not overlaps(layout.logo_box, layout.tag_box)
    assert not overlaps(layout.logo_box, layout.cradle_mark_box)
    assert not overlaps(layout.cradle_mark_box, layout.tag_box)
