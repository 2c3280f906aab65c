"""Measurements of the render engines: ``manage.py bench render|upscale`` and ``manage.py
fairness``. All start from a generated phantom scan run through the real ingest and vision
stages, so the engines see the cues a studio's upload would give them."""

from __future__ import annotations

import io
import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from render.pipeline import conditioning, scoring
from render.pipeline.engines import candidate_seeds, get_engine
from render.pipeline.ingest import ingest
from render.pipeline.phantom import make_phantom
from render.pipeline.types import StructuralCues
from render.pipeline.upscale import DEFAULT_MODEL, network_share, upscale_x4
from render.pipeline.vision import analyze

RENDER_GOAL_MS = 2000.0
MIN_RENDER_RUNS = 5
FAIRNESS_GOAL_DELTA_E = 5.0
FAIRNESS_GOAL_SPREAD = 2.0
MONK_STEPS = tuple(range(1, 11))


def phantom_cues(width: int = 1280, height: int = 872) -> StructuralCues:
    """Vision's cues for a generated ``width``×``height`` phantom scan (PNG, no JPEG loss)."""
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(width, height).image).save(buffer, format="PNG")
    return analyze(ingest(buffer.getvalue()))


def _timestamps_into(marks: list[float]) -> Callable[[float], None]:
    """A progress callback that records when each candidate finished."""
    return lambda _fraction: marks.append(time.perf_counter())


def bench_render(*, runs: int, log: Callable[[str], None]) -> dict[str, object]:
    """The relight engine's five candidates (shaded at 768 px, delivered at 1024 px) for a
    phantom's cues: median over at least five runs after a warm-up run."""
    runs = max(runs, MIN_RENDER_RUNS)
    cues = phantom_cues()
    cond = conditioning.build(cues, conditioning.blend_tone([6]))
    engine = get_engine("relight")
    seeds = candidate_seeds(1, 5)
    engine.render(cond, seeds)  # warm-up: first-call allocations, OpenCV's thread pool
    totals: list[float] = []
    per_candidate: list[list[float]] = []
    score_ms: list[float] = []
    for run in range(runs):
        marks: list[float] = []
        started = time.perf_counter()
        candidates = engine.render(cond, seeds, progress=_timestamps_into(marks))
        total = (time.perf_counter() - started) * 1000
        totals.append(total)
        # The first candidate's time includes preparing the shared surface (denoise, normals).
        edges = [started, *marks]
        per_candidate.append([(b - a) * 1000 for a, b in zip(edges, edges[1:], strict=False)])
        scored_at = time.perf_counter()
        scoring.rank(cond, candidates)
        score_ms.append((time.perf_counter() - scored_at) * 1000)
        log(
            f"run {run + 1}/{runs}: {total:.0f} ms for {len(candidates)} candidates "
            f"({', '.join(f'{ms:.0f}' for ms in per_candidate[-1])}), scoring {score_ms[-1]:.0f} ms"
        )
    height, width = candidates[0].image.shape[:2]
    median = statistics.median(totals)
    return {
        "benchmark": "render",
        "engine": "relight",
        "runs": runs,
        "candidates": len(seeds),
        "cues": f"{cues.depth.shape[1]}x{cues.depth.shape[0]} crop of a 1280x872 phantom",
        "shading_long_side": 768,
        "output": f"{width}x{height}",
        "median_ms": round(median, 1),
        "goal_ms": RENDER_GOAL_MS,
        "meets_goal": median <= RENDER_GOAL_MS,
        "steps_ms": {
            f"candidate_{index + 1}": round(
                statistics.median(run[index] for run in per_candidate), 1
            )
            for index in range(len(seeds))
        },
        "score_ms": round(statistics.median(score_ms), 1),
        "cpu_count": os.cpu_count(),
    }


