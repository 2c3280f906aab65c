"""Vision: what the scan really shows about the face, and nothing it does not.

From the de-identified render area it derives a relative depth map (a surface render is a lit
surface: brighter is roughly nearer), normals from the depth gradients, the light direction, the
subject mask (baby vs black background) and a low-confidence mask (acoustic shadow, speckle,
occluders such as a hand). Anchors come from MediaPipe's face mesh, tried on enhanced variants,
and each must pass our own checks; one that fails is dropped with the reason, never guessed.
A 2D B-mode scan or a picture with no face is rejected with a reason a sonographer understands.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from render.pipeline.types import (
    ANCHOR_NAMES,
    Anchor,
    Box,
    IngestedScan,
    ScanRejected,
    StructuralCues,
)

MSG_BMODE = "This looks like a 2D scan; Cradle needs a 3D/4D surface render of the face"
MSG_NO_FACE = (
    "No baby's face could be found in this render. Use a 3D/4D surface render where the face is "
    "turned towards the probe and not hidden by the placenta, cord or hands"
)

_WORK_SIDE = 400  # analysis resolution: maps are computed here and resized to the crop

# MediaPipe face-mesh landmark indices (the subject's right eye is on the image left when the
# face looks at the viewer; we sort by x afterwards so names are "as seen in the image").
_EYE_RINGS = ((33, 133, 159, 145, 160, 144, 158, 153), (263, 362, 386, 374, 387, 373, 385, 380))
_NOSE_TIP = 1
_MOUTH = (13, 14, 0, 17, 78, 308)
_CHIN = 152
_CHEEKS = (205, 425)
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


def _face_mesh():  # noqa: ANN202 - mediapipe has no type stubs
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


def _face_detector():  # noqa: ANN202
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
    otsu, _ = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (smooth > max(18.0, 0.35 * otsu)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    # One lookup over the labels instead of a full-image comparison per component.
    large = (stats[:, cv2.CC_STAT_AREA] >= 0.02 * mask.size).astype(np.uint8)
    large[0] = 0
    keep = large[labels]
    # Fill holes (dark eye sockets, shadows inside the head) so they stay "subject".
    flood = keep.copy()
    border = np.zeros((keep.shape[0] + 2, keep.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, border, (0, 0), 1)
    holes = (flood == 0) & (keep == 0)
    keep[holes] = 1
    return keep.astype(np.float32)


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
) -> np.ndarray:
    """Regions inside the face cut off from it by occluding contours and nearer than it.

    A hand or cord in front of the face is a separate surface: bounded by strong step edges and
    brighter (nearer) than the face skin it hides. ``smooth`` is ``grey`` blurred with sigma 2.
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
    for i in range(1, count):
        if i == main or in_face[i] < 0.02 * face_area:
            continue
        piece = labels == i
        if float(np.median(smooth[piece])) > face_level * 1.08:
            out[piece] = 1.0
    return cv2.dilate(out, np.ones((7, 7), np.uint8))


# ---- input check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Texture:
    speckle: float  # median fine-scale variation over the lit part of the subject
    colour_spread: float  # RGB spread at equal brightness: ~0 for a colour-mapped scan


# A lit surface render is smooth shading (phantoms ≈ 0.05, photos ≈ 0.07); a B-mode image is
# speckle all over (real and phantom B-modes ≥ 0.095). Without a face, less evidence suffices.
SPECKLE_BMODE = 0.085
SPECKLE_BMODE_WITHOUT_FACE = 0.06
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


def _rotate(rgb: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (w, h), borderValue=(0, 0, 0)), matrix


def _mesh_points(rgb: np.ndarray) -> np.ndarray | None:
    """468 landmark (x, y) in ``rgb`` pixels, or None."""
    with _lock:
        result = _face_mesh().process(rgb)
    if not result.multi_face_landmarks:
        return None
    h, w = rgb.shape[:2]
    lm = result.multi_face_landmarks[0].landmark
    return np.array([(p.x * w, p.y * h) for p in lm], np.float32)


