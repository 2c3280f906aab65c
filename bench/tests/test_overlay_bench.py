"""The overlay benchmark times the job's own calls: each step is the real function the job
calls, timed in place, and everything is put back afterwards."""

from __future__ import annotations

from django_tenants.utils import schema_context

import branding.services
import render.services
from bench.overlay import STEP_NAMES, calls_timed
from branding.sample_portrait import sample_portrait_render


def test_the_steps_timed_are_the_calls_a_job_makes(studio) -> None:
    portrait = sample_portrait_render()
    originals = (render.services.portrait_finish, branding.services.watermark_embed)
    with schema_context(studio.schema_name), calls_timed() as totals:
        for _ in range(2):
            render.services.portrait_finish(portrait)  # as the job's overlay stage calls it

    assert totals["overlay#"] == 2
    assert all(totals[f"{step}#"] == 2 for step in STEP_NAMES)
    assert all(totals[step] > 0 for step in STEP_NAMES)
    assert sum(totals[step] for step in STEP_NAMES) <= totals["overlay"]
    assert (render.services.portrait_finish, branding.services.watermark_embed) == originals
