"""Painted pictures put back on the studio set: shared by the engines that paint the subject
only (``diffusers``, ``hosted``) over the relight engine's base plate."""

from __future__ import annotations

import cv2
import numpy as np

from render.pipeline.types import RenderedCandidate


def onto_plates(
    plates: list[RenderedCandidate],
    pictures: list[np.ndarray],
    inpaint_mask: np.ndarray,
    engine: str,
) -> list[RenderedCandidate]:
    """Each picture (any size, uint8 RGB) over its plate where ``inpaint_mask`` allows.

    Outside the subject the pixels are the plate's (the studio backdrop) exactly. The plate's
    props (its wrap) are kept where they survive the composite: where the engine painted, the
    pixels are the model's and scoring judges them as the face."""
    out_h, out_w = plates[0].image.shape[:2]
    mask = cv2.resize(inpaint_mask, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    mask = np.clip(mask, 0.0, 1.0)[..., None]
    candidates = []
    for plate, picture in zip(plates, pictures, strict=True):
        painted = cv2.resize(picture, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
        image = painted.astype(np.float32) * mask + plate.image.astype(np.float32) * (1.0 - mask)
        props = None
        if plate.props is not None:
            props = (plate.props * (1.0 - mask[..., 0])).astype(np.float32)
        candidates.append(
            RenderedCandidate(
                seed=plate.seed, image=(image + 0.5).astype(np.uint8), engine=engine, props=props
            )
        )
    return candidates