def _detect_landmarks(work: np.ndarray) -> tuple[np.ndarray, str] | None:
    upscaled = max(work.shape[:2]) < 320
    if upscaled:
        work = cv2.resize(work, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    factor = 0.5 if upscaled else 1.0
    for name, image, degrees in _variants(work):
        if degrees:
            rotated, matrix = _rotate(image, degrees)
            points = _mesh_points(rotated)
            if points is None:
                continue
            inverse = cv2.invertAffineTransform(matrix)
            points = np.column_stack([points, np.ones(len(points))]) @ inverse.T
        else:
            points = _mesh_points(image)
            if points is None:
                continue
        if _plausible_face(points):
            return points.astype(np.float32) * factor, name + (" upscaled" if upscaled else "")
    return None


def _raw_anchors(points: np.ndarray) -> dict[str, np.ndarray]:
    eyes = sorted((points[list(ring)].mean(axis=0) for ring in _EYE_RINGS), key=lambda p: p[0])
    cheeks = sorted((points[i] for i in _CHEEKS), key=lambda p: p[0])
    return {
        "nose_tip": points[_NOSE_TIP],
        "eye_left": eyes[0],
        "eye_right": eyes[1],
        "mouth": points[list(_MOUTH)].mean(axis=0),
        "chin": points[_CHIN],
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


def _plausible_face(points: np.ndarray) -> bool:
    """Whole-face geometry: eyes above nose above mouth above chin, sane proportions."""
    a = _raw_anchors(points)
    origin, axes, span = _face_frame(a)
    if span < 8:
        return False
    local = {k: axes @ (v - origin) / span for k, v in a.items()}
    order = [local[k][1] for k in ("nose_tip", "mouth", "chin")]
    if not (0.15 < order[0] < order[1] < order[2] < 3.0):
        return False
    if abs(local["nose_tip"][0]) > 0.45 or abs(local["mouth"][0]) > 0.5:
        return False
    return local["cheek_left"][0] < 0 < local["cheek_right"][0]


def _check_anchors(
    anchors: dict[str, np.ndarray], subject: np.ndarray, low: np.ndarray, depth: np.ndarray
) -> tuple[dict[str, tuple[np.ndarray, float]], list[tuple[str, str]]]:
    """Each anchor must sit on the subject, off the low-confidence mask and agree with depth."""
    h, w = subject.shape
    kept: dict[str, tuple[np.ndarray, float]] = {}
    dropped: list[tuple[str, str]] = []
    origin, axes, span = _face_frame(anchors)
    r = max(2, int(0.08 * span))

    def mean_at(arr: np.ndarray, p: np.ndarray, radius: int = r) -> float:
        x, y = int(round(p[0])), int(round(p[1]))
        return float(
            arr[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1].mean()
        )

    for name in ANCHOR_NAMES:
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
        covered = mean_at(low, p)
        if covered > 0.5:
            dropped.append((name, "covered by an occluder, shadow or speckle"))
            continue
        kept[name] = (p, 1.0 - covered)
    # Depth: the nose tip is nearer than the eye orbits on any face we can trust.
    eyes = [kept[k][0] for k in ("eye_left", "eye_right") if k in kept]
    if "nose_tip" in kept and eyes:
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


# ---- entry points ----------------------------------------------------------------------------


def screen(scan: IngestedScan) -> None:
    """The cheap part of the input check (tens of ms), run at upload before anything is stored:
    raises ScanRejected("2d-bmode") for a scan that is plainly a 2D B-mode image. A face that is
    merely hard to find is left for ``analyze`` in the worker, which tries much harder."""
    box = scan.render_box
    work, _scale = _to_work(np.ascontiguousarray(scan.image[box.y0 : box.y1, box.x0 : box.x1]))
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    subject = _subject_mask(grey, cv2.GaussianBlur(grey, (0, 0), 2.0))
    speckle_ratio, smooth_coarse = _speckle_ratio(grey)
    texture = _texture(work, subject, speckle_ratio, smooth_coarse)
    if looks_like_bmode(texture, face_found=True):
        raise ScanRejected("2d-bmode", MSG_BMODE)
    # The stricter test needs to know whether a face is there: only then ask the detector.
    if looks_like_bmode(texture, face_found=False) and face_score(work) == 0.0:
        raise ScanRejected("2d-bmode", MSG_BMODE)


def analyze(scan: IngestedScan) -> StructuralCues:
    """Structural cues for the render area of ``scan``; raises ScanRejected for negatives."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    box = scan.render_box
    crop = np.ascontiguousarray(scan.image[box.y0 : box.y1, box.x0 : box.x1])
    # Everything is measured on a copy at most _WORK_SIDE px across: the depth, masks and the
    # detector need the face's shape, not the full-resolution speckle.
    work, scale = _to_work(crop)
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    smooth_fine = cv2.GaussianBlur(grey, (0, 0), 2.0)  # shared by the subject and occluders
    subject = _subject_mask(grey, smooth_fine)
    timings["subject"] = (time.perf_counter() - started) * 1000

    step = time.perf_counter()
    speckle_ratio, smooth_coarse = _speckle_ratio(grey)
    texture = _texture(work, subject, speckle_ratio, smooth_coarse)
    if looks_like_bmode(texture, face_found=True):
        raise ScanRejected("2d-bmode", MSG_BMODE)
    timings["input_check"] = (time.perf_counter() - step) * 1000

    step = time.perf_counter()
    detected = _detect_landmarks(work)
    timings["landmarks"] = (time.perf_counter() - step) * 1000
    if detected is None:
        if looks_like_bmode(texture, face_found=False):
            raise ScanRejected("2d-bmode", MSG_BMODE)
        raise ScanRejected("no-face", MSG_NO_FACE)
    points, _variant = detected

    step = time.perf_counter()
    inside = subject > 0.5
    bulge = _bulge(inside)
    depth = _depth(grey, subject, bulge)
    # Depth 0..1 spans roughly the head's radius; scale the gradients to that so the normals
    # have the head's curvature, and smooth first: shading detail is not all relief.
    radius = math.sqrt(max(float(subject.sum()), 1.0) / math.pi)
    normals = _normals(cv2.GaussianBlur(depth, (0, 0), 3.0), relief=0.4 * radius)
    light = _light_direction(grey, subject, bulge)
    speckle = np.clip((speckle_ratio - 0.15) / 0.15, 0, 1)
    level = float(np.median(smooth_coarse[inside])) if inside.any() else 0.0
    shadow = (inside & (smooth_coarse < 0.3 * level)).astype(np.float32)
    occluder = _occluders(grey, subject, points[list(_FACE_OVAL)], smooth_fine)
    # Speckle alone only lowers confidence; shadows and occluders hide the surface outright.
    low = np.maximum(np.maximum(0.45 * speckle * subject, shadow), occluder)
    low = np.clip(cv2.GaussianBlur(low, (0, 0), 1.5), 0, 1)
    timings["maps"] = (time.perf_counter() - step) * 1000

    step = time.perf_counter()
    raw = _raw_anchors(points)
    kept, dropped = _check_anchors(raw, subject, low, depth)
    if len(kept) < 3:
        raise ScanRejected("no-face", MSG_NO_FACE)
    anchors = tuple(
        Anchor(
            name,
            float(box.x0 + p[0] / scale),
            float(box.y0 + p[1] / scale),
            round(min(1.0, max(0.0, conf)), 3),
        )
        for name, (p, conf) in kept.items()
    )
    oval = points[list(_FACE_OVAL)] / scale
    fx0, fy0 = oval.min(axis=0)
    fx1, fy1 = oval.max(axis=0)
    face_box = Box(
        int(max(0, box.x0 + fx0)),
        int(max(0, box.y0 + fy0)),
        int(min(box.x1, box.x0 + fx1)),
        int(min(box.y1, box.y0 + fy1)),
    )
    timings["anchors"] = (time.perf_counter() - step) * 1000

    step = time.perf_counter()
    size = (crop.shape[1], crop.shape[0])

    def full(arr: np.ndarray) -> np.ndarray:
        # Bilinear blending of values already in 0..1 stays in 0..1: no full-size clip needed.
        return cv2.resize(np.clip(arr, 0, 1).astype(np.float32, copy=False), size)

    depth_full, subject_full, low_full = full(depth), full(subject), full(low)
    normals_full = _unit_normals_resized(normals, size)
    timings["upscale"] = (time.perf_counter() - step) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    return StructuralCues(
        crop_box=box,
        image=crop,
        depth=depth_full,
        normals=normals_full,
        subject=subject_full,
        low_confidence=low_full,
        light_dir=light,
        face_box=face_box,
        anchors=anchors,
        dropped_anchors=tuple(dropped),
        timings_ms=timings,
    )


def maps_as_images(cues: StructuralCues) -> dict[str, np.ndarray]:
    """Displayable uint8 images: depth (grey), normals (RGB = xyz), mask (subject + low conf)."""
    depth = (np.clip(cues.depth, 0, 1) * 255).astype(np.uint8)
    normals = ((cues.normals + 1) * 127.5).clip(0, 255).astype(np.uint8)
    mask = np.zeros((*cues.subject.shape, 3), np.uint8)
    mask[..., 1] = (cues.subject * 160).astype(np.uint8)
    mask[..., 0] = (cues.low_confidence * 255).astype(np.uint8)
    mask[..., 2] = (cues.subject * 160).astype(np.uint8)
    return {"depth": np.dstack([depth] * 3), "normals": normals, "mask": mask}


def report_image(scan: IngestedScan, cues: StructuralCues | None = None) -> np.ndarray:
    """The de-identified frame with what vision saw drawn on it, for the sonographer.

    Without ``cues`` (a scan vision refused) it shows the render area and the blanked text.
    """
    out = scan.image.copy()
    box = cues.crop_box if cues is not None else scan.render_box
    thick = max(2, round(max(out.shape[:2]) / 500))
    if cues is not None:
        region = out[box.y0 : box.y1, box.x0 : box.x1].astype(np.float32)
        tint = np.array([255, 60, 60], np.float32)
        alpha = (cues.low_confidence * 0.55)[..., None]
        out[box.y0 : box.y1, box.x0 : box.x1] = (region * (1 - alpha) + tint * alpha).astype(
            np.uint8
        )
    for text_box in scan.text_boxes:
        cv2.rectangle(
            out, (text_box.x0, text_box.y0), (text_box.x1, text_box.y1), (120, 120, 255), thick
        )
    cv2.rectangle(out, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), (80, 220, 255), thick)
    if cues is None:
        return out
    if cues.face_box is not None:
        f = cues.face_box
        cv2.rectangle(out, (f.x0, f.y0), (f.x1, f.y1), (90, 255, 120), thick)
    font_scale = max(0.45, max(out.shape[:2]) / 2200)
    for anchor in cues.anchors:
        centre = (int(round(anchor.x)), int(round(anchor.y)))
        cv2.circle(out, centre, 3 * thick, (255, 255, 255), -1)
        cv2.circle(out, centre, 3 * thick, (0, 150, 60), thick)
        cv2.putText(
            out,
            anchor.name,
            (centre[0] + 4 * thick, centre[1] - 2 * thick),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )
    return out
