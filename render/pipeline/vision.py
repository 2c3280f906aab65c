"""Vision: what the scan really shows about the face, and nothing it does not.

From the de-identified render area it derives a relative depth map (a surface render is a lit
surface: brighter is roughly nearer), normals from the depth gradients, the light direction, the
subject mask (baby vs black background) and a low-confidence mask (acoustic shadow, speckle,
occluders such as a hand). Anchors come from MediaPipe's face mesh, tried on enhanced variants,
and each must pass our own checks; one that fails is dropped with the reason, never guessed.
A 2D B-mode scan or a picture with no face is rejected with a reason a sonographer understands.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from render.pipeline.fill import fill_from_around
from render.pipeline.types import (
    ANCHOR_NAMES,
    SPECKLE_LOW_CONFIDENCE,
    Anchor,
    Box,
    CueMaps,
    IngestedScan,
    ScanRejected,
    StructuralCues,
)
from render.pipeline.upright import turning

MSG_BMODE = "This looks like a 2D scan; Cradle needs a 3D/4D surface render of the face"
MSG_NO_FACE = (
    "No baby's face could be found in this render. Use a 3D/4D surface render where the face is "
    "turned towards the probe and not hidden by the placenta, cord or hands"
)

MSG_VISION_FAILED = (
    "Cradle could not read this render (the error has been logged for our team). Export the scan "
    "again from the scanner as a JPEG or PNG screenshot, or choose another frame"
)

logger = logging.getLogger(__name__)

# Readings of one anchor (plain and mirrored) further apart than this share of the face's size
# mean the scan does not pin the anchor down: it is dropped, not guessed.
_MAX_SPREAD = 0.06

_AGREEING_ENOUGH = 5  # anchors both readings agree on, for a reading to stand without others
# A face rolled more than this in the picture is read again turned upright.
_REREAD_ROLL = 30.0
_UPRIGHT_AGREES = 12.0  # degrees: a reading of the turned picture that finds it this upright
# A reading whose mouth end creases this much more than its forehead end (``_mouth_end``) is
# surely the right way up; below it, the other ways up are read too.
_SURELY_UPRIGHT = 2.5
_UPSIDE_DOWN = -1.5  # ... and below this, the reading is upside down

_WORK_SIDE = 400  # analysis resolution: maps are computed here and resized to the crop

# MediaPipe face-mesh landmark indices (the subject's right eye is on the image left when the
# face looks at the viewer; we sort along the face's left-to-right afterwards so names are "as
# seen with the face upright", which is as seen in the image unless the face lies rolled).
_EYE_RINGS = ((33, 133, 159, 145, 160, 144, 158, 153), (263, 362, 386, 374, 387, 373, 385, 380))
# The mesh's own nose-tip point (1) sits at the base of a fetal nose, which is shorter than the
# adult nose the mesh was fitted to; the points above it (4, 5) sit on the fetal tip. Likewise
# 175, just above the adult chin point 152, sits on a fetal chin. Calibrated on the phantoms
# (``manage.py vision_eval``).
_NOSE_TIP = (4, 5)
_MOUTH = (13, 0)
_CHIN = 175
_CHIN_THREE_QUARTER = (148, 377)  # jaw points either side of the chin (calibrated likewise)
_CHEEKS = (205, 425)
_FACE_SIDES = (234, 454)  # the face's outline at the eyes' height, image left and right
_FACE_OVAL = (
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
)

_lock = threading.Lock()
_mesh = None
_detector = None


def _face_mesh():
    """One MediaPipe graph per process, created on first use (loading costs ~100 ms)."""
    global _mesh
    if _mesh is None:
        import mediapipe as mp

        _mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=0.5,
        )
    return _mesh


def _face_detector():
    global _detector
    if _detector is None:
        import mediapipe as mp

        _detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=0.3
        )
    return _detector


def _to_work(rgb: np.ndarray, side: int = _WORK_SIDE) -> tuple[np.ndarray, float]:
    scale = min(1.0, side / max(rgb.shape[:2]))
    if scale < 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb), scale


def face_score(rgb: np.ndarray) -> float:
    """0..1: how confidently a face detector sees a face (used to rank clip frames, panels)."""
    work, _ = _to_work(rgb, 384)
    # Speckle and JPEG blocking can hide a face from the detector; a denoised copy often helps,
    # but is only made (and run) when the plain copy shows no face at all.
    for image in (work, None):
        if image is None:
            image = cv2.bilateralFilter(cv2.medianBlur(work, 5), 9, 40, 5)
        with _lock:
            result = _face_detector().process(image)
        if result.detections:
            return max(float(d.score[0]) for d in result.detections)
    return 0.0


# ---- maps ------------------------------------------------------------------------------------


def _subject_mask(grey: np.ndarray, smooth: np.ndarray | None = None) -> np.ndarray:
    """The baby against the scanner's black: bright enough, large, holes filled.

    ``smooth`` is ``grey`` blurred with sigma 2, when the caller already has it.
    """
    if smooth is None:
        smooth = cv2.GaussianBlur(grey, (0, 0), 2.0)
    mask = (smooth > _subject_level(smooth)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    # One lookup over the labels instead of a full-image comparison per component.
    large = (stats[:, cv2.CC_STAT_AREA] >= 0.02 * mask.size).astype(np.uint8)
    large[0] = 0
    keep = large[labels]
    return _fill_holes(keep).astype(np.float32)


def _subject_level(smooth: np.ndarray) -> float:
    """How bright the scan is where the baby is, at the least (``_subject_mask``'s threshold)."""
    otsu, _ = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(18.0, 0.35 * otsu)


def _largest(mask: np.ndarray) -> np.ndarray | None:
    """The largest 8-connected piece of ``mask`` (bool), or None when it is empty."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return None
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _with_rim_in_shadow(bright: np.ndarray, smooth: np.ndarray) -> np.ndarray:
    """``bright`` (``_subject_mask``'s) with the edge turned from the light: dimmer than the
    subject's level but plainly above the scanner's black, and next to the subject (within a
    twentieth of its size).

    Lit from above, a profile's lips and chin fall under the level: its outline, which is all
    a profile is read from, then ran inside the face, the lips were placed on the cheek and
    the portrait's jaw receded. A three-quarter face takes it below its nose tip (its lips'
    corner and chin in its own shade, ``_analyze``). (Elsewhere the rim is left out: across a
    frontal face it joins a membrane's strands to the head.)"""
    keep = bright > 0.5
    if not keep.any() or keep.all():
        return bright
    level = _subject_level(smooth)
    background = float(np.median(smooth[~keep]))
    low = max(background + 8.0, 0.5 * level)
    if low >= level:
        return bright
    reach = max(2, int(0.05 * math.sqrt(float(keep.sum()))))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near = cv2.dilate(keep.astype(np.uint8), disc).astype(bool)
    rim = (smooth > low) & near
    # A band along the outline, not the dim edges of a strand or cord leaving it: what an
    # opening four times the reach across keeps of the subject with its rim.
    rim &= _open_disc(rim | keep, 4 * reach + 1)
    return _fill_holes(keep | rim).astype(np.float32)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Holes (dark eye sockets, shadows inside the head) become part of the mask.

    A hole is a piece of the background that does not touch the image's edge. (A flood fill
    from a corner assumed the corner was background: on a photo of a screen with bright paper
    or wall there, the whole image became "subject".)
    """
    mask = (mask > 0).astype(np.uint8)
    count, labels = cv2.connectedComponents(1 - mask, connectivity=4)
    if count <= 1:
        return mask
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    hole = np.ones(count, bool)
    hole[edge] = False
    hole[0] = False  # label 0 is the mask itself
    return (mask | hole[labels]).astype(np.uint8)


def _speckle_ratio(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local fine-scale variation relative to brightness: high for speckle, low for a surface.

    Returns (ratio, base) where ``base`` is the sigma-3 blur the later steps reuse.
    """
    g = grey.astype(np.float32)
    base = cv2.GaussianBlur(g, (0, 0), 3.0)
    residual = g - base
    energy = np.sqrt(cv2.GaussianBlur(residual * residual, (0, 0), 3.0))
    return energy / (base + 12.0), base


def _bulge(inside: np.ndarray) -> np.ndarray:
    """0..1, highest deep inside the silhouette: the shape of a round head seen from the front."""
    dist = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
    return np.sqrt(dist / max(float(dist.max()), 1e-3))


def _depth(grey: np.ndarray, subject: np.ndarray, bulge: np.ndarray | None = None) -> np.ndarray:
    """Relative depth 0..1: shading of the lit surface blended with the silhouette's bulge."""
    smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 2.5)
    inside = subject > 0.5
    if not inside.any():
        return np.zeros_like(smooth)
    lo, hi = np.percentile(smooth[inside], (2, 98))
    shading = np.clip((smooth - lo) / max(hi - lo, 1e-3), 0, 1)
    if bulge is None:
        bulge = _bulge(inside)
    depth = (0.7 * shading + 0.3 * bulge) * inside
    return cv2.GaussianBlur(depth.astype(np.float32), (0, 0), 1.0)


def _normals(depth: np.ndarray, relief: float) -> np.ndarray:
    depth = depth.astype(np.float32, copy=False)
    # Central differences (Sobel scaled by 1/8); image y points down, the contract's up: +gy.
    gx = cv2.Sobel(depth, cv2.CV_32F, 1, 0, ksize=3, scale=-relief / 8)
    gy = cv2.Sobel(depth, cv2.CV_32F, 0, 1, ksize=3, scale=relief / 8)
    inverse_length = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    return cv2.merge([gx * inverse_length, gy * inverse_length, inverse_length])


def enlarge_maps(maps: CueMaps, size: tuple[int, int]) -> CueMaps:
    """``maps`` resized bilinearly to ``size`` (width, height), the normals renormalised: how
    vision makes its crop-size cues, and how the cues file rebuilds them from the maps it
    stores. Bilinear blending of values within 0..1 stays within 0..1: nothing to clip."""

    def resized(arr: np.ndarray) -> np.ndarray:
        return cv2.resize(arr.astype(np.float32, copy=False), size)

    return CueMaps(
        depth=resized(maps.depth),
        normals=_unit_normals_resized(maps.normals.astype(np.float32, copy=False), size),
        subject=resized(maps.subject),
        low_confidence=resized(maps.low_confidence),
        hands=resized(maps.hands) if maps.hands is not None else None,
        repaired=resized(maps.repaired) if maps.repaired is not None else None,
        contact=resized(maps.contact) if maps.contact is not None else None,
    )


