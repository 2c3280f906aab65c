"""``manage.py bench vision``: the whole vision stage on a generated 1280×872 scan."""

from __future__ import annotations

import io
import os
import statistics
import time
from collections.abc import Callable

from PIL import Image

from render.pipeline.ingest import ingest
from render.pipeline.phantom import make_phantom
from render.pipeline.vision import analyze

# Step names as the stages record them, in pipeline order ("total" is the benchmark's own).
STEPS = (
    "decode",
    "deidentify",
    "render_area",
    "subject",
    "input_check",
    "landmarks",
    "maps",
    "anchors",
    "upscale",
)


def bench_vision(*, runs: int, log: Callable[[str], None]) -> dict[str, object]:
    """Median wall time of ingest + vision (decode, de-identification, render area, input check,
    anchors, depth, normals, masks) on a 1280×872 phantom JPEG, after one warm-up run that
    loads the MediaPipe graph."""
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(1280, 872).image).save(buffer, format="JPEG", quality=92)
    data = buffer.getvalue()
    warm = analyze(ingest(data))
    if len(warm.anchors) < 3:
        raise RuntimeError(f"the phantom lost its anchors: {warm.dropped_anchors}")
    totals: list[float] = []
    per_step: dict[str, list[float]] = {step: [] for step in STEPS}
    for run in range(runs):
        started = time.perf_counter()
        scan = ingest(data)
        cues = analyze(scan)
        total = (time.perf_counter() - started) * 1000
        totals.append(total)
        steps = {**scan.timings_ms, **cues.timings_ms}
        for step in STEPS:
            per_step[step].append(steps.get(step, 0.0))
        log(
            f"run {run + 1}/{runs}: {total:.0f} ms ("
            + ", ".join(f"{step} {steps.get(step, 0.0):.0f}" for step in STEPS)
            + f"), {len(cues.anchors)} anchors"
        )
    load = os.getloadavg()
    result = {
        "benchmark": "vision",
        "image": "1280x872 phantom JPEG",
        "runs": runs,
        "median_ms": round(statistics.median(totals), 1),
        "fastest_ms": round(min(totals), 1),
        "steps_ms": {step: round(statistics.median(v), 1) for step, v in per_step.items()},
        "load_average": [round(x, 2) for x in load],
        "cpu_count": os.cpu_count(),
    }
    log(
        f"median {result['median_ms']} ms over {runs} runs (fastest {result['fastest_ms']} ms), "
        f"load average {load[0]:.2f} on {os.cpu_count()} CPUs"
    )
    return result
