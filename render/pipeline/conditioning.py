"""Conditioning: the parents' skin tone, the style and the scan's structure, ready for an engine.

The tone comes only from the parents' swatches, never from the scan: an ultrasound's sepia is
the scanner's palette, not the baby's skin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from coloraide import Color

from render.pipeline.framing import framed
from render.pipeline.types import Conditioning, SkinTone, StructuralCues, Style
from render.pipeline.upright import face_roll, upright

# The Monk Skin Tone scale (Google, CC BY 4.0), steps 1..10.
MONK_SKIN_TONES: dict[int, str] = {
    1: "#f6ede4",
    2: "#f3e7db",
    3: "#f7ead0",
    4: "#eadaba",
    5: "#d7bd96",
    6: "#a07e56",
    7: "#825c43",
    8: "#604134",
    9: "#3a312a",
    10: "#292420",
}

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


STYLES: dict[str, Style] = {
    "classic": Style(
        name="classic",
        prompt_words="classic studio portrait, soft key light, shallow depth of field",
        key_azimuth_deg=30.0,
        key_elevation_deg=35.0,
        key_strength=1.0,
        fill_ratio=0.35,
        wrap=0.35,
        warmth=0.25,
        specular=0.10,
        contrast=1.0,
    ),
    "soft-light": Style(
        name="soft-light",
        prompt_words="airy high-key portrait, soft window light, pastel tones",
        key_azimuth_deg=15.0,
        key_elevation_deg=25.0,
        key_strength=0.85,
        fill_ratio=0.7,
        wrap=0.7,
        warmth=0.1,
        specular=0.06,
        contrast=0.85,
    ),
    "warm-studio": Style(
        name="warm-studio",
        prompt_words="warm golden studio portrait, tungsten light, cosy mood",
        key_azimuth_deg=40.0,
        key_elevation_deg=40.0,
        key_strength=1.05,
        fill_ratio=0.35,
        wrap=0.4,
        warmth=0.6,
        specular=0.12,
        contrast=1.1,
    ),
    "black-and-white": Style(
        name="black-and-white",
        prompt_words="black and white fine-art portrait, monochrome, soft contrast",
        key_azimuth_deg=45.0,
        key_elevation_deg=40.0,
        key_strength=1.1,
        fill_ratio=0.3,
        wrap=0.35,
        warmth=0.0,
        specular=0.10,
        contrast=1.15,
        monochrome=True,
    ),
}

# The studio's style words an engine that reads no prompt can still show: each group nudges the
# chosen style's light (added to its fields; monochrome switched on). The result stays within
# the range of the built-in styles, which scoring and the fairness measures were tuned on, so
# no word can take the skin away from the parents' tone. Other words reach only a prompt.
LOOK_WORDS: tuple[tuple[tuple[str, ...], dict[str, float]], ...] = (
    (
        ("warm", "golden", "cosy", "cozy", "honey", "amber", "tungsten", "sunlit"),
        {"warmth": 0.35, "contrast": 0.05},
    ),
    (("cool", "fresh", "crisp"), {"warmth": -0.25}),
    (
        ("soft", "airy", "pastel", "dreamy", "gentle", "delicate", "high-key"),
        {
            "fill_ratio": 0.3,
            "wrap": 0.3,
            "contrast": -0.15,
            "key_strength": -0.1,
            "key_azimuth_deg": -15.0,
        },
    ),
    (
        ("moody", "dramatic", "low-key", "dark", "chiaroscuro", "fine-art", "fine art"),
        {
            "fill_ratio": -0.1,
            "wrap": -0.2,
            "contrast": 0.15,
            "key_strength": 0.1,
            "key_azimuth_deg": 20.0,
        },
    ),
)
MONOCHROME_WORDS = ("black and white", "black-and-white", "monochrome", "b&w", "noir")
_LOOK_FIELDS = ("warmth", "fill_ratio", "wrap", "contrast", "key_strength", "key_azimuth_deg")


def _says(token: str, word: str) -> bool:
    """Whether a style token says ``word``: "warm tones" says "warm", "fine art light" says
    "fine art"; "warmth" does not say "warm"."""
    return word in token.split() if " " not in word else f" {word} " in f" {token} "


def _look_word_groups(brand_tokens: Sequence[str]) -> list[dict[str, float]]:
    tokens = [token.strip().lower() for token in brand_tokens if token and token.strip()]
    return [
        change
        for vocabulary, change in LOOK_WORDS
        if any(_says(token, word) for token in tokens for word in vocabulary)
    ]


def style_look(style: str, brand_tokens: Sequence[str] = ()) -> Style:
    """The light ``style`` takes with the studio's style words (see ``LOOK_WORDS``)."""
    chosen = STYLES[style]
    shifted = {name: getattr(chosen, name) for name in _LOOK_FIELDS}
    for change in _look_word_groups(brand_tokens):
        for name, delta in change.items():
            shifted[name] += delta
    for name, value in shifted.items():
        values = [getattr(other, name) for other in STYLES.values()]
        shifted[name] = float(min(max(value, min(values)), max(values)))
    tokens = [token.strip().lower() for token in brand_tokens if token]
    monochrome = chosen.monochrome or any(
        _says(token, word) for token in tokens for word in MONOCHROME_WORDS
    )
    return replace(chosen, monochrome=monochrome, **shifted)


