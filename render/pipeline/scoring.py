"""The scoring head: rank candidates by how faithfully they render the conditioning.

Seven terms, each 0..1 (higher is better):

- ``structure``: do the candidate's luminance gradients inside the face follow the scan's
  normals? The candidate's luminance is fitted with the second-order spherical harmonics of
  the scan's normals (matte shading under any distant light); the score is the correlation of
  the candidate's gradients with the fitted shading's. Light is free, geometry is not.
- ``anchors``: are the scan's anchors re-found where they should be? The cheap check: around
  each confident anchor the fitted shading (what the scan's geometry looks like under the
  candidate's own light) is a template; it is searched for in the candidate near the anchor
  with normalised cross-correlation. An anchor is re-found when the best match is strong and
  close to where the scan put it. Confidence-weighted fraction re-found.
- ``tone``: ΔE2000 between the target skin colour and the candidate's median skin colour
  (confident face pixels, shadows and highlights excluded) in CIELab (coloraide's conversion,
  on whole arrays). For a monochrome style the target is the tone's grey of the same
  lightness. Full marks up to a difference seen only side by side, none once it reads as
  another skin (an ashy grey face).
- ``neonatal``: proportions measured on the re-found anchors (mid-face eye→mouth and lower face
  mouth→chin, both over the eye gap) compared with the scan's own. Growth of either — a longer
  nose-to-mouth span or a longer jaw — is the signature of adult drift in a generative model;
  past a limit the candidate is rejected (ranked last whatever its total). Proportions that
  cannot be measured because the features were not re-found are not evidence of a newborn
  look either: the term is then 0.5, not 1.
- ``subject``: is the baby alone, the scan's subject and nothing else? Skin leaking past the
  subject mask (a placenta or uterine wall painted as the baby) is found against the
  candidate's own backdrop: a smooth surface fitted robustly to the pixels well outside the
  subject; what departs from it by more than a plain colour difference is paint, and its area
  over the subject's is the ``leak``. A subject mask much larger than the face the anchors
  describe (vision merged the head with something) costs the same term for every candidate.
- ``features``: are the drawn lines where the anatomy is? Lines are what the candidate shows
  darker than its surroundings at feature scale (a morphological black-hat) and the scan's
  geometry under the candidate's light does not (the same black-hat of the fitted shading).
  The share of that ink's energy (darkness squared) lying away from the eyes, nose and mouth
  anchors is ``stray``, the energy itself ``stray_ink``: a lip drawn under the mouth or a lash
  on the cheek costs the term whether the features beside it are strong or faint.
- ``legibility``: can the features be read? The band-pass contrast of CIELab lightness (the
  scale of lids and lips) in the feature zones. L* is perceptually even, so the same limit
  holds at every skin tone: a face that reads as a flat grey mask fails it, light or deep.

The total is the weighted mean of the terms, scaled down by the worst of the four faults
(``subject``, ``features``, ``legibility``, ``tone``) once it falls under ``FAULT_FREE``: a
merged placenta, a misplaced lip or an ashy face is not made up for by good structure.
Distances are reported beside the terms, not weighted: ``delta_e``, ``leak``, ``stray``,
``stray_ink`` and ``contrast`` (L*).

Props: a candidate may say which of its pixels are the set, not the baby
(``RenderedCandidate.props``, e.g. a wrap round the cheeks and chin). Those pixels are left out
of every term: the face region the light is fitted on, the structure agreement (with a margin
for the smoothing, so the prop's edge is not read as a contour of the face), the tone sample,
the anchor search, which does not look into a prop (a chin the wrap hides is not measurable,
which is not evidence of drift), the backdrop the leak is measured against, and the lines and
contrast of the features. A candidate without props is scored exactly as if the field did not
exist.

``review_reason`` turns a ranking into the sentence a sonographer reads when the best portrait
falls under the studio's review threshold, or when no eye (``eyes_unseen``) or no mouth
(``mouth_unseen``) is drawn on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from coloraide import Color

from render.pipeline.conditioning import STYLES
from render.pipeline.fill import painted_head
from render.pipeline.types import (
    FEATURE_CONFIDENCE,
    MOUTH_ON_ITS_LINE,
    Conditioning,
    RenderedCandidate,
    ScoredCandidate,
    StructuralCues,
    surface_seen,
)

WEIGHTS: dict[str, float] = {
    "structure": 0.25,
    "anchors": 0.20,
    "tone": 0.15,
    "neonatal": 0.10,
    "subject": 0.10,
    "features": 0.10,
    "legibility": 0.10,
}
# Faults no other term makes up for: under FAULT_FREE the worst of them scales the total down.
FAULTS: tuple[str, ...] = ("subject", "features", "legibility", "tone")
FAULT_FREE = 0.8
SCORE_DIGITS = 4  # a score as a job keeps it and says it
_FAULT_FLOOR = 0.2

_ANALYSIS_LONG_SIDE = 320
_STRUCTURE_SIGMA = 0.008  # of the long side
_MATCH_THRESHOLD = 0.5  # normalised cross-correlation for "this is the same structure"
_REFOUND_TOLERANCE = 0.05  # of the face size: how far a re-found anchor may sit from the scan's
_SEARCH_RADIUS = 0.12  # of the face size: where a drifted anchor is still looked for
_PATCH_RADIUS = 0.07  # of the face size
_ADULT_DRIFT_LIMIT = 1.2  # a proportion 20% longer than the scan's is adult drift
_UNMEASURED_PROPORTIONS = 0.5  # neonatal term when the features were not re-found: unknown
# ΔE2000 of the skin to the target: up to 2 only a side-by-side comparison tells them apart;
# from 10 it reads as another skin (the grey of an ashy render of a deep tone is ~12).
_TONE_DELTA_E_FULL = 2.0
_TONE_DELTA_E_ZERO = 10.0
# An analysis pixel with any share of a prop (after the resize that averages the image's
# pixels into it) is the set's: part of its colour is the prop's.
_PROP_THRESHOLD = 1e-3
_MIN_VISIBLE = 0.6  # share of an anchor's patch that must show the baby for a match to count
_MIN_FACE_PIXELS = 50  # fewer visible face pixels than this: nothing left to score

# Subject: where the backdrop is judged, what counts as paint on it, and how much is too much.
_EDGE_MARGIN = 0.03  # of the long side beyond the subject mask: its soft edge and cast shadow
_MIN_BACKDROP_PIXELS = 200  # fewer: the frame is all baby, nothing to judge a leak against
_BACKDROP_FIT_PASSES = 3  # robust refits: a lump on the paper must not bend the fitted paper
_LEAK_DELTA_E = 10.0  # CIELab ΔE76 from the fitted paper: a different colour, not its falloff
_LEAK_FREE = 0.01  # leaked area over the subject's: a few stray pixels at most
_LEAK_ZERO = 0.06  # a lump a sixteenth the size of the baby: a merged placenta
# A newborn's head seen from the front barely exceeds the face's oval; turned, the skull
# behind the face shows. Subject area outside this grown oval is excess.
_HEAD_GROWTH = 1.5
_TURNED_HEAD_WIDTH_GROWTH = 2.2
_CRANIUM_RISE = 0.15  # of the face box's larger side: the head's centre above the face's
_EXCESS_FREE = 0.08
_EXCESS_ZERO = 0.22

# Features: lines thinner than this (of the face size) are drawn features, wider are form.
_LINE_SCALE = 0.06
_INK_FLOOR = 2.0  # L*-like units (luminance ×100): darker than this is a visible line
_FACE_INSET = 0.03  # of the face size: the outline's own shading is not a drawn line
_OUTLINE_BAND = 0.07  # of the face size: the rim where a lit head turns away from the light
# Occluders (a hand, the cord) have edges of their own; lines and contrast near them are
# not the face's.
_LOW_CONFIDENCE_INK = 0.1
_LOW_CONFIDENCE_REACH = 0.12  # of the face size: a finger's shadow falls this far
_STRAY_FREE = 0.06  # share of the face's line energy away from every feature
_STRAY_ZERO = 0.12
_INK_PRIOR = 0.3  # energy: a face with no lines at all is not judged by a speck of noise
# The same stray energy on its own (L*² px over the face size): a line that shows whatever the
# features beside it are (a tenth of the face long, a few L* dark is ~5).
_STRAY_INK_FREE = 0.6
_STRAY_INK_ZERO = 3.0
# Feature zones as fractions of the face box's diagonal: (half width, reach up, reach down).
_EYE_ZONE = (0.17, 0.09, 0.05)  # the lid and lash line, and the brow above it
_MOUTH_ZONE = (0.16, 0.06, 0.06)  # both lips
_NOSE_ZONE_HALF_WIDTH = 0.08  # the bridge from between the eyes down to the tip
_NOSTRIL_ZONE = (0.12, 0.06, 0.07)  # both nostrils beside and under the tip
_PROFILE_NOSE_HALF_WIDTH = 0.16  # a profile's nose seen from the side, and its nostril's wing

# Legibility: band-pass L* contrast of the feature zones (lids, lips) at every tone.
_BAND_FINE = 0.006  # of the face size
_BAND_COARSE = 0.04
_LEGIBLE_ZERO = 0.6  # L* RMS: a flat grey mask
_LEGIBLE_FULL = 1.0  # L* RMS: the lids and lips read (a hand over half the face still shows 1.0)
_MIN_ZONE_PIXELS = 20
_MIN_ZONE_SHARE = 0.2  # of the feature zones on the face: less in view is not judged


@dataclass(frozen=True)
class _Analysis:
    """The cues at analysis resolution, shared by every candidate."""

    scale: float
    size: tuple[int, int]  # width, height
    normals: np.ndarray  # H×W×3
    sh_basis: np.ndarray  # H×W×9, the normals' spherical harmonics (the shading fit's basis)
    face: np.ndarray  # H×W bool, confident face pixels
    face_size: float  # px at analysis resolution
    anchors: dict[str, tuple[float, float, float]]  # name -> x, y, confidence
    subject_area: float  # px at analysis resolution
    backdrop: np.ndarray  # H×W bool, well outside the subject: where a leak is looked for
    backdrop_basis: np.ndarray  # N×6, a quadratic surface over the backdrop's pixels
    excess: float  # share of the subject outside the head its face implies
    feature_zone: np.ndarray  # H×W bool, where eyes, nose and mouth are drawn
    lines_region: np.ndarray  # H×W bool, face pixels whose lines are measured
    stray_region: np.ndarray  # H×W bool, where a line off the features counts as stray
    legible_region: np.ndarray  # H×W bool, the features in view, clear of what covers them


def _analysis(cues: StructuralCues) -> _Analysis:
    height, width = cues.depth.shape
    scale = min(1.0, _ANALYSIS_LONG_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    normals = cv2.resize(cues.normals.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    # Structure is judged at the scale of the face's forms; scan speckle in the normals is not
    # structure a portrait should reproduce.
    normals = cv2.GaussianBlur(normals, (0, 0), _STRUCTURE_SIGMA * max(size)).astype(np.float32)
    normals = normals / np.maximum(np.linalg.norm(normals, axis=2, keepdims=True), 1e-6)
    subject = cv2.resize(cues.subject.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    low = cv2.resize(cues.low_confidence.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    face = (subject > 0.9) & (low < 0.3)
    face_size = 0.6 * max(size)
    face_diag = face_size * math.sqrt(2.0)
    head = None
    if cues.face_box is not None:
        box = cues.face_box
        in_box = np.zeros_like(face)
        x0, x1 = (box.x0 - cues.crop_box.x0) * scale, (box.x1 - cues.crop_box.x0) * scale
        y0, y1 = (box.y0 - cues.crop_box.y0) * scale, (box.y1 - cues.crop_box.y0) * scale
        in_box[max(int(y0), 0) : max(int(y1), 0), max(int(x0), 0) : max(int(x1), 0)] = True
        if (face & in_box).sum() > 50:
            face &= in_box
        face_size = max(1.0, math.sqrt(max(x1 - x0, 1.0) * max(y1 - y0, 1.0)))
        face_diag = max(1.0, math.hypot(x1 - x0, y1 - y0))
        head = (x0, y0, x1, y1)
    anchors = {
        a.name: ((a.x - cues.crop_box.x0) * scale, (a.y - cues.crop_box.y0) * scale, a.confidence)
        for a in cues.anchors
        if a.confidence >= 0.3
    }
    on_subject = subject >= 0.5
    # The head as a portrait paints it: continued round where the placenta or a wall cut it,
    # with no corner bitten out of its crown.
    contact = None
    if cues.contact is not None:
        small = cv2.resize(cues.contact.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        contact = small > 0.3
    eye_row = None if cues.eye_row is None else cues.eye_row * scale
    painted = painted_head(on_subject, contact, eye_row)
    backdrop = ~_grow(painted, _EDGE_MARGIN * max(size))
    ys, xs = np.nonzero(backdrop)
    backdrop_basis = _quadratic_basis(xs / size[0] - 0.5, ys / size[1] - 0.5)
    inset = cv2.erode(face.astype(np.uint8), _disc(_FACE_INSET * face_size)).astype(bool)
    feature_zone = _feature_zone(anchors, size, face_diag, cues.pose.startswith("profile"))
    # A stroke off the features is only judged clear of the outline (its lit rim against the
    # paper) and of occluders (a hand's fingers and their shadows are its own lines).
    occluded = _grow(low > _LOW_CONFIDENCE_INK, _LOW_CONFIDENCE_REACH * face_size)
    # Legibility is read everywhere on the features but under what covers them (a hand, fist
    # or arm, and a strand or the cord vision continued the face under: speckle and shade are
    # the face's own, and a flat mask there is as flat) and clear of the outline, whose step
    # to the paper the band-pass would count as the features' contrast.
    covering = np.zeros_like(face)
    for cover in (cues.hands, cues.repaired):
        if cover is not None:
            small_cover = cv2.resize(cover.astype(np.float32), size, interpolation=cv2.INTER_AREA)
            covering |= small_cover > 0.5
    covered = _grow(covering, _LOW_CONFIDENCE_REACH * face_size)
    clear_of_outline = cv2.erode(on_subject.astype(np.uint8), _disc(_OUTLINE_BAND * face_size))
    return _Analysis(
        scale=scale,
        size=size,
        normals=normals,
        sh_basis=_sh_basis(normals),
        face=face,
        face_size=face_size,
        anchors=anchors,
        subject_area=float(painted.sum()),
        backdrop=backdrop,
        backdrop_basis=backdrop_basis,
        excess=_subject_excess(on_subject, head, cues.pose),
        feature_zone=feature_zone,
        lines_region=inset,
        stray_region=inset & ~occluded & clear_of_outline.astype(bool),
        legible_region=feature_zone & inset & ~covered & clear_of_outline.astype(bool),
    )


def _disc(radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), _disc(radius)).astype(bool)


def _quadratic_basis(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = x.astype(np.float32), y.astype(np.float32)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _subject_excess(
    on_subject: np.ndarray, head: tuple[float, float, float, float] | None, pose: str
) -> float:
    """Share of the subject mask outside the head the face's oval implies (0 without a face).

    The head is the face box widened and raised toward the brow for the cranium above it, as
    vision's own head region is (``vision._head_region``; the cues here are upright): centred
    on the face, a baby's raised chin left her crown outside and read as a merged placenta."""
    area = float(on_subject.sum())
    if head is None or area == 0.0:
        return 0.0
    x0, y0, x1, y1 = head
    width_growth = _HEAD_GROWTH if pose == "frontal" else _TURNED_HEAD_WIDTH_GROWTH
    rx, ry = max((x1 - x0) * width_growth / 2, 1.0), max((y1 - y0) * _HEAD_GROWTH / 2, 1.0)
    cy = (y0 + y1) / 2 - _CRANIUM_RISE * max(x1 - x0, y1 - y0)
    height, width = on_subject.shape
    ys, xs = np.ogrid[0:height, 0:width]
    inside = ((xs - (x0 + x1) / 2) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
    return float((on_subject & ~inside).sum()) / area


def _feature_zone(
    anchors: dict[str, tuple[float, float, float]],
    size: tuple[int, int],
    diag: float,
    profile: bool = False,
) -> np.ndarray:
    """Where the eyes, nose and mouth may be drawn: ellipses round their confident anchors.
    On a profile the nose's side and its nostril's wing lie further back from the tip than
    they do seen from the front."""
    width, height = size
    ys, xs = np.ogrid[0:height, 0:width]
    zone = np.zeros((height, width), bool)

    def ellipse(cx: float, cy: float, half_width: float, up: float, down: float) -> np.ndarray:
        reach = np.where(ys < cy, up, down)
        return ((xs - cx) / half_width) ** 2 + ((ys - cy) / reach) ** 2 <= 1.0

    eyes = [anchors[name] for name in ("eye_left", "eye_right") if name in anchors]
    for ex, ey, _ in eyes:
        zone |= ellipse(ex, ey, *(f * diag for f in _EYE_ZONE))
    if "nose_tip" in anchors:
        nx, ny, _ = anchors["nose_tip"]
        top = min(ey for _, ey, _ in eyes) if eyes else ny - 0.15 * diag
        half = max((ny - top) / 2, 1.0)
        # A profile shows the nose's side: from the tip back to where it meets the cheek.
        nose_width = _PROFILE_NOSE_HALF_WIDTH if profile else _NOSE_ZONE_HALF_WIDTH
        zone |= ellipse(nx, ny - half, nose_width * diag, half, half)
        nostrils = (_PROFILE_NOSE_HALF_WIDTH, *_NOSTRIL_ZONE[1:]) if profile else _NOSTRIL_ZONE
        zone |= ellipse(nx, ny, *(f * diag for f in nostrils))
    if "mouth" in anchors:
        mx, my, _ = anchors["mouth"]
        zone |= ellipse(mx, my, *(f * diag for f in _MOUTH_ZONE))
    return zone


def _luminance(small: np.ndarray) -> np.ndarray:
    """Luminance 0..1 of the candidate already resized to analysis size."""
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _sh_basis(normals: np.ndarray) -> np.ndarray:
    """The nine second-order spherical-harmonic functions of the normals (constants dropped).

    Any distant lighting of a matte surface — key, fill, wrap, sky — is ~98% captured by these
    nine (Ramamoorthi & Hanrahan 2001), so the fit is free in the light but not in the shape.
    """
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    return np.stack(
        [np.ones_like(x), x, y, z, x * y, x * z, y * z, x * x - y * y, 3.0 * z * z - 1.0],
        axis=-1,
    )


def _props_mask(candidate: RenderedCandidate, size: tuple[int, int]) -> np.ndarray | None:
    """The candidate's props at analysis size (bool, True on the set), or None without any."""
    if candidate.props is None:
        return None
    props = np.asarray(candidate.props, dtype=np.float32)
    if props.shape != candidate.image.shape[:2]:
        raise ValueError(
            f"props are {props.shape[1]}x{props.shape[0]} px but the image is "
            f"{candidate.image.shape[1]}x{candidate.image.shape[0]}"
        )
    # Resized exactly as the image is, so a prop pixel lands where its colour does.
    small = cv2.resize(props, size, interpolation=cv2.INTER_AREA) > _PROP_THRESHOLD
    return small if small.any() else None


def _least_squares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x`` minimising ``|a x - b|`` for a tall ``a`` of a few columns, from the normal equations
    in float64: the same fit as ``np.linalg.lstsq`` (its SVD cost 10 ms a call on a face's pixels,
    this well under 1), which it falls back to when the columns are (nearly) dependent."""
    a64 = a.astype(np.float64, copy=False)
    gram = a64.T @ a64
    if np.linalg.cond(gram) > 1e10:
        return np.linalg.lstsq(a, b, rcond=None)[0]
    return np.linalg.solve(gram, a64.T @ b.astype(np.float64, copy=False))


def _fitted_shading(luminance: np.ndarray, analysis: _Analysis, face: np.ndarray) -> np.ndarray:
    """The scan's normals under the lighting that best explains the candidate on ``face``."""
    basis = analysis.sh_basis
    coeffs = _least_squares(basis[face], luminance[face])
    return (basis @ coeffs.astype(np.float32)).astype(np.float32)


def _structure_score(
    luminance: np.ndarray, fitted: np.ndarray, face: np.ndarray, props: np.ndarray | None = None
) -> float:
    sigma = _STRUCTURE_SIGMA * max(luminance.shape)
    smooth = cv2.GaussianBlur(luminance, (0, 0), sigma)
    inner = cv2.erode(face.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if props is not None:
        # The smoothing and the gradient carry a prop's pixels onto the skin as far as their
        # kernels reach (OpenCV's Gaussian kernel for float images: 8 sigma + 1 wide; Sobel 1).
        radius = (int(round(8.0 * sigma + 1.0)) | 1) // 2 + 1
        reach = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
        inner &= ~cv2.dilate(props.astype(np.uint8), reach).astype(bool)
    gx_c, gy_c = cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    gx_f, gy_f = cv2.Sobel(fitted, cv2.CV_32F, 1, 0), cv2.Sobel(fitted, cv2.CV_32F, 0, 1)
    dot = float((gx_c[inner] * gx_f[inner] + gy_c[inner] * gy_f[inner]).sum())
    norm_c = float((gx_c[inner] ** 2 + gy_c[inner] ** 2).sum())
    norm_f = float((gx_f[inner] ** 2 + gy_f[inner] ** 2).sum())
    if norm_c < 1e-9 or norm_f < 1e-9:
        return 0.0
    return float(np.clip(dot / math.sqrt(norm_c * norm_f), 0.0, 1.0))


@dataclass(frozen=True)
class _AnchorMatch:
    local: float  # best correlation within the re-found tolerance of the scan's position
    y: float  # where the structure sits vertically, searched without a pull to the scan's y
    vertical: float  # correlation there


def _masked_match(region: np.ndarray, template: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``template`` over ``region`` on the visible pixels only.

    ``hidden`` (bool, region-sized) marks prop pixels. At each placement the correlation uses
    the pixels the prop leaves visible; where fewer than ``_MIN_VISIBLE`` of the patch show,
    the placement cannot be judged and answers -inf.

    Every sum over a placement's visible pixels is one ``cv2.matchTemplate`` (plain
    correlation) of the visibility, or of the region's visible values, with the template, its
    square or a box of ones; the means and deviations follow from those sums. Values are
    centred first, so the float32 sums do not cancel.
    """
    th, tw = template.shape
    visible = (~hidden).astype(np.float32)
    template = (template - float(template.mean())).astype(np.float32)
    region = (region - float(region.mean())).astype(np.float32) * visible
    ones = np.ones_like(template)

    def window_sums(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        return cv2.matchTemplate(image, kernel, cv2.TM_CCORR).astype(np.float64)

    count = np.rint(window_sums(visible, ones))
    safe = np.maximum(count, 1.0)
    sum_t = window_sums(visible, template)
    sum_tt = window_sums(visible, template * template)
    sum_r = window_sums(region, ones)
    sum_rr = window_sums(region * region, ones)
    sum_tr = window_sums(region, template)
    dot = sum_tr - sum_t * sum_r / safe
    var_t = np.maximum(sum_tt - sum_t * sum_t / safe, 0.0)
    var_r = np.maximum(sum_rr - sum_r * sum_r / safe, 0.0)
    norm = np.sqrt(var_t * var_r)
    response = np.where(norm > 1e-9, dot / np.maximum(norm, 1e-9), 0.0)
    response[count < _MIN_VISIBLE * th * tw] = -np.inf
    return response.astype(np.float32)


def _find_anchors(
    luminance: np.ndarray,
    fitted: np.ndarray,
    analysis: _Analysis,
    props: np.ndarray | None = None,
) -> dict[str, _AnchorMatch]:
    """Each confident anchor's structure looked for in the candidate near the scan's position.

    Lids, lips and the chin are nearly horizontal lines: along them every offset matches about
    as well (the aperture problem), but across them the match is sharp. So horizontal position
    is only checked within the tolerance, while the vertical position is searched widely —
    which is also the direction adult drift moves them.

    With ``props`` the search does not look into the set: each placement is judged on the
    pixels the prop leaves visible, placements mostly hidden are skipped, and an anchor that
    is hidden where the scan put it is not measurable (left out, neither re-found nor moved).
    """
    patch = max(3, int(_PATCH_RADIUS * analysis.face_size))
    search = max(2, int(_SEARCH_RADIUS * analysis.face_size))
    tolerance = max(1, int(_REFOUND_TOLERANCE * analysis.face_size))
    height, width = luminance.shape
    found: dict[str, _AnchorMatch] = {}
    for name, (ax, ay, _confidence) in analysis.anchors.items():
        cx, cy = int(round(ax)), int(round(ay))
        if not (patch <= cx < width - patch and patch <= cy < height - patch):
            continue
        template = fitted[cy - patch : cy + patch + 1, cx - patch : cx + patch + 1]
        if float(template.std()) < 1e-3:
            continue  # flat structure: nothing to re-find
        x0, y0 = max(cx - patch - tolerance, 0), max(cy - patch - search, 0)
        x1, y1 = min(cx + patch + tolerance + 1, width), min(cy + patch + search + 1, height)
        region = luminance[y0:y1, x0:x1]
        hidden = None if props is None else props[y0:y1, x0:x1]
        if hidden is not None and not hidden.any():
            hidden = None
        if hidden is None:
            if float(region.std()) < 1e-4:
                found[name] = _AnchorMatch(0.0, ay, 0.0)
                continue
            response = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
        else:
            response = _masked_match(region, template, hidden)
        offsets_y = np.arange(response.shape[0]) + y0 + patch - cy
        near = np.abs(offsets_y) <= tolerance
        if hidden is not None and not np.isfinite(response[near]).any():
            continue  # hidden by a prop where the scan put it: not measurable
        by, bx = np.unravel_index(int(np.argmax(response)), response.shape)
        found[name] = _AnchorMatch(
            local=float(response[near].max()) if near.any() else 0.0,
            y=float(y0 + by + patch),
            vertical=float(response[by, bx]),
        )
    return found


def _anchor_score(found: dict[str, _AnchorMatch], analysis: _Analysis) -> float:
    total = refound = 0.0
    for name, match in found.items():
        confidence = analysis.anchors[name][2]
        total += confidence
        if match.local >= _MATCH_THRESHOLD:
            refound += confidence
    return refound / total if total else 0.0


def _proportions(ys: dict[str, float], eye_gap: float) -> tuple[float, float] | None:
    """(mid-face eye→mouth, lower face mouth→chin) over the eye gap, or None."""
    if eye_gap < 1e-3 or any(n not in ys for n in ("eye_left", "eye_right", "mouth", "chin")):
        return None
    eye_y = (ys["eye_left"] + ys["eye_right"]) / 2.0
    return (ys["mouth"] - eye_y) / eye_gap, (ys["chin"] - ys["mouth"]) / eye_gap


def _neonatal_check(found: dict[str, _AnchorMatch], analysis: _Analysis) -> tuple[float, str]:
    anchors = analysis.anchors
    if "eye_left" not in anchors or "eye_right" not in anchors:
        return 1.0, ""  # nothing measurable: no evidence of drift either way
    eye_gap = math.hypot(
        anchors["eye_right"][0] - anchors["eye_left"][0],
        anchors["eye_right"][1] - anchors["eye_left"][1],
    )
    scan = _proportions({n: y for n, (_, y, _) in anchors.items()}, eye_gap)
    if scan is None or min(scan) <= 1e-3:
        return 1.0, ""
    if any(name not in found for name in ("eye_left", "eye_right", "mouth", "chin")):
        return 1.0, ""  # hidden (by a prop) or outside the frame: no evidence either way
    candidate = _proportions(
        {n: m.y for n, m in found.items() if m.vertical >= _MATCH_THRESHOLD * 0.6}, eye_gap
    )
    if candidate is None:
        # The features are in view but not where a face would put them: that is no evidence
        # of a newborn's proportions, so the term must not read as a perfect newborn look.
        return _UNMEASURED_PROPORTIONS, ""
    drift = max(candidate[0] / scan[0], candidate[1] / scan[1])
    score = float(np.clip(1.0 - (drift - 1.0) / (_ADULT_DRIFT_LIMIT - 1.0), 0.0, 1.0))
    if drift >= _ADULT_DRIFT_LIMIT:
        return score, (
            f"adult drift: face proportions {drift:.2f}× the scan's "
            f"(mid-face {candidate[0]:.2f} vs {scan[0]:.2f}, "
            f"lower face {candidate[1]:.2f} vs {scan[1]:.2f} eye gaps)"
        )
    return score, ""


def skin_delta_e(image: np.ndarray, target_hex: str, face: np.ndarray) -> float:
    """ΔE2000 from ``target_hex`` to the median mid-tone colour of ``image`` on ``face``.

    ``face`` is a bool mask of the same height and width as ``image``.
    """
    pixels = image[face]
    if pixels.shape[0] == 0:
        return float("inf")
    grey = pixels.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    low, high = np.percentile(grey, [25.0, 85.0])
    mid = pixels[(grey >= low) & (grey <= high)]
    if mid.shape[0] == 0:
        mid = pixels
    # An even sample of 400 is plenty for a median (and keeps the figure the per-pixel
    # coloraide conversion gave); the conversion itself is coloraide's, on the whole array.
    step = max(1, mid.shape[0] // 400)
    median = np.median(srgb_to_lab(mid[::step]), axis=0)
    return float(Color("lab-d65", list(median)).delta_e(Color(target_hex), method="2000"))


# CIELab (D65) as coloraide converts ("srgb" → "lab-d65"), on arrays: its sRGB transfer, its
# linear-sRGB → XYZ matrix and its D65 white, read from coloraide itself.
_SRGB_TO_XYZ = np.array(
    [Color("srgb-linear", list(v)).convert("xyz-d65").coords() for v in np.eye(3)], np.float64
)
_D65_WHITE = np.array(Color("lab-d65", [100.0, 0.0, 0.0]).convert("xyz-d65").coords(), np.float64)
_LAB_EPSILON = 216 / 24389
_LAB_KAPPA = 24389 / 27


def srgb_to_lab(pixels: np.ndarray) -> np.ndarray:
    """CIELab D65 (L* 0..100), float64 N×3, of uint8 sRGB pixels (N×3): coloraide's figures."""
    values = pixels.reshape(-1, 3).astype(np.float64) / 255.0
    linear = np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)
    xyz = (linear @ _SRGB_TO_XYZ) / _D65_WHITE
    f = np.where(xyz > _LAB_EPSILON, np.cbrt(xyz), (_LAB_KAPPA * xyz + 16.0) / 116.0)
    return np.stack(
        [116.0 * f[:, 1] - 16.0, 500.0 * (f[:, 0] - f[:, 1]), 200.0 * (f[:, 1] - f[:, 2])],
        axis=-1,
    )


def _tone_target(conditioning: Conditioning) -> str:
    if (conditioning.look or STYLES[conditioning.style]).monochrome:
        lightness = Color(conditioning.tone.hex).convert("lab-d65").coords()[0]
        return Color("lab-d65", [lightness, 0.0, 0.0]).convert("srgb").to_string(hex=True)
    return conditioning.tone.hex


def score_candidate(conditioning: Conditioning, candidate: RenderedCandidate) -> ScoredCandidate:
    return _score(conditioning, candidate, _analysis(conditioning.cues))


def _lab(image: np.ndarray) -> np.ndarray:
    """CIELab (D65; L* 0..100) of an analysis-size uint8 RGB image, float32."""
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _leak(lab: np.ndarray, analysis: _Analysis, props: np.ndarray | None) -> float:
    """Area painted on the backdrop, well outside the subject, over the subject's area.

    The backdrop is the candidate's own: a quadratic surface per Lab channel (a paper's pool of
    light and vignette) fitted to the pixels outside the subject, refitted on the pixels that
    agree with it so a lump does not bend it. Pixels far from it in colour are paint.
    """
    zone = analysis.backdrop
    basis = analysis.backdrop_basis
    if props is not None:
        clear = ~_grow(props, 2.0)  # the prop's soft edge and its shadow on the paper too
        basis = basis[clear[zone]]
        zone = zone & clear
    if basis.shape[0] < _MIN_BACKDROP_PIXELS or analysis.subject_area == 0.0:
        return 0.0
    pixels = lab[zone]
    use = np.ones(pixels.shape[0], bool)
    for _ in range(_BACKDROP_FIT_PASSES):
        coeffs = _least_squares(basis[use], pixels[use])
        distance = np.linalg.norm(pixels - basis @ coeffs, axis=1)
        use = distance < max(3.0 * float(np.median(distance)), 0.4 * _LEAK_DELTA_E)
    return float((distance > _LEAK_DELTA_E).sum()) / analysis.subject_area


def _subject_score(leak: float, excess: float) -> float:
    leaked = (leak - _LEAK_FREE) / (_LEAK_ZERO - _LEAK_FREE)
    merged = (excess - _EXCESS_FREE) / (_EXCESS_ZERO - _EXCESS_FREE)
    return float(np.clip(1.0 - max(leaked, merged), 0.0, 1.0))


def _black_hat(image: np.ndarray, analysis: _Analysis) -> np.ndarray:
    return cv2.morphologyEx(image, cv2.MORPH_BLACKHAT, _disc(_LINE_SCALE * analysis.face_size / 2))


def _stray_lines(
    luminance: np.ndarray,
    fitted: np.ndarray,
    face: np.ndarray,
    analysis: _Analysis,
    props: np.ndarray | None,
) -> tuple[float, float]:
    """The drawn lines away from every feature's anchor: their share of the face's lines and
    their energy.

    A line is a thin stretch darker than its surroundings (black-hat at feature scale) that the
    scan's own geometry under the candidate's light does not explain (minus the fitted
    shading's black-hat): a crease the engine drew. Luminance is smoothed a little first, so
    skin grain is not read as lines. Lines on the feature zones count as placed anywhere on the
    face; lines elsewhere count as stray only clear of the outline and of occluders.
    """
    region = analysis.lines_region
    if props is not None:
        region = region & ~_grow(props, _FACE_INSET * analysis.face_size)
    if not region.any():
        return 0.0, 0.0
    # The smoothing and the black-hat reach past the inset. Off the face (the paper beyond
    # the outline, an occluder, a prop) they see the scan's fitted shading instead: the dark
    # rim of a lit outline against light paper is not a line, and no prop pixel counts.
    luminance = np.where(face, luminance, fitted)
    smooth = cv2.GaussianBlur(luminance, (0, 0), max(0.6, 0.004 * analysis.face_size))
    ink = 100.0 * (_black_hat(smooth, analysis) - _black_hat(fitted, analysis)) - _INK_FLOOR
    # Squared: a line's darkness counts more than its length, so the faint seams shading
    # leaves are not mistaken for a drawn stroke.
    ink = np.where(region & (ink > 0.0), ink * ink, 0.0)
    stray = float(ink[analysis.stray_region & ~analysis.feature_zone].sum()) / analysis.face_size
    placed = float(ink[analysis.feature_zone].sum()) / analysis.face_size
    return stray / (stray + placed + _INK_PRIOR), stray


def _features_score(share: float, energy: float) -> float:
    by_share = (share - _STRAY_FREE) / (_STRAY_ZERO - _STRAY_FREE)
    by_energy = (energy - _STRAY_INK_FREE) / (_STRAY_INK_ZERO - _STRAY_INK_FREE)
    return float(np.clip(1.0 - max(by_share, by_energy), 0.0, 1.0))


def _feature_contrast(lab: np.ndarray, analysis: _Analysis, props: np.ndarray | None) -> float:
    """RMS of L* band-passed to the scale of lids and lips, over the feature zones.

    Judged only on enough of the zones: when a hand, an arm or the cord (and the reach of
    its shadows) leaves a sliver of them, a few pixels of plain cheek would stand for the
    whole face, and a legible face was sent to review as a flat mask."""
    region = analysis.legible_region
    if props is not None:
        region = region & ~_grow(props, _FACE_INSET * analysis.face_size)
    zones = int((analysis.feature_zone & analysis.lines_region).sum())
    if int(region.sum()) < max(_MIN_ZONE_PIXELS, _MIN_ZONE_SHARE * zones):
        return _LEGIBLE_FULL  # no feature in view to read: nothing illegible either
    lightness = lab[..., 0]
    fine_sigma = max(0.5, _BAND_FINE * analysis.face_size)
    coarse_sigma = _BAND_COARSE * analysis.face_size
    if props is None:
        fine = cv2.GaussianBlur(lightness, (0, 0), fine_sigma)
        coarse = cv2.GaussianBlur(lightness, (0, 0), coarse_sigma)
    else:
        # Blurs normalised over the pixels that are not the set: a prop's colour never bleeds
        # into the contrast measured beside it.
        seen = (~props).astype(np.float32)
        fine = _masked_blur(lightness, seen, fine_sigma)
        coarse = _masked_blur(lightness, seen, coarse_sigma)
    band = (fine - coarse)[region]
    return float(np.sqrt(np.mean(band * band)))


def _masked_blur(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    blurred = cv2.GaussianBlur(values * weights, (0, 0), sigma)
    return blurred / np.maximum(cv2.GaussianBlur(weights, (0, 0), sigma), 1e-6)


def _legibility_score(contrast: float) -> float:
    span = _LEGIBLE_FULL - _LEGIBLE_ZERO
    return float(np.clip((contrast - _LEGIBLE_ZERO) / span, 0.0, 1.0))


def _tone_score(delta_e: float) -> float:
    span = _TONE_DELTA_E_ZERO - _TONE_DELTA_E_FULL
    return float(np.clip(1.0 - (delta_e - _TONE_DELTA_E_FULL) / span, 0.0, 1.0))


def _total(terms: dict[str, float]) -> float:
    mean = sum(WEIGHTS[name] * terms[name] for name in WEIGHTS)
    worst = min(1.0, min(terms[name] for name in FAULTS) / FAULT_FREE)
    # Never below a fifth of the mean, so faulty candidates still rank among themselves.
    return float(np.clip(mean * (_FAULT_FLOOR + (1.0 - _FAULT_FLOOR) * worst), 0.0, 1.0))


def _score(
    conditioning: Conditioning, candidate: RenderedCandidate, analysis: _Analysis
) -> ScoredCandidate:
    if not analysis.face.any():
        return ScoredCandidate(candidate, 0.0, dict.fromkeys(WEIGHTS, 0.0), "no face to score")
    props = _props_mask(candidate, analysis.size)
    face = analysis.face if props is None else analysis.face & ~props
    if props is not None and int(face.sum()) < _MIN_FACE_PIXELS:
        reason = "no face to score: the set covers it"
        return ScoredCandidate(candidate, 0.0, dict.fromkeys(WEIGHTS, 0.0), reason)
    small = cv2.resize(candidate.image, analysis.size, interpolation=cv2.INTER_AREA)
    luminance = _luminance(small)
    fitted = _fitted_shading(luminance, analysis, face)
    found = _find_anchors(luminance, fitted, analysis, props)
    lab = _lab(small)
    # Capped so the stored terms stay finite JSON even for a candidate with no skin at all.
    delta_e = min(skin_delta_e(small, _tone_target(conditioning), face), 100.0)
    neonatal, rejected = _neonatal_check(found, analysis)
    leak = _leak(lab, analysis, props)
    stray, stray_ink = _stray_lines(luminance, fitted, face, analysis, props)
    contrast = _feature_contrast(lab, analysis, props)
    terms = {
        "structure": _structure_score(luminance, fitted, face, props),
        "anchors": _anchor_score(found, analysis),
        "tone": _tone_score(delta_e),
        "neonatal": neonatal,
        "subject": _subject_score(leak, analysis.excess),
        "features": _features_score(stray, stray_ink),
        "legibility": _legibility_score(contrast),
    }
    total = _total(terms)
    # Reported, not weighted: the terms above already carry them.
    terms.update(delta_e=delta_e, leak=leak, stray=stray, stray_ink=stray_ink, contrast=contrast)
    return ScoredCandidate(candidate, total, terms, rejected)


def rank(
    conditioning: Conditioning, candidates: Sequence[RenderedCandidate]
) -> list[ScoredCandidate]:
    """Candidates best first; rejected ones (e.g. adult drift) last whatever their total.

    Above the eyes every candidate is judged on the same pixels: what a prop covers there on
    any of them (a hat some wear) is left out of all, or a hat would win by hiding the
    forehead from the tone and shading terms rather than by a better face.
    """
    analysis = _analysis(conditioning.cues)
    shared = _props_above_the_eyes(conditioning, candidates)
    scored = []
    for candidate in candidates:
        judged = candidate
        if shared is not None:
            own = candidate.props if candidate.props is not None else np.zeros_like(shared)
            judged = replace(candidate, props=np.maximum(own, shared))
        result = _score(conditioning, judged, analysis)
        scored.append(replace(result, candidate=candidate))
    return sorted(scored, key=lambda s: (bool(s.rejected_reason), -s.total))


def _props_above_the_eyes(
    conditioning: Conditioning, candidates: Sequence[RenderedCandidate]
) -> np.ndarray | None:
    """The union of the candidates' props above the eyes (H×W), or None when they have none
    there or differ in size."""
    cues = conditioning.cues
    eyes = [a for a in cues.anchors if a.name in ("eye_left", "eye_right")]
    sized = {c.image.shape[:2] for c in candidates}
    if not eyes or len(sized) != 1 or all(c.props is None for c in candidates):
        return None
    height, width = sized.pop()
    row = int((min(a.y for a in eyes) - cues.crop_box.y0) * height / cues.depth.shape[0])
    if row <= 0:
        return None
    shared = np.zeros((height, width), np.float32)
    for candidate in candidates:
        if candidate.props is not None and candidate.props.shape == (height, width):
            # The fabric only: its shadow on a brow is the candidate's own light on skin.
            fabric = np.where(candidate.props[:row] >= 0.5, candidate.props[:row], 0.0)
            np.maximum(shared[:row], fabric, out=shared[:row])
    return shared if (shared >= 0.5).any() else None


# What a low term means and what the sonographer can do about it, for the review reason.
TERM_PROBLEMS: dict[str, tuple[str, str]] = {
    "structure": (
        "the portrait's shading does not follow the shape of the scan",
        "re-render, or upload a clearer scan",
    ),
    "anchors": (
        "the face's features could not be re-found where the scan shows them",
        "check the anchors or re-render",
    ),
    "tone": (
        "the skin does not read as the parents' tone",
        "check the skin tones chosen for the session or re-render",
    ),
    "neonatal": (
        "the face's proportions drifted from a newborn's",
        "try Fix Anatomy",
    ),
    "subject": (
        "something outside the baby (placenta, uterine wall or cord) is painted as part of "
        "the baby",
        "upload a scan where the face is clear of the placenta, or re-render",
    ),
    "features": (
        "lines are drawn away from the eyes, nose and mouth",
        "check the anchors or re-render",
    ),
    "legibility": (
        "the eyes and mouth are too faint to read",
        "try another style or re-render",
    ),
}


def weakest_term(scored: ScoredCandidate) -> str:
    """The term that cost ``scored`` the most: the worst fault when one scaled the total down,
    else the term whose shortfall weighs most."""
    terms = scored.terms
    faults = [name for name in FAULTS if terms.get(name, 1.0) < FAULT_FREE]
    if faults:
        return min(faults, key=lambda name: terms[name])
    return max(WEIGHTS, key=lambda name: WEIGHTS[name] * (1.0 - terms.get(name, 1.0)))


EYES_UNSEEN = (
    "Neither eye shows clearly in the scan (a hand, the cord or a shadow covers them, or the "
    "face reader could not pin them down), so no eye is drawn on the portrait; look at it "
    "before it is sent, or upload a scan where the eyes are clear"
)


def eyes_unseen(cues: StructuralCues, drawn: frozenset[str] | None = None) -> bool:
    """A face turned toward the probe (not a profile) on which no eye is drawn: a portrait
    without eyes goes to a person, however well it scores.

    ``drawn`` is what the engine says it drew (``RenderedCandidate.drawn``). An engine that
    does not say is judged by what could be drawn: an eye whose anchor is sure enough and
    whose surface was seen (no shadow, hand or cord: ``types.surface_seen``, and no hand). An
    eye a sonographer placed by hand under the cord is as undrawn as one vision dropped."""
    if cues.pose.startswith("profile"):
        return False
    if drawn is not None:
        return "eyes" not in drawn
    return not any(_feature_drawn(cues, name) for name in ("eye_left", "eye_right"))


MOUTH_UNSEEN = (
    "The mouth does not show clearly in the scan (a hand, the cord or a shadow covers it, or "
    "the face reader could not pin it down), so no lips are drawn on the portrait; look at it "
    "before it is sent, correct the face points, or upload a scan where the mouth is clear"
)


def mouth_unseen(cues: StructuralCues, drawn: frozenset[str] | None = None) -> bool:
    """A face on which no mouth is drawn: the portrait is a face without lips (fingers across
    them, painted over, or a fist pressed to a turned face's nose and lips left plain skin
    there), which goes to a person however well it scores. Judged as the eyes are
    (``eyes_unseen``); without the engine's word, from ``MOUTH_ON_ITS_LINE``, the least sure
    the relight engine draws lips at. A hand kept over the mouth sends it to review too: a
    sonographer's look costs one click, a parent's first sight of a face without a mouth
    far more."""
    if drawn is not None:
        return "mouth" not in drawn
    return not _feature_drawn(cues, "mouth", MOUTH_ON_ITS_LINE)


def _feature_drawn(cues: StructuralCues, name: str, confidence: float = FEATURE_CONFIDENCE) -> bool:
    anchor = cues.anchor(name)
    if anchor is None or anchor.confidence < confidence:
        return False
    height, width = cues.low_confidence.shape
    x = int(np.clip(round(anchor.x - cues.crop_box.x0), 0, width - 1))
    y = int(np.clip(round(anchor.y - cues.crop_box.y0), 0, height - 1))
    if cues.hands is not None and cues.hands[y, x] > 0.5:
        return False
    return bool(surface_seen(cues.low_confidence[y, x]) > 0.5)


def review_reason(
    ranked: Sequence[ScoredCandidate], threshold: float, cues: StructuralCues | None = None
) -> str:
    """Why a sonographer must look before this set goes out, or "" when the best is fine.

    ``ranked`` is ``rank``'s answer (best first). The set needs review when there is no
    candidate, when every candidate was rejected, when the best has no eye (``eyes_unseen``)
    or no mouth (``mouth_unseen``) drawn on the scan's face (``cues``), or when the best total
    is under ``threshold``.
    """
    if not ranked:
        return "No portrait came out of the render; re-render."
    best = ranked[0]
    if best.rejected_reason:
        return (
            f"Every portrait was set aside ({best.rejected_reason}); "
            "check the anchors, try Fix Anatomy or re-render."
        )
    if cues is not None and eyes_unseen(cues, best.candidate.drawn):
        return f"{EYES_UNSEEN}."
    if cues is not None and mouth_unseen(cues, best.candidate.drawn):
        return f"{MOUTH_UNSEEN}."
    if best.total >= threshold:
        return ""
    problem, advice = TERM_PROBLEMS[weakest_term(best)]
    # As the job's candidate keeps it (``SCORE_DIGITS``): 0.15504 read "0.16" here and "0.15"
    # on the candidate's own line.
    return f"The best portrait scored {round(best.total, SCORE_DIGITS):.2f}: {problem}; {advice}."
