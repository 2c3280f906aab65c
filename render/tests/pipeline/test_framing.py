"""The portrait is framed on the baby's head, not on the scan's render area.

A face small and off to one side (beside the placenta, or far from the probe) was painted in
the scan's own frame: the baby sat small in a corner of empty paper. Conditioning narrows the
frame to the head with a portrait's room round it; a head that already fills its frame keeps
it, and the cues keep the scan's coordinates.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.framing import framed, portrait_frame
from render.pipeline.types import Anchor, Box, StructuralCues
from render.tests.pipeline.synthetic_cues import synthetic_cues


def _off_to_the_side(cues: StructuralCues, left: int, top: int, extra: int) -> StructuralCues:
    """``cues`` placed at (``left``, ``top``) on a dark scan ``extra`` px larger each way
    (nothing but the baby's head on it), in the scan's coordinates from (100, 50)."""
    height, width = cues.depth.shape
    size = (height + extra, width + extra)

    def placed(array: np.ndarray, fill: float = 0.0) -> np.ndarray:
        canvas = np.full(size + array.shape[2:], fill, array.dtype)
        canvas[top : top + height, left : left + width] = array
        return canvas

    normals = placed(cues.normals)
    normals[..., 2][placed(cues.subject) == 0] = 1.0
    origin = (100, 50)
    return replace(
        cues,
        crop_box=Box(origin[0], origin[1], origin[0] + size[1], origin[1] + size[0]),
        image=placed(cues.image),
        depth=placed(cues.depth),
        normals=normals,
        subject=placed(cues.subject),
        low_confidence=placed(cues.low_confidence),
        anchors=tuple(
            Anchor(a.name, a.x + origin[0] + left, a.y + origin[1] + top, a.confidence)
            for a in cues.anchors
        ),
        face_box=None,
    )


def _head_box(cues: StructuralCues) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(cues.subject > 0.5)
    return float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1


def test_a_head_that_fills_its_frame_keeps_it() -> None:
    cues = synthetic_cues(occluded=False)
    assert portrait_frame(cues) is None
    assert framed(cues) is cues


def test_a_small_head_off_to_the_side_is_framed_centred_and_filling_the_portrait() -> None:
    scan = _off_to_the_side(synthetic_cues(occluded=False), left=330, top=60, extra=360)
    in_scan = _head_box(scan)
    assert (in_scan[3] - in_scan[1]) / scan.depth.shape[0] < 0.4  # small in the scan's frame

    portrait = framed(scan)
    height, width = portrait.depth.shape
    for array in (portrait.image, portrait.normals, portrait.subject, portrait.low_confidence):
        assert array.shape[:2] == (height, width)
    box = portrait.crop_box
    assert (box.x1 - box.x0, box.y1 - box.y0) == (width, height)
    x0, y0, x1, y1 = _head_box(portrait)
    assert (y1 - y0) / height > 0.6  # the head fills the portrait
    assert abs((x0 + x1) / 2 - width / 2) < 0.03 * width  # in its middle
    assert 0.8 <= width / height <= 1.0  # a portrait's shape
    # The anchors keep the scan's coordinates, and the framed crop still holds them.
    for anchor in portrait.anchors:
        assert box.x0 <= anchor.x < box.x1 and box.y0 <= anchor.y < box.y1
    # The same pixels: the head's map is the scan's, cut out.
    assert np.array_equal(
        portrait.subject,
        scan.subject[
            box.y0 - scan.crop_box.y0 : box.y1 - scan.crop_box.y0,
            box.x0 - scan.crop_box.x0 : box.x1 - scan.crop_box.x0,
        ],
    )


def test_the_portrait_of_a_small_head_off_to_the_side_is_the_babys_face_in_the_middle() -> None:
    scan = _off_to_the_side(synthetic_cues(occluded=False), left=330, top=60, extra=360)
    conditioning = build(scan, blend_tone([8]), background_hex="#f3ece4")
    image = RelightEngine(output_long_side=256, wrap=False, hat=False).render(conditioning, [3])[0]
    # Skin (far darker than the pale paper) across the middle of the portrait, paper at the
    # left and right edges: the face is centred, not in a corner.
    grey = image.image.astype(np.float32).mean(axis=2)
    height, width = grey.shape
    middle = grey[int(0.35 * height) : int(0.65 * height), int(0.4 * width) : int(0.6 * width)]
    assert middle.mean() < 150
    assert grey[int(0.5 * height), : int(0.03 * width)].mean() > 200
    assert grey[int(0.5 * height), int(0.97 * width) :].mean() > 200


def _cut_at_left(cues: StructuralCues, columns: int) -> StructuralCues:
    """``cues`` with its first ``columns`` columns cut off: the head runs off the frame."""
    cut = slice(columns, None)
    return replace(
        cues,
        crop_box=Box(0, 0, cues.crop_box.x1 - columns, cues.crop_box.y1),
        image=np.ascontiguousarray(cues.image[:, cut]),
        depth=np.ascontiguousarray(cues.depth[:, cut]),
        normals=np.ascontiguousarray(cues.normals[:, cut]),
        subject=np.ascontiguousarray(cues.subject[:, cut]),
        low_confidence=np.ascontiguousarray(cues.low_confidence[:, cut]),
        anchors=tuple(
            Anchor(a.name, a.x - columns, a.y, a.confidence) for a in cues.anchors if a.x >= columns
        ),
        face_box=None,
    )


def test_a_head_running_off_the_side_of_the_scan_is_never_cut_by_the_frame() -> None:
    # Centring a head that touches the side narrowed the frame to little more than the head,
    # and keeping 4:5 then cut its lower half off: a forehead scored 0.96.
    scan = _off_to_the_side(_cut_at_left(synthetic_cues(occluded=False), 60), 0, 40, 360)
    frame = portrait_frame(scan)
    head = scan.subject > 0.5
    if frame is not None:
        inside = np.zeros_like(head)
        inside[frame.y0 : frame.y1, frame.x0 : frame.x1] = True
        assert not (head & ~inside).any()
    portrait = framed(scan)
    assert (portrait.subject > 0.5).sum() == head.sum()
    box = portrait.crop_box
    for anchor in portrait.anchors:
        assert box.x0 <= anchor.x < box.x1 and box.y0 <= anchor.y < box.y1
