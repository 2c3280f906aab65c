"""Issue D item 6: the delivery overlay for one job's 5 candidates, timed step by step.

Pure (no Django); `manage.py bench overlay --json` prints what `bench_overlay` returns. The
work per candidate is exactly the delivery path: compose at web size with a frame, logo and
caption and the Cradle mark, hide the invisible watermark in the pixels, encode with EXIF/XMP,
then sign a C2PA manifest bound to the watermark (its soft binding). Only the mark id's database
row (one INSERT) is left out.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from branding.overlay import BrandSpec, compose, validate_logo
from branding.provenance import encode_with_tag, ensure_dev_signing_material, sign_c2pa
from branding.watermark import embed

CANDIDATES_PER_JOB = 5


def _synthetic_candidates(count: int, *, seed: int = 7) -> list[np.ndarray]:
    """Smooth skin-toned 4:5 images at the render engines' delivery size (long side 1024).

    Low-frequency content on purpose: white noise would inflate JPEG size and encode time far
    beyond what a portrait costs.
    """
    rng = np.random.default_rng(seed)
    candidates = []
    for _ in range(count):
        coarse = rng.normal(0.0, 18.0, size=(10, 8, 3))
        base = np.array([214.0, 178.0, 150.0]) + coarse
        small = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        candidates.append(np.asarray(small.resize((819, 1024), Image.Resampling.BICUBIC)))
    return candidates


def _sample_logo() -> bytes:
    logo = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.ellipse((0, 0, 200, 200), fill=(122, 46, 77, 255))
    draw.rectangle((230, 70, 590, 130), fill=(40, 40, 90, 255))
    out = io.BytesIO()
    logo.save(out, "PNG")
    return validate_logo(out.getvalue())


def bench_overlay(runs: int = 5) -> dict:
    """Median wall time of overlaying + tagging + signing one job's 5 candidates."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    spec = BrandSpec(
        studio_name="Bloom 4D Studio",
        primary_hex="#7a2e4d",
        accent_hex="#f3e6da",
        font="serif",
        frame="polaroid",
        caption="Welcome to the world — Bloom 4D Studio",
        logo_png=_sample_logo(),
        cobranded=True,
    )
    candidates = _synthetic_candidates(CANDIDATES_PER_JOB)
    with tempfile.TemporaryDirectory(prefix="cradle-bench-c2pa-") as directory:
        signer = ensure_dev_signing_material(Path(directory))

        def one_batch() -> dict[str, float]:
            steps = {"compose": 0.0, "watermark": 0.0, "encode_and_tag": 0.0, "c2pa_sign": 0.0}
            for number, candidate in enumerate(candidates, 1):
                t0 = time.perf_counter()
                portrait = compose(candidate, spec, size="web")
                t1 = time.perf_counter()
                marked = Image.fromarray(embed(np.asarray(portrait), number))
                t2 = time.perf_counter()
                tagged = encode_with_tag(marked, fmt="JPEG", artist=spec.studio_name)
                t3 = time.perf_counter()
                sign_c2pa(tagged, fmt="JPEG", signer=signer, mark_id=number)
                t4 = time.perf_counter()
                steps["compose"] += t1 - t0
                steps["watermark"] += t2 - t1
                steps["encode_and_tag"] += t3 - t2
                steps["c2pa_sign"] += t4 - t3
            return {name: seconds * 1000 for name, seconds in steps.items()}

        # The first batch pays one-off costs (font files, the c2pa context); a worker pays them
        # once per process, so it is reported apart from the median.
        warm_up = one_batch()
        batches = [one_batch() for _ in range(runs)]

    totals = [sum(batch.values()) for batch in batches]
    return {
        "median_ms": round(statistics.median(totals), 1),
        "steps_ms": {
            name: round(statistics.median(batch[name] for batch in batches), 1)
            for name in ("compose", "watermark", "encode_and_tag", "c2pa_sign")
        },
        "runs": runs,
        "candidates_per_run": CANDIDATES_PER_JOB,
        "first_run_ms": round(sum(warm_up.values()), 1),
        "min_ms": round(min(totals), 1),
        "max_ms": round(max(totals), 1),
    }
