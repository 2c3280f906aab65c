"""The subject as a studio would cut it out (one clean body with a feathered edge) and the
head's volume inflated from that outline."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from render.pipeline.engines.relight.face import Midline
from render.pipeline.engines.relight.raster import normalise, wide_blur
from render.pipeline.fill import continued_round, crown_notches, fill_from_around
from render.pipeline.types import SPECKLE_LOW_CONFIDENCE

_DOME_RELIEF = 0.8  # the dome's height over a true sphere's: a newborn's face is a little flat


DOME_WEIGHT = 0.6  # of the head's low-frequency shape taken from the dome rather than the scan


def clean_matte(subject: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The subject as a studio would cut it out: one body, no holes, a smooth feathered edge.

    Vision's mask follows speckle and shadow, so its contour is ragged and it can have holes
    (a dark eye slit, a shadowed nostril). Holes are filled, only the largest body is kept,
    and the contour is smoothed by blurring the binary mask and reading its 0.5 level with a
    steep ramp: the edge lands at sub-pixel positions, about 1.5 px wide. Returns the matte
    and the distance (px) from each inside pixel to the edge.
    """
    binary = (subject > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count > 2:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        binary = (labels == largest).astype(np.uint8)
    # Fill holes: everything the outside cannot reach is inside.
    padded = np.pad(binary, 1)
    outside = padded.copy()
    cv2.floodFill(
        outside, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 2
    )
    binary = (outside[1:-1, 1:-1] != 2).astype(np.uint8)
    sigma = 0.018 * long_side
    smooth = wide_blur(binary.astype(np.float32), sigma)
    # The blurred step's slope at its 0.5 level is 1 / (sqrt(2π) σ) per pixel.
    gain = math.sqrt(2.0 * math.pi) * sigma / 1.5
    matte = np.clip((smooth - 0.5) * gain + 0.5, 0.0, 1.0)
    distance = cv2.distanceTransform((matte > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    return matte.astype(np.float32), distance


def roundness(distance: np.ndarray, long_side: int) -> np.ndarray:
    """Darken towards the silhouette, where a round head turns away from every light.

    Vision's normals flatten out near the outline (its depth is partly shading), so the turn is
    taken from the distance to the outline instead.
    """
    ramp = np.clip(distance / (0.07 * long_side), 0.0, 1.0)
    return 0.8 + 0.2 * (1.0 - (1.0 - ramp) ** 2)


def dome_normals(distance: np.ndarray, long_side: int) -> np.ndarray:
    """Normals of the head as a dome inflated from its outline.

    A sphere of radius R seen from the front has height sqrt(d (2R - d)) at distance d inside
    its outline; the same profile over the matte's distance map gives any head shape its
    volume. Vision's low-frequency normals follow the scanner's shading (flat where its light
    was flat), so the dome supplies the head's roundness and vision the face on it.
    """
    smooth = wide_blur(distance, 0.02 * long_side)
    radius = max(float(smooth.max()), 1.0)
    height = np.sqrt(np.clip(smooth * (2.0 * radius - smooth), 0.0, None)) * _DOME_RELIEF
    slope_x = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    slope_y = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    # Capped: at the very edge a sphere's slope is infinite, a photographed head shows a rim.
    np.clip(slope_x, -2.5, 2.5, out=slope_x)
    np.clip(slope_y, -2.5, 2.5, out=slope_y)
    # Normals' y points up, rows go down.
    dome = np.dstack([-slope_x, slope_y, np.ones_like(slope_x)])
    normalise(dome)
    return dome


@dataclass(frozen=True, eq=False)
class Repair:
    """What Fix Anatomy changed, at shading resolution."""

    subject: np.ndarray  # H×W 0..1: hands and occluders past the head's outline taken away
    depth: np.ndarray  # H×W: the face's surface continued under them
    normals: np.ndarray  # H×W×3
    painted: np.ndarray  # H×W 0..1: where the surface was painted anew (no scan detail there)


def fix_anatomy(
    subject: np.ndarray,
    depth: np.ndarray,
    normals: np.ndarray,
    hands: np.ndarray,
    low_confidence: np.ndarray,
    strength: float,
    long_side: int,
    midline: Midline | None = None,
    seen: Mapping[str, tuple[float, float]] | None = None,
) -> Repair:
    """Take away hands, cord and other occluders and even the head's outline.

    Inside the head the occluded surface is painted as the face's own surface continued
    from all round it (its normals and depth bridged smoothly, so a cheek keeps turning as
    it did beside the hand); on a frontal face (``midline``: its midline in these arrays) the
    covered side is the other side's mirror image instead, wherever that is seen
    (``_mirrored_fill``), painted on to the midline where the occluder comes near it
    (``_to_midline``), clear of the features vision saw (``seen``: the eyes' and the mouth's
    points by name; the margin round an occluder keeps off an eye beside it). Past the head's
    outline an occluder becomes backdrop; pieces of the head an occluder parts are joined
    again (``_rejoined``). The head's outline there is the ellipse that fits the rest of it,
    and the whole outline is smoothed of lumps, more with a stronger correction.
    """
    # What vision found hidden (a cord, a shadow: 1) is taken away; speckle alone, which only
    # lowers confidence (``SPECKLE_LOW_CONFIDENCE``, and the dark slit of every closed eye and
    # mouth reads speckled), is not: at a quarter strength it took the lips' colour away.
    occluder = np.maximum(
        np.clip(hands, 0.0, 1.0),
        np.clip((low_confidence - SPECKLE_LOW_CONFIDENCE - 0.05) / 0.2, 0.0, 1.0),
    )
    # A margin round each occluder: its soft edge and the shadow it cast go too. Round, as far
    # every way (a square kernel grown step by step made a speck of one a square patch of
    # painted skin, and took an eye with it).
    margin = max(1, int((0.01 + 0.02 * strength) * long_side))
    apart = cv2.distanceTransform((occluder <= 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    grown = (apart <= margin).astype(np.uint8)
    # The margin keeps off an eye vision saw beside the occluder (one above a fist lost its
    # lash line to it); an eye under the occluder itself goes with it.
    seen = seen or {}
    height, width = occluder.shape
    beside = [
        (x, y)
        for name, (x, y) in seen.items()
        if name.startswith("eye_")
        and 0 <= int(y) < height
        and 0 <= int(x) < width
        and occluder[int(y), int(x)] < 0.5
    ]
    eyes = _clear_of(beside, occluder.shape, long_side)
    painted = np.maximum(occluder, wide_blur(grown.astype(np.float32), 0.3 * margin) * eyes)
    painted = np.clip(painted, 0.0, 1.0).astype(np.float32)
    if midline is not None:
        clear = np.minimum(eyes, _clear_of(list(seen.values()), occluder.shape, long_side))
        between = _to_midline(painted, subject > 0.5, midline, clear, long_side)
        painted = np.maximum(painted, np.maximum(between, wide_blur(between, 0.3 * margin)))

    head = (subject > 0.5) & (occluder < 0.5)
    # Notches cut into the outline (the gap between fingers and cheek, a shadow read as
    # background) close up: a head's outline has none that deep.
    reach = max(1, int(0.015 * strength * long_side))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    head = cv2.morphologyEx(head.astype(np.uint8), cv2.MORPH_CLOSE, disk) > 0
    head = _rejoined(head, subject > 0.5)
    signed = _signed_distance(head)
    contours, _ = cv2.findContours(head.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if contours:
        outline = max(contours, key=cv2.contourArea)[:, 0, :]
        # Only the outline the head shows itself, not where an occluder cut it.
        free = painted[outline[:, 1], outline[:, 0]] < 0.1
        points = outline[free] if free.sum() >= 20 else outline
        if len(points) >= 5:
            (cx, cy), (width, height), angle = cv2.fitEllipse(points.astype(np.float32))
            ellipse = np.zeros(head.shape, np.uint8)
            cv2.ellipse(ellipse, ((cx, cy), (width, height), angle), 1, -1)
            toward = _signed_distance(ellipse > 0) - signed
            under = wide_blur(grown.astype(np.float32), 0.5 * margin)
            # A wonky outline is drawn part of the way to that ellipse; what stands well out
            # of it (a profile's nose and lips) is the face's own shape and stays.
            kept = np.clip(1.0 - np.abs(toward) / (0.06 * long_side), 0.0, 1.0)
            pull = np.maximum(np.clip(2.0 * under, 0.0, 1.0), 0.6 * strength * kept)
            signed = signed + toward * pull
    # Lumps of the outline smaller than a few percent of the frame are evened out.
    signed = wide_blur(signed, (0.01 + 0.02 * strength) * long_side)
    evened = (signed > 0.0).astype(np.float32)

    known = (1.0 - painted) * (subject > 0.5)
    mirror = None
    if midline is not None:
        # The mirror is trusted away from the other side's outline: the head is seldom
        # symmetric to the pixel, and its rim mirrored inside this side drew a line down it.
        rim = cv2.distanceTransform((subject > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        mirror = (midline, np.clip(rim / (0.06 * long_side), 0.0, 1.0))
    filled_normals = _mirrored_fill(normals, known, mirror, flip=True)
    filled_depth = _mirrored_fill(depth, known, mirror)
    share = painted[..., None]
    new_normals = normals * (1.0 - share) + filled_normals * share
    normalise(new_normals)
    new_depth = depth * (1.0 - painted) + filled_depth * painted
    return Repair(
        subject=evened,
        depth=new_depth.astype(np.float32),
        normals=new_normals.astype(np.float32),
        painted=painted,
    )


def _rejoined(head: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """The head left once its occluders are taken out: its largest piece, and with it the
    pieces an occluder across the face cut off (a cord across the cheeks left the brow and the
    mouth apart, and only the larger was kept: the portrait lost half its face), joined again
    over the subject between them."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        head.astype(np.uint8), connectivity=8
    )
    if count <= 2:
        return head
    areas = stats[1:, cv2.CC_STAT_AREA]
    kept = 1 + np.flatnonzero(areas >= _SPLIT_PIECE * areas.max())
    head = np.isin(labels, kept)
    if len(kept) > 1:
        hull = np.zeros(head.shape, np.uint8)
        points = cv2.findNonZero(head.astype(np.uint8))
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        head |= (hull > 0) & subject
    return head


# A piece of the head an occluder cut off is kept from this share of the largest piece's area;
# below it, it is a sliver beyond a hand or a cord's loop.
_SPLIT_PIECE = 0.1


def _mirror_maps(shape: tuple[int, ...], midline: Midline) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps that mirror an array across ``midline``: each pixel reads the one
    at its reflection, ``point + R (p - point)`` with ``R = 2 d dᵀ - I``."""
    height, width = shape[:2]
    (px, py), (dx, dy) = midline.point, midline.down
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ox, oy = xs - px, ys - py
    along = ox * dx + oy * dy
    return (
        (px + 2.0 * along * dx - ox).astype(np.float32),
        (py + 2.0 * along * dy - oy).astype(np.float32),
    )


def _across(shape: tuple[int, ...], midline: Midline) -> np.ndarray:
    """Each pixel's signed distance from ``midline`` (positive toward the picture's right of
    an upright face)."""
    height, width = shape[:2]
    (px, py), (dx, dy) = midline.point, midline.down
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return ((xs - px) * dy - (ys - py) * dx).astype(np.float32)


# A painted occluder this near a frontal face's midline (of the long side; about a third of
# the eye gap) is painted on to the midline: what is left between (fingertips by the nose, a
# knuckle at the lips' corner, that vision's hand mask keeps clear of the anchors it saw) is
# no skin the face would have.
_TO_MIDLINE = 0.1
# How far that painting keeps from a feature vision saw (of the long side; an eye's or the
# lips' half width).
_SEEN_CLEAR = 0.06


def _clear_of(
    seen: Sequence[tuple[float, float]], shape: tuple[int, ...], long_side: int
) -> np.ndarray:
    """H×W 0..1: 0 within ``_SEEN_CLEAR`` of the long side of a feature vision saw, rising to
    1 at twice that."""
    clear = np.ones(shape[:2], np.float32)
    if not seen:
        return clear
    height, width = shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    reach = _SEEN_CLEAR * long_side
    for x, y in seen:
        clear = np.minimum(clear, np.clip(np.hypot(xs - x, ys - y) / reach - 1.0, 0.0, 1.0))
    return clear


def _to_midline(
    painted: np.ndarray,
    subject: np.ndarray,
    midline: Midline,
    clear: np.ndarray,
    long_side: int,
) -> np.ndarray:
    """The covered side of a frontal face between a painted occluder and the midline, on the
    rows where the occluder comes within ``_TO_MIDLINE`` of it: painted with the occluder, so
    the other side's mirror image covers it too (``_mirrored_fill``). H×W 0..1, rising from 0
    on the midline itself (the nose's ridge, the lips' middle keep the scan there)."""
    columns = _across(painted.shape, midline)
    weight = float(painted.sum())
    if weight < 1.0:
        return np.zeros(painted.shape, np.float32)
    across = columns * np.sign(float((painted * columns).sum()) / weight)
    edge = np.where((painted > 0.5) & (across > 0), across, np.inf).min(axis=1)[:, None]
    between = (across >= 0.0) & (across < edge) & (edge < _TO_MIDLINE * long_side) & subject
    # Never over a feature vision saw (``clear`` is 0 round an eye or the mouth): a fist by the
    # cheek took the eye above it and half the lips with the rows it reached.
    between &= clear > 0.0
    # Rising from nothing at the midline itself: the nose's ridge mirrored onto itself met the
    # scan's in a crease wherever the midline was a pixel or two off.
    return (between * np.clip(across / (0.03 * long_side), 0.0, 1.0)).astype(np.float32)


def _mirrored_fill(
    values: np.ndarray,
    known: np.ndarray,
    mirror: tuple[Midline, np.ndarray] | None,
    *,
    flip: bool = False,
) -> np.ndarray:
    """``values`` filled where ``known`` is not: from the face's other side where its mirror
    image is known, from all round elsewhere (``fill_from_around``). ``mirror`` is a frontal
    face's midline and how far (0..1) each pixel may lend itself to its mirror.

    A hand over one side of a frontal face hides an eye's orbit, a cheek and half the nose and
    lips: bridged from round its edges they were a flat patch the nose and lips ended on. The
    mirror image carries that side's shape; what sets the two sides apart (the scanner's light
    read into the depth) is carried over as the difference between each known pixel and its
    mirror's, bridged smoothly from round the hole, so the mirrored shape meets the scan's
    without a seam. ``flip``: the values are normals (x right, y up, z out), reflected too.
    """
    around = fill_from_around(values, known)
    if mirror is None:
        return around
    midline, lends = mirror
    map_x, map_y = _mirror_maps(known.shape, midline)
    mirrored = cv2.remap(values.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR)
    mirror_known = cv2.remap(
        (known * lends).astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0
    )
    if flip:
        # A normal is reflected with the picture: in picture axes (x right, y down) its
        # in-plane part (x, -y_up) turns by R = 2 d dᵀ - I; x is negated about a column.
        (dx, dy) = midline.down
        nx, ny = mirrored[..., 0].copy(), -mirrored[..., 1]
        mirrored[..., 0] = (2 * dx * dx - 1) * nx + 2 * dx * dy * ny
        mirrored[..., 1] = -(2 * dx * dy * nx + (2 * dy * dy - 1) * ny)
    both = np.clip(known * mirror_known, 0.0, 1.0)
    if both.sum() < 1.0:
        return around
    offset = fill_from_around(values - mirrored, both)
    share = np.clip(mirror_known, 0.0, 1.0).astype(np.float32)
    weight = share[..., None] if values.ndim == 3 else share
    return (mirrored + offset) * weight + around * (1.0 - weight)


def _signed_distance(inside: np.ndarray) -> np.ndarray:
    """Px to the outline of ``inside``: positive inside, negative outside."""
    mask = inside.astype(np.uint8)
    return (
        cv2.distanceTransform(mask, cv2.DIST_L2, 3)
        - cv2.distanceTransform(1 - mask, cv2.DIST_L2, 3)
    ).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Rounded:
    """The head's outline continued where a wall or the placenta cut it, at shading size."""

    subject: np.ndarray  # H×W 0..1
    depth: np.ndarray  # H×W: the head's surface continued into what was added
    normals: np.ndarray  # H×W×3
    added: np.ndarray  # H×W 0..1: head that the scan did not show (painted, no scan detail)


def round_where_cut(
    subject: np.ndarray,
    depth: np.ndarray,
    normals: np.ndarray,
    contact: np.ndarray,
    repaired: np.ndarray,
    long_side: int,
) -> Rounded | None:
    """A head pressed on the placenta or a wall, continued round where they cut it.

    Vision keeps the baby alone: where the head touched other tissue its outline follows the
    contact, often a straight cut, and the portrait's head had a flat side. The outline along
    ``contact`` is continued round (``fill.continued_round``; a strand or a shadow vision
    continued the face over is in ``repaired`` only, and is no cut), and the head's surface is
    continued from what vision saw (outside ``repaired``) into what that adds and over the band
    vision marked along the cut (the ``repaired`` pieces touching ``contact``). None when there
    is nothing to round.
    """
    inside = subject > 0.5
    added = continued_round(inside, contact > 0.3)
    if added is None:
        return None
    # The added band is joined to the head (the matte softens its edge as the rest); what is
    # painted anew fades into the scan's skin beside it.
    known = inside & (repaired < 0.5)
    # The band vision marked along the cut (its repaired pieces that touch the contact) is
    # painted with what is added: kept as the scan left it, it met the continued surface in a
    # straight seam down the cheek. A strand or the nose's shadow elsewhere keeps its own.
    count, pieces = cv2.connectedComponents((inside & ~known).astype(np.uint8), connectivity=8)
    touching = cv2.dilate((contact > 0.3).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    at_cut = np.zeros(count, bool)
    at_cut[np.unique(pieces[touching])] = True
    at_cut[0] = False
    return _painted_into(subject, depth, normals, added, added | at_cut[pieces], known, long_side)


def _painted_into(
    subject: np.ndarray,
    depth: np.ndarray,
    normals: np.ndarray,
    added: np.ndarray,
    paint: np.ndarray,
    known: np.ndarray,
    long_side: int,
) -> Rounded:
    """``added`` joined to the head, and the head's surface continued from ``known`` over
    ``paint`` (what is added and what is repainted), fading into the scan's skin beside it."""
    grown = (subject > 0.5) | added
    soft = np.clip(wide_blur(paint.astype(np.float32), 0.004 * long_side) * 2.0, 0.0, 1.0)
    soft *= grown
    filled_depth = fill_from_around(depth, known.astype(np.float32))
    filled_normals = fill_from_around(normals, known.astype(np.float32))
    normalise(filled_normals)
    share = np.maximum(soft, paint).astype(np.float32)
    return Rounded(
        subject=np.maximum(subject, grown.astype(np.float32)),
        depth=(depth * (1.0 - share) + filled_depth * share).astype(np.float32),
        normals=(normals * (1.0 - share[..., None]) + filled_normals * share[..., None]).astype(
            np.float32
        ),
        added=share,
    )


def round_the_crown(
    subject: np.ndarray,
    depth: np.ndarray,
    normals: np.ndarray,
    eye_row: float,
    long_side: int,
) -> Rounded | None:
    """Notches bitten out of the head's crown filled round (``fill.crown_notches``), the
    head's surface continued into them; None when there are none."""
    inside = subject > 0.5
    added = crown_notches(inside, eye_row)
    if added is None:
        return None
    return _painted_into(subject, depth, normals, added, added, inside, long_side)
