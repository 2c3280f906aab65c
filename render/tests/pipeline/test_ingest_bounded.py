"""The working frame is bounded: a 4K capture is analysed, stored and rendered from at
WORKING_LONG_SIDE, its text blanked in the frame Cradle keeps; a clip with keyframes enough is
sampled from its keyframes alone."""

from __future__ import annotations

import io

import av
import cv2
import numpy as np
from PIL import Image

from render.pipeline.ingest import WORKING_LONG_SIDE, ingest
from render.pipeline.phantom import make_phantom


def _encode(rgb: np.ndarray, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _face(_: np.ndarray) -> float:
    return 0.8


def test_a_4k_jpeg_is_worked_on_at_the_working_size_with_its_text_blanked() -> None:
    phantom = make_phantom(3840, 2160, seed=5)
    scan = ingest(_encode(phantom.image, "JPEG", quality=92), face_score=_face)
    assert scan.image.shape == (1080, 1920, 3)
    # Every line of fake patient text the phantom burned in is blanked in the kept frame.
    assert phantom.text_boxes
    for box in phantom.text_boxes:
        x0, y0, x1, y1 = (round(v / 2) for v in (box.x0, box.y0, box.x1, box.y1))
        assert any(
            t.x0 <= x0 + 2 and t.y0 <= y0 + 2 and t.x1 >= x1 - 2 and t.y1 >= y1 - 2
            for t in scan.text_boxes
        ), box
    # Found in the kept frame's pixels: where it is in the same picture uploaded at 1920 px.
    half = cv2.resize(phantom.image, (1920, 1080), interpolation=cv2.INTER_AREA)
    expected = ingest(_encode(half, "PNG"), face_score=_face).render_box
    assert np.abs(np.array(scan.render_box.as_list()) - expected.as_list()).max() <= 8


def test_a_large_png_is_shrunk_to_the_working_size_and_a_small_one_is_untouched() -> None:
    big = make_phantom(2400, 1636, seed=6).image
    scan = ingest(_encode(big, "PNG"), face_score=_face)
    assert max(scan.image.shape[:2]) == WORKING_LONG_SIDE
    assert scan.image.shape[:2] == (round(1636 * 1920 / 2400), 1920)
    small = make_phantom(1280, 872, seed=6).image
    kept = ingest(_encode(small, "PNG"), face_score=_face).image
    # Text blanking aside, the pixels are the upload's.
    assert kept.shape == small.shape
    assert np.mean(np.all(kept == small, axis=2)) > 0.95


def _clip(frames: list[np.ndarray], gop: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000
        stream.codec_context.gop_size = gop
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def test_a_clip_with_keyframes_is_sampled_from_its_keyframes_only() -> None:
    sharp = make_phantom(320, 218, seed=7).image
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    frames = [blurred] * 60
    frames[20] = sharp  # a keyframe (every 5th frame is one)
    frames[44] = sharp  # between keyframes: never decoded
    scan = ingest(_clip(frames, gop=5), face_score=_face)
    assert scan.frame_index == 20

    frames[20] = blurred  # now the only sharp frame lies between keyframes
    scan = ingest(_clip(frames, gop=5), face_score=_face)
    assert scan.frame_index is not None and scan.frame_index % 5 == 0


def test_a_clip_with_few_keyframes_still_finds_its_sharpest_frame() -> None:
    sharp = make_phantom(320, 218, seed=8).image
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    frames = [blurred] * 12
    frames[7] = sharp
    assert ingest(_clip(frames, gop=100), face_score=_face).frame_index == 7
