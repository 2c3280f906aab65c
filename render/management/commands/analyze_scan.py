"""``python manage.py analyze_scan PATH [--out DIR] [--json]``: the vision stage on one file.

Runs ingest (type sniffing, decoding, de-identification, render area) and vision (input check,
anchors, depth, normals, masks) without a studio or a database, prints one result and writes
the de-identified frame and the maps. With ``--json`` stdout carries exactly one JSON object:
MediaPipe's and TensorFlow Lite's native log lines are sent to stderr while the stage runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from render.pipeline.ingest import check_size, ingest
from render.pipeline.report import report_image
from render.pipeline.types import IngestedScan, IngestLimits, ScanRejected, StructuralCues
from render.pipeline.vision import analyze, maps_as_images

# What a sonographer is told, by kind of outcome; ScanRejected codes other than these two
# all mean the file itself could not become a picture.
KIND_BY_CODE = {"2d-bmode": "2d-bmode", "no-face": "no-face"}
ACCEPTED_REASON = "A 3D/4D surface render with a face: ready to render."


def kind_for(code: str) -> str:
    """ "empty", "unreadable", "unsupported-type", "too-large", ... are all "unreadable"."""
    return KIND_BY_CODE.get(code, "unreadable")


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout meanwhile (Python or native code) to stderr.

    MediaPipe and TensorFlow Lite log from C++ straight to file descriptors, which Python's
    ``sys.stdout`` redirection cannot catch, so file descriptor 1 is pointed at 2 as well.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real descriptor 1 (embedded use): Python-level redirection only
        saved = None
    if saved is not None:
        os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def analyze_file(path: Path, limits: IngestLimits) -> tuple[dict, dict[str, np.ndarray]]:
    """(the JSON-able result, the images to write by file stem) for one scan file."""
    started = time.perf_counter()
    result: dict = {
        "kind": "unreadable",
        "accepted": False,
        "reason": "",
        "render_box": None,
        "face_box": None,
        "pose": None,
        "subject_box": None,
        "anchors": {},
        "dropped_anchors": {},
        "text_boxes": [],
        "frame_index": None,
        "timings_ms": {},
    }
    images: dict[str, np.ndarray] = {}
    scan: IngestedScan | None = None
    cues: StructuralCues | None = None
    try:
        check_size(path.stat().st_size, limits)  # a huge file is refused before it is read
        scan = ingest(path.read_bytes(), limits)
        cues = analyze(scan)
    except ScanRejected as rejected:
        result["kind"] = kind_for(rejected.code)
        result["reason"] = rejected.message
    if scan is not None:
        result["render_box"] = scan.render_box.as_list()
        result["text_boxes"] = [box.as_list() for box in scan.text_boxes]
        result["frame_index"] = scan.frame_index
        result["timings_ms"].update(scan.timings_ms)
        result["timings_ms"]["ingest"] = result["timings_ms"].pop("total")
        images["deidentified"] = scan.image
        images["report"] = report_image(scan, cues, anchors=True)  # a file read on its own
    if scan is not None and cues is not None:
        result.update(
            kind="3d-render",
            accepted=True,
            reason=ACCEPTED_REASON,
            render_box=cues.crop_box.as_list(),
            face_box=cues.face_box.as_list() if cues.face_box else None,
            pose=cues.pose,
            subject_box=cues.subject_box.as_list() if cues.subject_box else None,
            anchors={
                a.name: {"x": round(a.x, 1), "y": round(a.y, 1), "confidence": a.confidence}
                for a in cues.anchors
            },
            dropped_anchors=dict(cues.dropped_anchors),
        )
        result["timings_ms"].update(cues.timings_ms)
        result["timings_ms"]["vision"] = result["timings_ms"].pop("total")
        images.update(maps_as_images(cues))
    result["timings_ms"]["total"] = (time.perf_counter() - started) * 1000
    result["timings_ms"] = {k: round(v, 1) for k, v in result["timings_ms"].items()}
    return result, images


class Command(BaseCommand):
    help = "Run ingest and vision on one scan file; print the anchors, boxes and verdict."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument(
            "--out", help="write deidentified/depth/normals/mask/subject/report PNGs here"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["path"]))
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        limits = IngestLimits(
            max_bytes=settings.SCAN_MAX_BYTES, max_pixels=settings.SCAN_MAX_PIXELS
        )
        with stdout_to_stderr():
            result, images = analyze_file(path, limits)
            written = self._write(images, options.get("out"))
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        for key, value in result.items():
            self.stdout.write(f"{key}: {value}")
        for file in written:
            self.stdout.write(f"wrote {file}")

    def _write(self, images: dict[str, np.ndarray], out: object) -> list[Path]:
        if not out:
            return []
        folder = Path(str(out))
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for stem in ("deidentified", "depth", "normals", "mask", "subject", "report"):
            if stem in images:
                target = folder / f"{stem}.png"
                # Pixels only: PNGs written from arrays carry no metadata from the upload.
                Image.fromarray(images[stem]).save(target, format="PNG")
                written.append(target)
        return written
