import cv2
import numpy as np
import pytest

from render.pipeline.upscale import network_share, upscale_x4


def _portrait_like(height: int, width: int) -> np.ndarray:
    """Smooth skin-coloured shapes on a backdrop, with one sharp edge to keep."""
    image = np.full((height, width, 3), (236, 228, 218), np.uint8)
    cv2.ellipse(
        image, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, (196, 150, 112), -1
    )
    cv2.GaussianBlur(image, (0, 0), 2.0, dst=image)
    cv2.line(image, (width // 4, height // 2), (3 * width // 4, height // 2), (90, 60, 50), 1)
    return image


def test_the_output_is_four_times_larger_and_close_to_bicubic_in_colour():
    image = _portrait_like(60, 44)
    upscaled = upscale_x4(image)
    assert upscaled.shape == (240, 176, 3) and upscaled.dtype == np.uint8
    bicubic = cv2.resize(image, (176, 240), interpolation=cv2.INTER_CUBIC)
    mean_difference = np.abs(upscaled.reshape(-1, 3).mean(0) - bicubic.reshape(-1, 3).mean(0))
    assert mean_difference.max() < 1.0
    correlation = np.corrcoef(upscaled.ravel().astype(float), bicubic.ravel().astype(float))[0, 1]
    assert correlation > 0.95


def test_tiles_join_without_seams():
    image = _portrait_like(72, 80)
    whole = upscale_x4(image, tile=256).astype(np.int16)
    tiled = upscale_x4(image, tile=24).astype(np.int16)
    assert np.abs(whole - tiled).max() <= 2


def test_grey_input_comes_back_as_rgb():
    grey = cv2.cvtColor(_portrait_like(32, 32), cv2.COLOR_RGB2GRAY)
    upscaled = upscale_x4(grey)
    assert upscaled.shape == (128, 128, 3)
    assert np.array_equal(upscaled[..., 0], upscaled[..., 2])


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 2), np.uint8)])
def test_it_refuses_what_is_not_an_rgb_uint8_image(bad):
    with pytest.raises(ValueError):
        upscale_x4(bad)


def test_it_adds_detail_beyond_bicubic_at_edges():
    image = _portrait_like(60, 44)
    upscaled = cv2.cvtColor(upscale_x4(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    bicubic = cv2.resize(image, (176, 240), interpolation=cv2.INTER_CUBIC)
    bicubic = cv2.cvtColor(bicubic, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sharpness = np.abs(cv2.Laplacian(upscaled, cv2.CV_32F)).mean()
    assert sharpness > 1.2 * np.abs(cv2.Laplacian(bicubic, cv2.CV_32F)).mean()


def _backdrop_with_a_detailed_patch(height: int, width: int) -> np.ndarray:
    """A soft vertical gradient backdrop with fine texture only in its top-left corner."""
    ramp = np.linspace(150, 190, height, dtype=np.float32)[:, None, None]
    image = np.repeat(np.repeat(ramp, width, axis=1), 3, axis=2).astype(np.uint8)
    rng = np.random.default_rng(3)
    image[8:40, 8:40] = rng.integers(60, 200, (32, 32, 3), dtype=np.uint8)
    return image


def test_smooth_cells_skip_the_network_and_match_it_within_two_levels():
    image = _backdrop_with_a_detailed_patch(96, 128)
    share = network_share(image, tile=32)
    assert 0.0 < share < 0.5  # only the cells around the textured patch
    skipped = upscale_x4(image, tile=32).astype(np.int16)
    everywhere = upscale_x4(image, tile=32, skip_smooth=False).astype(np.int16)
    assert np.abs(skipped - everywhere).max() <= 2
    # The textured patch really went through the network: it is sharper than bicubic there.
    bicubic = cv2.resize(image, (512, 384), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    assert np.abs(skipped[32:160, 32:160] - bicubic[32:160, 32:160]).mean() > 2


def test_a_flat_image_never_reaches_the_network_and_comes_back_bicubic():
    flat = np.full((40, 56, 3), (200, 170, 150), np.uint8)
    assert network_share(flat) == 0.0
    assert np.array_equal(
        upscale_x4(flat), cv2.resize(flat, (224, 160), interpolation=cv2.INTER_CUBIC)
    )
