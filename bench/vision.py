"""``manage.py bench vision``: the job's check and vision stages on a generated 1280×872 scan."""

from __future__ import annotations

import io
import os
import statistics
import time
from collections.abc import Callable

from PIL import Image

from render import services
from render.models import Scan
from render.pipeline.ingest import ingest
from render.pipeline.phantom import make_phantom
from render.pipeline.vision import screen

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
    """The job's own work in its two vision-queue stages on a 1280×872 phantom JPEG, after one
    warm-up run that loads the MediaPipe graph; storage and the database left out.

    ``check_ms``: what ``render_job_check_run`` computes (decode, de-identification, render
    area, the 2D screen, the de-identified PNG). ``median_ms``: what ``render_job_vision_run``
    computes (``services.vision_files`` on the de-identified PNG read back: analysis, display
    maps, report, cues file)."""
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(1280, 872).image).save(buffer, format="JPEG", quality=92)
    data = buffer.getvalue()

    def check() -> tuple[object, bytes]:
        scanned = ingest(data, services._ingest_limits())
        screen(scanned)
        return scanned, services.png_compressed(scanned.image)

    def vision(scanned: object, png: bytes) -> object:
        scan = Scan(
            detected_type=scanned.kind,
            sha256=scanned.sha256,
            render_box=scanned.render_box.as_list(),
            text_boxes=[box.as_list() for box in scanned.text_boxes],
            frame_index=scanned.frame_index,
        )
        return services.vision_files(services.ingested_from_png(png, scan))

    warm = vision(*check())
    if len(warm.cues.anchors) < 3:
        raise RuntimeError(f"the phantom lost its anchors: {warm.cues.dropped_anchors}")
    checks: list[float] = []
    totals: list[float] = []
    per_step: dict[str, list[float]] = {step: [] for step in STEPS}
    for run in range(runs):
        started = time.perf_counter()
        scanned, png = check()
        checked = time.perf_counter()
        files = vision(scanned, png)
        ended = time.perf_counter()
        checks.append((checked - started) * 1000)
        totals.append((ended - checked) * 1000)
        steps = {**scanned.timings_ms, **files.cues.timings_ms}
        for step in STEPS:
            per_step[step].append(steps.get(step, 0.0))
        log(
            f"run {run + 1}/{runs}: check {checks[-1]:.0f} ms, vision {totals[-1]:.0f} ms ("
            + ", ".join(f"{step} {steps.get(step, 0.0):.0f}" for step in STEPS)
            + f"), {len(files.cues.anchors)} anchors"
        )
    load = os.getloadavg()
    result = {
        "benchmark": "vision",
        "image": "1280x872 phantom JPEG",
        "runs": runs,
        "median_ms": round(statistics.median(totals), 1),
        "fastest_ms": round(min(totals), 1),
        "check_ms": round(statistics.median(checks), 1),
        "steps_ms": {step: round(statistics.median(v), 1) for step, v in per_step.items()},
        "load_average": [round(x, 2) for x in load],
        "cpu_count": os.cpu_count(),
    }
    log(
        f"vision median {result['median_ms']} ms over {runs} runs (fastest "
        f"{result['fastest_ms']} ms), check {result['check_ms']} ms, load average "
        f"{load[0]:.2f} on {os.cpu_count()} CPUs"
    )
    return result