# Engines that paint a photoreal portrait with a diffusion model. Any other engine (the default
# CPU ``relight``) re-lights the scan's own surface: a "Studio light" look, never a photograph.
PHOTOREAL_ENGINES: frozenset[str] = frozenset({"diffusers", "hosted"})


@dataclass(frozen=True)
class StyleOffer:
    """A style as the picker offers it on one engine: what it is called and what it gives."""

    key: str  # a key of STYLES
    label: str
    description: str


@dataclass(frozen=True)
class EngineLook:
    """What an engine can make of every style, said once above the picker."""

    name: str  # "Studio light" or "Photoreal"
    photoreal: bool
    explanation: str
    styles: tuple[StyleOffer, ...]


_STUDIO_LIGHT_STYLES: dict[str, tuple[str, str]] = {
    "classic": (
        "Studio light",
        "A soft key light from one side and a gentle fill, like a scanner's HDlive studio mode.",
    ),
    "soft-light": ("Studio light · soft", "Airy, even light with soft shadows."),
    "warm-studio": ("Studio light · warm", "Warmer light and a little more contrast."),
    "black-and-white": (
        "Studio light · black and white",
        "Monochrome with soft contrast, keeping the skin tone's lightness.",
    ),
}
_PHOTOREAL_LABELS: dict[str, str] = {
    "classic": "Photoreal · classic",
    "soft-light": "Photoreal · soft light",
    "warm-studio": "Photoreal · warm studio",
    "black-and-white": "Photoreal · black and white",
}
_STUDIO_LIGHT_EXPLANATION = (
    "Studio light re-lights the scan's own 3D surface as skin in the parents' tone, like a "
    "scanner's HDlive studio mode. It is an artistic style, not a photograph: it shows only "
    "what the scan saw."
)
_PHOTOREAL_EXPLANATION = (
    "Photoreal portraits are painted by an image model guided by the scan's depth and the "
    "parents' tone: an artistic interpretation that looks like a photograph, never a "
    "photograph of the baby or a medical prediction."
)


def engine_look(engine: str) -> EngineLook:
    """The style picker for ``engine``: photoreal wording only where a diffusion engine paints,
    "Studio light" (what the CPU engine really does) everywhere else."""
    if engine in PHOTOREAL_ENGINES:
        styles = tuple(
            StyleOffer(
                key, _PHOTOREAL_LABELS[key], style.prompt_words[:1].upper() + style.prompt_words[1:]
            )
            for key, style in STYLES.items()
        )
        return EngineLook("Photoreal", True, _PHOTOREAL_EXPLANATION, styles)
    styles = tuple(StyleOffer(key, *_STUDIO_LIGHT_STYLES[key]) for key in STYLES)
    return EngineLook("Studio light", False, _STUDIO_LIGHT_EXPLANATION, styles)


def style_label(engine: str, style: str) -> str:
    """What ``style`` is called on ``engine``'s picker (the key itself when unknown)."""
    return next((o.label for o in engine_look(engine).styles if o.key == style), style)


