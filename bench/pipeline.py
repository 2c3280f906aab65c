"""Benchmarks over the render app's code; run through ``manage.py bench``."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse
from django_tenants.utils import schema_context
from PIL import Image

from galleries.synchronous import broker_in_process, run_scan_synchronously
from render import services
from render.pipeline.phantom import cine_dicom, make_phantom
from studio_portal.accounts.models import User
from studio_portal.tenants.services import studio_throwaway


def _phantom_jpeg(width: int = 1280, height: int = 872) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(width, height).image).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def bench_pipeline(
    *, runs: int, log: Callable[[str], None], input: str | None = None
) -> dict[str, object]:
    """The whole path (upload → delivered) on a generated 1280×872 scan, or on the file at
    ``input`` (a still, a DICOM or a clip), in a throwaway studio of its own that is dropped
    afterwards (nothing lands in the demo studio).

    Prints the median of the whole path, of each stage, and of everything but the render
    (``non_render_ms``: what the path costs besides the engine); the same in this process's CPU
    time (``cpu_ms``, ``steps_cpu_ms``, ``non_render_cpu_ms``: on a busy machine the wall time
    is mostly the wait for a core); and ``raw_png``: what writing a rendered candidate costs in
    each lossless form (the measurement behind ``services.png_stored``)."""
    if input:
        path = Path(input)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FileNotFoundError(f"cannot read --input {input}: {exc.strerror}") from exc
        label = f"{path.name} ({len(data)} bytes)"
    else:
        data, label = _phantom_jpeg(), "1280x872 phantom JPEG"
    totals: list[float] = []
    non_render: list[float] = []
    per_stage: dict[str, list[float]] = {}
    # CPU time as well: on a shared machine the wall time is mostly the wait for a core.
    cpu_totals: list[float] = []
    non_render_cpu: list[float] = []
    cpu_per_stage: dict[str, list[float]] = {}
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
            started, cpu_started = time.perf_counter(), time.process_time()
            result = run_scan_synchronously(session=session, data=data, channels=["email", "sms"])
            total = (time.perf_counter() - started) * 1000
            cpu_totals.append((time.process_time() - cpu_started) * 1000)
            if result.job is None or result.state != "delivered":
                raise RuntimeError(f"run {run} ended {result.state}: {result.reason}")
            stages = result.job.stage_ms()
            totals.append(total)
            non_render.append(total - stages.get("render", 0.0))
            for stage, ms in stages.items():
                per_stage.setdefault(stage, []).append(ms)
            for stage, entry in result.job.stage_log.items():
                if "cpu_ms" in entry:
                    cpu_per_stage.setdefault(stage, []).append(entry["cpu_ms"])
            render_cpu = result.job.stage_log.get("render", {}).get("cpu_ms", 0.0)
            non_render_cpu.append(cpu_totals[-1] - render_cpu)
            log(f"run {run + 1}/{runs}: {total:.0f} ms {stages}")
        raw_png = _raw_png_forms(result.job.candidates.order_by("rank").first())
    load = os.getloadavg()
    return {
        "benchmark": "pipeline",
        "runs": runs,
        "image": label,
        "median_ms": round(statistics.median(totals), 1),
        "non_render_ms": round(statistics.median(non_render), 1),
        "steps_ms": {stage: round(statistics.median(v), 1) for stage, v in per_stage.items()},
        "cpu_ms": round(statistics.median(cpu_totals), 1),
        "non_render_cpu_ms": round(statistics.median(non_render_cpu), 1),
        "steps_cpu_ms": {
            stage: round(statistics.median(v), 1) for stage, v in cpu_per_stage.items()
        },
        "raw_png": raw_png,
        "load_average": [round(x, 2) for x in load],
        "cpu_count": os.cpu_count(),
    }


def _raw_png_forms(candidate: object) -> dict[str, dict[str, float]]:
    """Median ms and bytes of writing one rendered candidate as a PNG by Pillow at compress
    level 1, by ``services.png_compressed`` and by ``services.png_stored``; all lossless,
    checked by reading them back."""
    with candidate.image.open("rb") as handle:  # type: ignore[attr-defined]
        pixels = np.asarray(Image.open(handle).convert("RGB"))
    forms = {
        "pillow_level_1": _pillow_png,
        "png_compressed": services.png_compressed,
        "png_stored": services.png_stored,
    }
    figures: dict[str, dict[str, float]] = {}
    for name, encode in forms.items():
        times = []
        for _ in range(5):
            started = time.perf_counter()
            encoded = encode(pixels)
            times.append((time.perf_counter() - started) * 1000)
        if not np.array_equal(np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")), pixels):
            raise RuntimeError(f"{name} did not read back as the candidate")
        figures[name] = {"ms": round(statistics.median(times), 1), "bytes": len(encoded)}
    return figures


def _pillow_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


# Upload ---------------------------------------------------------------------------------------


def _ten_mb_png() -> bytes:
    """An 8-megapixel phantom with ±2 levels of seeded grain: ≈ 10.2 MB as a PNG."""
    image = make_phantom(3264, 2448).image
    grain = np.random.default_rng(20).integers(-2, 3, image.shape, dtype=np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image + grain, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _ten_mb_mp4() -> bytes:
    """A 10 s 1280×872 H.264 clip (250 frames, the phantom drifting under grain): ≈ 10 MB."""
    import av

    base = make_phantom(1280, 872).image
    rng = np.random.default_rng(21)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 872, "yuv420p"
        stream.bit_rate = 8_000_000
        stream.options = {"preset": "ultrafast"}
        for index in range(250):
            frame = np.roll(base, index * 2, axis=1).astype(np.int16)
            frame = np.clip(frame + rng.integers(-6, 7, frame.shape, dtype=np.int16), 0, 255)
            video = av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="rgb24")
            for packet in stream.encode(video):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def _multi_frame_dicom(frames: int = 500) -> bytes:
    """A scanner's cine loop: ``frames`` 640×480 frames, JPEG Baseline in YBR_FULL_422."""
    base = make_phantom(640, 480).image
    loop = [base if index % 2 else base[:, ::-1] for index in range(frames)]
    return cine_dicom(loop, quality=[85 + index % 10 for index in range(frames)])


