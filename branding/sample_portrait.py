"""A real Cradle portrait of nobody: a generated phantom scan (``render.pipeline.phantom``) run
through the same stages a studio's upload takes — ingest, vision, conditioning with the brand's
backdrop and style words, the relight engine, the house look — for the brand editor's preview
and the landing page's samples. No image of a real baby or a real scan ships with Cradle.

Vision runs once per process and phantom (a second or two); each render after that is one
candidate at preview size (about half a second), cached per brand look.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from branding.overlay import BrandSpec, compose
from branding.provenance import encode_with_tag
from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.house_look import house_look_candidates
from render.pipeline.ingest import ingest
from render.pipeline.phantom import make_phantom
from render.pipeline.types import IngestedScan, RenderedCandidate, StructuralCues
from render.pipeline.vision import analyze


@dataclass(frozen=True)
class SampleScan:
    """A phantom scan as a sonographer would upload it, and the portrait settings it shows."""

    key: str
    phantom: tuple[tuple[str, object], ...]  # make_phantom's keyword arguments
    monk: int  # the parents' skin tone, a Monk Skin Tone step
    seed: int  # the candidate's pinned seed
    style: str = "classic"
    label: str = ""


SAMPLE_SCANS: dict[str, SampleScan] = {
    scan.key: scan
    for scan in (
        SampleScan(
            "frontal-gold",
            (("palette", "voluson-gold"), ("seed", 10)),
            monk=3,
            seed=4,
            label="Voluson gold, frontal · Monk 3",
        ),
        SampleScan(
            "frontal-skin",
            (("palette", "hdlive-skin"), ("seed", 21)),
            monk=6,
            seed=9,
            style="soft-light",
            label="HDlive skin, frontal · Monk 6",
        ),
        SampleScan(
            "frontal-red",
            (("palette", "realisticvue"), ("seed", 12)),
            monk=8,
            seed=6,
            style="warm-studio",
            label="RealisticVue, frontal · Monk 8",
        ),
    )
}
PREVIEW_SCAN = "frontal-skin"


def _jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@lru_cache(maxsize=len(SAMPLE_SCANS))
def sample_scan_read(key: str) -> tuple[IngestedScan, StructuralCues]:
    """The phantom ingested and read by vision, as an upload would be."""
    sample = SAMPLE_SCANS[key]
    scan = ingest(_jpeg(make_phantom(**dict(sample.phantom)).image))
    return scan, analyze(scan)


@lru_cache(maxsize=32)
def _sample_render(
    key: str, background_hex: str, style_tokens: tuple[str, ...], style: str, long_side: int
) -> tuple[RenderedCandidate, StructuralCues]:
    sample = SAMPLE_SCANS[key]
    _, cues = sample_scan_read(key)
    conditioning = build(
        cues,
        blend_tone([sample.monk]),
        style=style,
        brand_tokens=style_tokens,
        background_hex=background_hex,
    )
    engine = RelightEngine(output_long_side=long_side, shading_long_side=min(long_side, 640))
    return engine.render(conditioning, [sample.seed])[0], cues


def sample_portrait_render(
    key: str = PREVIEW_SCAN,
    *,
    background_hex: str = "#f3ece4",
    style_tokens: Sequence[str] = (),
    style: str | None = None,
    references: Sequence[np.ndarray] = (),
    long_side: int = 1024,
) -> np.ndarray:
    """The sample's portrait (H×W×3 uint8, before the brand overlay) on ``background_hex`` in
    the light of ``style`` and the studio's ``style_tokens``, in the house look its
    ``references`` set (as a real job's candidates take it)."""
    sample = SAMPLE_SCANS[key]
    tokens = tuple(token.strip() for token in style_tokens if token and token.strip())
    candidate, cues = _sample_render(
        key, background_hex.lower(), tokens, style or sample.style, long_side
    )
    if not references:
        return candidate.image
    conditioning = build(
        cues,
        blend_tone([sample.monk]),
        background_hex=background_hex,
        reference_portraits=tuple(references),
        engine_supports_references=True,
    )
    return house_look_candidates(conditioning, [candidate])[0].image


def sample_scan_crop(key: str) -> np.ndarray:
    """The de-identified scan's render area, as the sonographer uploaded it."""
    scan, cues = sample_scan_read(key)
    box = cues.crop_box
    return scan.image[box.y0 : box.y1, box.x0 : box.x1]


# The landing page's samples: a made-up studio's brand, cobranded as on the Pilot and Growth.
LANDING_BRAND = {
    "studio_name": "Little Light Studio",
    "primary_hex": "#6b4f4f",
    "accent_hex": "#f3ece4",
    "font": "serif",
    "frame": "polaroid",
    "caption": "Little Light Studio",
    "logo_png": None,
    "cobranded": True,
}
LANDING_LONG_SIDE = {"scan": 420, "portrait": 720}


def landing_samples_write(folder: Path) -> list[Path]:
    """Write each sample's scan and branded portrait as small JPEGs into ``folder`` (the
    committed ``studio_portal/static/samples``); ``manage.py landing_samples`` runs it."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = BrandSpec(**LANDING_BRAND)
    written = []
    for key in SAMPLE_SCANS:
        images = {
            "scan": Image.fromarray(sample_scan_crop(key)),
            "portrait": compose(sample_portrait_render(key, background_hex=spec.accent_hex), spec),
        }
        for kind, image in images.items():
            image.thumbnail((LANDING_LONG_SIDE[kind],) * 2, Image.Resampling.LANCZOS)
            path = folder / f"{key}-{kind}.jpg"
            if kind == "portrait":  # the tag in its pixels (compose) and in its file
                data = encode_with_tag(image, fmt="JPEG", artist=spec.studio_name, quality=82)
                path.write_bytes(data)
            else:
                image.save(path, "JPEG", quality=82, optimize=True, progressive=True)
            written.append(path)
    return written