NEONATAL_TERMS: tuple[str, ...] = (
    "newborn baby",
    "neonatal proportions",
    "large rounded forehead",
    "full round cheeks",
    "small button nose",
    "short mid-face",
    "small receding chin",
    "closed or softly open eyes",
    "smooth baby skin",
)

# The few neonatal terms that fit in the prompt; the full list travels on the Conditioning.
PROMPT_NEONATAL_TERMS: tuple[str, ...] = ("round full cheeks", "small button nose", "tiny chin")

NEGATIVE_TERMS: tuple[str, ...] = (
    "adult features",
    "aged face",
    "wrinkles",
    "defined jawline",
    "long nose",
    "teeth",
    "makeup",
    "facial hair",
    "text",
    "watermark",
    "logo",
    "signature",
    "extra fingers",
    "deformed hands",
    "extra limbs",
    "distorted face",
    "uncanny",
    "plastic skin",
    "ultrasound artefacts",
)

# Below this the vision stage's subject estimate is background: never paint there.
_SUBJECT_THRESHOLD = 0.5


def _swatch_to_color(swatch: str | int) -> Color:
    if isinstance(swatch, bool):  # bool is an int; True must not mean Monk step 1
        raise ValueError(f"skin tone swatch {swatch!r} is neither a hex colour nor a Monk step")
    if isinstance(swatch, int):
        if swatch not in MONK_SKIN_TONES:
            raise ValueError(f"Monk Skin Tone step must be 1..10, got {swatch}")
        return Color(MONK_SKIN_TONES[swatch])
    if isinstance(swatch, str):
        text = swatch.strip()
        if text.isdigit():
            return _swatch_to_color(int(text))
        if not _HEX.match(text):
            raise ValueError(f"skin tone swatch {swatch!r} is not a hex colour like #c8a27e")
        return Color(text.lower())
    raise ValueError(f"skin tone swatch {swatch!r} is neither a hex colour nor a Monk step")


def tone_words(hex_colour: str) -> str:
    """Plain words for a skin colour, from its OKLCh lightness, chroma and hue."""
    lightness, chroma, hue = Color(hex_colour).convert("oklch").coords(nans=False)
    depth_words = (
        (0.94, "very fair"),
        (0.88, "fair"),
        (0.78, "light"),
        (0.68, "light-medium"),
        (0.58, "medium tan"),
        (0.47, "brown"),
        (0.37, "deep brown"),
    )
    depth = next((word for floor, word in depth_words if lightness >= floor), "very deep brown")
    if chroma < 0.025:
        undertone = "neutral"
    elif hue >= 75.0:
        undertone = "golden"
    elif hue >= 58.0:
        undertone = "warm"
    else:
        undertone = "rosy"
    return f"{depth} {undertone} skin"


def blend_tone(swatches: Sequence[str | int]) -> SkinTone:
    """Blend one or two parents' swatches (hex ``#rrggbb`` or Monk step 1..10) into a target.

    Why OKLab and not an sRGB average: sRGB values are gamma-encoded, so their arithmetic mean
    is not the colour halfway between two skins as a person sees it — averaging a very light
    and a very deep swatch in sRGB lands too light and greyish, and hue drifts between
    saturated tones. OKLab is built so equal steps look equally different, so its midpoint is
    the perceptual midpoint in lightness, chroma and hue.
    """
    if isinstance(swatches, (str, int)):
        raise ValueError("skin tone swatches must be a list of one or two swatches")
    if not 1 <= len(swatches) <= 2:
        raise ValueError(f"give one or two skin tone swatches, got {len(swatches)}")
    colours = [_swatch_to_color(swatch) for swatch in swatches]
    if len(colours) == 1:
        blended = colours[0]
    else:
        blended = colours[0].mix(colours[1], 0.5, space="oklab", out_space="srgb")
    target = blended.convert("srgb").fit("srgb").to_string(hex=True, compress=False)
    return SkinTone(
        hex=target,
        words=tone_words(target),
        swatches=tuple(c.convert("srgb").to_string(hex=True, compress=False) for c in colours),
    )


