"""The scoring head: rank candidates by how faithfully they render the conditioning.

Four terms, each 0..1 (higher is better):

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
  (confident face pixels, shadows and highlights excluded) in CIELab, via coloraide. For a
  monochrome style the target is the tone's grey of the same lightness.
- ``neonatal``: proportions measured on the re-found anchors (mid-face eye→mouth and lower face
  mouth→chin, both over the eye gap) compared with the scan's own. Growth of either — a longer
  nose-to-mouth span or a longer jaw — is the signature of adult drift in a generative model;
  past a limit the candidate is rejected (ranked last whatever its total).

Props: a candidate may say which of its pixels are the set, not the baby
(``RenderedCandidate.props``, e.g. a wrap round the cheeks and chin). Those pixels are left out
of every term: the face region the light is fitted on, the structure agreement (with a margin
for the smoothing, so the prop's edge is not read as a contour of the face), the tone sample,
and the anchor search, which does not look into a prop (a chin the wrap hides is not
measurable, which is not evidence of drift). A candidate without props is scored exactly as
if the field did not exist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from coloraide import Color

from render.pipeline.conditioning import STYLES
from render.pipeline.types import (
    Conditioning,
    RenderedCandidate,
    ScoredCandidate,
    StructuralCues,
)

WEIGHTS: dict[str, float] = {"structure": 0.35, "anchors": 0.25, "tone": 0.25, "neonatal": 0.15}

_ANALYSIS_LONG_SIDE = 320
_STRUCTURE_SIGMA = 0.008  # of the long side
_MATCH_THRESHOLD = 0.5  # normalised cross-correlation for "this is the same structure"
_REFOUND_TOLERANCE = 0.05  # of the face size: how far a re-found anchor may sit from the scan's
_SEARCH_RADIUS = 0.12  # of the face size: where a drifted anchor is still looked for
_PATCH_RADIUS = 0.07  # of the face size
_ADULT_DRIFT_LIMIT = 1.2  # a proportion 20% longer than the scan's is adult drift
_TONE_DELTA_E_ZERO = 25.0  # ΔE2000 at which the tone term reaches 0
# An analysis pixel with any share of a prop (after the resize that averages the image's
# pixels into it) is the set's: part of its colour is the prop's.
_PROP_THRESHOLD = 1e-3
_MIN_VISIBLE = 0.6  # share of an anchor's patch that must show the baby for a match to count
_MIN_FACE_PIXELS = 50  # fewer visible face pixels than this: nothing left to score


@dataclass(frozen=True)
class _Analysis:
    """The cues at analysis resolution, shared by every candidate."""

    scale: float
    size: tuple[int, int]  # width, height
    normals: np.ndarray  # H×W×3
    face: np.ndarray  # H×W bool, confident face pixels
    face_size: float  # px at analysis resolution
    anchors: dict[str, tuple[float, float, float]]  # name -> x, y, confidence


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
    if cues.face_box is not None:
        box = cues.face_box
        in_box = np.zeros_like(face)
        x0, x1 = (box.x0 - cues.crop_box.x0) * scale, (box.x1 - cues.crop_box.x0) * scale
        y0, y1 = (box.y0 - cues.crop_box.y0) * scale, (box.y1 - cues.crop_box.y0) * scale
        in_box[max(int(y0), 0) : max(int(y1), 0), max(int(x0), 0) : max(int(x1), 0)] = True
        if (face & in_box).sum() > 50:
            face &= in_box
        face_size = max(1.0, math.sqrt(max(x1 - x0, 1.0) * max(y1 - y0, 1.0)))
    anchors = {
        a.name: ((a.x - cues.crop_box.x0) * scale, (a.y - cues.crop_box.y0) * scale, a.confidence)
        for a in cues.anchors
        if a.confidence >= 0.3
    }
    return _Analysis(scale, size, normals, face, face_size, anchors)


def _luminance(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
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


def _fitted_shading(luminance: np.ndarray, analysis: _Analysis, face: np.ndarray) -> np.ndarray:
    """The scan's normals under the lighting that best explains the candidate on ``face``."""
    basis = _sh_basis(analysis.normals)
    coeffs, *_ = np.linalg.lstsq(basis[face], luminance[face], rcond=None)
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
    """
    th, tw = template.shape
    windows = np.lib.stride_tricks.sliding_window_view(region, (th, tw))
    visible = np.lib.stride_tricks.sliding_window_view(~hidden, (th, tw)).astype(np.float32)
    count = visible.sum(axis=(2, 3))
    safe = np.maximum(count, 1.0)
    t_mean = (visible * template).sum(axis=(2, 3)) / safe
    r_mean = (visible * windows).sum(axis=(2, 3)) / safe
    t_dev = (template - t_mean[..., None, None]) * visible
    r_dev = (windows - r_mean[..., None, None]) * visible
    dot = (t_dev * r_dev).sum(axis=(2, 3))
    norm = np.sqrt((t_dev**2).sum(axis=(2, 3)) * (r_dev**2).sum(axis=(2, 3)))
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
    candidate = _proportions(
        {n: m.y for n, m in found.items() if m.vertical >= _MATCH_THRESHOLD * 0.6}, eye_gap
    )
    if scan is None or candidate is None or min(scan) <= 1e-3:
        return 1.0, ""
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
    # Per-pixel Lab through coloraide is ~20 µs a pixel; an even sample of 400 is plenty for
    # a median and keeps scoring five candidates well under a second.
    step = max(1, mid.shape[0] // 400)
    labs = np.array(
        [Color("srgb", list(p / 255.0)).convert("lab-d65").coords() for p in mid[::step]],
        dtype=np.float64,
    )
    median = np.median(labs, axis=0)
    return float(Color("lab-d65", list(median)).delta_e(Color(target_hex), method="2000"))


def _tone_target(conditioning: Conditioning) -> str:
    if STYLES[conditioning.style].monochrome:
        lightness = Color(conditioning.tone.hex).convert("lab-d65").coords()[0]
        return Color("lab-d65", [lightness, 0.0, 0.0]).convert("srgb").to_string(hex=True)
    return conditioning.tone.hex


def score_candidate(conditioning: Conditioning, candidate: RenderedCandidate) -> ScoredCandidate:
    return _score(conditioning, candidate, _analysis(conditioning.cues))


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
    luminance = _luminance(candidate.image, analysis.size)
    fitted = _fitted_shading(luminance, analysis, face)
    found = _find_anchors(luminance, fitted, analysis, props)
    small = cv2.resize(candidate.image, analysis.size, interpolation=cv2.INTER_AREA)
    # Capped so the stored terms stay finite JSON even for a candidate with no skin at all.
    delta_e = min(skin_delta_e(small, _tone_target(conditioning), face), 100.0)
    neonatal, rejected = _neonatal_check(found, analysis)
    terms = {
        "structure": _structure_score(luminance, fitted, face, props),
        "anchors": _anchor_score(found, analysis),
        "tone": float(np.clip(1.0 - delta_e / _TONE_DELTA_E_ZERO, 0.0, 1.0)),
        "neonatal": neonatal,
    }
    total = sum(WEIGHTS[name] * value for name, value in terms.items())
    terms["delta_e"] = delta_e  # reported, not weighted: the tone term already carries it
    return ScoredCandidate(candidate, float(np.clip(total, 0.0, 1.0)), terms, rejected)


def rank(
    conditioning: Conditioning, candidates: Sequence[RenderedCandidate]
) -> list[ScoredCandidate]:
    """Candidates best first; rejected ones (e.g. adult drift) last whatever their total."""
    analysis = _analysis(conditioning.cues)
    scored = [_score(conditioning, candidate, analysis) for candidate in candidates]
    return sorted(scored, key=lambda s: (bool(s.rejected_reason), -s.total))
