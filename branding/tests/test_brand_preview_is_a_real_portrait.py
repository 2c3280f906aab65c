"""The branding editor's preview is a real portrait — Cradle's pipeline on a generated phantom
scan — in the studio's frame and colours, and the style words change it as they will change
the studio's next portraits."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from branding.overlay import hex_to_rgb
from tests.tenancy import signed_in_client


@pytest.fixture
def owner_client(studio):
    return signed_in_client(studio, "owner")


def _preview(owner_client, **draft: str) -> np.ndarray:
    response = owner_client.get("/branding/preview.jpg", draft)
    assert response.status_code == 200, response.content[:200]
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(np.int16)


def _middle(image: np.ndarray) -> np.ndarray:
    """The centre of the photo, where the baby's face is."""
    h, w = image.shape[:2]
    return image[int(h * 0.3) : int(h * 0.6), int(w * 0.3) : int(w * 0.7)]


def test_the_preview_is_a_sharp_portrait_with_a_face_not_a_blurred_oval(owner_client) -> None:
    face = _middle(_preview(owner_client, frame="none")).astype(np.uint8)
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    # Closed eyes, nostrils and lips are drawn: fine dark detail a blurred ellipse never has.
    sharpness = cv2.Laplacian(grey, cv2.CV_64F).var()
    assert sharpness > 20.0
    dark_marks = (grey < np.percentile(grey, 50) - 40).mean()
    assert dark_marks > 0.001


def test_the_style_words_change_the_preview(owner_client) -> None:
    plain = _preview(owner_client, style_tokens="")
    moody = _preview(owner_client, style_tokens="moody, dramatic")
    soft = _preview(owner_client, style_tokens="soft light, pastel")
    assert np.abs(_middle(plain) - _middle(moody)).mean() > 2.0
    assert np.abs(_middle(plain) - _middle(soft)).mean() > 2.0
    grey = _preview(owner_client, style_tokens="black and white")
    assert np.abs(_middle(grey)[..., 0] - _middle(grey)[..., 2]).mean() < 3.0


def test_the_backdrop_is_the_draft_accent_colour(owner_client) -> None:
    image = _preview(owner_client, frame="none", accent_hex="#dcebf5", primary_hex="#1f4e79")
    h, w = image.shape[:2]
    corner = image[int(h * 0.05) : int(h * 0.12), int(w * 0.05) : int(w * 0.2)]
    backdrop = np.median(corner.reshape(-1, 3), axis=0)
    blue = np.array(hex_to_rgb("#dcebf5"))
    assert np.abs(backdrop - blue).max() <= 30
    assert backdrop[2] > backdrop[0]  # blue paper, not the default cream
