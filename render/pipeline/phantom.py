"""Phantom scans: synthetic 3D/4D surface renders and 2D B-mode negatives with no patient data.

Tests and the demo need scans whose ground truth is known (where the nose tip is, which text is
"patient" text) and that can be committed. A phantom is a baby-face-like height field lit like a
scanner's surface render, mapped through a scanner palette, with speckle, a black background and
the chrome a screen capture carries (a header band with fake patient text, a side scale).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from render.pipeline.types import Box

PALETTES: tuple[str, ...] = (
    "voluson-gold",
    "realisticvue",
    "surface-smooth",
    "grey",
    "hdlive-skin",
    "dark-orange",
)
CONTRASTS: tuple[str, ...] = ("normal", "low", "crushed", "blown")

# Palette control points: shading 0..1 → RGB. Scanners map a lit surface through a colour ramp
# (GE HDlive gold/sepia, Samsung RealisticVue reddish skin, a neutral skin ramp, plain grey).
_PALETTE_RAMPS: dict[str, list[tuple[float, tuple[int, int, int]]]] = {
    "voluson-gold": [
        (0.0, (0, 0, 0)),
        (0.25, (70, 38, 8)),
        (0.55, (178, 118, 48)),
        (0.8, (232, 184, 110)),
        (1.0, (255, 236, 196)),
    ],
    "realisticvue": [
        (0.0, (0, 0, 0)),
        (0.25, (92, 30, 22)),
        (0.55, (190, 96, 74)),
        (0.8, (236, 160, 132)),
        (1.0, (255, 222, 204)),
    ],
    "surface-smooth": [
        (0.0, (0, 0, 0)),
        (0.25, (84, 52, 40)),
        (0.55, (186, 134, 110)),
        (0.8, (232, 192, 170)),
        (1.0, (252, 236, 226)),
    ],
    "grey": [(0.0, (0, 0, 0)), (1.0, (255, 255, 255))],
    "hdlive-skin": [
        (0.0, (0, 0, 0)),
        (0.25, (96, 62, 50)),
        (0.55, (204, 156, 134)),
        (0.8, (240, 208, 190)),
        (1.0, (255, 244, 236)),
    ],
    "dark-orange": [
        (0.0, (0, 0, 0)),
        (0.3, (80, 30, 0)),
        (0.6, (170, 80, 10)),
        (0.85, (220, 130, 40)),
        (1.0, (250, 190, 100)),
    ],
}

# Where the features sit on the face, in units of the head radius from the face centre (y down).
_FEATURES: dict[str, tuple[float, float]] = {
    "eye_left": (-0.34, -0.08),
    "eye_right": (0.34, -0.08),
    "nose_tip": (0.0, 0.2),
    "mouth": (0.0, 0.47),
    "chin": (0.0, 0.82),
    "cheek_left": (-0.46, 0.28),
    "cheek_right": (0.46, 0.28),
}

_PATIENT_LINES = ("PATIENT: JANE DOE", "ID 123456", "DOB 03/14/1991", "EXAM 2025-05-02 10:41")


@dataclass(frozen=True, eq=False)
class Phantom:
    image: np.ndarray  # H×W×3 uint8 RGB
    anchors: dict[str, tuple[float, float]]  # ground truth in image pixels
    face_box: Box
    text_boxes: tuple[Box, ...]  # where fake patient and scanner text was drawn
    render_box: Box = Box(0, 0, 0, 0)  # the panel holding the face render
    covered_anchors: tuple[str, ...] = ()  # under an occluder, when there is one
    palette: str = "voluson-gold"
    pose: str = "frontal"
    occluder: str | None = None
    # Ground-truth masks over the whole image (bool): the baby's head, her hands or arm, and
    # what is not the baby (cord, membranes, placenta, uterine wall).
    subject: np.ndarray | None = None
    hands: np.ndarray | None = None
    other: np.ndarray | None = None
    shadow: np.ndarray | None = None  # the head's pixels in the shadow of what lies over it


def _ramp(palette: str) -> np.ndarray:
    points = _PALETTE_RAMPS[palette]
    xs = np.array([p for p, _ in points])
    lut = np.zeros((256, 3), np.uint8)
    t = np.linspace(0, 1, 256)
    for channel in range(3):
        lut[:, channel] = np.interp(t, xs, [c[channel] for _, c in points]).round()
    return lut


def _gauss(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    return np.exp(-(((u - cu) / su) ** 2 + ((v - cv) / sv) ** 2) / 2)


def _speckle(shape: tuple[int, int], rng: np.random.Generator, amount: float) -> np.ndarray:
    noise = rng.normal(0, 1, shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.2)
    noise /= max(float(noise.std()), 1e-6)
    return 1 + amount * noise


def _draw_text(
    image: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int]
) -> Box:
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, round(scale * 2))
    (w, h), baseline = cv2.getTextSize(text, font, scale, thickness)
    cv2.putText(image, text, org, font, scale, colour, thickness, cv2.LINE_AA)
    x, y = org
    return Box(x - 1, y - h - 1, x + w + 1, y + baseline + 1)


# ---- the 3D face -----------------------------------------------------------------------------

OCCLUDERS: tuple[str, ...] = ("hand", "fist", "fingers", "arm", "cord", "membrane", "placenta")
POSE_YAW: dict[str, float] = {
    "frontal": 0.0,
    "three-quarter-left": -40.0,
    "three-quarter-right": 40.0,
    "profile-left": -85.0,
    "profile-right": 85.0,
}
# Which anchors a pose can show at all: the far cheek turns away at three-quarter, the far eye
# and cheek are behind the face in profile (the z-buffer test decides the rest).
_FAR_SIDE = {"left": ("eye_left", "cheek_left"), "right": ("eye_right", "cheek_right")}

# Label values of the scene buffer.
BACKGROUND, HEAD, HAND, CORD, PLACENTA = 0, 1, 2, 3, 4


def _features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The face's relief over the head's front, in head radii (fetal proportions: a short nose,
    a small chin, a large forehead)."""
    z = 0.10 * _gauss(u, v, 0, -0.45, 0.45, 0.22)  # forehead
    for side in (-1, 1):
        z += 0.13 * _gauss(u, v, side * 0.46, 0.28, 0.2, 0.18)  # cheeks
        z -= 0.11 * _gauss(u, v, side * 0.34, -0.08, 0.13, 0.08)  # eye orbits
        z -= 0.05 * _gauss(u, v, side * 0.34, -0.05, 0.12, 0.018)  # closed-lid crease
        z -= 0.02 * _gauss(u, v, side * 0.06, 0.28, 0.03, 0.02)  # nostrils
    z += 0.16 * _gauss(u, v, 0, 0.2, 0.08, 0.1)  # nose
    z += 0.06 * _gauss(u, v, 0, 0.08, 0.05, 0.14)  # nose bridge
    z += 0.04 * _gauss(u, v, 0, 0.47, 0.16, 0.05)  # lips
    z -= 0.06 * _gauss(u, v, 0, 0.47, 0.13, 0.014)  # mouth line
    z += 0.07 * _gauss(u, v, 0, 0.74, 0.16, 0.09)  # chin
    z -= 0.03 * _gauss(u, v, 0, 0.6, 0.14, 0.04)  # chin groove
    return z


