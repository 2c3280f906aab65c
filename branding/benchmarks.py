from __future__ import annotations

from collections.abc import Callable

from branding.overlay_bench import bench_overlay as _bench_overlay


def bench_overlay(*, runs: int, log: Callable[[str], None]) -> dict[str, object]:
    """5 candidates at web size: frame, logo, caption, the tag, all metadata, C2PA signing."""
    result = _bench_overlay(runs=runs)
    log(f"overlay: median {result['median_ms']} ms for 5 candidates; steps {result['steps_ms']}")
    return {"benchmark": "overlay", **result}
