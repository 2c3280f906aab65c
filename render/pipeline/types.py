"""The typed data that flows between the pure pipeline stages.

Every stage is a function from frozen dataclasses to frozen dataclasses. Nothing here imports
Django or another app: Django models store what these carry, the stages never see a model.

Coordinates: ``Box`` and ``Anchor`` are in the pixels of the *original* decoded frame (after
EXIF orientation), and arrays on ``StructuralCues`` cover ``crop_box`` of that frame; the one
exception is ``Conditioning.cues`` of a face turned upright (``render.pipeline.upright``),
whose frame is the turned crop itself (``crop_box`` at 0, 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

ANCHOR_NAMES: tuple[str, ...] = (
    "nose_tip",
    "eye_left",
    "eye_right",
    "mouth",
    "chin",
    "cheek_left",
    "cheek_right",
)

# How the face is turned, from the vision stage: on a profile only the near side can be seen
# (one eye, nose tip, mouth, chin), and nothing is drawn on the far side.
POSES: tuple[str, ...] = (
    "frontal",
    "three-quarter-left",
    "three-quarter-right",
    "profile-left",
    "profile-right",
)


class ScanRejected(Exception):
    """The input can never become a portrait; ``message`` is written for a sonographer.

    ``code`` is one of: ``empty``, ``unreadable``, ``unsupported-type``, ``too-large``,
    ``too-many-pixels``, ``too-small``, ``no-video``, ``2d-bmode``, ``no-face``,
    ``vision-failed`` (an unexpected error inside vision, logged with its stack trace).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RenderCancelled(Exception):
    """Raised by an engine when its ``cancel`` callback answered True."""


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass(frozen=True)
class IngestLimits:
    max_bytes: int = 200_000_000  # 200 MB, the unit the refusal speaks
    max_pixels: int = 40_000_000  # per frame
    max_clip_frames: int = 24  # of a clip or multi-frame DICOM, an even sample is decoded
    # The most memory one decode may take, estimated from the headers before it starts: a clip
    # samples fewer frames to fit, and a file that does not fit even so is refused.
    max_decode_bytes: int = 1_024_000_000


@dataclass(frozen=True, eq=False)
class IngestedScan:
    """A decoded, oriented, metadata-free, de-identified frame.

    ``image`` is the whole frame (H×W×3 uint8 RGB) with burned-in text already blanked: no
    later stage and no stored derivative ever sees the patient's text.
    """

    kind: str  # detected from bytes: "jpeg", "png", "webp", "mp4", "mov", "dicom"
    mime: str
    sha256: str  # of the uploaded bytes
    image: np.ndarray
    render_box: Box  # the scan picture inside the screen capture (chrome dropped)
    text_boxes: tuple[Box, ...] = ()
    frame_index: int | None = None  # chosen frame of a clip or multi-frame DICOM
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


# The most ``low_confidence`` speckle alone gives: it lowers confidence, it never hides the
# surface outright as an acoustic shadow or an occluder does (those reach 1).
SPECKLE_LOW_CONFIDENCE = 0.45


def surface_seen(low_confidence: np.ndarray) -> np.ndarray:
    """0..1 how surely a feature may be drawn on the surface, by ``low_confidence`` alone: 1
    up to speckle's most, fading to 0 over the next 0.1 (a lid line's own shadow can read
    half-sure), where a shadow or an occluder hid it. The relight engine draws by it and
    scoring asks by it whether an eye or the mouth could be drawn."""
    return np.clip((SPECKLE_LOW_CONFIDENCE + 0.1 - low_confidence) / 0.1, 0.0, 1.0)


# An anchor less sure than this places no drawn feature (the relight engine's lash, nostril or
# lip); scoring asks a person to look at a face with no eye, or no mouth, drawn.
FEATURE_CONFIDENCE = 0.6
# Speckle lowers a mouth's confidence most (its groove and lip highlights read as speckle): one
# this sure is drawn where the scan shows its line clearly (the relight engine's lips).
MOUTH_ON_ITS_LINE = 0.45


@dataclass(frozen=True)
class Anchor:
    name: str  # one of ANCHOR_NAMES; left/right as seen with the face upright (see upright.py)
    x: float
    y: float
    confidence: float  # 0..1