def _unit_normals_resized(normals: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upscaling of a normal field, renormalised: blending unit vectors shortens them.

    OpenCV's vectorised arithmetic, because the NumPy norm over the last axis of a full-size
    crop cost more than the whole map computation.
    """
    resized = cv2.resize(normals, size, interpolation=cv2.INTER_LINEAR)
    squared = cv2.transform(cv2.multiply(resized, resized), np.ones((1, 3), np.float32))
    inverse = 1.0 / np.sqrt(np.maximum(squared, 1e-12))
    return cv2.multiply(resized, cv2.merge([inverse, inverse, inverse]))


# The light fit has four unknowns; evenly spread samples pin them down as well as every pixel
# would (fewer than this moved the fit on photographs, where the "silhouette" is the frame).
_LIGHT_FIT_SAMPLES = 20000


def _light_direction(
    grey: np.ndarray, subject: np.ndarray, bulge: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Fit shading ≈ a + n·L with n from the silhouette alone (independent of the shading)."""
    inside = subject > 0.5
    count = int(inside.sum())
    if count < 50:
        return (0.0, 0.0, 1.0)
    if bulge is None:
        bulge = _bulge(inside)
    idx = np.flatnonzero(inside.ravel())[:: max(1, count // _LIGHT_FIT_SAMPLES)]
    # The silhouette's normals (as _normals makes them), at the sampled pixels only.
    smooth = cv2.GaussianBlur(bulge, (0, 0), 3.0)
    scale = 0.5 * max(grey.shape) / 8
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3, scale=-scale).ravel()[idx]
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3, scale=scale).ravel()[idx]
    inverse_length = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    a = np.column_stack(
        [gx * inverse_length, gy * inverse_length, inverse_length, np.ones(idx.size)]
    )
    b = grey.ravel()[idx].astype(np.float32)
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    light = coef[:3]
    light[2] = abs(light[2]) + 1e-3
    light /= np.linalg.norm(light)
    return (float(light[0]), float(light[1]), float(light[2]))


def _occluders(
    grey: np.ndarray,
    subject: np.ndarray,
    face_poly: np.ndarray | None,
    smooth: np.ndarray | None = None,
    strands: np.ndarray | None = None,
) -> np.ndarray:
    """Regions inside the face cut off from it by occluding contours and nearer than it.

    A hand or cord in front of the face is a separate surface: bounded by strong step edges and
    brighter (nearer) than the face skin it hides. ``smooth`` is ``grey`` blurred with sigma 2.
    A piece with a quarter of its ring along ``strands`` (bool: a cord or membranes across
    the face) is the face's own brow or cheek the strand parted from the rest, lit brighter
    than its middle (a hand lying against a cord there would be left too).
    """
    out = np.zeros(grey.shape, np.float32)
    if face_poly is None:
        return out
    if smooth is None:
        smooth = cv2.GaussianBlur(grey, (0, 0), 2.0)
    smooth = smooth.astype(np.float32, copy=False)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy)
    inside = subject > 0.5
    face = np.zeros(grey.shape, np.uint8)
    cv2.fillPoly(face, [face_poly.astype(np.int32)], 1)
    region = (face > 0) & inside
    if region.sum() < 100:
        return out
    threshold = max(40.0, float(np.percentile(mag[region], 90)))
    edges = cv2.dilate((mag > threshold).astype(np.uint8), np.ones((3, 3), np.uint8))
    pieces = (inside & (edges == 0)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(pieces, connectivity=4)
    if count <= 1:
        return out
    in_face = np.bincount(labels[region], minlength=count)
    main = int(np.argmax(in_face[1:]) + 1)
    face_level = float(np.median(smooth[labels == main]))
    face_area = float(region.sum())
    near_strands = None
    if strands is not None and strands.any():
        near_strands = cv2.dilate(strands.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    for i in range(1, count):
        if i == main or in_face[i] < 0.02 * face_area:
            continue
        piece = labels == i
        if float(np.median(smooth[piece])) <= face_level * 1.08:
            continue
        if near_strands is not None:
            grown = cv2.dilate(piece.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
            ring = grown & ~piece & inside
            if (ring & near_strands).sum() > _STRAND_RING * max(int(ring.sum()), 1):
                continue
        out[piece] = 1.0
    return cv2.dilate(out, np.ones((7, 7), np.uint8))


# The share of a piece's ring along a strand past which the strand, not the piece, is in front.
_STRAND_RING = 0.25


# ---- input check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Texture:
    speckle: float  # median fine-scale variation over the lit part of the subject
    colour_spread: float  # RGB spread at equal brightness: ~0 for a colour-mapped scan


# A lit surface render is smooth shading (phantoms ≈ 0.05, photos ≈ 0.07; membranes across it
# add their edges: 0.060-0.064); a B-mode image is speckle all over (real and phantom B-modes
# ≥ 0.095, 0.13-0.15 now). Without a face, less evidence suffices, but a render whose face is
# hidden by membranes was told it was a 2D scan at 0.06.
SPECKLE_BMODE = 0.085
SPECKLE_BMODE_WITHOUT_FACE = 0.075
SPECKLE_BMODE_ANY_COLOUR = 0.1  # so grainy that overlays in colour cannot make it a photo
# Scanners map one echo value to one colour (grey, a sepia tint or a render palette), so at a
# given brightness every pixel has the same colour; a photograph's colours spread widely.
COLOUR_SPREAD_MAPPED = 6.0


def _colour_spread(rgb: np.ndarray, lit: np.ndarray) -> float:
    """Median distance of a pixel's colour from the typical colour at its brightness.

    Medians, so the few pixels of a coloured overlay (callipers, green labels) do not turn a
    grey scan into a "photograph".
    """
    where = np.flatnonzero(lit.ravel())
    pixels = rgb.reshape(-1, 3)[where[:: max(1, where.size // 4000)]].astype(np.float32)
    if len(pixels) < 50:
        return 0.0
    luma = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
    chroma = pixels - luma[:, None]  # brightness removed: what is left is the colour
    bins = np.clip((luma / 8).astype(np.int32), 0, 31)
    # The median chroma of each brightness bin, for all bins at once: sort by (bin, value) and
    # read the middle one or two members of each bin's run.
    counts = np.bincount(bins, minlength=32)
    starts = np.cumsum(counts) - counts
    lower = (starts + (counts - 1) // 2)[bins]
    upper = (starts + counts // 2)[bins]
    typical = np.empty_like(chroma)
    for channel in range(3):
        ordered = chroma[np.lexsort((chroma[:, channel], bins)), channel]
        typical[:, channel] = (ordered[lower] + ordered[upper]) / 2
    deviation = np.abs(chroma - typical).sum(axis=1)
    return float(np.median(deviation))


def _texture(
    rgb: np.ndarray, subject: np.ndarray, speckle: np.ndarray, base: np.ndarray
) -> _Texture:
    """``base`` is the grey image blurred with sigma 3 (from :func:`_speckle_ratio`)."""
    lit = (subject > 0.5) & (base > 40)
    if lit.sum() < 100:
        return _Texture(0.0, 0.0)
    ratio = speckle[lit]
    return _Texture(float(np.median(ratio)), _colour_spread(rgb, lit))


def looks_like_bmode(texture: _Texture, face_found: bool) -> bool:
    """A 2D B-mode is colour-mapped speckle; a surface render is mostly smooth shading."""
    if texture.speckle > SPECKLE_BMODE_ANY_COLOUR:
        return True
    if texture.colour_spread > COLOUR_SPREAD_MAPPED:
        return False  # a photograph, not a scanner's colour map
    limit = SPECKLE_BMODE if face_found else SPECKLE_BMODE_WITHOUT_FACE
    return texture.speckle > limit


# ---- anchors ---------------------------------------------------------------------------------


def _variants(rgb: np.ndarray) -> Iterator[tuple[str, np.ndarray, float]]:
    """Enhanced versions to retry the detector on: (name, image, rotation in degrees).

    A generator: the enhancements cost more than a detection, so each is made only when the
    previous ones found nothing.
    """
    yield "original", rgb, 0.0
    denoised = cv2.bilateralFilter(cv2.medianBlur(rgb, 5), 9, 40, 5)
    yield "denoised", denoised, 0.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=2.5, tileGridSize=(8, 8))
    lab[..., 0] = clahe.apply(lab[..., 0])
    yield "contrast", cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0.0
    for angle in (-15.0, 15.0):
        yield f"rotated {angle:+.0f}°", denoised, angle


def _rotate(rgb: np.ndarray, degrees: float, whole: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` turned counter-clockwise (as shown) about its centre, and the matrix used.
    ``whole``: on a canvas large enough to keep every corner (a quarter turn would cut off the
    sides of a face that fills the frame)."""
    h, w = rgb.shape[:2]
    if whole:
        matrix, size = turning(w, h, degrees)
    else:
        matrix, size = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h)
    return cv2.warpAffine(rgb, matrix, size, borderValue=(0, 0, 0)), matrix


def _mesh_points(rgb: np.ndarray) -> np.ndarray | None:
    """468 landmark (x, y) in ``rgb`` pixels, or None."""
    with _lock:
        result = _face_mesh().process(rgb)
    if not result.multi_face_landmarks:
        return None
    h, w = rgb.shape[:2]
    lm = result.multi_face_landmarks[0].landmark
    return np.array([(p.x * w, p.y * h) for p in lm], np.float32)


@dataclass(frozen=True, eq=False)
class _Landmarks:
    """The mesh's points and what the variants' agreement says about each anchor."""

    oval: np.ndarray  # the face's outline (N × 2 work pixels)
    anchors: dict[str, np.ndarray]  # the mean of the plain and the mirrored reading
    spread: dict[str, float]  # how far the two readings lie apart, over the face's size
    yaw: float  # -1 (nose to the left, seen upright) .. 1 (to the right); 0 frontal
    variant: str
    profile: str | None = None  # "left"/"right": read from the silhouette, the nose that way
    roll: float = 0.0  # confirmed only: see StructuralCues.roll
    # How sure a silhouette reading is of each anchor, where the scan says more than the
    # fixed ``_PROFILE_CONFIDENCE`` (the near eye, when its lid line shows).
    readings: dict[str, float] = field(default_factory=dict)
    # Its nose stood off the eyes' middle past a frontal or gently turned face's: kept only
    # where the near eye shows its lid (``_turned_too_far``).
    turned_far: bool = False

    @property
    def pose(self) -> str:
        if self.profile is not None:
            return f"profile-{self.profile}"
        return _pose(self.yaw)

    @property
    def span(self) -> float:
        """The face's scale: the eye distance (a profile's is estimated from its height)."""
        if "eye_left" in self.anchors and "eye_right" in self.anchors:
            return float(np.linalg.norm(self.anchors["eye_right"] - self.anchors["eye_left"]))
        return 0.25 * float(np.ptp(self.oval[:, 1]))

    @property
    def agreeing(self) -> int:
        """How many anchors the two readings agree on (all of them without a mirrored one)."""
        if not self.spread:
            return len(self.anchors)
        return sum(value <= _MAX_SPREAD for value in self.spread.values())


def _mesh_on_variant(image: np.ndarray, degrees: float, whole: bool = False) -> np.ndarray | None:
    if not degrees:
        return _mesh_points(image)
    rotated, matrix = _rotate(image, degrees, whole)
    points = _mesh_points(rotated)
    if points is None:
        return None
    inverse = cv2.invertAffineTransform(matrix)
    return (np.column_stack([points, np.ones(len(points))]) @ inverse.T).astype(np.float32)


def _across(points: np.ndarray) -> np.ndarray:
    """The direction, in picture pixels, from the face's left to its right as seen with the
    face upright: +x unless the face lies rolled in the picture."""
    eyes = [points[list(ring)].mean(axis=0) for ring in _EYE_RINGS]
    # Down the face toward the mouth (which end of the eye line is which does not matter).
    mouth = points[list(_MOUTH)].mean(axis=0)
    _origin, axes, _span = _face_frame({"eye_left": eyes[0], "eye_right": eyes[1], "chin": mouth})
    return np.array([axes[1][1], -axes[1][0]])


def _yaw(points: np.ndarray) -> float:
    """Where the nose tip sits between the face's two outlines: 0 frontal, ±1 edge-on; the
    sign as seen with the face upright (a face lying on its side is painted upright)."""
    across = points @ _across(points)
    left, right = sorted((float(across[_FACE_SIDES[0]]), float(across[_FACE_SIDES[1]])))
    nose = float(across[list(_NOSE_TIP)].mean())
    width = max(right - left, 1e-3)
    return float(np.clip(2 * (nose - left) / width - 1, -1, 1))


def _detect_landmarks(work: np.ndarray) -> _Landmarks | None:
    """The face mesh on enhanced variants until one shows a plausible face the scan pins down,
    each read twice:
    as it is and mirrored (mapped back). The mesh fits an adult template; where the two
    readings of an anchor disagree, the scan does not pin it down and it is not kept."""
    upscaled = max(work.shape[:2]) < 320
    if upscaled:
        work = cv2.resize(work, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    factor = 0.5 if upscaled else 1.0
    best: _Landmarks | None = None
    # A reading plausible only as a face turned further than a gently turned one's bounds is
    # taken only when no variant gives one within them.
    turned: _Landmarks | None = None
    for name, image, degrees in _variants(work):
        points = _mesh_on_variant(image, degrees)
        if points is None or not _plausible_face(points):
            continue
        reading = _read_twice(image, degrees, points, name + (" upscaled" if upscaled else ""))
        if not _plausible_face(points, turned=False):
            if turned is None or reading.agreeing > turned.agreeing:
                turned = replace(reading, turned_far=True)
            continue
        if best is None or reading.agreeing > best.agreeing:
            best = reading
        if best.agreeing >= _AGREEING_ENOUGH:
            break  # enough anchors the scan pins down: the other variants cost time only
    best = best or turned
    if best is None:
        return None
    upright = _upright_reading(best, work, upscaled)
    roll = 0.0
    if upright is not None:
        best = upright
        roll = _roll(best.anchors)
    elif best.agreeing >= _AGREEING_ENOUGH and abs(_roll(best.anchors)) < _REREAD_ROLL:
        roll = _roll(best.anchors)  # a sure reading of a face tilted a little
    return _Landmarks(
        oval=best.oval * factor,
        anchors={k: v * factor for k, v in best.anchors.items()},
        spread=best.spread,
        yaw=best.yaw,
        variant=best.variant,
        roll=roll,
        turned_far=best.turned_far,
    )


def anchor_roll(anchors: Sequence[Anchor]) -> float | None:
    """The roll (``StructuralCues.roll``) anchors show by themselves: for anchors a person
    placed, whom vision's reading no longer speaks for. None without both eyes, apart, and
    the mouth, the chin or (without either) the nose tip below them."""
    at = {a.name: np.array([a.x, a.y], np.float64) for a in anchors}
    below = [at[n] for n in ("mouth", "chin") if n in at] or [
        at[n] for n in ("nose_tip",) if n in at
    ]
    if "eye_left" not in at or "eye_right" not in at or not below:
        return None
    if float(np.linalg.norm(at["eye_right"] - at["eye_left"])) < 1e-6:
        return None
    return _roll({**at, "chin": np.mean(below, axis=0)})


def _roll(anchors: dict[str, np.ndarray]) -> float:
    """Degrees to turn the picture counter-clockwise (as shown) to stand the face upright."""
    _origin, axes, _span = _face_frame(anchors)
    down = axes[1]
    return _turn(math.degrees(math.atan2(down[1], down[0])) - 90.0)


def _turn(degrees: float) -> float:
    return (degrees + 180.0) % 360.0 - 180.0


def _upright_reading(best: _Landmarks, work: np.ndarray, upscaled: bool) -> _Landmarks | None:
    """A face lying on its side or upside down, read again turned upright: the mesh follows a
    rolled face, but places the eyes and mouth best on an upright one, and it can read a face
    upside down (closed eyes look the same either way up). None when ``best`` stands."""
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    degrees = _roll(best.anchors)
    mouth = _mouth_end(grey, best.anchors)
    sure = best.agreeing >= _AGREEING_ENOUGH
    if abs(degrees) < _REREAD_ROLL and mouth > _SURELY_UPRIGHT and sure:
        return None
    image = cv2.bilateralFilter(cv2.medianBlur(work, 5), 9, 40, 5)
    read: dict[int, _Landmarks | None] = {}
    found: list[tuple[int, float, _Landmarks]] = []
    # A face read upright is turned over only when its mouth end is plainly a forehead: a
    # face painted upside down is far worse than one left as the scan shows it.
    upright = abs(degrees) < _REREAD_ROLL
    may_turn_over = not upright or not sure or mouth < _UPSIDE_DOWN
    if upright and mouth > 0:
        found.append((best.agreeing, mouth, best))
    for start in (degrees, degrees + 180.0, 90.0, -90.0, 180.0):
        reading = _settled_reading(image, _turn(start), upscaled, read)
        if reading is None or any(reading is other for *_, other in found):
            continue
        # A turned reading must itself be sure, and surer than a sure one it would replace;
        # a face read upright is not turned over (a quarter turn is allowed: a baby lying on
        # her side can be read upright, the mesh fitting its template across her brow).
        if reading.agreeing < max(_AGREEING_ENOUGH, best.agreeing if sure else 0):
            continue
        if not may_turn_over and abs(_turn(_roll(reading.anchors) - degrees)) > 120.0:
            continue
        creases = _mouth_end(grey, reading.anchors)
        # The mouth end creases (this reading is the right way up), and the face detector too
        # sees a face in the picture turned so: the mesh can fit a face across a brow seen
        # from above, which the detector does not take for one.
        if creases > 0 and _detector_sees(image, _roll(reading.anchors)):
            found.append((reading.agreeing, creases, reading))
    if not found:
        return None
    chosen = max(found, key=lambda item: item[:2])[2]
    return None if chosen is best else chosen


def _detector_sees(image: np.ndarray, degrees: float) -> bool:
    turned, _ = _rotate(image, degrees, whole=True)
    with _lock:
        return bool(_face_detector().process(np.ascontiguousarray(turned)).detections)


def _settled_reading(
    image: np.ndarray, degrees: float, upscaled: bool, read: dict[int, _Landmarks | None]
) -> _Landmarks | None:
    """The mesh on ``image`` turned by ``degrees``, turned again as its reading says until a
    reading of the turned picture finds it upright (None if none does). ``read`` keeps the
    readings made, by turn, so that no turn is read twice."""
    for _ in range(3):
        key = round(degrees)
        if key not in read:
            points = _mesh_on_variant(image, degrees, whole=True)
            read[key] = None
            if points is not None and _plausible_face(points, turned=False):
                name = f"upright {degrees:+.0f}°" + (" upscaled" if upscaled else "")
                read[key] = _read_twice(image, degrees, points, name, whole=True)
        reading = read[key]
        if reading is None:
            return None
        turned = _roll(reading.anchors)
        if abs(_turn(turned - degrees)) < _UPRIGHT_AGREES:
            return reading
        degrees = turned
    return None


def _read_twice(
    image: np.ndarray, degrees: float, points: np.ndarray, name: str, whole: bool = False
) -> _Landmarks:
    """The anchors of ``points`` averaged with a reading of the mirrored image, mapped back."""
    plain = _raw_anchors(points)
    anchors = dict(plain)
    spread: dict[str, float] = {}
    yaw = _yaw(points)
    mirrored_points = _mesh_on_variant(np.ascontiguousarray(image[:, ::-1]), -degrees, whole)
    if mirrored_points is not None:
        mirrored_points[:, 0] = image.shape[1] - 1 - mirrored_points[:, 0]
        mirrored = _raw_anchors(mirrored_points)
        size = _face_size(points)
        for key in anchors:
            spread[key] = float(np.linalg.norm(plain[key] - mirrored[key])) / size
            anchors[key] = (plain[key] + mirrored[key]) / 2
        yaw = (yaw + _yaw(mirrored_points)) / 2
    return _Landmarks(
        oval=points[list(_FACE_OVAL)], anchors=anchors, spread=spread, yaw=yaw, variant=name
    )


def _face_size(points: np.ndarray) -> float:
    """The face oval's diagonal, the unit anchor errors are measured in."""
    oval = points[list(_FACE_OVAL)]
    return max(float(np.linalg.norm(oval.max(axis=0) - oval.min(axis=0))), 1e-3)


def _chin_point(points: np.ndarray) -> int:
    """The mesh point on a fetal chin. Turned three-quarter, the mesh's adult chin swings past
    the small fetal one; the jaw point beside it (on the side the face turns from) sits on it."""
    yaw = _yaw(points)
    if abs(yaw) < _THREE_QUARTER_YAW:
        return _CHIN
    # The mesh's own left/right: which of the two jaw points is on the upright face's left.
    across = _across(points)
    left_first = points[_CHIN_THREE_QUARTER[0]] @ across < points[_CHIN_THREE_QUARTER[1]] @ across
    turned_left = yaw < 0
    return _CHIN_THREE_QUARTER[0 if left_first != turned_left else 1]


def _raw_anchors(points: np.ndarray) -> dict[str, np.ndarray]:
    """Left and right as seen with the face upright (the picture's, unless the face is rolled:
    it is painted upright)."""
    across = _across(points)
    eyes = sorted(
        (points[list(ring)].mean(axis=0) for ring in _EYE_RINGS), key=lambda p: p @ across
    )
    cheeks = sorted((points[i] for i in _CHEEKS), key=lambda p: p @ across)
    return {
        "nose_tip": points[list(_NOSE_TIP)].mean(axis=0),
        "eye_left": eyes[0],
        "eye_right": eyes[1],
        "mouth": points[list(_MOUTH)].mean(axis=0),
        "chin": points[_chin_point(points)],
        "cheek_left": cheeks[0],
        "cheek_right": cheeks[1],
    }


def _face_frame(anchors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin between the eyes, unit x along the eye line, unit y down the face, eye distance."""
    left, right = anchors["eye_left"], anchors["eye_right"]
    span = float(np.linalg.norm(right - left))
    ex = (right - left) / max(span, 1e-6)
    ey = np.array([-ex[1], ex[0]])
    if np.dot(anchors["chin"] - (left + right) / 2, ey) < 0:
        ey = -ey
    return (left + right) / 2, np.stack([ex, ey]), span


# How far, in eye gaps, the nose tip and the mouth of a face may stand off the eyes' middle;
# a turned face's further toward the side it turns to, by this much more at full yaw.
_NOSE_OFF, _MOUTH_OFF = 0.45, 0.5
_TURNED_REACH = 0.3


def _plausible_face(points: np.ndarray, turned: bool = True) -> bool:
    """Whole-face geometry: eyes above nose above mouth above chin, sane proportions;
    ``turned``: the nose and mouth of a turned face may stand further off toward its turn."""
    a = _raw_anchors(points)
    origin, axes, span = _face_frame(a)
    if span < 8:
        return False
    local = {k: axes @ (v - origin) / span for k, v in a.items()}
    order = [local[k][1] for k in ("nose_tip", "mouth", "chin")]
    if not (0.15 < order[0] < order[1] < order[2] < 3.0):
        return False
    # Turned, the nose and mouth stand off the eyes' middle toward the side the face turns
    # to: on a strongly turned three-quarter face the nose tip lies under the far eye.
    yaw = _yaw(points)
    for name, most in (("nose_tip", _NOSE_OFF), ("mouth", _MOUTH_OFF)):
        off = local[name][0]
        if abs(off) > most + (_TURNED_REACH * abs(yaw) if turned and off * yaw > 0 else 0.0):
            return False
    return local["cheek_left"][0] < 0 < local["cheek_right"][0]


def _check_anchors(
    anchors: dict[str, np.ndarray],
    subject: np.ndarray,
    hidden: np.ndarray,
    speckled: np.ndarray,
    depth: np.ndarray,
    span: float,
    outline_hidden: np.ndarray | None = None,
    profile: bool = False,
) -> tuple[dict[str, tuple[np.ndarray, float]], list[tuple[str, str]]]:
    """Each anchor must sit on the subject, off what hides the surface (``hidden``: shadow,
    occluders, strands) and agree with depth; speckle round it (``speckled``) lowers its
    confidence. ``span`` is the face's scale (the eye distance, or its profile equivalent).

    A profile's nose tip, lips and chin are points of its outline, read against the
    background: the shade of a face turned from the light does not hide them, only what
    covers the outline itself does (``outline_hidden``: occluders and strands); ``profile``
    says the anchors were read from a silhouette."""
    h, w = subject.shape
    kept: dict[str, tuple[np.ndarray, float]] = {}
    dropped: list[tuple[str, str]] = []
    r = max(2, int(0.08 * span))

    def mean_at(arr: np.ndarray, p: np.ndarray, radius: int = r) -> float:
        x, y = int(round(p[0])), int(round(p[1]))
        return float(
            arr[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1].mean()
        )

    for name in ANCHOR_NAMES:
        if name not in anchors:
            continue
        p = anchors[name]
        if not (0 <= p[0] < w and 0 <= p[1] < h):
            dropped.append((name, "outside the render area"))
            continue
        # The chin and cheeks sit on the silhouette itself: only a point clear of it is "off".
        reach = 2 * r
        if (
            subject[
                max(0, int(p[1]) - reach) : int(p[1]) + reach + 1,
                max(0, int(p[0]) - reach) : int(p[0]) + reach + 1,
            ].max()
            < 0.5
        ):
            dropped.append((name, "outside the face (on the background)"))
            continue
        # The speckle of the surface round the anchor: the median over twice the window, as a
        # lid's or the lips' own crease reads as fine variation too, but covers a minority.
        x, y = int(round(p[0])), int(round(p[1]))
        around = speckled[max(0, y - 2 * r) : y + 2 * r + 1, max(0, x - 2 * r) : x + 2 * r + 1]
        hides = hidden
        if outline_hidden is not None and name in _PROFILE_OUTLINE:
            hides = outline_hidden
        covered = max(mean_at(hides, p), float(np.median(around)))
        if covered > 0.5:
            dropped.append((name, "covered by an occluder, shadow or speckle"))
            continue
        kept[name] = (p, 1.0 - covered)
    # Depth: the nose tip is nearer than the eye orbits on any face we can trust. Not on a
    # profile: its tip is a point of the outline, where the depth (the silhouette's bulge) is
    # lowest whatever the face, and its eye lies deep inside; nor where a turned face's tip
    # stands on its outline for the same reason (most of the ground round it off the head).
    eyes = [kept[k][0] for k in ("eye_left", "eye_right") if k in kept]
    on_outline = "nose_tip" in kept and mean_at(subject, kept["nose_tip"][0]) < 0.5
    if "nose_tip" in kept and eyes and not profile and not on_outline:
        # The mesh may put the tip on the nostril shadow: take the nearest point around it.
        nx, ny = int(kept["nose_tip"][0][0]), int(kept["nose_tip"][0][1])
        nose_depth = float(
            depth[max(0, ny - 2 * r) : ny + 2 * r + 1, max(0, nx - 2 * r) : nx + 2 * r + 1].max()
        )
        orbit_depth = float(np.mean([mean_at(depth, e) for e in eyes]))
        if nose_depth + 0.02 < orbit_depth:
            del kept["nose_tip"]
            dropped.append(("nose_tip", "not nearer than the eye orbits in the depth map"))
    return kept, dropped


# On a frontal face each side's eye and cheek look like the other's mirror image; a hand,
# fist or cord over one of them has the skin's brightness and no dark rim, but breaks that
# likeness and adds edges of its own (fingers, knuckles, the cord's sides).
_MIRROR_PAIRS = (("eye_left", "eye_right", 0.3), ("cheek_left", "cheek_right", 0.3))
_PATCH_SAMPLES = 24


def _frame_patch(
    grey: np.ndarray, centre: np.ndarray, axes: np.ndarray, half: float, mirrored: bool
) -> np.ndarray:
    """A square patch around ``centre`` sampled along the face's own axes (x flipped when
    ``mirrored``), so a tilted or rolled face compares like with like."""
    t = np.linspace(-half, half, _PATCH_SAMPLES, dtype=np.float32)
    u, v = np.meshgrid(-t if mirrored else t, t)
    xs = centre[0] + u * axes[0][0] + v * axes[1][0]
    ys = centre[1] + u * axes[0][1] + v * axes[1][1]
    return cv2.remap(grey, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR)


def _edge_energy(patch: np.ndarray) -> float:
    gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(gx * gx + gy * gy)) / max(float(patch.mean()) ** 2, 1.0)


def _mouth_end(grey: np.ndarray, anchors: dict[str, np.ndarray]) -> float:
    """How surely the reading's mouth end of the face is the mouth, not the forehead: the log
    of the edge energy round the mouth over that at its mirror image through the eyes. A
    forehead is smooth; lips, nostrils and chin crease. Below 0 the reading is upside down."""
    origin, axes, span = _face_frame(anchors)
    mouth = anchors["mouth"]
    half = 0.35 * span
    height, width = grey.shape[:2]
    centres = (mouth, 2 * origin - mouth)
    for centre in centres:
        # A patch mostly off the picture would read the frame's edge as creases: unsure.
        corners = centre + np.array([(sx, sy) for sx in (-1, 1) for sy in (-1, 1)]) @ (half * axes)
        on = (corners[:, 0] >= 0) & (corners[:, 0] < width)
        on &= (corners[:, 1] >= 0) & (corners[:, 1] < height)
        if on.sum() < 3:
            return 0.0
    smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0)
    patches = [_frame_patch(smooth, p, axes, half, False) for p in centres]
    energy = [max(_edge_energy(p), 1e-6) for p in patches]
    return math.log(energy[0] / energy[1])


def _mirror_check(grey: np.ndarray, anchors: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """Anchors of a frontal face whose side no longer mirrors the other: (name, why)."""
    origin, axes, span = _face_frame(anchors)
    smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0)
    dropped = []
    for left, right, least in _MIRROR_PAIRS:
        patches = [
            _frame_patch(smooth, anchors[n], axes, 0.3 * span, n == right) for n in (left, right)
        ]
        a, b = ((p - p.mean()) / (p.std() + 1e-3) for p in patches)
        if float((a * b).mean()) >= least:
            continue
        energy = [_edge_energy(p) for p in patches]
        # The side with the extra edges holds the occluder; when neither stands out, neither
        # side can be trusted.
        if energy[0] > 1.2 * energy[1]:
            names: tuple[str, ...] = (left,)
        elif energy[1] > 1.2 * energy[0]:
            names = (right,)
        else:
            names = (left, right)
        dropped += [
            (n, "covered by a hand, cord or shadow: it no longer mirrors the other side")
            for n in names
        ]
    return dropped


# The most of the head a hand, fist or cord over one side covers (a phantom's open hand 0.33,
# an arm 0.39; found at up to 0.31); a turned face read as frontal differs from its mirror
# over 0.6 of it.
_MIRROR_MOST = 0.45


def _mirror_occluder(
    grey: np.ndarray,
    inside: np.ndarray,
    anchors: dict[str, np.ndarray],
    covered: list[str],
    head: np.ndarray,
    strands: np.ndarray | None = None,
) -> np.ndarray:
    """Where the covered side of a frontal face differs from its mirror image: the hand or fist
    over it (1), as far as it lies near the covered anchors (0 elsewhere); a cord that vision
    did not find as a strand is taken too. ``inside`` is all the bright tissue, ``head`` the
    baby's head; a side that differs only where ``strands`` (a cord or membranes across the
    face, marked already) lie holds no hand."""
    out = np.zeros(grey.shape, np.float32)
    if not covered or not inside.any():
        return out
    origin, axes, span = _face_frame(anchors)
    g = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.5)
    h, w = g.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs - origin[0]) * axes[0][0] + (ys - origin[1]) * axes[0][1]
    v = (xs - origin[0]) * axes[1][0] + (ys - origin[1]) * axes[1][1]
    mirror_x = (origin[0] - u * axes[0][0] + v * axes[1][0]).astype(np.float32)
    mirror_y = (origin[1] - u * axes[0][1] + v * axes[1][1]).astype(np.float32)
    detail = g - cv2.GaussianBlur(g, (0, 0), 0.25 * span)
    mirrored = cv2.remap(detail, mirror_x, mirror_y, cv2.INTER_LINEAR)
    difference = cv2.GaussianBlur(np.abs(detail - mirrored), (0, 0), 0.05 * span)
    near = np.zeros(grey.shape, bool)
    for name in covered:
        a = anchors[name]
        side = np.sign(float(axes[0] @ (a - origin)))
        near |= (np.hypot(xs - a[0], ys - a[1]) < span) & (u * side > 0.15 * span)
    # The difference is the same on both sides by construction: the side comes from the
    # covered anchors, the threshold from the symmetric face's own level (its 90th percentile).
    level = float(np.percentile(difference[inside], 90))
    seed = (difference > max(20.0, 1.2 * level)) & near & inside
    if strands is not None and strands.any() and seed.any():
        # The strand's own edges differ from the mirror: a side covered by nothing else holds
        # no hand, and the one-sided hull built from them painted a cheek away.
        near_strands = _within(strands, 0.1 * span)
        if (seed & ~near_strands).sum() < _STRAND_SEED_MOST * seed.sum():
            return out
    # Grow the seed to the whole surfaces it lies on (a finger, the palm, a stretch of cord):
    # the pieces the surface's step edges cut the subject into, but never the face's own.
    count, labels, area = _surface_pieces(g, inside)
    grow = (np.bincount(labels[seed], minlength=count) / area >= 0.25) & (
        area < 0.15 * max(int(inside.sum()), 1)
    )
    grow[0] = False
    found = seed | grow[labels]
    pieces = found.copy()
    sides = {float(np.sign(axes[0] @ (anchors[n] - origin))) for n in covered}
    if len(sides) == 1:
        mirror = (mirror_x, mirror_y)
        hand = _hand_on_one_side(g, inside, seed, difference, level, u * sides.pop(), mirror, span)
        # The nose and mouth the mirror check found uncovered keep clear of it (a hull over
        # a fist by the mouth reached them), unless an occluder's sharp edge lies there.
        for name in ("nose_tip", "mouth"):
            if name in anchors and name not in covered:
                x, y = anchors[name]
                hand &= np.hypot(xs - x, ys - y) > 0.3 * span
        found |= hand
    # Half the head unlike its mirror is no hand: a turned face read as frontal (its far side
    # has no mirror image), and Fix Anatomy painted the face itself away. Only the sharp
    # pieces are kept then, when they are a hand's size.
    most = _MIRROR_MOST * max(int(head.sum()), 1)
    if (found & head).sum() > most:
        found = pieces if (pieces & head).sum() <= most else np.zeros_like(found)
    out[found] = 1.0
    return cv2.dilate(out, np.ones((5, 5), np.uint8))


# Of the sharp difference from the mirror, at most this share away from a strand's line: the
# rest is the strand's own edges, no hand (a cord across an eye: 0.11-0.19 of it lies away).
_STRAND_SEED_MOST = 0.2


# Grey levels a valley narrower than a finger lies below its sides: the crease between two
# fingers or knuckles, or round a finger lying on the cheek.
_CREASE_DEPTH = 12.0
# ... and a finger lying on the face stands this far above it, within as narrow a span (phantom
# fingers: median 50-55 grey levels; a nose's ridge, 99th percentile 30-33).
_FINGER_RIDGE = 36.0


def _hand_on_one_side(
    g: np.ndarray,
    inside: np.ndarray,
    seed: np.ndarray,
    difference: np.ndarray,
    level: float,
    across: np.ndarray,
    mirror: tuple[np.ndarray, np.ndarray],
    span: float,
) -> np.ndarray:
    """The whole hand or fist over one side of a frontal face, not only its sharpest edges.

    A palm or fist past the cheek is the part of the silhouette with no mirror image on the
    other side; the fingers are where that side differs from its mirror at all (not only at the
    strongest tenth), and the creases round and between them are valleys narrower than a
    finger. Of those, what connects to the palm or to the sharp seed is the hand, closed over
    the gaps between the fingers (Fix Anatomy paints them with the rest). ``across`` is the
    distance from the face's midline toward the covered side.
    """
    half = (across > 0.1 * span) & inside
    # Off the image counts as mirrored: a cheek cut by the frame's edge is not a palm.
    mirror_inside = (
        cv2.remap(
            inside.astype(np.uint8),
            *mirror,
            cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=1,
        )
        > 0
    )
    # Opened by a quarter of the eye span: a phone's slant or a tilt leaves crescents that thin.
    past = _open_disc(half & ~mirror_inside, max(3, int(0.25 * span) | 1))
    if not (past.any() or seed.any()):
        return np.zeros(g.shape, bool)
    valley_size = max(3, int(0.15 * span) | 1)
    valley = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (valley_size, valley_size))
    creases = cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, valley) > _CREASE_DEPTH
    # Fingers reach to the midline; the silhouette's side stops short of it. There only
    # the creases round them count (the difference from the mirror fades to nothing).
    reach = (across > 0.0) & inside
    parts = ((creases & reach) | (difference > max(12.0, 0.8 * level))) & half
    parts |= creases & reach & ~half
    count, labels = cv2.connectedComponents(
        cv2.dilate(parts.astype(np.uint8), np.ones((3, 3), np.uint8)), connectivity=8
    )
    touching = cv2.dilate((past | seed).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    joined = np.zeros(count, bool)
    joined[np.unique(labels[touching])] = True
    joined[0] = False
    hand = (past | seed | joined[labels]) & reach
    close = max(3, int(0.2 * span) | 1)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    hand = cv2.morphologyEx(hand.astype(np.uint8), cv2.MORPH_CLOSE, disk) > 0
    # The middle of a palm is smooth, so like its mirror: the hand is its pieces' hulls, on
    # the covered side; toward the midline only what the fingers themselves cover.
    contours, _ = cv2.findContours(
        (hand & half).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    hulls = np.zeros(g.shape, np.uint8)
    if contours:
        # One hull over all of them: a palm's smooth middle parted the fingers' piece from
        # the palm's, and the strip between stayed skin-coloured beside the painted hand.
        cv2.fillPoly(hulls, [cv2.convexHull(np.vstack(contours))], 1)
    return ((hulls > 0) & half & inside) | (hand & reach)


def _circle_through(xs: np.ndarray, ys: np.ndarray) -> tuple[tuple[float, float], float] | None:
    """The least-squares circle through points (centre, radius), None when they lie on a line
    (or a point): no circle is pinned down by them."""
    a = np.column_stack([xs, ys, np.ones_like(xs)])
    b = xs * xs + ys * ys
    solution, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    if rank < 3:
        return None
    ox, oy = solution[0] / 2, solution[1] / 2
    squared = solution[2] + ox * ox + oy * oy
    if not np.isfinite(squared) or squared <= 0:
        return None
    return (float(ox), float(oy)), math.sqrt(float(squared))


def _on_ellipse(
    ellipse: tuple[tuple[float, float], tuple[float, float], float],
    xs: np.ndarray | float,
    ys: np.ndarray | float,
) -> np.ndarray:
    """Where points lie against ``ellipse`` (``cv2.fitEllipse``'s form): 1 on it, less inside,
    more outside (the point's distance from the centre over the ellipse's that way)."""
    (cx, cy), (w, h), angle = ellipse
    t = math.radians(angle)
    dx, dy = np.asarray(xs, np.float64) - cx, np.asarray(ys, np.float64) - cy
    u = (dx * math.cos(t) + dy * math.sin(t)) / max(w / 2, 1.0)
    v = (-dx * math.sin(t) + dy * math.cos(t)) / max(h / 2, 1.0)
    return np.hypot(u, v)


def _head_ellipse(
    head: np.ndarray,
) -> tuple[tuple[float, float], tuple[float, float], float] | None:
    """The ellipse the head's outline follows, as ``cv2.fitEllipse`` gives it, fitted again
    without the outline that stands more than a twenty-fifth of the head's radius out of it
    (a palm or a fist beside the cheek is not the head's) or a tenth inside it (the notch
    where a hand meets the cheek: kept, it drew the ellipse inside the head). The picture's
    edge, where it cuts the head, is no outline of the head's. None when too little outline
    is left to fit."""
    contours, _ = cv2.findContours(head.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)[:, 0, :]
    height, width = head.shape
    on_frame = (outline[:, 0] <= 0) | (outline[:, 1] <= 0)
    on_frame |= (outline[:, 0] >= width - 1) | (outline[:, 1] >= height - 1)
    outline = outline[~on_frame].astype(np.float32)
    if len(outline) < 20:
        return None
    radius = math.sqrt(float(head.sum()) / math.pi)
    ellipse = cv2.fitEllipse(outline)
    for _ in range(4):
        _, (w, h), _ = ellipse
        past = (_on_ellipse(ellipse, outline[:, 0], outline[:, 1]) - 1.0) * min(w, h) / 2
        kept = outline[(past < 0.04 * radius) & (past > -0.1 * radius)]
        if len(kept) < 20:
            break
        ellipse = cv2.fitEllipse(kept)
    return ellipse


# A palm or fist stands this far (in head radii) out of the head's ellipse, and covers at least
# this much of the head's area (a phantom's palm 0.043-0.09, a fist 0.07-0.14), at most the
# other: a turned face's far cheek past the nose stands out of it by 0.010-0.015 (and, taken
# for a palm, had the nose drawn as a hand).
_LUMP_PAST = 0.05
_LUMP_LEAST = 0.025
_LUMP_MOST = 0.15
_LUMP_THICK = 0.08  # its widest point across, in head radii: a cord or a strand is thinner
# The palm's or fist's round: its middle at least this far out (1 on the head's ellipse; a
# phantom's palm 0.66-0.93, a fist 1.1) and this much of it past the ellipse (palms 0.15-0.4,
# fists 0.7); a turned face's cheek past the ellipse gave 0.56 and 0.04, a jaw 0.57-0.58 (a
# thin margin: the ellipse, trimmed of what stands out, settles a little inside the head).
_LUMP_CENTRE = 0.6
_LUMP_OUT = 0.1
_LUMP_SPLIT = 0.35  # in head radii: the disc that parts a palm from the face's rim it joins
# Fingers reach this far (in eye spans) over the face from the palm's surface.
_FINGER_REACH = 1.2


def _hand_by_the_face(
    g: np.ndarray,
    bright: np.ndarray,
    head: np.ndarray,
    anchors: Mapping[str, np.ndarray],
    span: float,
) -> np.ndarray:
    """A palm or fist beside the face and the fingers or knuckles it lays over it (bool).

    Seen in any pose: the palm or fist stands out of the head's outline (``_head_ellipse``) as
    a lump of a hand's size and thickness whose outline is a round's (much tighter than the
    head's own; read where the lump is thicker than a finger, so fingers leaving it do not
    throw the round off), centred at or past the head's outline; the whole round is the palm
    or fist. From it the creases between fingers or knuckles (valleys narrower than a finger)
    and the fingers themselves (ridges as narrow, standing well out of the face) are followed
    over the face, closed over the fingers between them, and opened again so a lid or lip line
    that touches them is left. Nothing within a quarter span of the nose, mouth or
    chin is a lump: a turned face's or a profile's own features stand out of the ellipse
    there, and a profile's nose is as round as a fist (the detector is as good as those
    anchors: a palm the face detector read as the nose is left); a piece too large for a hand
    is cut away from them, and what a disc as thick as a palm keeps of the rest is looked at.
    ``g`` is the work image blurred with sigma 1.5, ``bright`` all the tissue, ``head`` the
    baby's head.
    """
    found = np.zeros(g.shape, bool)
    if head.sum() < 100:
        return found
    area = float(head.sum())
    radius = math.sqrt(area / math.pi)
    fitted = _head_ellipse(head)
    if fitted is None:
        return found
    (cx, cy), (w, h), angle = fitted
    ellipse = np.zeros(g.shape, np.uint8)
    grown = 2 * _LUMP_PAST * radius
    cv2.ellipse(ellipse, ((cx, cy), (w + grown, h + grown), angle), 1, -1)
    # A palm vision left off the head (past its outline, touching it) is still the hand's.
    beside = cv2.dilate(head.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    caps = bright & (ellipse == 0)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(caps.astype(np.uint8), 8)
    features = np.zeros(g.shape, np.uint8)
    for name in ("nose_tip", "mouth", "chin"):
        if name in anchors:
            x, y = anchors[name]
            cv2.circle(features, (round(float(x)), round(float(y))), round(0.25 * span), 1, -1)
    pieces = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < _LUMP_LEAST * area:
            continue  # a speck: no mask made for it
        if stats[i, cv2.CC_STAT_AREA] <= _LUMP_MOST * area:
            pieces.append(labels == i)
            continue
        # Too large for a palm or fist: one joined to the face's own rim past a head ellipse
        # that fell short of a strongly turned face's chin. Away from the features, the round
        # palm is what a disc as thick as one keeps.
        apart = (labels == i) & (features == 0)
        opened = _open_disc(apart, max(3, int(_LUMP_SPLIT * radius) | 1))
        n, parts = cv2.connectedComponents(opened.astype(np.uint8), connectivity=8)
        pieces.extend(parts == k for k in range(1, n))
    lumps = []
    for cap in pieces:
        if not _LUMP_LEAST * area <= float(cap.sum()) <= _LUMP_MOST * area:
            continue
        if not (cap & beside).any() or (cap & (features > 0)).any():
            continue
        thick = float(cv2.distanceTransform(cap.astype(np.uint8), cv2.DIST_L2, 5).max())
        if 2 * thick >= _LUMP_THICK * radius:
            lumps.append(cap)
    if not lumps:
        return found
    edge = bright & ~(cv2.erode(bright.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    for cap in lumps:
        # The palm or fist is round: the circle its outline past the head's follows is all of
        # it; the head's own crown or cheek past the ellipse curves as widely as the head.
        # Fingers leaving the palm over the face are no part of its round: the ellipse cuts
        # them into thin slivers of the cap, and the outline is read where the cap is thicker
        # (all of it, when that leaves too little of it to fit).
        thick_part = _open_disc(cap, max(3, int(_LUMP_THICK * radius) | 1))
        thick_part = cv2.dilate(thick_part.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        arc_ys, arc_xs = np.nonzero(cap & edge & thick_part)
        if len(arc_xs) < 12:
            arc_ys, arc_xs = np.nonzero(cap & edge)
        if len(arc_xs) < 12:
            continue
        circle = _circle_through(arc_xs.astype(np.float64), arc_ys.astype(np.float64))
        if circle is None:
            continue
        (ox, oy), r = circle
        off = np.abs(np.hypot(arc_xs - ox, arc_ys - oy) - r)
        if not (0.12 * radius <= r <= 0.7 * radius) or float(np.median(off)) > 0.08 * r:
            continue
        # A hand stands beside the head: the round's middle lies at or past the head's outline
        # and a good part of it outside (a turned face's cheek past the ellipse is a sliver of
        # a round centred well inside the face).
        inside_round = np.zeros(g.shape, np.uint8)
        cv2.circle(inside_round, (round(ox), round(oy)), round(r), 1, -1)
        disc = (inside_round > 0) & bright
        centre = float(_on_ellipse(fitted, ox, oy))
        if centre < _LUMP_CENTRE or cap.sum() < _LUMP_OUT * disc.sum():
            continue
        found |= cap | disc
    if not found.any():
        return found
    valley_size = max(3, int(0.15 * span) | 1)
    valley = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (valley_size, valley_size))
    creases = (cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, valley) > _CREASE_DEPTH) & bright
    # ... and the fingers themselves, ridges as narrow standing well out of the face they lie on.
    creases |= (cv2.morphologyEx(g, cv2.MORPH_TOPHAT, valley) > _FINGER_RIDGE) & bright
    near = cv2.distanceTransform((~found).astype(np.uint8), cv2.DIST_L2, 5)
    count, labels = cv2.connectedComponents(creases.astype(np.uint8), connectivity=8)
    touching = np.unique(labels[(near < 0.08 * span) & creases])
    fingers = np.isin(labels, touching[touching > 0]) & (near < _FINGER_REACH * span)
    close = max(3, int(0.25 * span) | 1)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
    hand = cv2.morphologyEx((found | fingers).astype(np.uint8), cv2.MORPH_CLOSE, disk) > 0
    hand = _open_disc(hand & bright, max(3, int(0.12 * span) | 1)) | found
    count, labels = cv2.connectedComponents(hand.astype(np.uint8), connectivity=8)
    kept = np.unique(labels[found])
    return np.isin(labels, kept[kept > 0])


# Of the head, what the mirror image must have found over a covered side for the palm-or-fist
# search to be left out (a phantom's hand over one side: 0.2-0.33).
_MIRROR_FOUND = 0.05


# ---- profiles --------------------------------------------------------------------------------

# A profile is read from the silhouette, which pins the nose tip, lips and chin (points on the
# outline) well and the near eye only roughly: its confidence says so, and the renderer draws
# nothing for an anchor under 0.6. Where the closed lid's line shows clearly at that place,
# the eye is placed on it and is as sure as the lips (``_near_eye``).
_PROFILE_CONFIDENCE: dict[str, float] = {
    "nose_tip": 0.85,
    "mouth": 0.75,
    "chin": 0.75,
    "eye_left": 0.5,
    "eye_right": 0.5,
}
_PROFILE_OUTLINE = ("nose_tip", "mouth", "chin")  # read on the silhouette itself
# How far past the mesh's nose (in eye spans) the silhouette's must lie for the mesh to have
# misread a profile: 0.56-0.8 on the profiles it squeezed, at most 0.45 on true three-quarters
# (where the bump also lies above the mesh's nose).
_MISREAD_PROFILE_REACH = 0.5
# ... and past a frontal face's nose: beyond its cheek (1.3-2.2 on the profiles read frontal
# beside a hand or fist; a fist beside a frontal face, which shows no lid line, 1.4).
_MISREAD_FRONTAL_REACH = 1.0
# How far a profile's nose stands out of the outline, of the head's height: 0.042-0.11 on the
# phantoms' profiles; a fist at a turned face's mouth stood out 0.032, a cord's or strand's
# end leaving the head 0.15-0.34 (and was painted as a horn).
_PROFILE_NOSE = 0.038
_PROFILE_NOSE_MAX = 0.14
# The near eye of a profile, from the nose tip in head heights: back and up (the phantoms'
# lid line ends there at 0.21 and 0.14 on both sides; an older 0.17 sat on the nose's bridge).
_PROFILE_EYE_BACK, _PROFILE_EYE_UP = 0.21, 0.14
# A lid line "shows" when its darkness against the lid round it (a black-hat the size of a
# newborn's closed eye) is this many times the 90th percentile over the head: speckle and
# the skin's own shading reach about a third of a line's.
_LID_LINE_CLEAR = 2.5


def _outline(inside: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, how far the silhouette reaches toward ``side`` on each row) of the main blob."""
    rows = np.flatnonzero(inside.any(axis=1))
    if side == "right":
        reach = inside.shape[1] - 1 - np.argmax(inside[rows, ::-1], axis=1)
    else:
        reach = -np.argmax(inside[rows], axis=1)
    return rows, reach.astype(np.float32)


def _stand_out(reach: np.ndarray, d: int) -> np.ndarray:
    """How far each row's outline reaches beyond the mean of the rows ``d`` above and below."""
    above = np.concatenate([np.full(d, reach[0]), reach[:-d]])
    below = np.concatenate([reach[d:], np.full(d, reach[-1])])
    return reach - 0.5 * (above + below)


def _bump(stand_out: np.ndarray, lo: int, hi: int) -> int | None:
    """The row of the outline's most convex point between ``lo`` and ``hi``, if it is convex."""
    lo, hi = max(lo, 0), min(hi, len(stand_out))
    if hi <= lo:
        return None
    i = lo + int(np.argmax(stand_out[lo:hi]))
    return i if stand_out[i] > 0 else None


def _profile_landmarks(
    grey: np.ndarray, bright: np.ndarray, smooth: np.ndarray, cut_strands: bool = True
) -> _Landmarks | None:
    """A face seen edge-on, which the mesh does not find or misreads (``_misread_profile``):
    the silhouette's front edge shows a nose standing out between the brow and the lips, the
    lips, then the chin above the neck. Anything else (a smooth blob, a limb) is not a face.

    The silhouette is the head's without the cords and membrane strands that leave it: a
    strand's end standing out of the outline is no nose (a cord behind a profile's head turned
    the face the wrong way; a membrane's strands hid the face's own outline). Without
    ``cut_strands`` the plain outline is read: a quick look for any profile at all."""
    inside = _largest(bright > 0.5)
    if inside is None:
        return None
    if cut_strands:
        radius = math.sqrt(float(inside.sum()) / math.pi)
        cy, cx = np.argwhere(inside).mean(axis=0)
        t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
        # The head's outline for the strand finder, which takes the face's (a sixth smaller).
        face = np.column_stack([cx + radius / 1.2 * np.cos(t), cy + radius / 1.2 * np.sin(t)])
        strands = _strands(grey, inside, face.astype(np.float32))
        if strands.any():
            inside = _largest(_cut_loose(inside, strands))
            if inside is None:
                return None
    x, y, width, height = cv2.boundingRect(inside.astype(np.uint8))
    if inside.sum() < 0.04 * inside.size or not 0.5 < width / max(height, 1) < 1.8:
        return None
    best: tuple[float, str, dict[str, np.ndarray], dict[str, float]] | None = None
    for side in ("left", "right"):
        rows, reach = _outline(inside, side)
        n: float = len(rows)
        edge = inside.shape[1] - 1 if side == "right" else 0
        at_edge = np.abs(np.abs(reach) - edge) < 1  # rows where the outline is the frame's
        reach = cv2.GaussianBlur(reach.reshape(-1, 1), (1, 0), max(1.0, 0.01 * n)).ravel()
        stand_out = _stand_out(reach, max(2, int(0.08 * n)))
        band = slice(int(0.3 * n), int(0.75 * n))
        nose = band.start + int(np.argmax(stand_out[band]))
        if stand_out[nose] < _PROFILE_NOSE * n or reach[nose] < reach[:nose].max() - 0.02 * n:
            continue  # nothing stands out, or the brow reaches further than the "nose"
        if stand_out[nose] > _PROFILE_NOSE_MAX * n:
            continue  # a cord's or a limb's end, too long for a nose
        near = slice(max(0, nose - int(0.03 * n)), nose + int(0.03 * n) + 1)
        if at_edge[near].any():
            continue  # what runs off the picture's edge (a strand, the head) is no nose
        # The lips and the chin are smaller bumps on the outline's way back below the nose.
        bump = _stand_out(reach, max(2, int(0.04 * n)))
        lips = _bump(bump, nose + int(0.07 * n), nose + int(0.22 * n))
        if lips is None:
            continue
        chin = _bump(bump, lips + int(0.06 * n), nose + int(0.45 * n))
        if chin is None or reach[chin] > reach[nose]:
            continue
        sign = 1.0 if side == "right" else -1.0
        outline = np.column_stack([sign * reach, rows]).astype(np.float32)
        tip = outline[nose]
        guess = tip + np.array([-sign * _PROFILE_EYE_BACK * n, -_PROFILE_EYE_UP * n], np.float32)
        eye = "eye_left" if side == "right" else "eye_right"  # the near eye, as seen
        place, sure = _near_eye(smooth, inside, guess, n)
        anchors = {"nose_tip": tip, "mouth": outline[lips], "chin": outline[chin], eye: place}
        readings = {eye: _PROFILE_CONFIDENCE["mouth"]} if sure else {}
        if best is None or stand_out[nose] > best[0]:
            best = (float(stand_out[nose]), side, anchors, readings)
    if best is None:
        return None
    _, side, anchors, readings = best
    return _Landmarks(
        oval=_profile_oval(anchors["nose_tip"], side, float(height)),
        anchors=anchors,
        spread={},
        yaw=sign,
        variant="silhouette",
        profile=side,
        readings=readings,
    )


def _profile_oval(tip: np.ndarray, side: str, n: float) -> np.ndarray:
    """A profile's face outline (36 × 2): from the brow to the chin, from the nose tip back
    across the cheek, for a head ``n`` pixels high facing ``side``."""
    sign = 1.0 if side == "right" else -1.0
    centre = np.array([tip[0] - sign * 0.38 * n, tip[1] - 0.05 * n])
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    oval = np.column_stack([centre[0] + 0.36 * n * np.cos(t), centre[1] + 0.4 * n * np.sin(t)])
    return oval.astype(np.float32)


@dataclass(frozen=True)
class _DarkLine:
    """The darkest line a black-hat finds in a window of the scan (a closed lid, the lips)."""

    place: np.ndarray  # the weighted middle of its darkest part, work px
    peak: float  # how far it lies under the shading round it, at its darkest
    floor: float  # the 90th percentile of that over the skin round the window


def _dark_line(
    smooth: np.ndarray,
    inside: np.ndarray,
    crop: tuple[int, int, int, int],
    size: tuple[int, int],
    window: tuple[int, int, int, int],
    share: float,
) -> _DarkLine | None:
    """The dark line in ``window`` (y0, y1, x0, x1 within ``crop``'s own y0, y1, x0, x1 of the
    picture) of a black-hat ``size`` wide and high over the skin in ``crop``: its place is the
    middle of the part darker than ``share`` of its peak. None when nothing there is darker
    than the skin round it. The dark beyond the outline is the background: not counted."""
    y0, y1, x0, x1 = crop
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, size)
    region = smooth[y0:y1, x0:x1].astype(np.float32)
    line = cv2.morphologyEx(region, cv2.MORPH_BLACKHAT, kernel)
    skin = inside[y0:y1, x0:x1]
    line *= skin
    wy0, wy1, wx0, wx1 = window
    part = line[wy0:wy1, wx0:wx1]
    if part.size == 0 or float(part.max()) <= 0.0:
        return None
    peak = float(part.max())
    weights = np.clip(part - share * peak, 0.0, None)
    ys, xs = np.mgrid[0 : part.shape[0], 0 : part.shape[1]]
    total = float(weights.sum())
    place = np.array(
        [
            x0 + wx0 + float((weights * xs).sum()) / total,
            y0 + wy0 + float((weights * ys).sum()) / total,
        ],
        np.float32,
    )
    around = line[skin > 0]
    floor = float(np.percentile(around, 90)) if around.size else 0.0
    return _DarkLine(place, peak, floor)


def _near_eye(
    smooth: np.ndarray, inside: np.ndarray, guess: np.ndarray, n: float
) -> tuple[np.ndarray, bool]:
    """A profile's near eye on its closed lid's line near ``guess``, and whether that line
    shows clearly; ``guess`` itself when no line is darker than the skin round it.

    The line is where the scan is darker than the lid round it at a closed eye's size (a
    black-hat a twelfth of the head wide and a thirtieth high); the eye is the middle of its
    darkest part within a twenty-fifth of the head's height of ``guess``."""
    height, width = smooth.shape
    r = max(2, int(0.04 * n))
    reach = 3 * r
    gx, gy = int(round(float(guess[0]))), int(round(float(guess[1])))
    y0, x0 = max(0, gy - reach), max(0, gx - reach)
    y1, x1 = min(height, gy + reach + 1), min(width, gx + reach + 1)
    if y1 - y0 < 3 or x1 - x0 < 3:
        return guess, False
    size = (max(3, int(0.08 * n) | 1), max(3, int(0.03 * n) | 1))
    cy, cx = gy - y0, gx - x0
    window = (max(0, cy - r), cy + r + 1, max(0, cx - r), cx + r + 1)
    line = _dark_line(smooth, inside, (y0, y1, x0, x1), size, window, 0.5)
    if line is None:
        return guess, False
    if line.peak < _LID_LINE_CLEAR * max(line.floor, 1.0):
        return guess, False  # no line shows: the silhouette's place, not the speckle's
    return line.place, True


def _turned_too_far(smooth: np.ndarray, inside: np.ndarray, mesh: _Landmarks) -> bool:
    """A mesh reading turned past a frontal or gently turned face's bounds (``turned_far``)
    whose near eye shows no closed lid where the mesh put it: the mesh squeezed onto a profile
    beside a hand (its eyes on the temple and the cheek, its lips on the fingers), not a
    strongly turned three-quarter face, whose near eye shows its lid on every phantom."""
    if not mesh.turned_far or not {"eye_left", "eye_right"} <= mesh.anchors.keys():
        return False
    near = mesh.anchors["eye_right" if mesh.yaw < 0 else "eye_left"]  # away from the nose
    _, shows = _near_eye(smooth, inside, near, float(np.ptp(mesh.oval[:, 1])))
    return not shows


# A turned face's mouth is looked for on the lips' parting line this far (in eye gaps) from
# the mesh's, across away from the nose (the mesh puts it 0.03-0.047 of the face's diagonal
# toward the nose) and up or down; the line must stand out of the shading round it this much
# more than the 90th percentile there.
_MOUTH_REACH, _MOUTH_RISE, _MOUTH_LINE_CLEAR = 0.25, 0.12, 1.6
# The line is looked for along the picture's rows: on a face lying further over than this
# (degrees) they no longer run across its lips.
_MOUTH_ROLL = 20.0


def _on_mouth_line(
    smooth: np.ndarray,
    inside: np.ndarray,
    hidden: np.ndarray,
    guess: np.ndarray,
    span: float,
    away: int,
) -> np.ndarray:
    """A turned face's mouth moved onto the lips' parting line near the mesh's ``guess``,
    looked for ``away`` from the nose (+1 the picture's right) and barely toward it; ``guess``
    itself where no line shows clearly, or where a hand or strand lies over it (its own
    creases are no mouth). The line is the middle of the darkest part of a black-hat a
    newborn's mouth wide."""
    height, width = smooth.shape
    gx, gy = int(round(float(guess[0]))), int(round(float(guess[1])))
    if not (0 <= gx < width and 0 <= gy < height):
        return guess
    rx, ry = max(2, int(_MOUTH_REACH * span)), max(2, int(_MOUTH_RISE * span))
    pad = int(0.3 * span) + 2
    y0, x0 = max(0, gy - ry - pad), max(0, gx - rx - pad)
    y1, x1 = min(height, gy + ry + pad + 1), min(width, gx + rx + pad + 1)
    if y1 - y0 < 5 or x1 - x0 < 5:
        return guess
    if float(hidden[max(0, gy - ry) : gy + ry + 1, max(0, gx - rx) : gx + rx + 1].mean()) > 0.3:
        return guess
    size = (max(3, int(0.5 * span) | 1), max(3, int(0.12 * span) | 1))
    cy, cx = gy - y0, gx - x0
    back = int(0.05 * span)  # toward the nose: the mesh's error lies that way
    lo, hi = (cx - back, cx + rx) if away > 0 else (cx - rx, cx + back)
    window = (max(0, cy - ry), cy + ry + 1, max(0, lo), hi + 1)
    line = _dark_line(smooth, inside, (y0, y1, x0, x1), size, window, 0.6)
    if line is None or line.peak < _MOUTH_LINE_CLEAR * max(line.floor, 1.0):
        return guess
    return line.place


def _misread_profile(mesh: _Landmarks, silhouette: _Landmarks) -> bool:
    """The mesh squeezed onto a profile, which it reads as a three-quarter face turned the
    same way: the silhouette's nose (the real one, the outline's furthest point) then lies
    out beyond the mesh's and not above it, and the silhouette's near eye shows its closed
    lid where a profile's would be. On a true three-quarter face the bump the silhouette finds
    past the nose is the far cheek (nearer, and higher than the nose tip) or a fist at the
    mouth (further out, but with no lid line above it).

    A profile the silhouette reads clearly (its lid line shows) is read from the silhouette
    too when the mesh's face looks the other way, or looks at the viewer with the profile's
    nose beyond its cheek: the mesh fitted a face to the side or back of the head, beside a
    hand or fist there."""
    if silhouette.profile is None or "nose_tip" not in mesh.anchors or not silhouette.readings:
        return False
    sign = 1.0 if silhouette.profile == "right" else -1.0
    offset = (silhouette.anchors["nose_tip"] - mesh.anchors["nose_tip"]) / max(mesh.span, 1e-6)
    if mesh.pose == "frontal":
        return bool(sign * offset[0] > _MISREAD_FRONTAL_REACH)
    beyond = sign * offset[0] > _MISREAD_PROFILE_REACH
    if not mesh.pose.endswith(silhouette.profile):
        return bool(beyond)
    return bool(beyond and offset[1] > 0.0)


# ---- entry points ----------------------------------------------------------------------------


def screen(scan: IngestedScan) -> None:
    """The cheap part of the input check (tens of ms), run at upload before anything is stored:
    raises ScanRejected("2d-bmode") for a scan that is plainly a 2D B-mode image. A face that is
    merely hard to find is left for ``analyze`` in the worker, which tries much harder."""
    try:
        _screen(scan)
    except ScanRejected:
        raise
    except Exception as error:
        logger.exception("the upload check failed on a %s scan of %s", scan.kind, scan.size)
        raise ScanRejected("vision-failed", MSG_VISION_FAILED) from error


def _screen(scan: IngestedScan) -> None:
    box = scan.render_box
    work, _scale = _to_work(_as_rgb8(scan.image[box.y0 : box.y1, box.x0 : box.x1]))
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    subject = _subject_mask(grey, cv2.GaussianBlur(grey, (0, 0), 2.0))
    speckle_ratio, smooth_coarse = _speckle_ratio(grey)
    texture = _texture(work, subject, speckle_ratio, smooth_coarse)
    if looks_like_bmode(texture, face_found=True):
        raise ScanRejected("2d-bmode", MSG_BMODE)
    # The stricter test needs to know whether a face is there: only then ask the detector.
    if looks_like_bmode(texture, face_found=False) and face_score(work) == 0.0:
        raise ScanRejected("2d-bmode", MSG_BMODE)


def analyze(
    scan: IngestedScan, placed: Mapping[str, tuple[float, float]] | None = None
) -> StructuralCues:
    """Structural cues for the render area of ``scan``; raises ScanRejected for negatives.

    ``placed``: the face's points a sonographer placed herself (scan pixels; ``PLACED_NAMES``,
    the nose tip and one or both eyes), where the detector found no face. They
    stand in for its reading: the face's outline and pose come from them, every map is
    measured as on a detected face, and each comes back as an anchor, sure.

    No input crashes the stage: an unexpected error becomes a rejected scan with a reason a
    sonographer understands, and its stack trace goes to the log for us.
    """
    try:
        return _analyze(scan, placed)
    except ScanRejected:
        raise
    except Exception as error:
        logger.exception("vision failed on a %s scan of %s", scan.kind, scan.size)
        raise ScanRejected("vision-failed", MSG_VISION_FAILED) from error


def _as_rgb8(image: np.ndarray) -> np.ndarray:
    """Any frame a caller may hand over (8/16-bit, float, grey, RGBA) as H×W×3 uint8 RGB."""
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 4:
        image = image[..., :3]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    values = image.astype(np.float32)
    if image.dtype == np.uint16:
        values /= 257.0
    elif np.issubdtype(image.dtype, np.floating) and float(np.nanmax(values, initial=0)) <= 1.0:
        values *= 255.0
    return np.ascontiguousarray(np.clip(np.nan_to_num(values), 0, 255).astype(np.uint8))


# A face turned further than this (the nose this far from the middle between the face's two
# outlines) shows one cheek only: the pose is three-quarter and the far cheek is not kept.
_THREE_QUARTER_YAW = 0.5


def _pose(yaw: float) -> str:
    if abs(yaw) < _THREE_QUARTER_YAW:
        return "frontal"
    return "three-quarter-left" if yaw < 0 else "three-quarter-right"


def _far_side(pose: str) -> tuple[str, ...]:
    """The anchors a pose turns away from the probe (seen upright, left or right)."""
    if pose == "frontal":
        return ()
    side = "left" if pose.endswith("left") else "right"
    if pose.startswith("profile"):
        return (f"eye_{side}", f"cheek_{side}")
    return (f"cheek_{side}",)


def _face_up(anchors: dict[str, np.ndarray]) -> np.ndarray:
    """The unit direction, in picture pixels, from the chin to the brow: the picture's up
    unless the face lies rolled in it (or the anchors do not say: a profile is upright)."""
    if not {"eye_left", "eye_right", "chin"} <= anchors.keys():
        return np.array([0.0, -1.0])
    _origin, axes, _span = _face_frame(anchors)
    return -np.asarray(axes[1], np.float64)


def _head_region(oval: np.ndarray, shape: tuple[int, ...], up: np.ndarray) -> np.ndarray:
    """Where the baby's head can be, from the face's outline: the face oval widened, and
    raised (toward ``up``, the face's brow) for the cranium above the brow. Placenta or a
    uterine wall pressed against the face lies mostly outside it."""
    (cx, cy), (w, h), angle = cv2.fitEllipse(oval.astype(np.float32))
    # The cranium rises above the brow: move the centre toward it. Along ``up`` itself: the
    # fitted ellipse's axes of a round face may lie either way (an angle near 90°), and the
    # region slid sideways off the crown, which was cut off the head.
    shift = 0.15 * max(w, h)
    dx, dy = shift * float(up[0]), shift * float(up[1])
    region = np.zeros(shape, np.uint8)
    cv2.ellipse(
        region,
        ((float(cx + dx), float(cy + dy)), (float(w * 1.45), float(h * 1.5)), angle),
        1,
        -1,
    )
    return region.astype(bool)


def _surface_pieces(smooth: np.ndarray, inside: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The subject cut along the surface's step edges (the strongest tenth of its gradients):
    separate surfaces (a head, a wall, a finger, a cord) fall into separate pieces. Returns
    (count, labels, each label's area); label 0 is everything off the pieces."""
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.magnitude(gx, gy)
    edges = magnitude > max(30.0, float(np.percentile(magnitude[inside], 90)))
    pieces = inside & ~cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(pieces.astype(np.uint8), 4)
    return count, labels, np.maximum(stats[:, cv2.CC_STAT_AREA], 1)


def _head_subject(
    grey: np.ndarray,
    bright: np.ndarray,
    smooth: np.ndarray,
    oval: np.ndarray,
    pose: str,
    up: np.ndarray,
    strands: np.ndarray,
) -> np.ndarray:
    """The baby's head and face: the bright mask cut along the surface's step edges into
    pieces, keeping the pieces that lie mostly where the head can be (``up``: _face_up).
    ``strands`` (bool) are the cords and membranes over it (``_strands``)."""
    head = _head_region(oval, grey.shape, up)
    inside = bright > 0.5
    if not inside.any():
        return np.zeros(grey.shape, np.float32)
    count, labels, _ = _surface_pieces(smooth, inside)
    # A strand over the head and off past it is no part of the piece it lies on: counted, it
    # took a crown under a membrane out of the head (its ends reach the frame's edge).
    bare = ~strands
    share = np.bincount(labels[head & bare], minlength=count) / np.maximum(
        np.bincount(labels[bare], minlength=count), 1
    )
    keep = share >= 0.75
    keep[0] = False
    kept = keep[labels]
    # Give back the edge pixels between kept pieces, and the eye sockets and shadows inside.
    kept = cv2.morphologyEx(kept.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    # The head's pieces reach onto the face; slivers of a wall cut off by their own edges
    # lie beside it, and are not the baby.
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(kept, 8)
    if count > 2:
        face = np.zeros(grey.shape, np.uint8)
        cv2.fillPoly(face, [oval.astype(np.int32)], 1)
        on_face = np.bincount(labels[face > 0], minlength=count) / np.maximum(
            stats[:, cv2.CC_STAT_AREA], 1
        )
        on_face[0] = 0
        keep = (on_face >= 0.2) | _far_cheek(labels, stats, centroids, face, head, pose, up)
        keep |= _across_strands(labels, kept, keep, strands & inside)
        kept = keep[labels].astype(np.uint8)
    # A piece kept (three quarters of it where the head can be) is kept whole: a tall crown
    # reaches past the region drawn from the face, and clipping it there cut a crescent off.
    subject = kept.astype(bool) & inside
    region = head | subject
    # Where no step edge parts the head from what surrounds it (a photograph, a render whose
    # wall touches the head without a crease), the head's region itself is the cut.
    if (subject & head).sum() < 0.5 * (inside & head).sum():
        subject = inside & head
        region = head
    subject = _split_at_notches(subject, oval, strands)
    # The subject is a silhouette, not a brightness mask: a cord's or a hand's edges and a
    # mouth line cut across the head must not split it into pieces (a renderer keeps one body).
    size = max(5, int(0.08 * math.sqrt(float(subject.sum()))) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    closed = cv2.morphologyEx(subject.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    subject = closed & region
    return _fill_holes(subject).astype(np.float32)


def _across_strands(
    labels: np.ndarray, kept: np.ndarray, keep: np.ndarray, strands: np.ndarray
) -> np.ndarray:
    """Which pieces (per label) a strand joins to a piece ``keep`` holds: the crown above a
    membrane across the brow, the chin below a cord. Where the head can be but off the face's
    outline, they were dropped as a wall's slivers, and the portrait's head was cut flat along
    the strand. Only pieces already kept as lying where the head can be are asked: a wall's
    sliver a cord crosses to the face is kept with them."""
    count = len(keep)
    joined = np.zeros(count, bool)
    if not strands.any():
        return joined
    _, groups = cv2.connectedComponents(((kept > 0) | strands).astype(np.uint8), connectivity=8)
    group_of = np.zeros(count, np.int64)
    group_of[labels[kept > 0]] = groups[kept > 0]
    faces = np.unique(group_of[keep])
    joined = np.isin(group_of, faces[faces > 0])
    joined[0] = False
    return joined


def _far_cheek(
    labels: np.ndarray,
    stats: np.ndarray,
    centroids: np.ndarray,
    face: np.ndarray,
    head: np.ndarray,
    pose: str,
    up: np.ndarray,
) -> np.ndarray:
    """Which pieces are a turned face's far cheek: per label, True for a piece wholly where the
    head can be, beside the face's outline on the side the face is turned to.

    On a three-quarter view the cheek beyond the nose shows, darker and parted from the face
    by the nose's edge, and outside the detector's face outline (which stops at the nose): it
    was dropped as a wall's sliver, and the portrait had a profile's notches on a turned face.
    A wall on that side lies mostly outside the head's region, so it stays out.
    """
    count = len(stats)
    keep = np.zeros(count, bool)
    if not pose.startswith("three-quarter-"):
        return keep
    side = 1 if pose.endswith("right") else -1
    right = np.array([-up[1], up[0]])  # the face's own left to right, as seen upright
    ys, xs = np.nonzero(face)
    if xs.size == 0:
        return keep
    across = xs * right[0] + ys * right[1]
    centre = (across.min() + across.max()) / 2.0
    reach = max(3, int(0.1 * (across.max() - across.min())) | 1)
    beside = cv2.dilate(face, np.ones((reach, reach), np.uint8)) > 0
    touching = np.bincount(labels[beside], minlength=count) > 0
    within = np.bincount(labels[head], minlength=count) >= 0.95 * np.maximum(
        stats[:, cv2.CC_STAT_AREA], 1
    )
    keep = touching & within & ((centroids @ right - centre) * side > 0)
    keep[0] = False
    return keep


def _beside_nose(
    subject: np.ndarray, oval: np.ndarray, pose: str, anchors: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The nose's shadow on a turned face, which the subject mask missed: (where it lies, the
    part of it the face's surface is continued over, which is all of it but the far eye).

    On a three-quarter view the nose shades the skin between it and the far cheek; that
    shadow is as dark as the background, so the mask had a notch there and the portrait a
    hooked outline by the nose. What the outline's hull encloses beside the nose, on the side
    the face is turned to, is face (its surface is continued from around: the shadow's
    darkness is not depth).
    """
    inside = subject > 0.5
    none = np.zeros(inside.shape, bool)
    nose = anchors.get("nose_tip")
    if not pose.startswith("three-quarter-") or nose is None:
        return none, none
    points = cv2.findNonZero(inside.astype(np.uint8))
    if points is None:
        return none, none
    hull = np.zeros(inside.shape, np.uint8)
    cv2.fillPoly(hull, [cv2.convexHull(points)], 1)
    up = _face_up(anchors)
    right = np.array([-up[1], up[0]])  # the face's own left to right, as seen upright
    width = float(np.ptp(oval @ right))
    h, w = inside.shape
    ys, xs = np.mgrid[0:h, 0:w]
    side = 1 if pose.endswith("right") else -1
    beyond = ((xs - nose[0]) * right[0] + (ys - nose[1]) * right[1]) * side > 0
    near = (np.hypot(xs - nose[0], ys - nose[1]) < 0.5 * width) & beyond
    added = (hull > 0) & near & ~inside & _head_region(oval, inside.shape, up)
    # The far eye lies in the hollow by the nose: its socket is dark, but it is seen.
    unseen = added.copy()
    for name in ("eye_left", "eye_right"):
        if (eye := anchors.get(name)) is not None:
            unseen &= np.hypot(xs - eye[0], ys - eye[1]) > 0.15 * width
    return added, unseen


def _split_at_notches(subject: np.ndarray, oval: np.ndarray, strands: np.ndarray) -> np.ndarray:
    """Cut away a wall or placenta pressed against the head where no edge parts them.

    A head is a round body; where another body touches it, their joint outline has a notch on
    each side of the contact (the dark gaps above and below it). The cut joins the two deepest
    notches; the part away from the face goes, when it is a real part (not a sliver) and lies
    off the face. A strand across the head (``strands``) leaves a notch where it crosses each
    side of the outline too: those are no contact (the crown above a membrane was cut off
    along it).
    """
    mask = subject.astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return subject
    contour = max(contours, key=cv2.contourArea)
    if len(contour) < 20:
        return subject
    size = math.sqrt(float(cv2.contourArea(contour)))
    hull = cv2.convexHull(contour, returnPoints=False)
    try:
        defects = cv2.convexityDefects(contour, hull)
    except cv2.error:  # a self-touching outline: leave it whole
        return subject
    if defects is None:
        return subject
    notches = sorted(
        (tuple(contour[far][0]), depth / 256.0)
        for _, _, far, depth in defects[:, 0]
        if depth / 256.0 >= 0.06 * size
    )
    if len(notches) < 2:
        return subject
    face = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(face, [oval.astype(np.int32)], 1)
    centre = oval.mean(axis=0)
    if strands.any():
        near = _within(strands, 0.03 * size)
        notches = [(point, depth) for point, depth in notches if not near[point[1], point[0]]]
    best = subject
    removed_best = 0
    for i in range(len(notches)):
        for j in range(i + 1, len(notches)):
            a, b = np.array(notches[i][0]), np.array(notches[j][0])
            if np.linalg.norm(a - b) < 0.25 * size:
                continue
            cut = mask.copy()
            cv2.line(cut, tuple(int(v) for v in a), tuple(int(v) for v in b), 0, 3)
            count, labels = cv2.connectedComponents(cut, connectivity=4)
            if count < 3:
                continue
            keep = labels[int(round(centre[1])), int(round(centre[0]))]
            if keep == 0:
                continue
            gone = (labels != keep) & (labels > 0)
            area = int(gone.sum())
            # A real part (not a sliver of cheek) that lies off the face.
            if area < 0.05 * mask.sum() or (gone & (face > 0)).sum() > 0.15 * area:
                continue
            if area > removed_best:
                removed_best = area
                best = subject & ~gone
    return best


def _within(mask: np.ndarray, distance: float) -> np.ndarray:
    """Pixels no farther than ``distance`` from ``mask`` (a dilation by a disc, linear time)."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5) <= distance


def _open_disc(mask: np.ndarray, size: int) -> np.ndarray:
    """``mask`` opened with a disc ``size`` pixels across, from two distance transforms.

    The same as an opening with OpenCV's elliptic kernel to a pixel here and there along curved
    edges, in linear time: the kernel's cost grows with its size (20 ms a call at a third of a
    head on the 400 px work image, against 2-8 here).
    """
    radius = (size - 1) / 2.0
    core = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5) > radius
    if not core.any():
        return core
    return cv2.distanceTransform((~core).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5) <= radius


def _open_grey_disc(image: np.ndarray, size: int) -> np.ndarray:
    """A smooth float image opened with a disc ``size`` pixels across, worked at half size.

    An opening with a large disc keeps only broad forms, which half the pixels hold as well
    (within 0.002 of full size on a blurred image, against 0.05 of signal it removes) at a tenth
    of the cost.
    """
    h, w = image.shape
    half = cv2.resize(image, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size // 2 | 1, size // 2 | 1))
    opened = cv2.morphologyEx(half, cv2.MORPH_OPEN, disc)
    return cv2.resize(opened, (w, h), interpolation=cv2.INTER_LINEAR)


_CORD_WIDTH = 0.075  # of the head's radius: a ridge on the head this wide is a cord


def _strands(grey: np.ndarray, inside: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """A cord or membrane strand across the head: True on the strand, its edge and its shadow.

    A strand is found from where it leaves the head: a thin bright piece reaching out into the
    fluid (what an opening the size of a third of the head removes from the silhouette). From
    there it is followed onto the head as a bright ridge (the top-hat of the same opening, above
    the face's own ridges), kept only as wide as the strand is, and only when it runs across the
    head for half its radius: a profile's nose or lips also stand out of the silhouette, but
    stop at once. A hand's fingers are separate surfaces the occluder map already holds.
    """
    found = np.zeros(grey.shape, bool)
    membranes = np.zeros(grey.shape, bool)  # those found, and the widest of them
    widest = 0.0
    if len(oval) < 5 or not inside.any():
        return found
    (_, _), (w, h), _ = cv2.fitEllipse(oval.astype(np.float32))
    radius = 0.6 * math.sqrt(float(w * h))  # the head's, from the face's oval
    size = max(5, int(0.35 * radius) | 1)
    body = _open_disc(inside, size)
    if not body.any():
        return found
    thin = (inside & ~body).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    if count <= 1:
        return found
    smooth = cv2.GaussianBlur(grey, (0, 0), 1.5).astype(np.float32)
    calm = cv2.GaussianBlur(smooth, (0, 0), 1.0)  # to read the shadows beside the strands
    ridge = smooth - _open_grey_disc(smooth, size)
    face_level = float(np.median(smooth[body]))
    floor = float(np.percentile(ridge[body], 60))
    near_body = cv2.dilate(body.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    depth_in = cv2.distanceTransform(body.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    # Each strand kept: its mask, the rim where it leaves the head, its widths there and on the
    # head, and for membranes the shadow read beside each of its lines.
    kept: list[tuple[np.ndarray, np.ndarray, float, float, list[_ShadowReading] | None]] = []
    for i in range(1, count):
        x, y, pw, ph, area = stats[i]
        if area < 20:
            continue
        piece = labels[y : y + ph, x : x + pw] == i
        if not (piece & near_body[y : y + ph, x : x + pw]).any():
            continue
        width = 2.0 * float(cv2.distanceTransform(piece.astype(np.uint8), cv2.DIST_L2, 3).max())
        if max(pw, ph) < 1.5 * width:
            continue  # a lump, not a strand
        # The strand's own width: twice its area over its outline's length (a long band's),
        # not its widest point, which is where it joins the head's rim.
        contours, _ = cv2.findContours(
            piece.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        outline = sum(cv2.arcLength(c, True) for c in contours)
        width = min(width, 2.0 * float(area) / max(outline, 1.0))
        level = float(np.median(ridge[y : y + ph, x : x + pw][piece]))
        if level < 0.35 * face_level:
            continue  # as dim as the head beside it: the head's own edge, or a wall's
        paths = _follow_ridge(
            ridge, body, near_body, piece, (x, y), width, max(0.25 * level, floor)
        )
        if not paths:
            continue
        # A strand crosses the head; a line that keeps to the outline is the head's own lit
        # rim, followed from a profile's nose or lips (which also stand out of the silhouette).
        # And it comes from outside: its piece reaches a tenth of the radius and more out
        # behind it (0.15-0.7 on the phantoms), a profile's nose tip 0.04-0.06 (a line from it,
        # kept from sweeping round by _march, ran on across the face and took the nose).
        paths = [
            p
            for p in paths
            if _median_depth(p, depth_in) > 0.12 * radius
            and _reaches_out(p, piece, (x, y)) > 0.1 * radius
        ]
        if not paths:
            continue
        width_on = float(np.median([_ridge_width(smooth, inside, p, width) for p in paths]))
        # Membranes or a cord, told by the ridge on the head: a pair of membranes leaving the
        # head together is a piece as wide as a cord (0.08-0.10 of its radius on the phantoms),
        # each of them a ridge a third as wide (0.025-0.045); a cord's ridge is 0.09-0.16
        # (once 0.02, its line run along its edge: it then goes as membranes do, with the
        # shadow read beside it).
        membrane = width_on < _CORD_WIDTH * radius
        if not membrane:
            # A cord is drawn as wide as it leaves the head, about its own middle (its line
            # keeps to its lit side).
            width_on = width
            paths = [_centred(ridge, p, width) for p in paths]
        strand = np.zeros(grey.shape, np.uint8)
        # Where it crosses the head's rim, as wide as the piece it left by, which cuts it loose
        # (narrower, a fringe along it joined it to the outline, and a profile's nose was lost
        # to it); within the head a membrane half as wide again as it lies there (its line
        # keeps to its lit side; the piece can be a pair of strands, or widen where it joins
        # the rim: membranes took a nose and lips with them), a cord as wide as that piece.
        lines = [np.round(path).astype(np.int32) for path in paths]
        cv2.polylines(strand, lines, False, 1, max(1, round(1.5 * width)))
        strand[body] = 0
        strand[y : y + ph, x : x + pw] |= piece.astype(np.uint8)
        rim = strand.copy()
        if membrane:
            cv2.polylines(strand, lines, False, 1, max(1, round(1.5 * width_on)))
        else:
            # A cord's shadow lies along the side the light leaves dark: there the band
            # reaches half its width past its edge, on its lit side a quarter (half either
            # side where neither is darker).
            for path in paths:
                line = np.round(_toward_shadow(calm, inside, path, width)).astype(np.int32)
                cv2.polylines(strand, [line], False, 1, max(1, round(2.0 * width)))
        on_head = np.column_stack(np.nonzero((strand > 0) & body)).astype(np.float32)
        if len(on_head) < 5 or max(cv2.minAreaRect(on_head)[1]) < 0.5 * radius:
            continue  # stops at the silhouette: the face's own shape
        if membrane:
            # Membrane strands lie side by side and may hand the line from one to the next: the
            # bright ridge a strand's width either side of it, as narrow as a strand, goes too.
            # (A cord lies alone, and what is beside it is the face: a nose, a lid.)
            corridor = _within(strand > 0, 1.0 * width_on)
            grown = (ridge > max(0.15 * level, floor)) & inside & corridor
            grown &= ~_open_disc(grown, int(1.6 * width_on) | 1)
            strand |= grown.astype(np.uint8)
            # The shadow a membrane casts on the skin beside it goes with it (it was left on
            # the forehead as dashes): read here, taken once every strand has been read.
            read = [_read_shadow(calm, inside, p, width_on, face_level, radius) for p in paths]
            kept.append((strand, rim, width, width_on, [r for r in read if r is not None]))
        else:
            kept.append((strand, rim, width, width_on, None))
    falls = _shadows_fall([r for *_, shadows in kept for r in shadows or ()])
    for strand, rim, width, width_on, readings in kept:
        membrane = readings is not None
        for reading in readings or ():
            strand |= _shadow_band(reading, strand.shape, falls).astype(np.uint8)
        # Its soft edge goes with it: 0.6 of its width either side (a cord's band, drawn over
        # its shadow already, half that).
        marked = np.zeros(grey.shape, bool)
        for mask, across in ((strand, width_on * (1.0 if membrane else 0.5)), (rim, width)):
            reach = max(1, int(0.6 * across))
            edge = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
            marked |= cv2.dilate(mask, edge).astype(bool) & inside
        found |= marked
        if membrane:
            membranes |= marked
            widest = max(widest, width_on)
    if widest:
        # The skin in a narrow gap between two membranes lying close lies in their shadows
        # (the shade there reads as no single strand's, against the bright strands either side).
        size = int(2 * widest + 2) | 1
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        closed = cv2.morphologyEx(membranes.astype(np.uint8), cv2.MORPH_CLOSE, disc)
        found |= closed.astype(bool) & inside
    return found


def _centred(ridge: np.ndarray, path: np.ndarray, width: float) -> np.ndarray:
    """``path`` moved across onto the middle of the bright ridge it runs along (``ridge``): the
    offset that centres the ridge's top half, the median along the line (N×2 x, y)."""
    across = _across_path(path)
    if across is None:
        return path
    points, normal = across
    reach = int(math.ceil(width)) + 2
    samples, _, _ = _sample_across(ridge, points, normal, reach)
    offsets = np.arange(-reach, reach + 1, dtype=np.float32)
    top = samples.max(axis=1, keepdims=True)
    weights = np.clip(samples - 0.5 * top, 0.0, None)
    total = weights.sum(axis=1)
    shown = total > 0
    if not shown.any():
        return path
    shift = float(np.median((weights[shown] * offsets).sum(axis=1) / total[shown]))
    return points + shift * normal


def _toward_shadow(
    calm: np.ndarray, inside: np.ndarray, path: np.ndarray, width: float
) -> np.ndarray:
    """A cord's centre line ``path`` moved a quarter of its ``width`` toward the side where the
    skin just past its edge is darker, against the skin a width further out, than on the other
    (its cast shadow); unmoved when neither side is, or either side leaves the head there."""
    across = _across_path(path)
    if across is None:
        return path
    points, normal = across
    half = 0.5 * width
    reach = int(math.ceil(half + 2.0 * width)) + 2
    samples, rows, cols = _sample_across(calm, points, normal, reach)
    on = inside[rows, cols]
    offsets = np.arange(-reach, reach + 1)
    drops = {}
    for side in (-1, 1):
        near = (side * offsets > half) & (side * offsets <= half + 0.5 * width)
        far = (side * offsets > half + width) & (side * offsets <= half + 2.0 * width)
        seen_near, seen_far = on[:, near], on[:, far]
        if seen_near.sum() < 10 or seen_far.sum() < 10:
            return points
        drops[side] = float(samples[:, far][seen_far].mean() - samples[:, near][seen_near].mean())
    side = 1 if drops[1] > drops[-1] else -1
    if drops[side] <= 0:
        return points
    return points + side * 0.25 * width * normal


def _across_path(path: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A centre line (N×2 x, y) resampled a pixel apart, with its unit normals; None when
    shorter than a few pixels."""
    steps = np.hypot(*np.diff(path, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] < 4:
        return None
    t = np.arange(0.0, along[-1], 1.0)
    points = np.column_stack([np.interp(t, along, path[:, 0]), np.interp(t, along, path[:, 1])])
    tangent = np.gradient(cv2.GaussianBlur(points, (1, 0), sigmaX=1, sigmaY=3), axis=0)
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-6)[:, None]
    return points, np.column_stack([-tangent[:, 1], tangent[:, 0]])


def _sample_across(
    image: np.ndarray, points: np.ndarray, normal: np.ndarray, reach: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``image`` read across a centre line (``_across_path``'s points and normals) at the
    ``2·reach + 1`` whole offsets along each normal, bilinear (N×offsets), with the row and
    column of each sample's nearest pixel (clipped to the image)."""
    offsets = np.arange(-reach, reach + 1, dtype=np.float32)
    xs = (points[:, 0, None] + offsets * normal[:, 0, None]).astype(np.float32)
    ys = (points[:, 1, None] + offsets * normal[:, 1, None]).astype(np.float32)
    samples = cv2.remap(image, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    height, width = image.shape
    cols = np.clip(np.round(xs).astype(int), 0, width - 1)
    rows = np.clip(np.round(ys).astype(int), 0, height - 1)
    return samples, rows, cols


def _ridge_width(smooth: np.ndarray, inside: np.ndarray, path: np.ndarray, most: float) -> float:
    """How wide the bright ridge along ``path`` is on the head: the width at half its height
    over the skin beside it, across the line averaged along it (speckle averages away), on the
    blurred ``smooth`` (so a pixel or two wider than the strand: on the safe side).
    ``most`` when it cannot be told (the line too short, or no ridge stands out)."""
    across = _across_path(path)
    if across is None:
        return most
    reach = int(math.ceil(most)) + 2
    samples, rows, cols = _sample_across(smooth, *across, reach)
    on = inside[rows, cols].all(axis=1)
    if on.sum() < 4:
        return most
    profile = samples[on].mean(axis=0)
    # The lit side's skin: the other side may lie in the strand's own shadow.
    skin = max(float(profile[:3].mean()), float(profile[-3:].mean()))
    top = int(np.argmax(profile[reach // 2 : -(reach // 2)])) + reach // 2
    half = skin + 0.5 * (profile[top] - skin)
    if profile[top] - skin <= 0:
        return most
    left = top
    while left > 0 and profile[left - 1] > half:
        left -= 1
    right = top
    while right < len(profile) - 1 and profile[right + 1] > half:
        right += 1
    return float(min(most, max(1.0, right - left + 1)))


_SHADOW_PIECE = 0.15  # head radii of a strand read at a time for the shadow beside it
_SHADOW_DARK = 0.08  # of the face's level: how much darker than the skin past it
_SHADOW_START = 1.0  # strand widths past its soft edge the shadow must begin within
_SHADOW_MOST = 2.0  # strand widths (and two pixels): the widest shadow taken
_SHADOW_PIECES = 1 / 3  # of the strand's pieces that must show it


@dataclass(frozen=True, eq=False)
class _ShadowReading:
    """What ``_read_shadow`` saw beside one strand's centre line, per side (-1, 1 along its
    normals): the pieces where a band shows and how far it reaches (offsets past the edge),
    and those where the dark beside it runs on into the face's own shade (the shadow is there,
    its end is not)."""

    rows: np.ndarray  # N×offsets: each sample's pixel
    cols: np.ndarray
    on: np.ndarray  # N×offsets bool: on the head
    reach: int  # the centre line's offset in the samples
    edge: int  # offsets from the centre line to the strand's soft edge
    width: float
    pieces: int  # how many pieces the line was read in
    normal: np.ndarray  # the line's mean unit normal (x, y): side 1's direction in the image
    ends: dict[int, list[tuple[slice, int]]]
    merged: dict[int, list[slice]]


def _read_shadow(
    calm: np.ndarray,
    inside: np.ndarray,
    path: np.ndarray,
    width: float,
    level: float,
    radius: float,
) -> _ShadowReading | None:
    """The dark bands beside a strand's centre line ``path`` (N×2 x, y) on ``calm``: on each
    side, past its soft edge, the offsets darker than the skin past them (on either side, the
    darker) by ``_SHADOW_DARK`` of the face's ``level``; None when the line is too short.

    Read a piece at a time along the strand (``_SHADOW_PIECE`` of the head's ``radius``), each
    offset averaged along the piece: speckle averages away, a band running beside the strand
    does not. A band must begin at the strand's edge and be lit again ``_SHADOW_MOST`` widths
    out: a dark region that starts farther out (a lid's crease, a nostril, the lips) is the
    face's own."""
    across = _across_path(path)
    if across is None:
        return None
    points, normal = across
    edge = int(math.ceil(0.75 * width))  # the strand's half and its soft edge
    most = int(math.ceil(_SHADOW_MOST * width)) + 2
    reach = edge + most + int(math.ceil(width)) + 2  # and the skin past the widest shadow
    profile, rows, cols = _sample_across(calm, points, normal, reach)
    on = inside[rows, cols]
    piece = max(6, int(_SHADOW_PIECE * radius))
    start = max(2, int(round(_SHADOW_START * width)) + 1)
    ends: dict[int, list[tuple[slice, int]]] = {-1: [], 1: []}
    merged: dict[int, list[slice]] = {-1: [], 1: []}
    for first in range(0, len(points), piece):
        part = slice(first, first + piece)
        seen = on[part]
        counts = seen.sum(axis=0)
        if (counts < 0.6 * seen.shape[0]).any():
            continue  # off the head on one side: its outline, not a shadow
        mean = (profile[part] * seen).sum(axis=0) / counts
        outwards = {side: mean[reach + side * edge :: side][: reach - edge + 1] for side in (-1, 1)}
        # The skin past it either side, the darker: a neighbouring strand or a lit brow may lie
        # past it on one side (clean skin between two strands read as their shadow).
        skin = min(float(np.percentile(o[most:], 25)) for o in outwards.values())
        for side, outward in outwards.items():
            dark = skin - outward[:most] > _SHADOW_DARK * level
            if not dark[:start].any():
                continue
            if dark[-1]:
                merged[side].append(part)
                continue
            end = int(np.argmax(dark))
            while end + 1 < most and dark[end + 1]:
                end += 1
            ends[side].append((part, end))
    mean_normal = normal.mean(axis=0)
    mean_normal /= max(float(np.hypot(*mean_normal)), 1e-6)
    return _ShadowReading(
        rows=rows,
        cols=cols,
        on=on,
        reach=reach,
        edge=edge,
        width=width,
        pieces=math.ceil(len(points) / piece),
        normal=mean_normal,
        ends=ends,
        merged=merged,
    )


def _shadows_fall(readings: list[_ShadowReading]) -> np.ndarray:
    """The way the light casts the strands' shadows in the image (a unit x, y vector; zeros
    when no band shows): each line's pieces showing a band on a side, a vote along that side's
    normal."""
    votes = np.zeros(2)
    for reading in readings:
        votes += (len(reading.ends[1]) - len(reading.ends[-1])) * reading.normal
    norm = float(np.hypot(*votes))
    return votes / norm if norm > 0 else votes


def _shadow_band(reading: _ShadowReading, shape: tuple[int, ...], falls: np.ndarray) -> np.ndarray:
    """The shadow beside one strand (bool, ``shape``): on the side the light casts it
    (``falls``; without one, the side most of its pieces show a band on), where a piece shows
    it, as wide there, on a third of the pieces at least (``_SHADOW_PIECES``); none where the
    skin beside the strand is as lit as the skin past it (the shade of a face turning from the
    light). One light casts every strand's shadow the same way: a dark groove on the lit side
    (the lips' parting by a strand across the chin) is no shadow."""
    shadow = np.zeros(shape[:2], bool)
    ends = reading.ends
    if falls.any():
        side = 1 if float(reading.normal @ falls) > 0 else -1
    else:
        side = max((-1, 1), key=lambda s: len(ends[s]))
    if len(ends[side]) < _SHADOW_PIECES * reading.pieces:
        return shadow
    # One light casts it, as wide wherever it shows, with its soft edge (lighter than the
    # threshold).
    end = int(np.median([e for _, e in ends[side]])) + max(1, int(round(0.5 * reading.width)))
    band = (reading.reach + side * (reading.edge + np.arange(end + 1))).astype(int)
    for part in [p for p, _ in ends[side]] + reading.merged[side]:
        keep = reading.on[part][:, band]
        shadow[reading.rows[part][:, band][keep], reading.cols[part][:, band][keep]] = True
    return cv2.dilate(shadow.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _cut_loose(inside: np.ndarray, strands: np.ndarray) -> np.ndarray:
    """``inside`` without the strands' pieces past the head's outline (what an opening a third
    of the head's radius across keeps); both bool masks."""
    span = max(5, int(0.35 * math.sqrt(float(inside.sum()) / math.pi)) | 1)
    return inside & ~(strands & ~_open_disc(inside, span))


def _reaches_out(path: np.ndarray, piece: np.ndarray, origin: tuple[int, int]) -> float:
    """How far ``piece`` (bool, its box at ``origin``) reaches out behind where ``path``
    (N×2 x, y) enters the head, along the path's first steps (pixels)."""
    ys, xs = np.nonzero(piece)
    points = np.column_stack([xs + origin[0], ys + origin[1]]).astype(np.float64)
    ahead = path[min(3, len(path) - 1)] - path[0]
    ahead /= max(float(np.hypot(*ahead)), 1e-6)
    return float(((path[0] - points) @ ahead).max())


def _median_depth(path: np.ndarray, depth_in: np.ndarray) -> float:
    """How far inside the head a path runs, its median (pixels from the outline)."""
    cols = np.clip(np.round(path[:, 0]).astype(int), 0, depth_in.shape[1] - 1)
    rows = np.clip(np.round(path[:, 1]).astype(int), 0, depth_in.shape[0] - 1)
    return float(np.median(depth_in[rows, cols]))


def _follow_ridge(
    ridge: np.ndarray,
    body: np.ndarray,
    near_body: np.ndarray,
    piece: np.ndarray,
    origin: tuple[int, int],
    width: float,
    floor: float,
) -> list[np.ndarray]:
    """The centre lines of the strands on the head (each N×2 x, y), followed from where
    ``piece`` (thin bright pieces outside the head, its box at ``origin``) joins the body
    (``near_body``: the body grown by two pixels, as ``_strands`` has it): one
    line from each place it joins (strands lying side by side leave the head as one piece).

    Step by step along the bright ridge, turning at most a little each step (a cord curves, it
    does not fork into a lid or a brow beside it), across a dip (where it lies over a bright
    cheek: straight on for up to four steps), until it leaves the head or the ridge fades for
    good. Growing the ridge's whole bright area instead took in the eyes and brows it crossed.
    """
    ys, xs = np.nonzero(piece)
    points = np.column_stack([xs + origin[0], ys + origin[1]]).astype(np.float64)
    joined = near_body[points[:, 1].astype(int), points[:, 0].astype(int)]
    if not joined.any():
        return []
    where = np.zeros(piece.shape, np.uint8)
    where[ys[joined], xs[joined]] = 1
    count, labels = cv2.connectedComponents(cv2.dilate(where, np.ones((3, 3), np.uint8)))
    paths = []
    for i in range(1, count):
        mine = labels[ys, xs] == i
        if not (mine & joined).any():
            continue
        entry = points[mine & joined].mean(axis=0)
        # Its heading: from the piece's pixels a few widths out, toward where it joins.
        reach = np.hypot(*(points - entry).T)
        behind = points[(reach < 4.0 * width) & ~joined]
        if len(behind) == 0:
            continue
        heading = entry - behind.mean(axis=0)
        if float(np.hypot(*heading)) < 0.5:
            continue
        paths.append(_march(ridge, body, entry, heading / np.hypot(*heading), width, floor))
    return [p for p in paths if len(p) >= 2]


def _march(
    ridge: np.ndarray,
    body: np.ndarray,
    entry: np.ndarray,
    heading: np.ndarray,
    width: float,
    floor: float,
) -> np.ndarray:
    height, width_px = ridge.shape
    step = max(2.0, 0.6 * width)
    turns = np.radians(np.linspace(-30.0, 30.0, 7))
    # Never more than _MOST_TURN from the way it came onto the head: a strand lying across
    # bends a little, but the nose's bright bridge, met square, drew the line up it, over the
    # face between two strands and on along another strand than the one it followed.
    first = math.atan2(heading[1], heading[0])
    most = math.radians(_MOST_TURN)
    path, here, misses = [entry], entry, 0
    for _ in range(int(2.0 * max(height, width_px) / step)):
        angle = math.atan2(heading[1], heading[0])
        ahead = np.column_stack(
            [here[0] + step * np.cos(angle + turns), here[1] + step * np.sin(angle + turns)]
        )
        cols = np.clip(np.round(ahead[:, 0]).astype(int), 0, width_px - 1)
        rows = np.clip(np.round(ahead[:, 1]).astype(int), 0, height - 1)
        values = ridge[rows, cols].astype(np.float32)
        values[np.abs((angle + turns - first + math.pi) % (2 * math.pi) - math.pi) > most] = -np.inf
        best = int(np.argmax(values))
        nxt = ahead[best]
        if not body[rows[best], cols[best]]:
            break  # off the head: it left on the other side
        if values[best] < floor:
            # Faded here (over a bright forehead or cheek): on, straight ahead, for a while.
            misses += 1
            if misses > 4:
                break
            nxt = ahead[len(turns) // 2]
            if not body[int(round(nxt[1])) % height, int(round(nxt[0])) % width_px]:
                break
        else:
            misses = 0
            turn = (nxt - here) / step
            heading = 0.6 * heading + 0.4 * turn
            heading /= np.hypot(*heading)
        here = nxt
        path.append(here)
    if misses:
        path = path[: len(path) - misses]  # the faded steps at the end are not the strand
    return np.array(path)


_MOST_TURN = 60.0  # degrees a strand's line turns at most from its heading onto the head


def _trim_at_contact(
    subject: np.ndarray, bright: np.ndarray, oval: np.ndarray, eyes: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Trim a sliver of wall or placenta left on a frontal head where they touch.

    Where the head's outline meets the black fluid it is the head's own; where it meets other
    bright tissue it is only where a cut was made. A head seen from the front is near enough
    symmetric about the face's midline (square to the eyes), so the free side, mirrored, says
    where the touching side ends: what bulges past it next to the contact goes (never the face,
    never much).
    """
    mask = subject.astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return subject
    outline = max(contours, key=cv2.contourArea)[:, 0, :]
    if len(outline) < 40:
        return subject
    other = (bright & ~subject).astype(np.uint8)
    touching = cv2.dilate(other, np.ones((7, 7), np.uint8)).astype(bool)
    contact = touching[outline[:, 1], outline[:, 0]]
    if contact.sum() < 0.05 * len(outline) or (~contact).sum() < 0.5 * len(outline):
        return subject
    left, right = (np.asarray(e, np.float64) for e in eyes)
    across = right - left
    if float(np.linalg.norm(across)) < 1.0:
        return subject
    across /= np.linalg.norm(across)
    centre = (left + right) / 2
    # Reflection across the midline (through the eyes' middle, square to them).
    reflect = np.eye(2) - 2.0 * np.outer(across, across)
    matrix = np.hstack([reflect, (centre - reflect @ centre)[:, None]]).astype(np.float32)
    mirrored = cv2.warpAffine(mask, matrix, mask.shape[::-1], flags=cv2.INTER_NEAREST)
    area = float(mask.sum())
    radius = math.sqrt(area / math.pi)
    margin = max(3, int(0.05 * radius)) | 1
    head = cv2.dilate(mirrored, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (margin, margin)))
    near = np.zeros(mask.shape, np.uint8)
    near[outline[contact][:, 1], outline[contact][:, 0]] = 1
    reach = max(3, int(0.3 * radius))
    near = cv2.dilate(near, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    gone = subject & (head == 0) & (near > 0)
    face = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(face, [oval.astype(np.int32)], 1)
    if not gone.any() or gone.sum() > 0.2 * area or (gone & (face > 0)).sum() > 0.1 * gone.sum():
        return subject
    kept = (subject & ~gone).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(kept, connectivity=4)
    if count > 2:  # crumbs cut off the head by the trim go too
        kept = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    return kept.astype(bool)


def _contact_band(inside: np.ndarray, bright: np.ndarray) -> np.ndarray:
    """The head's rim where it touches a wall or the placenta: True within a tenth of the
    head's radius of the other tissue. Where two surfaces meet with no crease the cut between
    them is a guess, so the rim there is painted as the head's surface continued, never copied
    (the wall's pixels stay out of the portrait even where the cut ran a little wide)."""
    area = float(inside.sum())
    radius = math.sqrt(area / math.pi)
    # Tissue at least a tenth of the head's radius thick: a thin ring of bright pixels hugging
    # the outline is the head's own lit rim left outside the mask, not a wall it touches (the
    # crown was read as pressed and painted anew, with a pale seam along it).
    other = _open_disc(bright & ~inside, max(3, int(0.1 * radius) | 1))
    if area == 0 or other.sum() < 0.1 * area:
        return np.zeros(inside.shape, bool)
    distance = cv2.distanceTransform((~other).astype(np.uint8), cv2.DIST_L2, 3)
    # Pressed along a long stretch of the outline (a fifth or more), the tissue may lie over
    # the head's edge as a lens, not beside it: the guess is wider there.
    rim = inside & ~cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    pressed = float((rim & (distance < 3.0)).sum()) / max(float(rim.sum()), 1.0)
    reach = 0.2 if pressed >= 0.2 else 0.12
    return inside & (distance < reach * radius)


def _shadow(smooth: np.ndarray, inside: np.ndarray, level: float, span: float) -> np.ndarray:
    """Acoustic shadow: large dark areas of the subject. Dark features (nostrils, an open
    mouth, lid creases) are narrow and are not shadow: an opening the width of a third of the
    eye distance removes them."""
    dark = (inside & (smooth < 0.3 * level)).astype(np.uint8)
    size = max(3, int(0.35 * span) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(dark, cv2.MORPH_OPEN, kernel).astype(np.float32)


def _confidence(landmarks: _Landmarks, name: str, unmasked: float) -> float:
    """0..1: the share of the anchor's area vision could see, lowered by how far the two
    readings of it lie apart, and by how roughly a profile's silhouette places it."""
    agreement = 1 - landmarks.spread.get(name, 0.0) / _MAX_SPREAD / 2
    reading = 1.0
    if landmarks.profile is not None:
        reading = landmarks.readings.get(name, _PROFILE_CONFIDENCE.get(name, 0.5))
    return min(1.0, max(0.0, unmasked * agreement * reading))


# The points a sonographer places for a face the detector did not find: the nose tip and
# the eyes she sees (both on a face toward the probe, the near one on a profile), the mouth
# and chin when she sees them.
PLACED_NAMES = ("eye_left", "eye_right", "nose_tip", "mouth", "chin")
# A frontal newborn face's outline about the eyes' middle, in eye spans (u across toward the
# right eye, v down the face): the middle of the mesh's outline on frontal phantoms (u -1.1 to
# 1.15, v -0.73 to 1.37, the chin at 1.33); a turned face's reaches past its far cheek, by
# about 1.4 times the nose's turn. The nose's offset over this is the mesh's yaw (0.41 → 0.98).
_PLACED_HALF_WIDTH = 1.13
_PLACED_TURN_REACH = 1.4
_PLACED_CHIN = 1.33
_PLACED_NOSE_PER_YAW = 0.42


def placeable(names: Iterable[str]) -> bool:
    """Whether these points can stand for the detector's reading: the nose tip and one or
    both eyes, and nothing but ``PLACED_NAMES``."""
    given = set(names)
    return (
        "nose_tip" in given
        and given <= set(PLACED_NAMES)
        and bool(given & {"eye_left", "eye_right"})
    )


def placed_in_order(points: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """A sonographer's points with the eyes named as seen with the face upright: on a face
    lying on its side or upside down "left as you see it" is ambiguous, and eyes named the
    other way round read the face mirrored (its turn to the other side). Swapped when the
    face's down (toward the chin, mouth or nose) lies to the left of left-eye-to-right-eye."""
    ordered = dict(points)
    if "eye_left" not in points or "eye_right" not in points:
        return _near_eye_named(ordered)
    left, right = np.asarray(points["eye_left"], float), np.asarray(points["eye_right"], float)
    lowest = next(
        np.asarray(points[n], float) for n in ("chin", "mouth", "nose_tip") if n in points
    )
    across, down = right - left, lowest - (left + right) / 2
    # Upright (y grows downward): across (1, 0), down (0, 1); their cross product is positive.
    if across[0] * down[1] - across[1] * down[0] < 0:
        ordered["eye_left"], ordered["eye_right"] = points["eye_right"], points["eye_left"]
    return ordered


def _near_eye_named(points: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """A profile's one eye named as the silhouette reading names it: the near eye is the
    left one as seen when the nose points right, the right one when it points left."""
    eye = points.pop("eye_left", None) or points.pop("eye_right")
    facing_right = points["nose_tip"][0] > eye[0]
    points["eye_left" if facing_right else "eye_right"] = eye
    return points


def _placed_profile(points: dict[str, np.ndarray]) -> _Landmarks:
    """A profile from a sonographer's near eye and nose tip (work pixels; the mouth and chin
    if she placed them): the head's size from how far the eye sits behind and above the nose
    (as the silhouette reading places it), and the face's outline as that reading draws it."""
    eye_name = "eye_left" if "eye_left" in points else "eye_right"
    tip, eye = points["nose_tip"], points[eye_name]
    side = "right" if tip[0] > eye[0] else "left"
    sign = 1.0 if side == "right" else -1.0
    n = max(float(np.linalg.norm(tip - eye)) / math.hypot(_PROFILE_EYE_BACK, _PROFILE_EYE_UP), 8.0)
    # Where the silhouette reading finds the lips and chin below the nose, when not placed.
    estimated = {
        "mouth": tip + np.array([-sign * 0.03 * n, 0.13 * n], np.float32),
        "chin": tip + np.array([-sign * 0.02 * n, 0.3 * n], np.float32),
    }
    anchors = {**estimated, **points}
    return _Landmarks(
        oval=_profile_oval(tip, side, n),
        anchors={name: np.asarray(p, np.float32) for name, p in anchors.items()},
        spread={},
        yaw=sign,
        variant="placed",
        profile=side,
    )


def _placed_landmarks(points: dict[str, np.ndarray]) -> _Landmarks:
    """A sonographer's points (work pixels) as a reading: the face's outline drawn round them
    by a newborn's proportions, and its turn from where the nose lies between the eyes (one
    eye: a profile, ``_placed_profile``)."""
    if "eye_left" not in points or "eye_right" not in points:
        return _placed_profile(points)
    # Down the face is toward the chin, or the mouth or nose without one.
    lowest = points.get("chin", points.get("mouth", points["nose_tip"]))
    origin, axes, span = _face_frame({**points, "chin": lowest})
    local = {name: axes @ (point - origin) / span for name, point in points.items()}
    nose = float(local["nose_tip"][0])
    if "chin" in local:
        chin = float(local["chin"][1])
    elif "mouth" in local:  # the mesh's mouth lies at 0.8 of the chin's 1.33, its nose at 0.4
        chin = _PLACED_CHIN * float(local["mouth"][1]) / 0.8
    else:
        chin = _PLACED_CHIN * float(local["nose_tip"][1]) / 0.4
    bottom = max(chin, 1.0) + 0.04
    top = -0.55 * bottom
    centre = np.array([-_PLACED_TURN_REACH * nose, (top + bottom) / 2])
    radii = np.array([_PLACED_HALF_WIDTH + _PLACED_TURN_REACH * abs(nose) / 2, (bottom - top) / 2])
    angles = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    ring = centre + radii * np.column_stack([np.cos(angles), np.sin(angles)])
    oval = (origin + span * ring @ axes).astype(np.float32)
    # What she did not place is estimated where the mesh puts it on the phantoms (the chin
    # swings past the nose's turn; the cheeks beside the nose), for the checks that read the
    # face's sides; only her own points become anchors (``_analyze``).
    estimated = {
        "chin": (-0.85 * nose, chin),
        "cheek_left": (-0.64, 0.55),
        "cheek_right": (0.64, 0.55),
    }
    anchors = {
        name: (origin + span * np.asarray(at) @ axes).astype(np.float32)
        for name, at in estimated.items()
    }
    anchors.update({name: np.asarray(point, np.float32) for name, point in points.items()})
    return _Landmarks(
        oval=oval,
        anchors=anchors,
        spread={},
        yaw=float(np.clip(nose / _PLACED_NOSE_PER_YAW, -1.0, 1.0)),
        variant="placed",
    )


def _baby_subject(
    grey: np.ndarray,
    mask: np.ndarray,
    smooth: np.ndarray,
    landmarks: _Landmarks,
    up: np.ndarray,
    strands: np.ndarray,
    tissue: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The baby's head in ``mask`` (the tissue it is cut from), the shade beside a turned
    face's nose closed into it, a frontal head's side against a wall trimmed, and strands past
    its outline cut loose: (subject, shaded, unseen), ``_beside_nose``'s two as well."""
    oval = landmarks.oval
    subject = _head_subject(grey, mask, smooth, oval, landmarks.pose, up, strands)
    shaded, unseen = _beside_nose(subject, oval, landmarks.pose, landmarks.anchors)
    # Closing the outline there encloses what the nose's edges had parted from the face.
    subject = _fill_holes((subject > 0.5) | shaded).astype(np.float32)
    if landmarks.pose == "frontal" and {"eye_left", "eye_right"} <= landmarks.anchors.keys():
        eyes = (landmarks.anchors["eye_left"], landmarks.anchors["eye_right"])
        subject = _trim_at_contact(subject > 0.5, tissue, oval, eyes).astype(np.float32)
    if strands.any():
        # A cord or strand is not the baby: past the head's outline it becomes backdrop ...
        subject = _fill_holes(_cut_loose(subject > 0.5, strands)).astype(np.float32)
    return subject, shaded, unseen


def _analyze(
    scan: IngestedScan, placed: Mapping[str, tuple[float, float]] | None = None
) -> StructuralCues:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    box = scan.render_box
    crop = _as_rgb8(scan.image[box.y0 : box.y1, box.x0 : box.x1])
    # Everything is measured on a copy at most _WORK_SIDE px across: the depth, masks and the
    # detector need the face's shape, not the full-resolution speckle.
    work, scale = _to_work(crop)
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    smooth_fine = cv2.GaussianBlur(grey, (0, 0), 2.0)  # shared by the subject and occluders
    bright = _subject_mask(grey, smooth_fine)
    timings["subject"] = (time.perf_counter() - started) * 1000

    step = time.perf_counter()
    speckle_ratio, smooth_coarse = _speckle_ratio(grey)
    texture = _texture(work, bright, speckle_ratio, smooth_coarse)
    if looks_like_bmode(texture, face_found=True):
        raise ScanRejected("2d-bmode", MSG_BMODE)
    timings["input_check"] = (time.perf_counter() - step) * 1000

    step = time.perf_counter()
    landmarks = None
    look = False
    if placed is not None:
        if not placeable(placed):
            raise ValueError(f"placed points {sorted(placed)}: see placeable()")
        placed = placed_in_order(placed)
        landmarks = _placed_landmarks(
            {
                name: np.array([(x - box.x0) * scale, (y - box.y0) * scale], np.float32)
                for name, (x, y) in placed.items()
            }
        )
    elif (landmarks := _detect_landmarks(work)) is None or _turned_too_far(
        smooth_fine, bright, landmarks
    ):
        landmarks = None
        look = not looks_like_bmode(texture, face_found=False)
    else:
        # A frontal reading is checked only when the plain outline shows a profile at all
        # (the full reading finds strands first, which costs a tenth of a second).
        look = landmarks.pose != "frontal" or (
            _profile_landmarks(grey, bright, smooth_fine, cut_strands=False) is not None
        )
    head_bright = None  # the head's own mask where it differs from the lit one
    if look:
        outlined = _with_rim_in_shadow(bright, smooth_fine)
        silhouette = _profile_landmarks(grey, outlined, smooth_fine)
        if silhouette is not None and (
            landmarks is None or _misread_profile(landmarks, silhouette)
        ):
            landmarks = silhouette
            bright = outlined  # the profile's head is the outline it was read from
        elif landmarks is not None and landmarks.pose.startswith("three-quarter"):
            # A turned face's side toward its nose falls into its own shade under a key from
            # the other side: the lips' corner and the chin under it, dimmer than the level,
            # left a notch in the outline, painted over as contact (the mouth with it). The
            # rim is the head's where it lies on the face's oval below the nose tip; what lies
            # beside the head (a hand, a wall) is still measured on the lit mask (taken
            # whole, a palm beside the chin joined it and was no longer found).
            face = np.zeros(bright.shape, np.uint8)
            cv2.fillPoly(face, [landmarks.oval.astype(np.int32)], 1)
            lower = face > 0
            if "nose_tip" in landmarks.anchors:
                up = _face_up(landmarks.anchors)
                ys, xs = np.mgrid[0 : bright.shape[0], 0 : bright.shape[1]]
                tip = landmarks.anchors["nose_tip"]
                lower &= (xs - tip[0]) * up[0] + (ys - tip[1]) * up[1] < 0.0
            head_bright = np.where(lower, outlined, bright).astype(np.float32)
    timings["landmarks"] = (time.perf_counter() - step) * 1000
    if landmarks is None:
        if looks_like_bmode(texture, face_found=False):
            raise ScanRejected("2d-bmode", MSG_BMODE)
        raise ScanRejected("no-face", MSG_NO_FACE)
    oval = landmarks.oval

    step = time.perf_counter()
    up = _face_up(landmarks.anchors)
    strands = _strands(grey, bright > 0.5, oval)
    # What the head touches: walls and the placenta, not a cord or strand leaving it (the
    # trim took a crescent off a head's crown for the cord's two ends).
    tissue = (bright > 0.5) & ~strands
    smooth32 = smooth_fine.astype(np.float32)
    subject, shaded, unseen = _baby_subject(
        grey,
        bright if head_bright is None else head_bright,
        smooth32,
        landmarks,
        up,
        strands,
        tissue,
    )
    # The head as lit, for what lies beside it: a turned face's shaded chin moved the head's
    # ellipse, and a palm beside it no longer stood out of it.
    lit_head = subject
    if head_bright is not None:
        lit_head = _baby_subject(grey, bright, smooth32, landmarks, up, strands, tissue)[0]
    inside = subject > 0.5
    bulge = _bulge(inside)
    depth = _depth(grey, subject, bulge)
    contact = _contact_band(inside, tissue)
    repaired = strands | contact | unseen
    if repaired.any():
        # On the head the face's surface is continued under a strand, a contact or the
        # nose's shade (not the strand's relief, nor a wall's), which no engine may take
        # detail from (marked unsure below).
        known = (inside & ~repaired).astype(np.float32)
        bridged = fill_from_around(depth, known)
        depth = np.where(repaired & inside, bridged, depth).astype(np.float32)
    # Depth 0..1 spans roughly the head's radius; scale the gradients to that so the normals
    # have the head's curvature, and smooth first: shading detail is not all relief.
    radius = math.sqrt(max(float(subject.sum()), 1.0) / math.pi)
    normals = _normals(cv2.GaussianBlur(depth, (0, 0), 3.0), relief=0.4 * radius)
    light = _light_direction(grey, subject, bulge)
    speckle = np.clip((speckle_ratio - 0.15) / 0.15, 0, 1)
    level = float(np.median(smooth_coarse[inside])) if inside.any() else 0.0
    # The nose's shadow on a turned face is continued over as the face (``unseen``); the far
    # eye in it is seen, not hidden by an acoustic shadow.
    shadow = _shadow(smooth_coarse, inside & ~shaded, level, landmarks.span)
    occluder = _occluders(grey, bright, oval, smooth_fine, strands)
    # A frontal face's side that no longer mirrors the other holds a hand, fist or cord (a
    # cord marked as a strand already is left to that).
    covered = _mirror_check(grey, landmarks.anchors) if landmarks.pose == "frontal" else []
    mirrored = _mirror_occluder(
        grey, bright > 0.5, landmarks.anchors, [n for n, _ in covered], subject > 0.5, strands
    )
    occluder = np.maximum(occluder, mirrored)
    if not covered or (mirrored > 0.5).sum() < _MIRROR_FOUND * (subject > 0.5).sum():
        # A palm or fist beside the face, and the fingers it lays over it, in any pose (on a
        # frontal face with a side covered, its mirror image has found them already, unless
        # it found next to nothing: a turned face read as frontal, a cord's covered side).
        beside = _hand_by_the_face(
            cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.5),
            bright > 0.5,
            lit_head > 0.5,
            landmarks.anchors,
            landmarks.span,
        )
        grown = cv2.dilate(beside.astype(np.float32), np.ones((5, 5), np.uint8))
        occluder = np.maximum(occluder, grown)
    # A strand is painted over as the face continued, not kept like a hand.
    hands = occluder * (bright > 0.5) * ~repaired
    # Speckle alone only lowers confidence; shadows and occluders hide the surface outright.
    hidden = np.maximum(np.maximum(shadow, occluder), strands.astype(np.float32))
    hidden = np.clip(cv2.GaussianBlur(hidden.astype(np.float32), (0, 0), 1.5), 0, 1)
    speckled = cv2.GaussianBlur(SPECKLE_LOW_CONFIDENCE * speckle * subject, (0, 0), 1.5)
    speckled = np.clip(speckled, 0, 1)
    low = np.maximum(hidden, speckled)
    timings["maps"] = (time.perf_counter() - step) * 1000

    step = time.perf_counter()
    pose = landmarks.pose
    outline_hidden = None
    if landmarks.profile is not None:
        outline_hidden = np.maximum(occluder, strands.astype(np.float32))
    # The mesh's adult template puts a turned face's mouth toward the nose: it is moved onto
    # the lips' parting line beside it, where that shows.
    read = landmarks.anchors
    if (
        pose.startswith("three-quarter")
        and abs(landmarks.roll) < _MOUTH_ROLL
        and landmarks.profile is None
        and placed is None
        and "mouth" in read
    ):
        read = {
            **read,
            "mouth": _on_mouth_line(
                smooth_fine,
                inside,
                hidden,
                read["mouth"],
                landmarks.span,
                1 if pose.endswith("-left") else -1,
            ),
        }
    kept, dropped = _check_anchors(
        read,
        subject,
        hidden,
        speckled,
        depth,
        landmarks.span,
        outline_hidden,
        profile=landmarks.profile is not None,
    )
    for name in _far_side(pose):
        if kept.pop(name, None) is not None:
            dropped.append((name, "turned away from the probe in this pose"))
    for name, why in covered:
        if kept.pop(name, None) is not None:
            dropped.append((name, why))
    for name, spread in landmarks.spread.items():
        if name in kept and spread > _MAX_SPREAD:
            del kept[name]
            dropped.append((name, "the detector's readings disagree: not pinned down by the scan"))
    if placed is not None:
        # A person placed them where she sees the face: each stays, sure (hidden or not),
        # however few (a profile's eye and nose tip).
        kept = {name: (landmarks.anchors[name], 1.0) for name in placed}
        dropped = []
    elif len(kept) < 3:
        raise ScanRejected("no-face", MSG_NO_FACE)
    anchors = tuple(
        Anchor(
            name,
            float(box.x0 + p[0] / scale),
            float(box.y0 + p[1] / scale),
            conf if placed is not None else round(_confidence(landmarks, name, conf), 3),
        )
        for name, (p, conf) in kept.items()
    )
    full_oval = oval / scale
    fx0, fy0 = full_oval.min(axis=0)
    fx1, fy1 = full_oval.max(axis=0)
    face_box = Box(
        int(max(0, box.x0 + fx0)),
        int(max(0, box.y0 + fy0)),
        int(min(box.x1, box.x0 + fx1)),
        int(min(box.y1, box.y0 + fy1)),
    )
    timings["anchors"] = (time.perf_counter() - step) * 1000

    step = time.perf_counter()

    def unit(arr: np.ndarray) -> np.ndarray:
        return np.clip(arr, 0, 1).astype(np.float32, copy=False)

    # The rim at a wall is unsure for engines too; it does not unseat an anchor beside it.
    low = np.maximum(low, repaired.astype(np.float32))
    maps = CueMaps(
        depth=unit(depth),
        normals=normals,
        subject=unit(subject),
        low_confidence=unit(low),
        hands=unit(hands),
        repaired=repaired.astype(np.float32) if repaired.any() else None,
        contact=(contact & inside).astype(np.float32) if contact.any() else None,
    )
    full = enlarge_maps(maps, (crop.shape[1], crop.shape[0]))
    timings["upscale"] = (time.perf_counter() - step) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    return StructuralCues(
        crop_box=box,
        image=crop,
        depth=full.depth,
        normals=full.normals,
        subject=full.subject,
        low_confidence=full.low_confidence,
        light_dir=light,
        face_box=face_box,
        anchors=anchors,
        dropped_anchors=tuple(dropped),
        timings_ms=timings,
        pose=pose,
        roll=landmarks.roll,
        hands=full.hands,
        repaired=full.repaired,
        contact=full.contact,
        analysis_maps=maps,
    )


def maps_as_images(cues: StructuralCues) -> dict[str, np.ndarray]:
    """Displayable uint8 images: depth (grey), normals (RGB = xyz), mask (subject + low conf),
    subject (the scan with everything but the baby's head dimmed, her hands in blue)."""
    depth = (np.clip(cues.depth, 0, 1) * 255).astype(np.uint8)
    normals = ((cues.normals + 1) * 127.5).clip(0, 255).astype(np.uint8)
    mask = np.zeros((*cues.subject.shape, 3), np.uint8)
    mask[..., 1] = (cues.subject * 160).astype(np.uint8)
    mask[..., 0] = (cues.low_confidence * 255).astype(np.uint8)
    mask[..., 2] = (cues.subject * 160).astype(np.uint8)
    # The subject as a sonographer checks it: the baby's head over a dimmed scan, hands in blue.
    dim = (cues.image.astype(np.float32) * 0.35).astype(np.uint8)
    subject = np.where((cues.subject > 0.5)[..., None], cues.image, dim)
    if cues.hands is not None:
        subject[cues.hands > 0.5] = (60, 120, 255)
    return {
        "depth": np.dstack([depth] * 3),
        "normals": normals,
        "mask": mask,
        "subject": subject,
    }