UPLOAD_FILES: dict[str, Callable[[], bytes]] = {
    "png": _ten_mb_png,
    "mp4": _ten_mb_mp4,
    "dicom": _multi_frame_dicom,
}


def bench_upload(*, runs: int, log: Callable[[str], None]) -> dict[str, object]:
    """The sonographer's upload through the real page view (middleware, form, service,
    storage) of a 10 MB PNG (8 megapixels), a 10 MB MP4 and a 500-frame DICOM, each into a
    new parent session (a repeat would answer from the first job), in a throwaway studio. The
    request is timed from the prepared multipart body to the redirect; messages go to an
    in-process broker."""
    files = {kind: build() for kind, build in UPLOAD_FILES.items()}
    results: dict[str, dict[str, object]] = {}
    with (
        contextlib.redirect_stdout(sys.stderr),
        studio_throwaway(prefix="scratch-bench", name="bench upload") as studio,
        broker_in_process(),
    ):
        client = Client(HTTP_HOST=studio.domains.get(is_primary=True).domain)
        with schema_context(studio.schema_name):
            client.force_login(User.objects.get(username="owner"))
        for kind, data in files.items():
            body = encode_multipart(BOUNDARY, {"scan": _named(f"scan.{kind}", data)})
            times: list[float] = []
            for run in range(runs):
                with schema_context(studio.schema_name):
                    session = services.parent_session_create(
                        parent_name="benchmark", consent_given=True, skin_swatches=["#a07e56"]
                    )
                    url = reverse("scan-upload", kwargs={"uid": session.uid})
                started = time.perf_counter()
                response = client.generic("POST", url, body, content_type=MULTIPART_CONTENT)
                ms = (time.perf_counter() - started) * 1000
                if response.status_code != 302:
                    raise RuntimeError(f"{kind} upload answered {response.status_code}")
                times.append(ms)
                log(f"{kind} run {run + 1}/{runs}: {ms:.0f} ms")
            results[kind] = {"bytes": len(data), "median_ms": round(statistics.median(times), 1)}
    return {
        "benchmark": "upload",
        "runs": runs,
        "median_ms": max(result["median_ms"] for result in results.values()),
        "files": results,
    }


def _named(name: str, data: bytes):
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")
