"""The overlay benchmark measures the real delivery path and reports each step."""

from branding.overlay_bench import CANDIDATES_PER_JOB, bench_overlay


def test_the_bench_reports_a_median_made_of_its_four_steps():
    result = bench_overlay(runs=1)

    assert result["runs"] == 1 and result["candidates_per_run"] == CANDIDATES_PER_JOB
    steps = result["steps_ms"]
    assert set(steps) == {"compose", "watermark", "encode_and_tag", "c2pa_sign"}
    assert all(value > 0 for value in steps.values())
    # With one run the median is that run, so it is the sum of its steps.
    assert abs(result["median_ms"] - sum(steps.values())) < 0.5
