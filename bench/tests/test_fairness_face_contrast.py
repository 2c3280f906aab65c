"""``manage.py fairness`` measures how legible a face's features are at each tone.

``face_contrast`` is the RMS of the OKLab lightness band-passed at the scale of lash lines and
creases: a line that takes the same share of light off deep skin as off fair skin is a smaller
step of lightness there, and must measure as less legible; a broad shading gradient is not a
feature and must barely count.
"""

import numpy as np

from bench.engines import face_contrast, oklab_lightness


def _skin(value: int, size: int = 256) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def _with_line(image: np.ndarray, share_of_light: float) -> np.ndarray:
    """A 2 px dark line across the middle taking ``share_of_light`` of the light off."""
    encoded = image.astype(np.float32) / 255.0
    linear = ((encoded + 0.055) / 1.055) ** 2.4
    linear[127:129] *= 1.0 - share_of_light
    encoded = 1.055 * linear ** (1 / 2.4) - 0.055
    return np.clip(encoded * 255.0 + 0.5, 0, 255).astype(np.uint8)


REGION = np.zeros((256, 256), bool)
REGION[24:-24, 24:-24] = True  # clear of the image's borders, as the face region is of its outline


def test_the_same_share_of_light_is_less_legible_on_deep_skin():
    fair = face_contrast(_with_line(_skin(235), 0.5), REGION)
    deep = face_contrast(_with_line(_skin(45), 0.5), REGION)
    assert deep[0] < 0.5 * fair[0]  # the step in lightness: what the eye reads
    assert abs(deep[1] - fair[1]) < 0.35 * fair[1]  # a ratio measure would call them alike


def test_plain_skin_and_a_broad_gradient_measure_almost_nothing():
    assert face_contrast(_skin(180), REGION)[0] < 1e-3
    ramp = np.linspace(145, 185, 256, dtype=np.float32)[None, :, None].repeat(256, 0).repeat(3, 2)
    line = face_contrast(_with_line(_skin(160), 0.3), REGION)[0]
    # (What it does measure is the ramp's 8-bit steps, a level every few pixels.)
    assert face_contrast(ramp.astype(np.uint8), REGION)[0] < 0.2 * line


def test_oklab_lightness_runs_from_black_to_white():
    assert oklab_lightness(_skin(0, 4)).max() < 1e-3
    assert abs(float(oklab_lightness(_skin(255, 4)).min()) - 1.0) < 1e-3
