"""Measurements of the render engines: ``manage.py bench render|upscale`` and ``manage.py
fairness``. All start from a generated phantom scan run through the real ingest and vision
stages, so the engines see the cues a studio's upload would give them."""

from __future__ import annotations

import io
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from render.pipeline import conditioning, scoring
from render.pipeline.engines import candidate_seeds, get_engine
from render.pipeline.engines.diffusion import (
    NATIVE_RESOLUTION,
    _pick_device,
    model_family,
    save_tiny_lightning_folder,
)
from render.pipeline.engines.model_layout import check_folder, few_step_of
from render.pipeline.ingest import ingest
from render.pipeline.phantom import make_phantom
from render.pipeline.types import StructuralCues
from render.pipeline.upscale import DEFAULT_MODEL, network_share, upscale_x4
from render.pipeline.vision import analyze

RENDER_GOAL_MS = 2000.0
MIN_RENDER_RUNS = 5
FAIRNESS_GOAL_DELTA_E = 5.0
FAIRNESS_GOAL_SPREAD = 2.0
FAIRNESS_GOAL_CONTRAST_RATIO = 0.7  # every tone's face contrast over tone 3's
MONK_STEPS = tuple(range(1, 11))
# The band of detail a viewer reads features by: lash lines, lid creases, nostrils and lip
# borders (σ from 0.15% to 0.8% of the long side: 1.5 to 8 px at 1024).
_CONTRAST_SIGMAS = (0.0015, 0.008)
# sRGB (linear) → LMS, as OKLab defines it.
_OKLAB_LMS = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ],
    dtype=np.float32,
)


def phantom_cues(width: int = 1280, height: int = 872) -> StructuralCues:
    """Vision's cues for a generated ``width``×``height`` phantom scan (PNG, no JPEG loss)."""
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(width, height).image).save(buffer, format="PNG")
    return analyze(ingest(buffer.getvalue()))


def _timestamps_into(marks: list[float]) -> Callable[[float], None]:
    """A progress callback that records when each candidate finished."""
    return lambda _fraction: marks.append(time.perf_counter())


def bench_render(
    *, runs: int, log: Callable[[str], None], engine: str = "relight", tiny: bool = False
) -> dict[str, object]:
    """An engine's five candidates for a phantom's cues: median over at least five runs after
    a warm-up run. ``relight`` (the default) shades at 768 px and delivers 1024 px;
    ``diffusers`` renders from ``RENDER_MODEL_DIR`` (or, with ``tiny``, a tiny random-weight
    SDXL-Lightning folder built on the spot: the code path's cost on this machine, not a
    portrait's) and reports the device."""
    if engine == "diffusers":
        return _bench_diffusers(runs=runs, log=log, tiny=tiny)
    if engine != "relight":
        raise ValueError(f"bench render knows the relight and diffusers engines, not {engine!r}")
    if tiny:
        raise ValueError("--tiny is for --engine diffusers")
    runs = max(runs, MIN_RENDER_RUNS)
    cues = phantom_cues()
    cond = conditioning.build(cues, conditioning.blend_tone([6]))
    relight = get_engine("relight")
    seeds = candidate_seeds(1, 5)
    relight.render(cond, seeds)  # warm-up: first-call allocations, OpenCV's thread pool
    totals: list[float] = []
    per_candidate: list[list[float]] = []
    score_ms: list[float] = []
    for run in range(runs):
        marks: list[float] = []
        started = time.perf_counter()
        candidates = relight.render(cond, seeds, progress=_timestamps_into(marks))
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


# Issue 15's target on paper: five 1024 px candidates in 5 s on one H100/H200.
DIFFUSERS_GOAL_MS = 5000.0
TINY_RESOLUTION = 128  # the tiny VAE halves it: 64x64 latents