def bench_upscale(*, runs: int, log: Callable[[str], None]) -> dict[str, object]:
    """Real-ESRGAN ×4 of one 1024 px relight portrait, as the print file makes it (smooth
    cells bicubic, detailed ones through the network), plus one run with the network on every
    cell for comparison. Times are wall clock for the whole upscale, network included."""
    cues = phantom_cues()
    cond = conditioning.build(cues, conditioning.blend_tone([6]))
    portrait = get_engine("relight").render(cond, candidate_seeds(1, 1))[0].image
    upscale_x4(portrait[:64, :64])  # warm-up: loads the network's weights once
    share = network_share(portrait)
    times: list[float] = []
    for run in range(runs):
        started = time.perf_counter()
        upscaled = upscale_x4(portrait)
        times.append((time.perf_counter() - started) * 1000)
        log(f"run {run + 1}/{runs}: {times[-1]:.0f} ms, {share:.0%} of the pixels via the network")
    started = time.perf_counter()
    upscale_x4(portrait, skip_smooth=False)
    everywhere_ms = (time.perf_counter() - started) * 1000
    log(f"network on every cell: {everywhere_ms:.0f} ms")
    height, width = portrait.shape[:2]
    return {
        "benchmark": "upscale",
        "model": DEFAULT_MODEL,
        "runs": runs,
        "input": f"{width}x{height} relight portrait",
        "output": f"{upscaled.shape[1]}x{upscaled.shape[0]}",
        "median_ms": round(statistics.median(times), 1),
        "network_share": round(share, 3),
        "network_everywhere_ms": round(everywhere_ms, 1),
        "threads": max(1, (os.cpu_count() or 2) // 2),
        "cpu_count": os.cpu_count(),
    }


def _skin_mask(cues: StructuralCues, size: tuple[int, int]) -> np.ndarray:
    """Confident skin of the face at ``size`` (width, height): the baby, not shadow, speckle or
    an occluder, and inside the face box when vision found one."""
    subject = cv2.resize(cues.subject.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    low = cv2.resize(cues.low_confidence.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    skin = (subject > 0.9) & (low < 0.3)
    if cues.face_box is not None:
        scale_x = size[0] / cues.depth.shape[1]
        scale_y = size[1] / cues.depth.shape[0]
        box = cues.face_box
        in_box = np.zeros_like(skin)
        y0, y1 = (box.y0 - cues.crop_box.y0) * scale_y, (box.y1 - cues.crop_box.y0) * scale_y
        x0, x1 = (box.x0 - cues.crop_box.x0) * scale_x, (box.x1 - cues.crop_box.x0) * scale_x
        in_box[max(int(y0), 0) : max(int(y1), 0), max(int(x0), 0) : max(int(x1), 0)] = True
        if (skin & in_box).any():
            skin &= in_box
    return skin


def monk_fairness(
    *, width: int = 1280, height: int = 872, candidates: int = 5, log: Callable[[str], None]
) -> dict[str, object]:
    """Rendered skin against the target at each Monk Skin Tone step, for one phantom.

    Each tone's ``delta_e`` is the worst of its ``candidates`` (seeds vary light and warmth, and
    every candidate may reach the parents): ΔE2000 between the target and the median lit
    mid-tone skin colour (``scoring.skin_delta_e``; shadows and highlights are lighting, not
    tone) on confident face pixels.
    """
    cues = phantom_cues(width, height)
    engine = get_engine("relight")
    seeds = candidate_seeds(7, candidates)
    tones: list[dict[str, object]] = []
    for step in MONK_STEPS:
        tone = conditioning.blend_tone([step])
        rendered = engine.render(conditioning.build(cues, tone), seeds)
        image_height, image_width = rendered[0].image.shape[:2]
        skin = _skin_mask(cues, (image_width, image_height))
        worst = max(scoring.skin_delta_e(c.image, tone.hex, skin) for c in rendered)
        tones.append({"monk": step, "target": tone.hex, "delta_e": round(worst, 2)})
        log(f"Monk {step:2d} {tone.hex}: ΔE2000 {worst:.2f} (worst of {len(rendered)})")
    values = [float(t["delta_e"]) for t in tones]
    return {
        "tones": tones,
        "max_delta_e": round(max(values), 2),
        "spread": round(max(values) - min(values), 2),
        "goal": {"delta_e": FAIRNESS_GOAL_DELTA_E, "spread": FAIRNESS_GOAL_SPREAD},
        "scan": f"{width}x{height} phantom",
        "candidates_per_tone": len(seeds),
    }
