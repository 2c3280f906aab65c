"""The studio's house look, measured from its consented reference portraits and laid over a
candidate's backdrop.

A studio's own newborn photographs carry its style more than any words do: the colour of the
wraps and backdrops it uses and how much contrast it gives them. ``house_look_measure`` reads
that from the frame of each reference photo (the outer band, where the backdrop is; a reference
baby's face is never measured, copied or used); ``house_look_apply`` moves a rendered
portrait's backdrop towards it. The baby (the scan's subject mask) keeps its pixels, so the
skin tone the parents chose and the face's structure stay exactly as rendered. Works the same
for every engine. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from render.pipeline.types import Conditioning, RenderedCandidate

FRAME_BAND = 0.12  # outer fraction of each side measured as the reference's backdrop
MAX_SHIFT = 0.35  # OKLab distance a backdrop may move at most (keeps extreme references sane)


@dataclass(frozen=True)
class HouseLook:
    backdrop: tuple[float, float, float]  # OKLab (L, a, b) median of the references' frames
    contrast: float  # OKLab lightness spread (std) in the references' frames
    references: int


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 (or N×3) uint8 sRGB → float32 OKLab."""
    c = rgb.astype(np.float32) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lms = linear @ _RGB_TO_LMS.T
    return np.cbrt(lms) @ _LMS_TO_LAB.T


def oklab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """float OKLab → uint8 sRGB (out-of-gamut values clipped)."""
    lms = (lab @ _LAB_TO_LMS.T) ** 3
    linear = np.clip(lms @ _LMS_TO_RGB.T, 0.0, 1.0)
    c = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.round(c * 255.0), 0, 255).astype(np.uint8)


def _frame(image: np.ndarray) -> np.ndarray:
    """The outer band of an image as N×3 pixels."""
    h, w = image.shape[:2]
    by, bx = max(1, int(h * FRAME_BAND)), max(1, int(w * FRAME_BAND))
    keep = np.zeros((h, w), bool)
    keep[:by], keep[-by:], keep[:, :bx], keep[:, -bx:] = True, True, True, True
    return image[keep]


def house_look_measure(references: Sequence[np.ndarray]) -> HouseLook | None:
    """The backdrop colour and contrast of the references' frames; None without references."""
    frames = [srgb_to_oklab(_frame(image)) for image in references if image.size]
    if not frames:
        return None
    pixels = np.concatenate(frames)
    median = np.median(pixels, axis=0)
    return HouseLook(
        backdrop=(float(median[0]), float(median[1]), float(median[2])),
        contrast=float(pixels[:, 0].std()),
        references=len(frames),
    )


def house_look_apply(
    image: np.ndarray,
    subject: np.ndarray,
    look: HouseLook,
    *,
    strength: float = 0.8,
    props: np.ndarray | None = None,
) -> np.ndarray:
    """``image`` (H×W×3 uint8) with its backdrop moved ``strength`` of the way to ``look``.

    ``subject`` is the scan's subject mask (0..1, any size; resized here): inside it, apart
    from a thin rim, the pixels are returned unchanged. The backdrop keeps its own shading and
    texture: its colour shifts by the difference of medians, its lightness spread moves
    towards the references' spread. ``props`` (the candidate's set pixels, e.g. a wrap over
    the lower face; 0..1, any size) are the set, not the baby: they are graded with the
    backdrop even where they lie over the subject mask.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be within 0..1, got {strength}")
    h, w = image.shape[:2]
    baby = cv2.resize(subject.astype(np.float32), (w, h)) >= 0.5
    paper = ~baby
    if props is not None:
        on_set = cv2.resize(props.astype(np.float32), (w, h)) >= 0.5
        baby &= ~on_set
        paper &= ~on_set
    lab = srgb_to_oklab(image)
    if (~baby).sum() < 0.02 * h * w:
        return image.copy()  # the subject fills the frame: no backdrop to speak of
    # The paper's own colour and spread are what move toward the references': a wrap or hat,
    # graded with it, would drag the median toward the fabric's shade.
    if paper.sum() < 0.02 * h * w:
        paper = ~baby
    current = np.median(lab[paper], axis=0)
    # The baby's core keeps its pixels exactly. Its rim (the mask is a little wider than the
    # painted silhouette) changes only where it looks like the backdrop, so no halo of the old
    # backdrop is left around the head and no edge of skin takes the new colour.
    rim = max(2, int(round(min(h, w) * 0.02)))
    core = cv2.erode(baby.astype(np.uint8), np.ones((rim, rim), np.uint8)).astype(bool)
    # A rim pixel is a mix of skin and old backdrop (the silhouette is anti-aliased): it takes
    # the new backdrop in the share it had of the old one, so the edge stays clean.
    weights = np.array([0.5, 1.0, 1.0], np.float32)
    distance = np.linalg.norm((lab - current) * weights, axis=-1)
    skin = np.median(lab[core], axis=0) if core.any() else current
    skin_distance = max(float(np.linalg.norm((skin - current) * weights)), 0.02)
    like_backdrop = np.clip(1.0 - distance / skin_distance, 0.0, 1.0)
    backdrop = np.where(baby, like_backdrop, 1.0).astype(np.float32)
    softened = cv2.GaussianBlur(backdrop, (0, 0), 1.5)  # no hard seam in the backdrop
    backdrop = np.where(baby, np.minimum(softened, like_backdrop), softened)
    backdrop[core] = 0.0
    shift = np.array(look.backdrop, np.float32) - current
    reach = float(np.linalg.norm(shift))
    if reach > MAX_SHIFT:
        shift *= MAX_SHIFT / reach
    spread = float(lab[paper][:, 0].std())
    gain = 1.0 if spread < 1e-4 else float(np.clip(look.contrast / spread, 0.6, 1.6))
    graded = lab.copy()
    graded[..., 0] = current[0] + (lab[..., 0] - current[0]) * gain
    graded += shift
    weight = (strength * backdrop)[..., None]
    out = oklab_to_srgb(lab * (1.0 - weight) + graded * weight)
    return np.where(core[..., None], image, out)


# Björn Ottosson's OKLab matrices (linear sRGB ↔ LMS ↔ Lab).
_RGB_TO_LMS = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ],
    np.float32,
)
_LMS_TO_LAB = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ],
    np.float32,
)
_LAB_TO_LMS = np.linalg.inv(_LMS_TO_LAB).astype(np.float32)
_LMS_TO_RGB = np.linalg.inv(_RGB_TO_LMS).astype(np.float32)


def house_look_candidates(
    conditioning: Conditioning, rendered: Sequence[RenderedCandidate]
) -> list[RenderedCandidate]:
    """Every candidate in the studio's house look (unchanged without reference portraits)."""
    look = house_look_measure(conditioning.reference_portraits)
    if look is None:
        return list(rendered)
    subject = conditioning.cues.subject
    return [
        replace(
            candidate,
            image=house_look_apply(candidate.image, subject, look, props=candidate.props),
        )
        for candidate in rendered
    ]
