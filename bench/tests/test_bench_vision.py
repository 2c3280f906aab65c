"""``manage.py bench vision``: the job's check and vision stages on a generated scan, timed."""

from __future__ import annotations

from bench.vision import STEPS, bench_vision


def test_bench_vision_reports_the_median_and_every_step() -> None:
    lines: list[str] = []
    result = bench_vision(runs=1, log=lines.append)
    assert result["benchmark"] == "vision" and result["runs"] == 1
    assert result["median_ms"] > 0
    assert set(result["steps_ms"]) == set(STEPS)
    assert all(ms > 0 for step, ms in result["steps_ms"].items() if step != "anchors")
    assert sum(result["steps_ms"].values()) <= result["median_ms"] * 1.05
    assert lines[0].startswith("run 1/1") and "7 anchors" in lines[0]