def _bench_diffusers(*, runs: int, log: Callable[[str], None], tiny: bool) -> dict[str, object]:
    import tempfile

    import torch  # the GPU stack (requirements/gpu.txt): only --engine diffusers needs it
    from django.conf import settings

    if not tiny:
        check_folder(settings.RENDER_MODEL_DIR)  # refuse a folder lacking a part at once
    cond = conditioning.build(phantom_cues(), conditioning.blend_tone([6]), style="classic")
    seeds = candidate_seeds(1, 5)
    with tempfile.TemporaryDirectory() as scratch:
        if tiny:
            model_dir = save_tiny_lightning_folder(Path(scratch) / "tiny-sdxl-lightning")
            model = "tiny random-weight SDXL-Lightning layout (built from configs; not weights)"
        else:
            model_dir = Path(settings.RENDER_MODEL_DIR)
            model = str(model_dir)
        engine = get_engine(
            "diffusers", model_dir=model_dir, resolution=TINY_RESOLUTION if tiny else None
        )
        device = _pick_device(None)
        loaded_at = time.perf_counter()
        pipe = engine.pipeline(device)
        load_ms = (time.perf_counter() - loaded_at) * 1000
        few = few_step_of(model_dir)
        started = time.perf_counter()
        engine.render(cond, seeds)  # warm-up: kernels, allocator, a compile if asked for
        warmup_ms = (time.perf_counter() - started) * 1000
        log(f"loaded in {load_ms:.0f} ms on {device}; warm-up render {warmup_ms:.0f} ms")
        totals: list[float] = []
        plates_ms: list[float] = []
        for run in range(runs):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            candidates = engine.render(cond, seeds)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            totals.append((time.perf_counter() - started) * 1000)
            plate_at = time.perf_counter()
            engine._base_plate.render(cond, seeds)
            plates_ms.append((time.perf_counter() - plate_at) * 1000)
            log(f"run {run + 1}/{runs}: {totals[-1]:.0f} ms for {len(candidates)} candidates")
        height, width = candidates[0].image.shape[:2]
        median = statistics.median(totals)
        result: dict[str, object] = {
            "benchmark": "render",
            "engine": "diffusers",
            "model": model,
            "family": model_family(model_dir),
            "few_step": few.label if few else None,
            "device": device,
            "device_name": (
                torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
            ),
            "dtype": str(pipe.unet.dtype).removeprefix("torch."),
            "torch_compile": engine.compile_unet,
            "runs": runs,
            "candidates": len(seeds),
            "batch_size": engine.batch_size or len(seeds),
            "steps": engine.steps or (few.steps if few else 25),
            "working_long_side": TINY_RESOLUTION
            if tiny
            else engine.resolution or NATIVE_RESOLUTION[model_family(model_dir)],
            "output": f"{width}x{height}",
            "load_ms": round(load_ms, 1),
            "warmup_ms": round(warmup_ms, 1),
            "median_ms": round(median, 1),
            # One batch: the five finish together; this is the batch's time shared out.
            "per_candidate_ms": round(median / len(seeds), 1),
            "base_plates_ms": round(statistics.median(plates_ms), 1),
            "goal_ms": DIFFUSERS_GOAL_MS,
            "meets_goal": None if tiny else median <= DIFFUSERS_GOAL_MS,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
        }
        return result


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
    return _within_face_box((subject > 0.9) & (low < 0.3), cues, size)


def _within_face_box(mask: np.ndarray, cues: StructuralCues, size: tuple[int, int]) -> np.ndarray:
    """``mask`` (at ``size``) kept to the face box vision found, unless that would empty it."""
    if cues.face_box is None:
        return mask
    scale_x = size[0] / cues.depth.shape[1]
    scale_y = size[1] / cues.depth.shape[0]
    box = cues.face_box
    in_box = np.zeros_like(mask)
    y0, y1 = (box.y0 - cues.crop_box.y0) * scale_y, (box.y1 - cues.crop_box.y0) * scale_y
    x0, x1 = (box.x0 - cues.crop_box.x0) * scale_x, (box.x1 - cues.crop_box.x0) * scale_x
    in_box[max(int(y0), 0) : max(int(y1), 0), max(int(x0), 0) : max(int(x1), 0)] = True
    return mask & in_box if (mask & in_box).any() else mask


def oklab_lightness(image: np.ndarray) -> np.ndarray:
    """OKLab L (0..1) of an 8-bit sRGB image: lightness as a viewer sees it, in equal steps."""
    encoded = image.astype(np.float32) / 255.0
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    lms = np.cbrt(linear @ _OKLAB_LMS.T)
    return lms @ np.array([0.2104542553, 0.7936177850, -0.0040720468], dtype=np.float32)


