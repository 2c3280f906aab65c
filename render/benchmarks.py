"""Benchmarks over the render app's code; run through ``manage.py bench``."""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable

from django_tenants.utils import schema_context
from PIL import Image

from render import services
from render.pipeline.phantom import make_phantom
from render.synchronous import run_scan_synchronously
from studio_portal.tenants.services import studio_throwaway


def _phantom_jpeg(width: int = 1280, height: int = 872) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(width, height).image).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def bench_pipeline(*, runs: int, log: Callable[[str], None]) -> dict[str, object]:
    """The whole path (upload → delivered) on a generated 1280×872 scan, in a throwaway studio
    of its own that is dropped afterwards (nothing lands in the demo studio)."""
    data = _phantom_jpeg()
    totals: list[float] = []
    per_stage: dict[str, list[float]] = {}
    with (
        contextlib.redirect_stdout(sys.stderr),  # the new schema's migrations print
        studio_throwaway(prefix="scratch-bench", name="bench pipeline") as studio,
        schema_context(studio.schema_name),
    ):
        for run in range(runs):
            session = services.parent_session_create(
                parent_name="benchmark",
                email="bench@example.com",
                phone="+14155550123",
                consent_given=True,
                skin_swatches=["#a07e56"],
            )
            started = time.perf_counter()
            result = run_scan_synchronously(session=session, data=data, channels=["email", "sms"])
            total = (time.perf_counter() - started) * 1000
            if result.job is None or result.state != "delivered":
                raise RuntimeError(f"run {run} ended {result.state}: {result.reason}")
            totals.append(total)
            for stage, ms in result.job.stage_ms().items():
                per_stage.setdefault(stage, []).append(ms)
            log(f"run {run + 1}/{runs}: {total:.0f} ms {result.job.stage_ms()}")
    return {
        "benchmark": "pipeline",
        "runs": runs,
        "image": "1280x872 phantom JPEG",
        "median_ms": round(statistics.median(totals), 1),
        "steps_ms": {stage: round(statistics.median(v), 1) for stage, v in per_stage.items()},
    }
