"""``manage.py bench overlay``: the overlay the render job does for its 5 candidates, timed inside
real jobs (issue D item 6, issue N: with the invisible watermark).

Nothing is re-enacted: each run is a whole job (``render.synchronous``: upload, check, vision,
render with the configured engine, score, overlay) on a generated phantom scan, in a throwaway
studio of its own (dropped afterwards with its watermark records) whose brand has everything an
overlay can draw — a logo, a caption, the polaroid frame and, on the Growth plan, the Cradle mark.
The figures are read from that job:

* ``median_ms`` — the delivered overlay of one job's candidates: every ``portrait_finish`` call
  the job makes (the brand read from the database, compose, the mark id's row, the watermark,
  EXIF/XMP encoding, the C2PA signature bound to the mark), summed per job, median over jobs;
* ``steps_ms`` — the same calls split by step (per job, medians): each step is the real function
  the job calls, wrapped in a timer for the run;
* ``cpu_ms`` — the CPU time of those calls (every thread of the process): on a busy machine
  the wall time is mostly waiting for a core, and this is the work itself;
* ``job_stage_ms`` — the job's own "overlay" stage as it records it (``RenderJob.stage_log``),
  which also holds whatever else the job does there (``stage_rest_ms``: the stage less its
  ``portrait_finish`` calls — today the unframed candidates encoded as PNG to be stored, which
  issue P moves off the critical path).

The first job pays one-off costs (models, fonts, the C2PA context) a worker pays once per
process; it is reported as ``first_run_ms`` and left out of the medians.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator

from PIL import Image, ImageDraw

from branding.overlay import validate_logo

CANDIDATES_PER_JOB = 5
GOAL_MS = 300.0
STUDIO_NAME = "Bloom 4D Studio"

# (module, name the job's code calls, step): the job calls these through these module globals.
OVERLAY_CALL = ("render.services", "portrait_finish", "overlay")
STEPS = (
    ("branding.services", "brand_spec_for_current_studio", "brand"),
    ("branding.services", "compose", "compose"),
    ("branding.services", "portrait_mark_issue", "mark_id"),
    ("branding.services", "watermark_embed", "watermark"),
    ("branding.provenance", "encode_with_tag", "encode_and_tag"),
    ("branding.provenance", "sign_c2pa", "c2pa_sign"),
)
STEP_NAMES = tuple(step for _, _, step in STEPS)


@contextlib.contextmanager
def calls_timed(
    calls: tuple[tuple[str, str, str], ...] = (OVERLAY_CALL, *STEPS),
) -> Iterator[dict[str, float]]:
    """While the block runs, each named function is wrapped in a timer: ``totals[step]`` sums
    its wall milliseconds, ``totals[step + " cpu"]`` the process's CPU milliseconds meanwhile
    (every thread's: OpenCV and the C2PA library use their own), ``totals[step + "#"]`` counts
    its calls. A name a module no longer has is skipped (the step then reads 0)."""
    totals: dict[str, float] = defaultdict(float)
    replaced: list[tuple[object, str, Callable]] = []

    def timed(original: Callable, step: str) -> Callable:
        def wrapper(*args: object, **kwargs: object) -> object:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                totals[step] += (time.perf_counter() - started) * 1000
                totals[step + " cpu"] += (time.process_time() - cpu) * 1000
                totals[step + "#"] += 1

        return wrapper

    try:
        for module_name, name, step in calls:
            module = importlib.import_module(module_name)
            original = getattr(module, name, None)
            if original is None:
                continue
            setattr(module, name, timed(original, step))
            replaced.append((module, name, original))
        yield totals
    finally:
        for module, name, original in reversed(replaced):
            setattr(module, name, original)


def sample_logo() -> bytes:
    """A 600×200 logo with transparency, as a studio uploads one (validated like theirs)."""
    logo = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.ellipse((0, 0, 200, 200), fill=(122, 46, 77, 255))
    draw.rectangle((230, 70, 590, 130), fill=(40, 40, 90, 255))
    out = io.BytesIO()
    logo.save(out, "PNG")
    return validate_logo(out.getvalue())


def _full_brand(studio) -> None:
    """Everything the overlay can draw: logo, caption, polaroid frame, the Cradle mark."""
    from django.core.files.base import ContentFile

    from branding.selectors import brand_kit_get
    from studio_portal.tenants.models import Studio

    Studio.objects.filter(pk=studio.pk).update(plan=Studio.Plan.GROWTH)  # cobranded
    kit = brand_kit_get()
    kit.frame = "polaroid"
    kit.caption = f"Welcome to the world — {STUDIO_NAME}"
    kit.logo.save("logo-bench.png", ContentFile(sample_logo()), save=False)
    kit.save()


def bench_overlay(*, runs: int, log: Callable[[str], None] = lambda line: None) -> dict:
    """Median of the job's own overlay over ``runs`` jobs (after one warm-up job)."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    from django_tenants.utils import schema_context

    from galleries.synchronous import run_scan_synchronously
    from render import services
    from render.benchmarks import _phantom_jpeg
    from studio_portal.tenants.services import studio_throwaway

    scan = _phantom_jpeg()
    jobs: list[dict[str, float]] = []
    with (
        contextlib.redirect_stdout(sys.stderr),  # the new schema's migrations print
        studio_throwaway(prefix="scratch-bench", name=STUDIO_NAME) as studio,
        schema_context(studio.schema_name),
    ):
        _full_brand(studio)
        for run in range(runs + 1):
            session = services.parent_session_create(
                parent_name="benchmark",
                email="bench@example.com",
                consent_given=True,
                skin_swatches=["#a07e56"],
            )
            with calls_timed() as totals:
                result = run_scan_synchronously(session=session, data=scan, channels=[])
            if result.job is None or "overlay" not in result.job.stage_ms():
                raise RuntimeError(f"job {run + 1} ended {result.state}: {result.reason}")
            calls = int(totals["overlay#"])
            if calls != CANDIDATES_PER_JOB:
                raise RuntimeError(f"job {run + 1} finished {calls} portraits, not 5")
            figures = {step: totals[step] for step in ("overlay", *STEP_NAMES)}
            figures["cpu"] = totals["overlay cpu"]
            figures.update({f"{step} cpu": totals[f"{step} cpu"] for step in STEP_NAMES})
            figures["stage"] = result.job.stage_ms()["overlay"]
            figures["stage_rest"] = max(0.0, figures["stage"] - figures["overlay"])
            jobs.append(figures)
            log(
                f"overlay: job {run + 1}/{runs + 1}{' (warm-up)' if run == 0 else ''}: "
                f"{figures['overlay']:.0f} ms for 5 portraits, stage {figures['stage']:.0f} ms"
            )
    warm_up, measured = jobs[0], jobs[1:]

    def median(step: str) -> float:
        return round(statistics.median(job[step] for job in measured), 1)

    totals_ms = [job["overlay"] for job in measured]
    result = {
        "benchmark": "overlay",
        "median_ms": median("overlay"),
        "steps_ms": {step: median(step) for step in STEP_NAMES},
        "cpu_ms": median("cpu"),
        "steps_cpu_ms": {step: median(f"{step} cpu") for step in STEP_NAMES},
        "job_stage_ms": median("stage"),
        "stage_rest_ms": median("stage_rest"),
        "goal_ms": GOAL_MS,
        "goal_met": median("overlay") <= GOAL_MS,
        "runs": runs,
        "candidates_per_run": CANDIDATES_PER_JOB,
        "first_run_ms": round(warm_up["overlay"], 1),
        "min_ms": round(min(totals_ms), 1),
        "max_ms": round(max(totals_ms), 1),
    }
    log(
        f"overlay: median {result['median_ms']} ms for 5 candidates in the job "
        f"(goal {GOAL_MS:.0f}), CPU {result['cpu_ms']} ms; steps {result['steps_ms']}; "
        "the job's overlay stage "
        f"{result['job_stage_ms']} ms, {result['stage_rest_ms']} ms of it outside the overlay"
    )
    return result
