"""Phantom scans: synthetic 3D/4D surface renders and 2D B-mode negatives with no patient data.

Tests and the demo need scans whose ground truth is known (where the nose tip is, which text is
"patient" text) and that can be committed. A phantom is a baby-face-like height field lit like a
scanner's surface render, mapped through a scanner palette, with speckle, a black background and
the chrome a screen capture carries (a header band with fake patient text, a side scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from render.pipeline.types import Box

PALETTES: tuple[str, ...] = ("voluson-gold", "realisticvue", "surface-smooth", "grey")

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
    covered_anchors: tuple[str, ...] = ()  # under the hand, when there is one
    palette: str = "voluson-gold"


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


def _face_height(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A newborn-ish face as a height field over (u, v) in head radii; NaN-free, 0 off the head."""
    # Round cranium above, a narrower jaw below ending at the chin (v ≈ 0.88).
    jaw = np.clip(v - 0.15, 0, None)
    half_width = 0.86 - 0.35 * jaw
    half_height = np.where(v > 0, 0.88, 1.0)
    head = np.clip(1 - (u / half_width) ** 2 - (v / half_height) ** 2, 0, None) ** 0.5
    z = 0.55 * head
    z += 0.10 * _gauss(u, v, 0, -0.45, 0.45, 0.22)  # forehead
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
    return z * (head > 0)


def _shade(height: np.ndarray, scale: float, nearest: float) -> np.ndarray:
    """Lambert + a little specular, the look of an HDlive-style lit surface, plus depth fog."""
    gy, gx = np.gradient(height * scale)
    normal = np.dstack([-gx, gy, np.ones_like(height)])
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    light = np.array([-0.35, 0.45, 0.82])
    light /= np.linalg.norm(light)
    lambert = np.clip(normal @ light, 0, 1)
    half = light + np.array([0, 0, 1.0])
    half /= np.linalg.norm(half)
    specular = np.clip(normal @ half, 0, 1) ** 24
    nearness = np.clip(height / max(nearest, 1e-6), 0, 1)
    return np.clip((0.18 + 0.72 * lambert) * (0.45 + 0.55 * nearness) + 0.2 * specular, 0, 1)


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


def _render_face(
    width: int, height: int, palette: str, rng: np.random.Generator, hand: bool
) -> tuple[np.ndarray, dict[str, tuple[float, float]], Box, tuple[str, ...]]:
    """One panel's render: returns RGB, anchors and face box in panel pixels, covered anchors."""
    radius = 0.4 * min(width / 0.95, height)
    cx = width * 0.5 + rng.uniform(-0.03, 0.03) * width
    cy = height * 0.52 + rng.uniform(-0.03, 0.03) * height
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (xs - cx) / radius, (ys - cy) / radius
    z = _face_height(u, v)
    face_top = float(z.max())
    covered: tuple[str, ...] = ()
    hand_mask = np.zeros(z.shape, bool)
    if hand:
        # A hand raised in front of the image-right half of the face: a nearer surface, so it
        # occludes, and (as HDlive's light does) it casts a shadow onto the face beside it.
        hu, hv = 0.42, 0.05
        palm = np.clip(1 - ((u - hu - 0.25) / 0.32) ** 2 - ((v - hv) / 0.42) ** 2, 0, None) ** 0.5
        hand_z = np.where(palm > 0, 0.72 + 0.2 * palm, 0)
        for k, fv in enumerate((-0.3, -0.1, 0.1, 0.3)):
            finger = (
                np.clip(
                    1 - ((u - hu + 0.1 - 0.02 * k) / 0.36) ** 2 - ((v - hv - fv) / 0.075) ** 2,
                    0,
                    None,
                )
                ** 0.5
            )
            hand_z = np.maximum(hand_z, np.where(finger > 0, 0.7 + 0.12 * finger, 0))
        hand_mask = hand_z > z
        z = np.where(hand_mask, hand_z, z)
        covered = tuple(
            name
            for name, (fu, fv) in _FEATURES.items()
            if hand_mask[
                int(np.clip(cy + fv * radius, 0, height - 1)),
                int(np.clip(cx + fu * radius, 0, width - 1)),
            ]
        )
    shade = _shade(z, scale=radius * 1.1, nearest=face_top) * (z > 0)
    if hand:
        offset = max(2, int(0.04 * radius))
        shadow = np.roll(np.roll(hand_mask, offset, axis=0), offset, axis=1) & ~hand_mask
        rim = hand_mask & ~cv2.erode(
            hand_mask.astype(np.uint8),
            np.ones((5, 5), np.uint8),
        ).astype(bool)
        shade = np.where(shadow, shade * 0.35, shade)
        shade = np.where(rim, shade * 0.5, shade)
    shade *= _speckle(z.shape, rng, 0.06)
    rgb = _ramp(palette)[np.clip(shade * 255, 0, 255).astype(np.uint8)]
    anchors = {name: (cx + fu * radius, cy + fv * radius) for name, (fu, fv) in _FEATURES.items()}
    face_box = Box(
        int(cx - 0.7 * radius),
        int(cy - 0.55 * radius),
        int(cx + 0.7 * radius),
        int(cy + 0.88 * radius),
    )
    return rgb, anchors, face_box, covered


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


