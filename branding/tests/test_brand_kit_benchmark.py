"""`manage.py bench overlay` is wired to the overlay benchmark and logs its figure."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from branding.benchmarks import bench_overlay


def test_the_overlay_benchmark_reports_its_median_and_logs_it() -> None:
    lines: list[str] = []
    result = bench_overlay(runs=1, log=lines.append)
    assert result["benchmark"] == "overlay"
    assert result["median_ms"] > 0 and result["candidates_per_run"] == 5
    assert f"median {result['median_ms']} ms" in lines[0]


def test_bench_overlay_runs_from_the_command_line() -> None:
    out = StringIO()
    call_command("bench", "overlay", "--runs", "1", "--json", stdout=out)
    assert '"benchmark": "overlay"' in out.getvalue()