def face_region(cues: StructuralCues, size: tuple[int, int]) -> np.ndarray:
    """The face's own skin at ``size`` (width, height): inside the face box, on the subject
    away from its outline (the silhouette against the paper is not a feature), off hands and
    regions vision was unsure of."""
    subject = cv2.resize(cues.subject.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    low = cv2.resize(cues.low_confidence.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    region = (subject > 0.9) & (low < 0.5)
    if cues.hands is not None:
        hands = cv2.resize(cues.hands.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        region &= hands < 0.1
    # Two of the band-pass's outer sigmas clear of the outline.
    margin = int(2 * _CONTRAST_SIGMAS[1] * max(size)) * 2 + 1
    region = cv2.erode(region.astype(np.uint8), np.ones((margin, margin), np.uint8)) > 0
    return _within_face_box(region, cues, size)


def face_contrast(image: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """How legible the face's features are: the RMS of the band-passed OKLab lightness over
    ``region`` (×100, in lightness points), and the same over the region's mean lightness.

    The first is the measure: OKLab steps are equally visible at any lightness, so a lash
    line that darkens deep skin by 2 points is as hard to see as one that darkens fair skin
    by 2 (a ratio of light would call both the same whatever the step). The second, relative
    figure is printed beside it to show what a ratio-based measure would say.
    """
    lightness = oklab_lightness(image)
    long_side = max(image.shape[:2])
    fine, broad = (sigma * long_side for sigma in _CONTRAST_SIGMAS)
    band = cv2.GaussianBlur(lightness, (0, 0), fine) - cv2.GaussianBlur(lightness, (0, 0), broad)
    values = band[region]
    if values.size == 0:
        return 0.0, 0.0
    rms = float(np.sqrt(np.mean(values.astype(np.float64) ** 2)))
    return 100.0 * rms, rms / max(float(lightness[region].mean()), 1e-6)


def monk_fairness(
    *, width: int = 1280, height: int = 872, candidates: int = 5, log: Callable[[str], None]
) -> dict[str, object]:
    """Rendered skin against the target at each Monk Skin Tone step, for one phantom.

    Each tone's ``delta_e`` is the worst of its ``candidates`` (seeds vary light and warmth, and
    every candidate may reach the parents): ΔE2000 between the target and the median lit
    mid-tone skin colour (``scoring.skin_delta_e``; shadows and highlights are lighting, not
    tone) on confident face pixels. Its ``face_contrast`` (``face_contrast``) says how legible
    the features are, and ``contrast_ratio`` compares it with tone 3's: a face whose features
    fade into deep skin scores under 1.
    """
    cues = phantom_cues(width, height)
    engine = get_engine("relight")
    seeds = candidate_seeds(7, candidates)
    tones: list[dict[str, object]] = []
    for step in MONK_STEPS:
        tone = conditioning.blend_tone([step])
        built = conditioning.build(cues, tone)
        rendered = engine.render(built, seeds)
        image_height, image_width = rendered[0].image.shape[:2]
        # The cues as painted (turned upright and framed by conditioning), not as vision read.
        skin = _skin_mask(built.cues, (image_width, image_height))
        # The skin only: a prop (the wrap, a hat over the crown) is not the baby's tone.
        worst = max(
            scoring.skin_delta_e(
                c.image, tone.hex, skin if c.props is None else skin & (c.props <= 0.0)
            )
            for c in rendered
        )
        face = face_region(built.cues, (image_width, image_height))
        contrasts = []
        for candidate in rendered:
            region = face if candidate.props is None else face & (candidate.props <= 0.0)
            contrasts.append(face_contrast(candidate.image, region))
        contrast = statistics.median(c[0] for c in contrasts)
        relative = statistics.median(c[1] for c in contrasts)
        tones.append(
            {
                "monk": step,
                "target": tone.hex,
                "delta_e": round(worst, 2),
                "face_contrast": round(contrast, 3),
                "relative_contrast": round(relative, 4),
            }
        )
        log(
            f"Monk {step:2d} {tone.hex}: ΔE2000 {worst:.2f} (worst of {len(rendered)}), "
            f"face contrast {contrast:.2f} (median)"
        )
    reference = max(float(next(t for t in tones if t["monk"] == 3)["face_contrast"]), 1e-6)
    for entry in tones:
        entry["contrast_ratio"] = round(float(entry["face_contrast"]) / reference, 3)
    values = [float(t["delta_e"]) for t in tones]
    ratios = [float(t["contrast_ratio"]) for t in tones]
    return {
        "tones": tones,
        "max_delta_e": round(max(values), 2),
        "spread": round(max(values) - min(values), 2),
        "min_contrast_ratio": round(min(ratios), 3),
        "goal": {
            "delta_e": FAIRNESS_GOAL_DELTA_E,
            "spread": FAIRNESS_GOAL_SPREAD,
            "contrast_ratio": FAIRNESS_GOAL_CONTRAST_RATIO,
        },
        "contrast": (
            "face_contrast: RMS of the OKLab lightness band-passed between Gaussians of "
            f"{_CONTRAST_SIGMAS[0]:.2%} and {_CONTRAST_SIGMAS[1]:.2%} of the long side, over "
            "the face's own skin (face box, subject, off its outline, hands and unsure "
            "regions), in lightness points, median of the candidates; contrast_ratio: over "
            "tone 3's; relative_contrast: the same RMS over the region's mean lightness"
        ),
        "scan": f"{width}x{height} phantom",
        "candidates_per_tone": len(seeds),
    }