def _phone_photo(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A phone photo of the monitor: slight perspective, blur, glare, moiré and a grey black."""
    h, w = image.shape[:2]
    d = 0.03 * w
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[d, d * 0.6], [w - d * 0.4, 0], [w, h - d * 0.3], [d * 0.3, h]])
    warped = cv2.warpPerspective(
        image, cv2.getPerspectiveTransform(src, dst), (w, h), borderValue=(12, 12, 14)
    )
    warped = cv2.GaussianBlur(warped, (0, 0), 1.1).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    moire = 1 + 0.05 * np.sin(xs * 0.9 + ys * 0.31) * np.sin(ys * 0.73)
    glare = 18 * np.exp(-(((xs - 0.8 * w) / (0.25 * w)) ** 2 + ((ys - 0.2 * h) / (0.2 * h)) ** 2))
    out = warped * moire[..., None] + glare[..., None] + 10
    out += rng.normal(0, 2.5, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_phantom(
    width: int = 1280,
    height: int = 872,
    *,
    palette: str = "voluson-gold",
    hand: bool = False,
    panels: int = 1,
    header_text: bool = True,
    phone_photo: bool = False,
    seed: int = 0,
) -> Phantom:
    """A screen capture of a 3D/4D surface render of a baby's face, with scanner chrome.

    ``panels`` 2 or 4 lays out a multi-panel screen: 2D B-mode slices next to one render panel
    (the one holding the face, and the largest). Ground truth is in image pixels.
    """
    if palette not in _PALETTE_RAMPS:
        raise ValueError(f"unknown palette {palette!r}; one of {PALETTES}")
    if panels not in (1, 2, 4):
        raise ValueError("panels must be 1, 2 or 4")
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    band = max(36, height // 20) if header_text else 0
    text_boxes = _header(image, rng, band) if header_text else []
    side = int(width * 0.12)
    area = Box(0, band + 4, width - side, height)
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
    rgb, anchors, face_box, covered = _render_face(
        face_panel.width, face_panel.height, palette, rng, hand
    )
    image[face_panel.y0 : face_panel.y1, face_panel.x0 : face_panel.x1] = rgb
    if panels > 1:
        for panel in [face_panel, *slice_panels]:
            cv2.rectangle(
                image, (panel.x0, panel.y0), (panel.x1 - 1, panel.y1 - 1), (90, 90, 90), 1
            )
    anchors = {k: (x + face_panel.x0, y + face_panel.y0) for k, (x, y) in anchors.items()}
    face_box = Box(
        face_box.x0 + face_panel.x0,
        face_box.y0 + face_panel.y0,
        face_box.x1 + face_panel.x0,
        face_box.y1 + face_panel.y0,
    )
    if phone_photo:
        image = _phone_photo(image, rng)
    return Phantom(
        image=image,
        anchors=anchors,
        face_box=face_box,
        text_boxes=tuple(text_boxes),
        render_box=face_panel,
        covered_anchors=covered,
        palette=palette,
    )


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
