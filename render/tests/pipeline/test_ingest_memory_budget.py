"""Issue 16 item 6: the header half of ingest decodes nothing, and every decode has a memory
ceiling (``IngestLimits.max_decode_bytes``): a long loop decodes only the frames the frame
choice looks at, fewer when the budget says so, and a file that cannot fit is refused in words
a sonographer can act on."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from render.pipeline import ingest
from render.pipeline.phantom import cine_dicom, make_phantom
from render.pipeline.types import IngestLimits, ScanRejected

PHANTOM = make_phantom(256, 192, seed=5).image


def loop_dicom(frames: int, *, sharp_at: int | None = None) -> bytes:
    """A scanner's cine loop: ``frames`` JPEG Baseline frames in YBR_FULL_422, all blurred but
    ``sharp_at``."""
    soft = cv2.GaussianBlur(PHANTOM, (0, 0), 4)
    return cine_dicom([PHANTOM if index == sharp_at else soft for index in range(frames)])


def png_of(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(cv2.resize(PHANTOM, (width, height))).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("decoded while only the headers were to be read")


def test_the_header_check_reads_a_500_frame_loop_without_decoding_a_frame(monkeypatch) -> None:
    data = loop_dicom(500)
    monkeypatch.setattr("pydicom.pixels.iter_pixels", refuse)
    monkeypatch.setattr("pydicom.pixels.pixel_array", refuse)
    monkeypatch.setattr(ingest, "_decode_dicom", refuse)
    header = ingest.inspect(data)
    assert (header.kind, header.mime) == ("dicom", "application/dicom")
    assert (header.width, header.height, header.frames) == (256, 192, 500)
    assert header.frames_to_decode == 24
    assert 0 < header.decode_bytes < 50_000_000


def test_a_still_is_measured_from_its_header_and_never_loaded(monkeypatch) -> None:
    data = png_of(3264, 2448)
    monkeypatch.setattr(Image.Image, "load", refuse)
    header = ingest.inspect(data)
    assert (header.kind, header.width, header.height, header.frames) == ("png", 3264, 2448, 1)
    # ≈ 12 bytes a pixel at the decode's peak (measured: 77 MB for this size) and the file.
    assert 80_000_000 < header.decode_bytes < 120_000_000


def test_a_long_loop_decodes_only_the_frames_the_choice_looks_at(monkeypatch) -> None:
    from pydicom import pixels

    decoded: list[int] = []
    iter_pixels = pixels.iter_pixels

    def counting(src: object, *, indices: list[int], **kwargs: object):
        decoded.extend(indices)
        return iter_pixels(src, indices=indices, **kwargs)

    monkeypatch.setattr(pixels, "iter_pixels", counting)
    scan = ingest.ingest(loop_dicom(500, sharp_at=477), face_score=lambda rgb: 0.5)
    assert len(decoded) == 24 and decoded[0] == 0 and decoded[-1] == 499
    assert 477 in decoded and scan.frame_index == 477  # the sharp one, among those sampled
    assert scan.image.shape == (192, 256, 3)


def test_a_tighter_budget_keeps_fewer_frames_of_the_loop() -> None:
    data = loop_dicom(200)
    full = ingest.inspect(data)
    per_frame = 256 * 192 * 6
    limits = IngestLimits(max_decode_bytes=full.decode_bytes - 20 * per_frame)
    header = ingest.inspect(data, limits)
    assert header.frames_to_decode == 4 and header.decode_bytes <= limits.max_decode_bytes
    scan = ingest.ingest(data, limits, face_score=lambda rgb: 0.5)
    assert scan.frame_index in {int(round(i)) for i in np.linspace(0, 199, 4)}


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (png_of(3264, 2448), "image of 3264×2448 pixels"),
        (loop_dicom(60), "DICOM of 60 frames of 256×192"),
    ],
    ids=["still", "dicom"],
)
def test_a_decode_over_the_budget_is_refused_with_its_size_and_the_limit(data, what) -> None:
    limits = IngestLimits(max_decode_bytes=1_000_000)
    with pytest.raises(ScanRejected) as refused:
        ingest.inspect(data, limits)
    assert refused.value.code == "too-many-pixels"
    message = refused.value.message
    assert message.startswith(f"Decoding this {what} would take about ")
    assert "more than Cradle allows for one scan (1 MB)" in message
    assert message.endswith("Export a smaller screen capture of the render, or a shorter clip.")
    with pytest.raises(ScanRejected) as again:  # the worker's decode checks the same first
        ingest.ingest(data, limits, face_score=lambda rgb: 0.5)
    assert again.value.message == message


def test_a_decode_that_runs_out_of_memory_all_the_same_is_refused_in_the_same_words(
    monkeypatch,
) -> None:
    def exhausted(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(ingest, "_decode_still", exhausted)
    with pytest.raises(ScanRejected) as refused:
        ingest.ingest(png_of(640, 480), face_score=lambda rgb: 0.5)
    assert refused.value.code == "too-many-pixels"
    assert refused.value.message.startswith("Decoding this scan would take about ")