def depth_control_image(depth: np.ndarray) -> np.ndarray:
    """The H×W×3 uint8 depth map ControlNet-depth expects (near = white)."""
    grey = (np.clip(depth, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def inpaint_mask(cues: StructuralCues) -> np.ndarray:
    """1 where an engine may paint: on the subject and where vision is confident.

    Low-confidence regions (shadow, speckle, a hand or cord) and the background are kept: an
    engine must not invent anatomy the scan did not see. The edge is feathered so a composite
    back onto the kept pixels shows no seam.
    """
    on_subject = (cues.subject >= _SUBJECT_THRESHOLD).astype(np.float32)
    confident = 1.0 - np.clip(cues.low_confidence, 0.0, 1.0)
    mask = on_subject * confident
    feather = max(1, int(round(min(mask.shape) * 0.01))) * 2 + 1
    mask = cv2.GaussianBlur(mask, (feather, feather), 0)
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def _validate_hex(value: str, what: str) -> str:
    if not isinstance(value, str) or not _HEX.match(value):
        raise ValueError(f"{what} {value!r} is not a hex colour like #f3ece4")
    return value.lower()


_COVER_PIXELS = 64  # at the crop's size: less is a speck, not a hand or a cord


def _has_cover(cues: StructuralCues) -> bool:
    """Vision found something over the face that Fix Anatomy paints over: a hand, a strand it
    continued the face under, or a surface hidden outright (more than speckle)."""
    covers = [cues.low_confidence, cues.hands, cues.repaired]
    seen = sum(int((mask > 0.5).sum()) for mask in covers if mask is not None)
    return seen >= _COVER_PIXELS


def build(
    cues: StructuralCues,
    tone: SkinTone,
    *,
    style: str = "classic",
    brand_tokens: Sequence[str] = (),
    background_hex: str = "#f3ece4",
    reference_portraits: Sequence[np.ndarray] = (),
    correction_strength: float = 0.0,
    engine_supports_references: bool = False,
) -> Conditioning:
    """Everything an engine needs for one render of ``cues`` in ``tone`` and ``style``."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    if not 0.0 <= correction_strength <= 1.0:
        raise ValueError(f"correction_strength must be within 0..1, got {correction_strength}")
    background = _validate_hex(background_hex, "background colour")
    tokens = tuple(token.strip() for token in brand_tokens if token and token.strip())
    chosen = style_look(style, tokens)
    tone_phrase = f"{tone.words}, skin colour {tone.hex}"
    if chosen.monochrome:
        # A black-and-white portrait still keeps the tone's lightness; say so to the model.
        tone_phrase = f"{tone.words} rendered in monochrome, skin colour {tone.hex}"
    # CLIP reads 77 tokens and drops the rest, so the prompt leads with what must never be
    # lost (subject, tone, neonatal shape) and ends with the style and brand flourishes.
    prompt = ", ".join(
        [
            "photo of a sleeping newborn baby",
            tone_phrase,
            *PROMPT_NEONATAL_TERMS,
            chosen.prompt_words,
            *tokens,
            f"plain {background} backdrop",
        ]
    )
    notes: list[str] = []
    turned = upright(cues)
    if turned is not cues:
        notes.append(f"the face was turned in the scan: painted upright ({face_roll(cues):+.0f}°)")
        cues = turned
    cues = framed(cues)
    if reference_portraits and not engine_supports_references:
        notes.append(
            f"{len(reference_portraits)} reference portrait(s) ignored: "
            "this engine cannot use reference images"
        )
    if correction_strength > 0.0:
        notes.append(f"Fix Anatomy pass, correction strength {correction_strength:.2f}")
        if not _has_cover(cues):
            notes.append(
                "Fix Anatomy found nothing over the face to take away (no hand, cord or "
                "shadow): it evened the face's shape only"
            )
    return Conditioning(
        prompt=prompt,
        negative_prompt=", ".join(NEGATIVE_TERMS),
        tone=tone,
        style=style,
        cues=cues,
        depth_control=depth_control_image(cues.depth),
        inpaint_mask=inpaint_mask(cues),
        background_hex=background,
        brand_tokens=tokens,
        neonatal_terms=NEONATAL_TERMS,
        reference_portraits=tuple(reference_portraits),
        correction_strength=float(correction_strength),
        notes=tuple(notes),
        look=chosen,
    )
