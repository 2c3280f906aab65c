"""The working frame is bounded: a 4K capture is analysed, stored and rendered from at
WORKING_LONG_SIDE, its text blanked in the frame Cradle keeps; a clip with keyframes enough is
sampled from its keyframes alone, one with few is decoded within a budget of pixels."""

from __future__ import annotations

import io

import av
import cv2
import numpy as np
from PIL import Image

from render.pipeline import ingest as ingest_module
from render.pipeline.ingest import DEFAULT_LIMITS, WORKING_LONG_SIDE, ingest
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


def _clip(frames: list[np.ndarray], gop: int, codec: str = "mpeg4") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=10)
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


def _decoding_counted(monkeypatch, budget_frames: int, frame_pixels: int) -> list[int]:
    """A budget of ``budget_frames`` frames of ``frame_pixels`` each, and a count of the frames
    the decoder gives."""
    monkeypatch.setattr(ingest_module, "_DECODE_PIXEL_BUDGET", budget_frames * frame_pixels)
    decoded = [0]
    real = ingest_module._decoded

    def counting(*args, **kwargs):
        for frame in real(*args, **kwargs):
            decoded[0] += 1
            yield frame

    monkeypatch.setattr(ingest_module, "_decoded", counting)
    return decoded


def test_a_long_clip_with_one_keyframe_decodes_only_its_budget_and_finds_a_sharp_frame_in_it(
    monkeypatch,
) -> None:
    sharp = make_phantom(320, 218, seed=9).image
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    frames = [blurred] * 150
    frames[27:30] = [sharp] * 3  # inside the 40 frames decoded
    frames[100:103] = [sharp] * 3  # past them: never decoded
    data = _clip(frames, gop=1000)
    assert ingest_module._packets(data).keyframes == (0,)
    decoded = _decoding_counted(monkeypatch, 40, 320 * 218)
    scan = ingest(data, face_score=_face)
    assert 0 < decoded[0] <= 40
    assert scan.frame_index in (27, 28, 29)


def test_a_clip_whose_packets_cannot_be_read_ahead_decodes_its_first_frames_within_budget(
    monkeypatch,
) -> None:
    # Reading the packets ahead failed (a container that demuxes once only, a damaged index):
    # the clip is not refused as empty, its first frames are decoded within the budget.
    sharp = make_phantom(320, 218, seed=9).image
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    frames = [blurred] * 150
    frames[12:15] = [sharp] * 3
    data = _clip(frames, gop=1000)
    monkeypatch.setattr(ingest_module, "_packets", lambda _: ingest_module._Packets((), ()))
    decoded = _decoding_counted(monkeypatch, 40, 320 * 218)
    scan = ingest(data, face_score=_face)
    assert 0 < decoded[0] <= 41  # the frame that ends the loop is read, not kept
    assert scan.frame_index in (12, 13, 14)


def test_a_clip_with_a_few_keyframes_shares_its_budget_between_them(monkeypatch) -> None:
    sharp = make_phantom(320, 218, seed=10).image
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    frames = [blurred] * 150
    frames[30:33] = [sharp] * 3  # 30 frames after the first keyframe: never decoded
    frames[103:107] = [sharp] * 4  # among the 10 decoded from the third keyframe on
    data = _clip(frames, gop=50)
    assert ingest_module._packets(data).keyframes == (0, 50, 100)
    decoded = _decoding_counted(monkeypatch, 30, 320 * 218)
    scan = ingest(data, face_score=_face)
    assert 0 < decoded[0] <= 30
    assert scan.frame_index in (103, 104, 105, 106)


def test_a_clip_with_b_frames_skips_them_and_keeps_each_frame_at_its_place_in_the_clip(
    monkeypatch,
) -> None:
    base = make_phantom(320, 218, seed=11).image
    frames = [np.roll(base, 3 * i, axis=1) for i in range(60)]
    data = _clip(frames, gop=1000, codec="libx264")  # x264's default B-frames
    with av.open(io.BytesIO(data)) as container:
        every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    decoded = _decoding_counted(monkeypatch, 1000, 320 * 218)
    kept = ingest_module._decode_video(data, DEFAULT_LIMITS, keep=24)
    # The B-frames are never decoded; every frame kept is the clip's own at its index.
    assert 12 <= decoded[0] < 60
    assert 12 <= len(kept) <= 24 and len({index for index, _ in kept}) == len(kept)
    for index, rgb in kept:
        assert np.array_equal(rgb, every[index]), index
    assert max(index for index, _ in kept) >= 57  # the sample reaches the clip's end