def _half_width(v: np.ndarray) -> np.ndarray:
    # A narrower jaw below the cheeks (a soft ramp: a kink would show as a crease in profile).
    return 0.86 - 0.035 * np.logaddexp(0, (v - 0.15) / 0.1)


def _half_height(v: np.ndarray) -> np.ndarray:
    return 0.94 - 0.06 * np.tanh(3 * v)  # a taller cranium above the eyes than jaw below


def _head_point(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Head-frame (x right, y down, z toward the face's front) points of the face over
    (u, v) in head radii: the skull's front with the face's relief on it."""
    inside = np.clip(1 - (u / _half_width(v)) ** 2 - (v / _half_height(v)) ** 2, 0, None)
    shell = 0.72 * np.sqrt(inside)
    z = shell + _features(u, v) * np.clip(shell / 0.25, 0, 1)
    return np.stack([u, v, z], axis=-1)


@functools.lru_cache(maxsize=4)
def _head_surface(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points and outward normals of the whole head, sampled evenly by longitude/latitude so
    the sides and the back are as dense as the face (a profile shows them).

    The same for every phantom of a size (pose, palette and scene are applied after), so the
    last few sizes are kept: building the cloud was 4.4 of a phantom's 7.6 s. Read-only.
    """
    lon, lat = np.meshgrid(np.linspace(-np.pi, np.pi, 2 * n), np.linspace(-np.pi / 2, np.pi / 2, n))
    v = np.sin(lat) * _half_height(np.sin(lat))
    u = _half_width(v) * np.cos(lat) * np.sin(lon)
    shell = 0.72 * np.cos(lat) * np.cos(lon)
    front = np.clip(shell / 0.25, 0, 1)
    z = shell + _features(u, v) * front
    points = np.stack([u, v, z], axis=-1)
    normal = np.cross(np.gradient(points, axis=1), np.gradient(points, axis=0))
    normal *= np.where((normal * points).sum(axis=-1, keepdims=True) < 0, -1.0, 1.0)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    points, normal = points.reshape(-1, 3), normal.reshape(-1, 3)
    points.flags.writeable = False
    normal.flags.writeable = False
    return points, normal


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head frame → camera frame (x right, y down, z toward the viewer), angles in degrees.

    Yaw > 0 turns the face to the image's right, pitch > 0 tilts the chin up, roll > 0 turns
    the face clockwise in the image."""
    a, b, c = np.deg2rad([yaw, pitch, roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


@dataclass(frozen=True, eq=False)
class _Scene:
    """Per-pixel nearest surface: depth (radii toward the viewer, -inf on the background),
    camera-frame normal (y down) and which object it belongs to."""

    depth: np.ndarray
    normal: np.ndarray
    label: np.ndarray

    def put(self, depth: np.ndarray, normal: np.ndarray, label: int) -> None:
        nearer = depth > self.depth
        self.depth[nearer] = depth[nearer]
        self.normal[nearer] = normal[nearer]
        self.label[nearer] = label


def _empty_scene(height: int, width: int) -> _Scene:
    return _Scene(
        np.full((height, width), -np.inf, np.float32),
        np.zeros((height, width, 3), np.float32),
        np.zeros((height, width), np.uint8),
    )


def _splat_head(scene: _Scene, cx: float, cy: float, radius: float, rot: np.ndarray) -> None:
    """The head as a dense point cloud, projected orthographically with a z-buffer."""
    h, w = scene.depth.shape
    points, normals = _head_surface(int(np.clip(3.2 * radius, 120, 1200)))
    points, normals = points @ rot.T, normals @ rot.T
    xs = np.round(cx + points[:, 0] * radius).astype(np.int64)
    ys = np.round(cy + points[:, 1] * radius).astype(np.int64)
    ok = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    xs, ys, points, normals = xs[ok], ys[ok], points[ok], normals[ok]
    order = np.argsort(points[:, 2])  # nearest last: its write wins
    index = ys[order] * w + xs[order]
    depth = np.full(h * w, -np.inf, np.float32)
    normal = np.zeros((h * w, 3), np.float32)
    depth[index] = points[order, 2] * radius  # pixels, like every other surface
    normal[index] = normals[order]
    depth = depth.reshape(h, w)
    normal = normal.reshape(h, w, 3)
    # Pixels the cloud missed (grazing angles) take their nearest neighbour's surface.
    hole = ~np.isfinite(depth)
    floor = -10.0 * radius
    filled = cv2.dilate(np.where(hole, floor, depth).astype(np.float32), np.ones((3, 3)))
    inside = cv2.morphologyEx((~hole).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3))) > 0
    fill = hole & inside & (filled > floor)
    depth[fill] = filled[fill]
    # A slight blur of the normals hides the cloud's sampling pattern on steep relief (the nose).
    normal = cv2.GaussianBlur(normal, (0, 0), 0.8)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    scene.put(depth, normal, HEAD)


def _ellipsoid(
    scene: _Scene,
    centre: tuple[float, float, float],
    axes: tuple[float, float, float],
    angle: float,
    label: int,
) -> None:
    """An ellipsoid (pixels; its long axis turned ``angle`` degrees in the image plane)."""
    h, w = scene.depth.shape
    cx, cy, cz = centre
    a, b, c = axes
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(angle)
    px = (xs - cx) * np.cos(t) + (ys - cy) * np.sin(t)
    py = -(xs - cx) * np.sin(t) + (ys - cy) * np.cos(t)
    inside = 1 - (px / a) ** 2 - (py / b) ** 2
    ok = inside > 0
    root = np.sqrt(np.clip(inside, 0, None))
    depth = np.where(ok, cz + c * root, -np.inf).astype(np.float32)
    # Gradient of the implicit surface, turned back to image axes.
    gx, gy = px / a**2, py / b**2
    nz = np.where(ok, root / c, 1.0)
    nx = gx * np.cos(t) - gy * np.sin(t)
    ny = gx * np.sin(t) + gy * np.cos(t)
    normal = np.dstack([nx, ny, nz]).astype(np.float32)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    scene.put(depth, normal, label)


def _tube(scene: _Scene, path: np.ndarray, thickness: float, z: float, label: int) -> None:
    """A tube (cord, membrane strand, arm) along a polyline in pixels, at depth ``z`` pixels."""
    h, w = scene.depth.shape
    line = np.full((h, w), 255, np.uint8)
    cv2.polylines(line, [path.astype(np.int32)], False, 0, 1)
    dist = cv2.distanceTransform(line, cv2.DIST_L2, 5)
    ok = dist < thickness
    root = np.sqrt(np.clip(1 - (dist / thickness) ** 2, 0, None))
    depth = np.where(ok, z + thickness * root, -np.inf).astype(np.float32)
    gy, gx = np.gradient(dist)
    normal = np.dstack([gx * (1 - root), gy * (1 - root), root]).astype(np.float32)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    scene.put(depth, normal, label)


def _placenta(scene: _Scene, cx: float, radius: float, side: int, rng: np.random.Generator) -> None:
    """The placenta or uterine wall pressed against one side of the face: a bumpy wall at the
    depth of the cheek, so it is as bright as skin and touches the head."""
    h, w = scene.depth.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = cx + side * (0.62 * radius + 0.06 * radius * np.sin(ys / (0.21 * radius)))
    beyond = (xs - edge) * side
    ok = beyond > 0
    bumps = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.12 * radius)
    bumps /= max(float(bumps.std()), 1e-6)
    depth = (
        0.42 * radius
        + 0.05 * radius * bumps
        + 0.25 * radius * np.sqrt(np.clip(beyond / (0.4 * radius), 0, 1))
        - 0.25 * radius * np.clip(beyond / (1.5 * radius), 0, 1)
    )
    gy, gx = np.gradient(depth)
    normal = np.dstack([-gx, -gy, np.ones_like(depth)])
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    scene.put(np.where(ok, depth, -np.inf).astype(np.float32), normal.astype(np.float32), PLACENTA)


def _occluder(
    scene: _Scene, kind: str, cx: float, cy: float, r: float, rng: np.random.Generator
) -> None:
    """Things in front of or pressed against the face, in the head's pixel frame."""
    front = 0.78 * r  # a little nearer than the cheeks
    if kind == "hand":  # an open hand over the image-right eye and cheek
        _ellipsoid(
            scene, (cx + 0.67 * r, cy + 0.05 * r, front), (0.32 * r, 0.42 * r, 0.15 * r), 0, HAND
        )
        for k, fv in enumerate((-0.3, -0.1, 0.1, 0.3)):
            _ellipsoid(
                scene,
                (cx + (0.32 + 0.02 * k) * r, cy + (0.05 + fv) * r, front + 0.02 * r),
                (0.36 * r, 0.075 * r, 0.07 * r),
                0,
                HAND,
            )
    elif kind == "fist":  # a fist pressed on the image-left cheek
        _ellipsoid(
            scene,
            (cx - 0.78 * r, cy + 0.5 * r, front - 0.1 * r),
            (0.3 * r, 0.34 * r, 0.2 * r),
            20,
            HAND,
        )
        for k in range(4):
            _ellipsoid(
                scene,
                (cx - 0.52 * r + 0.04 * k * r, cy + (0.12 + 0.13 * k) * r, front),
                (0.1 * r, 0.085 * r, 0.09 * r),
                0,
                HAND,
            )
    elif kind == "fingers":  # fingers across the mouth
        for k, dy in enumerate((-0.06, 0.06)):
            _ellipsoid(
                scene,
                (cx + 0.28 * r, cy + (0.47 + dy) * r, front + 0.05 * r),
                (0.5 * r, 0.062 * r, 0.06 * r),
                -6 + 8 * k,
                HAND,
            )
        _ellipsoid(
            scene,
            (cx + 0.86 * r, cy + 0.58 * r, front - 0.05 * r),
            (0.22 * r, 0.28 * r, 0.14 * r),
            0,
            HAND,
        )
    elif kind == "arm":  # an arm under the chin, touching it
        path = np.array(
            [[cx - 1.4 * r, cy + 1.22 * r], [cx, cy + 1.06 * r], [cx + 1.4 * r, cy + 1.18 * r]]
        )
        _tube(scene, path, 0.2 * r, 0.25 * r, HAND)
    elif kind == "cord":  # the umbilical cord across the face
        t = np.linspace(0, 1, 60)
        path = np.column_stack(
            [cx + (-1.1 + 2.2 * t) * r, cy + (-0.2 + 0.5 * t + 0.08 * np.sin(9 * t)) * r]
        )
        _tube(scene, path, 0.07 * r, front, CORD)
    elif kind == "membrane":  # floating membrane strands
        for k in range(3):
            t = np.linspace(0, 1, 40)
            y0 = rng.uniform(-0.6, 0.6)
            path = np.column_stack(
                [
                    cx + (-1.2 + 2.4 * t) * r,
                    cy + (y0 + 0.3 * (t - 0.5) * (k - 1) + 0.05 * np.sin(7 * t + k)) * r,
                ]
            )
            _tube(scene, path, 0.018 * r, front + 0.1 * r, CORD)
    elif kind == "placenta":
        _placenta(scene, cx, r, int(rng.choice([-1, 1])), rng)
    else:
        raise ValueError(f"unknown occluder {kind!r}; one of {OCCLUDERS}")


_LIGHT = np.array([-0.35, 0.45, 0.82]) / np.linalg.norm([-0.35, 0.45, 0.82])  # y up


def _shade_scene(scene: _Scene, nearest: float, depth_range: float) -> np.ndarray:
    """Lambert + a little specular, the look of an HDlive-style lit surface, plus depth fog."""
    normal = scene.normal * np.array([1.0, -1.0, 1.0], np.float32)  # y down → y up
    lambert = np.clip(normal @ _LIGHT, 0, 1)
    half = _LIGHT + np.array([0, 0, 1.0])
    half /= np.linalg.norm(half)
    specular = np.clip(normal @ half, 0, 1) ** 24
    depth = np.where(np.isfinite(scene.depth), scene.depth, -np.inf)
    nearness = np.clip(1 - (nearest - depth) / depth_range, 0, 1)
    shade = (0.18 + 0.72 * lambert) * (0.45 + 0.55 * nearness) + 0.2 * specular
    return np.clip(shade, 0, 1) * (scene.label > 0)


def _cast_shadows(scene: _Scene, shade: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """What is nearer than the head casts a shadow onto it (HDlive's light is up and left):
    the shade with it, and where it falls (bool)."""
    near = (scene.label != HEAD) & (scene.label != BACKGROUND)
    if not near.any():
        return shade, near
    offset = max(2, int(0.04 * radius))
    shadow = np.roll(np.roll(near, offset, axis=0), offset, axis=1) & (scene.label == HEAD)
    return np.where(shadow, shade * 0.45, shade), shadow


_TONE_CURVES = {
    "normal": lambda s: s,
    "low": lambda s: 0.22 + 0.5 * s,  # a washed-out, low-contrast render
    "crushed": lambda s: s**1.9,  # crushed blacks
    "blown": lambda s: np.clip(1.45 * s, 0, 1),  # blown highlights
}


@dataclass(frozen=True, eq=False)
class _Panel:
    rgb: np.ndarray
    anchors: dict[str, tuple[float, float]]  # visible anchors only
    face_box: Box
    covered: tuple[str, ...]  # anchors under an occluder
    subject: np.ndarray  # bool: the head's visible pixels
    hands: np.ndarray  # bool: the baby's hands and arm
    other: np.ndarray  # bool: cord, membranes, placenta or uterine wall
    shadow: np.ndarray  # bool: the head's pixels in their shadow


def _render_face(
    width: int,
    height: int,
    palette: str,
    rng: np.random.Generator,
    *,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    occluder: str | None = None,
    face_scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    contrast: str = "normal",
) -> _Panel:
    """One panel's render of a 3D head, in panel pixels, with its ground truth."""
    radius = 0.4 * min(width / 0.95, height) * face_scale
    cx = width * (0.5 + offset[0]) + rng.uniform(-0.03, 0.03) * width
    cy = height * (0.52 + offset[1]) + rng.uniform(-0.03, 0.03) * height
    rot = _rotation(yaw, pitch, roll)
    scene = _empty_scene(height, width)
    _splat_head(scene, cx, cy, radius, rot)
    head = scene.label == HEAD
    nearest = float(scene.depth[head].max()) if head.any() else 0.7 * radius  # head out of view
    if occluder is not None:
        _occluder(scene, occluder, cx, cy, radius, rng)
    shade = _shade_scene(scene, nearest, 1.3 * radius)
    shade, shadow = _cast_shadows(scene, shade, radius)
    shade = _TONE_CURVES[contrast](shade) * (scene.label > 0)
    shade *= _speckle(shade.shape, rng, 0.06)
    rgb = _ramp(palette)[np.clip(shade * 255, 0, 255).astype(np.uint8)]

    # Ground truth: each feature's surface point, projected; kept where the z-buffer shows it.
    names = list(_FEATURES)
    uv = np.array([_FEATURES[n] for n in names])
    points = _head_point(uv[:, 0], uv[:, 1]) @ rot.T
    anchors: dict[str, tuple[float, float]] = {}
    covered: list[str] = []
    far = _FAR_SIDE["right" if yaw > 0 else "left"]
    for name, p in zip(names, points, strict=True):
        x, y = cx + p[0] * radius, cy + p[1] * radius
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= xi < width and 0 <= yi < height):
            continue
        if abs(yaw) >= 60 and name in far or abs(yaw) >= 25 and name == far[1]:
            continue  # turned away: no longer a point a sonographer could place
        if scene.label[yi, xi] != HEAD:
            covered.append(name)
            continue
        if scene.depth[yi, xi] - p[2] * radius > 0.08 * radius:
            continue  # hidden behind the nose or the brow
        anchors[name] = (float(x), float(y))
    # The face box: the visible face region (brow to chin, cheek to cheek) projected.
    grid = np.mgrid[-0.7:0.71:0.05, -0.55:0.89:0.05].reshape(2, -1).T
    face = _head_point(grid[:, 0], grid[:, 1]) @ rot.T
    fx, fy = cx + face[:, 0] * radius, cy + face[:, 1] * radius
    face_box = Box(
        int(max(0, fx.min())),
        int(max(0, fy.min())),
        int(min(width, fx.max())),
        int(min(height, fy.max())),
    )
    return _Panel(
        rgb=rgb,
        anchors=anchors,
        face_box=face_box,
        covered=tuple(covered),
        subject=scene.label == HEAD,
        hands=scene.label == HAND,
        other=(scene.label == CORD) | (scene.label == PLACENTA),
        shadow=shadow,
    )


def _bmode_sector(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Grey 2D B-mode: a fan of speckle with a bright skull ellipse, as a scanner shows it."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    apex_x, apex_y = width / 2, -0.08 * height
    r = np.hypot(xs - apex_x, ys - apex_y)
    angle = np.arctan2(xs - apex_x, ys - apex_y)
    sector = (np.abs(angle) < np.deg2rad(36)) & (r > 0.12 * height) & (r < 1.05 * height)
    speckle = rng.rayleigh(1.0, (height, width)).astype(np.float32)
    speckle = cv2.GaussianBlur(speckle, (0, 0), 1.0)
    tissue = 0.35 + 0.15 * np.sin(xs / 37.0) * np.cos(ys / 53.0)
    ecx, ecy = width * 0.5, height * 0.55
    ell = np.hypot((xs - ecx) / (0.26 * width), (ys - ecy) / (0.3 * height))
    tissue = np.where(ell < 0.93, 0.12, tissue)  # fluid-filled head: dark
    tissue += 0.9 * np.exp(-(((ell - 1.0) / 0.03) ** 2))  # skull echo
    tissue += 0.35 * np.exp(-(((xs - ecx) / (0.005 * width)) ** 2)) * (ell < 0.93)  # midline
    grey = np.clip(tissue * speckle * 0.8, 0, 1) * sector
    return (grey * 255).astype(np.uint8)


def _header(image: np.ndarray, rng: np.random.Generator, band: int) -> list[Box]:
    """The scanner's header band with fake scanner, clinic and patient text."""
    image[:band] = (22, 22, 26)
    boxes = []
    x = 16
    for text in ("VOLUSON E10  RAB6-D  OB 3D", *_PATIENT_LINES[:2]):
        box = _draw_text(image, text, (x, int(band * 0.62)), 0.6, (235, 235, 235))
        boxes.append(box)
        x = box.x1 + 28
    right = image.shape[1] - 16
    for text in reversed(_PATIENT_LINES[2:]):
        font_w = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1)[0][0]
        box = _draw_text(image, text, (right - font_w, int(band * 0.62)), 0.55, (220, 220, 160))
        boxes.append(box)
        right = box.x0 - 24
    return boxes


def _side_chrome(image: np.ndarray, x0: int, y0: int, y1: int) -> list[Box]:
    """A grey scale bar and parameter text to the right of the render, like a scanner's panel."""
    bar = np.linspace(255, 0, y1 - y0 - 120).astype(np.uint8)
    image[y0 + 20 : y0 + 20 + bar.size, x0 + 10 : x0 + 26] = bar[:, None, None]
    boxes = []
    for i, text in enumerate(("Q 4.2", "TH 42", "GN 12", "SRI 3", "MI 0.9")):
        boxes.append(_draw_text(image, text, (x0 + 40, y0 + 40 + 34 * i), 0.5, (200, 200, 200)))
    boxes.append(_draw_text(image, "ST. ELSEWHERE", (x0 + 8, y1 - 14), 0.42, (190, 190, 190)))
    return boxes


def _phone_photo(
    image: np.ndarray, rng: np.random.Generator, lit_wall: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A phone photo of the monitor: slight perspective, blur, glare, moiré and a grey black.

    ``lit_wall``: the screen fills only part of the photo, inside a dark bezel, with a lit
    wall round it (the wall is as bright as the render's skin)."""
    h, w = image.shape[:2]
    d = 0.03 * w
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = np.array([[d, d * 0.6], [w - d * 0.4, 0], [w, h - d * 0.3], [d * 0.3, h]], np.float32)
    if lit_wall:
        centre = np.array([[0.5 * w, 0.5 * h]], np.float32)
        dst = centre + (dst - centre) * np.float32(0.72)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(image, matrix, (w, h), borderValue=(12, 12, 14))
    if lit_wall:
        screen = cv2.warpPerspective(np.ones((h, w), np.uint8), matrix, (w, h)) > 0
        bezel = cv2.dilate(screen.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        wall = 150 + 30 * (xs / w) - 20 * (ys / h)  # a lamp to one side
        warped[~bezel] = (np.stack([wall, wall * 0.93, wall * 0.8], axis=-1)[~bezel]).astype(
            np.uint8
        )
    warped = cv2.GaussianBlur(warped, (0, 0), 1.1).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    moire = 1 + 0.05 * np.sin(xs * 0.9 + ys * 0.31) * np.sin(ys * 0.73)
    glare = 18 * np.exp(-(((xs - 0.8 * w) / (0.25 * w)) ** 2 + ((ys - 0.2 * h) / (0.2 * h)) ** 2))
    out = warped * moire[..., None] + glare[..., None] + 10
    out += rng.normal(0, 2.5, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8), matrix


def make_phantom(
    width: int = 1280,
    height: int = 872,
    *,
    palette: str = "voluson-gold",
    hand: bool = False,
    occluder: str | None = None,
    pose: str = "frontal",
    tilt: float = 0.0,
    roll: float = 0.0,
    face_scale: float = 1.0,
    face_offset: tuple[float, float] = (0.0, 0.0),
    contrast: str = "normal",
    panels: int = 1,
    header_text: bool = True,
    side_panel: bool = True,
    phone_photo: bool = False,
    lit_wall: bool = False,
    seed: int = 0,
) -> Phantom:
    """A screen capture of a 3D/4D surface render of a baby's face, with scanner chrome.

    ``pose`` turns the head (see ``POSE_YAW``), ``tilt`` raises the chin (degrees, ±40),
    ``roll`` turns it in the image plane; ``occluder`` puts one of ``OCCLUDERS`` in front of or
    against the face (``hand=True`` is ``occluder="hand"``); ``face_scale`` and ``face_offset``
    (fractions of the panel) make the face small and off-centre as real renders often are;
    ``contrast`` is one of ``CONTRASTS``. ``panels`` 2 or 4 lays out a multi-panel screen: 2D
    B-mode slices next to one render panel (the one holding the face, and the largest). Ground
    truth is in image pixels: the anchors a sonographer could place (visible, not covered) and
    masks of the head, the hands, what is not the baby and the shadows cast on the head.
    """
    if palette not in _PALETTE_RAMPS:
        raise ValueError(f"unknown palette {palette!r}; one of {PALETTES}")
    if pose not in POSE_YAW:
        raise ValueError(f"unknown pose {pose!r}; one of {tuple(POSE_YAW)}")
    if contrast not in _TONE_CURVES:
        raise ValueError(f"unknown contrast {contrast!r}; one of {CONTRASTS}")
    if panels not in (1, 2, 4):
        raise ValueError("panels must be 1, 2 or 4")
    if hand:
        occluder = "hand"
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    band = max(36, height // 20) if header_text else 0
    text_boxes = _header(image, rng, band) if header_text else []
    side = int(width * 0.12) if side_panel else 0
    area = Box(0, band + 4 if header_text else 0, width - side, height)
    if side_panel:
        text_boxes += _side_chrome(image, area.x1, area.y0, area.y1)
    if panels == 1:
        face_panel = area
        slice_panels: list[Box] = []
    elif panels == 2:
        split = area.x0 + int(area.width * 0.62)
        face_panel = Box(area.x0, area.y0, split - 3, area.y1)
        slice_panels = [
            Box(split + 3, area.y0 + area.height // 4, area.x1, area.y0 + 3 * area.height // 4)
        ]
    else:
        mid_x, mid_y = area.x0 + area.width // 2, area.y0 + area.height // 2
        quads = [
            Box(area.x0, area.y0, mid_x - 3, mid_y - 3),
            Box(mid_x + 3, area.y0, area.x1, mid_y - 3),
            Box(area.x0, mid_y + 3, mid_x - 3, area.y1),
            Box(mid_x + 3, mid_y + 3, area.x1, area.y1),
        ]
        face_panel = quads.pop(int(rng.integers(0, 4)))
        slice_panels = quads
    for panel in slice_panels:
        grey = _bmode_sector(panel.width, panel.height, rng)
        image[panel.y0 : panel.y1, panel.x0 : panel.x1] = grey[..., None]
    render = _render_face(
        face_panel.width,
        face_panel.height,
        palette,
        rng,
        yaw=POSE_YAW[pose],
        pitch=tilt,
        roll=roll,
        occluder=occluder,
        face_scale=face_scale,
        offset=face_offset,
        contrast=contrast,
    )
    image[face_panel.y0 : face_panel.y1, face_panel.x0 : face_panel.x1] = render.rgb
    if panels > 1:
        for panel in [face_panel, *slice_panels]:
            cv2.rectangle(
                image, (panel.x0, panel.y0), (panel.x1 - 1, panel.y1 - 1), (90, 90, 90), 1
            )
    anchors = {k: (x + face_panel.x0, y + face_panel.y0) for k, (x, y) in render.anchors.items()}
    face_box = Box(
        render.face_box.x0 + face_panel.x0,
        render.face_box.y0 + face_panel.y0,
        render.face_box.x1 + face_panel.x0,
        render.face_box.y1 + face_panel.y0,
    )

    masks = []
    for mask in (render.subject, render.hands, render.other, render.shadow):
        framed = np.zeros((height, width), bool)
        framed[face_panel.y0 : face_panel.y1, face_panel.x0 : face_panel.x1] = mask
        masks.append(framed)
    if phone_photo:
        image, warp = _phone_photo(image, rng, lit_wall)
        anchors = {k: _warp_point(warp, x, y) for k, (x, y) in anchors.items()}
        face_box = _warp_box(warp, face_box)
        text_boxes = [_warp_box(warp, box) for box in text_boxes]
        masks = [
            cv2.warpPerspective(m.astype(np.uint8), warp, (width, height), flags=cv2.INTER_NEAREST)
            > 0
            for m in masks
        ]
    return Phantom(
        image=image,
        anchors=anchors,
        face_box=face_box,
        text_boxes=tuple(text_boxes),
        render_box=face_panel,
        covered_anchors=render.covered,
        palette=palette,
        pose=pose,
        occluder=occluder,
        subject=masks[0],
        hands=masks[1],
        other=masks[2],
        shadow=masks[3],
    )


# ---- text burned in over the render itself --------------------------------------------------

TEXT_STYLES: tuple[str, ...] = ("white", "coloured", "small", "bar", "column", "datetime")
_TEXT_COLOURS = ((255, 255, 120), (120, 255, 140), (110, 230, 255), (255, 170, 60))


def overlay_text(image: np.ndarray, region: Box, rng: np.random.Generator, style: str) -> list[Box]:
    """Patient text drawn over the render area, as some scanners and exports burn it in.

    ``style`` is one of ``TEXT_STYLES``: a white line, a coloured line, small text, a line on a
    semi-transparent dark bar, a tight right-aligned column of parameter lines, or a date/time
    stack on two lines. It goes in a corner of ``region`` (chosen by ``rng``), where scanners
    put it, and may run onto the head. Draws in place; returns one box per line drawn.
    """
    if style not in TEXT_STYLES:
        raise ValueError(f"unknown text style {style!r}; one of {TEXT_STYLES}")
    short = min(region.width, region.height)
    scale = float(np.clip(short / 900, 0.4, 0.75))
    colour: tuple[int, int, int] = (245, 245, 245)
    lines: tuple[str, ...] = ("JANE DOE  ID 123456",)
    spacing = 1.6
    if style == "coloured":
        colour = _TEXT_COLOURS[int(rng.integers(0, len(_TEXT_COLOURS)))]
        lines = ("DOE, JANE  GA 24w3d",)
    elif style == "small":
        scale = max(0.34, scale * 0.62)  # glyphs about 9 px high: the smallest screen text
        lines = ("PT JANE DOE 123456", "DOB 03/14/1991")
    elif style == "bar":
        lines = ("JANE DOE  03/14/1991",)
    elif style == "column":
        scale *= 0.8
        lines = ("JANE DOE", "ID 123456", "DOB 03/14/1991", "GA 24w3d")
        spacing = 1.25
    elif style == "datetime":
        lines = ("12/03/2026", "10:41:07 AM")
        spacing = 1.35
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, round(scale * 2))
    sizes = [cv2.getTextSize(text, font, scale, thickness) for text in lines]
    line_h = max(h for (_, h), _ in sizes)
    block_w = max(w for (w, _), _ in sizes)
    block_h = int(line_h * spacing * (len(lines) - 1) + line_h)
    margin = max(6, short // 40)
    right = style == "column" or bool(rng.integers(0, 2))
    bottom = style == "bar" or bool(rng.integers(0, 2))
    x_left = region.x1 - margin - block_w if right else region.x0 + margin
    y_top = region.y1 - margin - block_h if bottom else region.y0 + margin
    if style == "bar":
        bar = (slice(y_top - 6, y_top + block_h + 8), slice(region.x0, region.x1))
        image[bar] = (image[bar].astype(np.float32) * 0.45 + 8).astype(np.uint8)
    boxes = []
    for i, (text, ((w, _h), _)) in enumerate(zip(lines, sizes, strict=True)):
        x = x_left + (block_w - w if right else 0)
        y = y_top + line_h + int(i * line_h * spacing)
        boxes.append(_draw_text(image, text, (x, y), scale, colour))
    return boxes


def _warp_box(matrix: np.ndarray, box: Box) -> Box:
    """The box round a box's four corners after the photo's perspective."""
    corners = [_warp_point(matrix, x, y) for x in (box.x0, box.x1) for y in (box.y0, box.y1)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return Box(int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys))))


def _warp_point(matrix: np.ndarray, x: float, y: float) -> tuple[float, float]:
    p = matrix @ np.array([x, y, 1.0])
    return float(p[0] / p[2]), float(p[1] / p[2])


def make_bmode(
    width: int = 1280, height: int = 872, *, tint: str = "grey", seed: int = 0
) -> np.ndarray:
    """A 2D B-mode screen capture (the negative): a speckle fan with a skull, header text."""
    if tint not in ("gold", "grey"):
        raise ValueError("tint must be 'gold' or 'grey'")
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    band = max(36, height // 20)
    _header(image, rng, band)
    grey = _bmode_sector(width - int(width * 0.12), height - band - 4, rng)
    if tint == "gold":
        # Scanners tint B-mode with a single hue (a "sepia" map): colour ∝ brightness.
        sector = np.dstack([grey * 1.0, grey * 0.78, grey * 0.45])
    else:
        sector = np.dstack([grey] * 3)
    image[band + 4 :, : grey.shape[1]] = np.clip(sector, 0, 255).astype(np.uint8)
    _side_chrome(image, grey.shape[1], band + 4, height)
    return image


def cine_dicom(frames: list[np.ndarray], quality: int | list[int] = 75) -> bytes:
    """A scanner's cine loop as a DICOM file: ``frames`` (RGB, one size) as JPEG Baseline in
    YBR_FULL_422, one quality for all or one per frame."""
    import io

    import pydicom
    from PIL import Image
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid

    qualities = quality if isinstance(quality, list) else [quality] * len(frames)
    encoded = []
    for rgb, each in zip(frames, qualities, strict=True):
        jpeg = io.BytesIO()
        # Pillow stores YCbCr with 4:2:2 chroma, which is what YBR_FULL_422 declares.
        Image.fromarray(rgb).save(jpeg, "JPEG", quality=each, subsampling=1)
        encoded.append(jpeg.getvalue())
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    ds.Modality = "US"
    ds.Rows, ds.Columns = frames[0].shape[:2]
    ds.NumberOfFrames = len(frames)
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()
