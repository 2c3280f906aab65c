from __future__ import annotations

from collections.abc import Callable

from branding.overlay_bench import bench_overlay as _bench_overlay
from branding.provenance_bench import bench_provenance as _bench_provenance


def bench_overlay(*, runs: int, log: Callable[[str], None]) -> dict[str, object]:
    """The overlay of a real job's 5 candidates (brand, compose, mark id, watermark, tag, C2PA),
    timed inside ``runs`` whole jobs in a throwaway studio."""
    return _bench_overlay(runs=runs, log=log)


def bench_provenance(*, runs: int, log: Callable[[str], None]) -> dict[str, object]:
    """The invisible watermark on 20 generated portraits: embed/detect ms, PSNR, detection after
    JPEG 70, a 50 % resize, a 10 % crop and a PNG round trip, false detections unmarked."""
    return _bench_provenance(runs=runs, log=log)