@dataclass(frozen=True, eq=False)
class CueMaps:
    """Vision's maps at the size it measured them (its analysis size, at most 400 px a side):
    what the crop-size maps on ``StructuralCues`` are made from, by ``vision.enlarge_maps``,
    and what the cues file stores (an eighth of the crop's pixels on a 1280 px scan).

    ``depth``, ``subject``, ``low_confidence``, ``hands``, ``repaired`` and ``contact`` are
    h×w float32 within 0..1, ``normals`` h×w×3 float32 unit vectors; ``repaired`` None when
    vision continued nothing, ``contact`` when the head touches no wall or placenta, ``hands``
    None only in maps read from a file stored before hands were.
    """

    depth: np.ndarray
    normals: np.ndarray
    subject: np.ndarray
    low_confidence: np.ndarray
    hands: np.ndarray | None = None
    repaired: np.ndarray | None = None
    contact: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class StructuralCues:
    """What the vision stage could verify about the face; the renderer trusts nothing else.

    Arrays are all ``crop_box``-sized (H×W): ``image`` uint8 RGB de-identified crop,
    ``depth`` float32 0..1 (nearer = brighter), ``normals`` float32 H×W×3 unit vectors
    (x right, y up, z toward the viewer), ``subject`` float32 0..1 (the baby vs background),
    ``low_confidence`` float32 0..1 (1 = shadow, speckle or an occluder: do not paint detail).
    """

    crop_box: Box
    image: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    subject: np.ndarray
    low_confidence: np.ndarray
    light_dir: tuple[float, float, float]
    face_box: Box | None
    anchors: tuple[Anchor, ...]
    dropped_anchors: tuple[tuple[str, str], ...] = ()  # (anchor name, why it was dropped)
    timings_ms: dict[str, float] = field(default_factory=dict)
    pose: str = "frontal"
    hands: np.ndarray | None = None
    # 0..1 where vision continued the face's surface under a cord or strand: the depth and
    # normals there are the face's, bridged from around; the scan's pixels are the strand's.
    repaired: np.ndarray | None = None
    # 0..1 the part of ``repaired`` that is the head's rim where it touched a wall or the
    # placenta (not a strand, nor a shadow): where its outline is the cut, not the head's own.
    contact: np.ndarray | None = None
    # The maps above at vision's analysis size, when vision made them (None on cues read from
    # a file stored before these were kept, and on cues built by hand). The crop-size maps are
    # exactly these enlarged: a stage that changes a map must not pass these on.
    analysis_maps: CueMaps | None = None
    # Degrees to turn the crop counter-clockwise (as shown) to stand the face upright: from a
    # sure reading (five anchors agreeing) of a face tilted under 30°, or confirmed by a
    # reading of the picture turned so (a face lying on her side); 0 when vision is unsure;
    # from the anchors when a sonographer placed them (``cue_store``).
    # ``render.pipeline.upright`` turns by it before anything is painted.
    roll: float = 0.0

    def anchor(self, name: str) -> Anchor | None:
        return next((a for a in self.anchors if a.name == name), None)

    @property
    def subject_box(self) -> Box | None:
        """The subject mask's bounding box in ``crop_box``'s frame, or None when it is empty."""
        ys, xs = np.nonzero(self.subject > 0.5)
        if xs.size == 0:
            return None
        x0, y0 = self.crop_box.x0, self.crop_box.y0
        return Box(
            x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1
        )

    @property
    def eye_row(self) -> float | None:
        """The row of the highest eye vision placed (however sure), in the crop's pixels; None
        without one. The brow, and the crown above it, lie over it."""
        rows = [a.y - self.crop_box.y0 for a in self.anchors if a.name in ("eye_left", "eye_right")]
        return min(rows) if rows else None

    @property
    def is_profile(self) -> bool:
        return self.pose.startswith("profile")


@dataclass(frozen=True)
class Style:
    """A named look: words for a prompt-driven engine and light for the relight engine (the
    built-in ones are ``conditioning.STYLES``; ``conditioning.style_look`` shifts one by the
    studio's style words)."""

    name: str
    prompt_words: str
    key_azimuth_deg: float  # 0 = from the camera, positive = from the viewer's left
    key_elevation_deg: float  # positive = from above
    key_strength: float
    fill_ratio: float  # fill / key
    wrap: float  # 0 = hard Lambert terminator, 1 = light wraps fully round the form
    warmth: float  # 0 = neutral light, 1 = tungsten-warm
    specular: float
    contrast: float
    monochrome: bool = False


@dataclass(frozen=True)
class SkinTone:
    hex: str  # "#rrggbb", the blended target
    words: str  # e.g. "light warm beige skin"
    swatches: tuple[str, ...]  # the parents' inputs as hex


@dataclass(frozen=True, eq=False)
class Conditioning:
    """Everything an engine may use. ``inpaint_mask`` is 1 where the engine may paint."""

    prompt: str
    negative_prompt: str
    tone: SkinTone
    style: str
    cues: StructuralCues
    depth_control: np.ndarray  # H×W×3 uint8 control image
    inpaint_mask: np.ndarray  # H×W float32 0..1
    background_hex: str
    brand_tokens: tuple[str, ...] = ()
    neonatal_terms: tuple[str, ...] = ()
    reference_portraits: tuple[np.ndarray, ...] = ()
    correction_strength: float = 0.0  # > 0 on a "Fix Anatomy" pass
    notes: tuple[str, ...] = ()
    # The light to render in: ``style`` shifted by the brand's style words (None: ``style``'s own).
    look: Style | None = None


@dataclass(frozen=True, eq=False)
class RenderedCandidate:
    """One engine output.

    ``props`` (optional) says which pixels belong to the set rather than the baby: an H×W
    float32 0..1 array the size of ``image``; 0.5 and above where the engine painted a prop
    (a wrap), below 0.5 (down to 0) where only a prop's shadow or soft edge falls on the baby
    or the paper, 0 elsewhere. Scoring leaves out every pixel above 0 (a chin under a wrap is
    not measurable, not moved); the house look grades the prop itself (≥ 0.5) with the
    backdrop, never its shadow on skin. None: the engine painted no props, and every pixel is
    judged as before.
    """

    seed: int
    image: np.ndarray  # H×W×3 uint8 RGB, long side >= 1024 for delivery
    engine: str
    props: np.ndarray | None = None  # H×W float32 0..1, ≥ 0.5 on a prop of the set (a wrap)
    # The features the engine drew ("eyes", "nose", "mouth"); None: it does not say, and
    # scoring judges from the cues what could be drawn (``scoring.eyes_unseen``).
    drawn: frozenset[str] | None = None


@dataclass(frozen=True, eq=False)
class ScoredCandidate:
    candidate: RenderedCandidate
    total: float  # higher is better, 0..1
    terms: dict[str, float]
    rejected_reason: str = ""  # e.g. adult drift; rejected candidates rank last


ProgressFn = Callable[[float], None]  # fraction 0..1 of the render done
CancelFn = Callable[[], bool]


class Engine(Protocol):
    name: str

    def render(
        self,
        conditioning: Conditioning,
        seeds: list[int],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> list[RenderedCandidate]: ...
