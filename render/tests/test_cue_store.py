"""The cues file: what vision found comes back as it was stored, from new files and old."""

import io
import json
from dataclasses import replace

import numpy as np
import pytest

from render.cue_store import anchors_to_json, cues_from_bytes, cues_to_bytes
from render.pipeline.phantom import make_phantom
from render.pipeline.types import IngestedScan, StructuralCues
from render.pipeline.vision import analyze, enlarge_maps
from render.tests.pipeline.synthetic_cues import synthetic_cues

CUES = synthetic_cues(96, occluded=True)
MAPS = ("depth", "normals", "subject", "low_confidence")
# float16 keeps 11 bits: a value within 0..1 comes back within 2^-12 (2.4e-4) of itself, and
# bilinear enlargement of rounded values moves no pixel further than that; the normals are
# renormalised after, which may add as much again.
FLOAT16_ROUNDING = 5e-4


@pytest.fixture(scope="module", params=[None, "cord"], ids=["plain", "cord"])
def vision_cues(request) -> StructuralCues:
    """Vision's own cues on a phantom (a cord across the face gives repaired maps too)."""
    scan = make_phantom(occluder=request.param, seed=55)
    cues = analyze(
        IngestedScan(
            kind="png", mime="image/png", sha256="", image=scan.image, render_box=scan.render_box
        )
    )
    assert (cues.repaired is not None) == (request.param == "cord")
    return cues


def _old_layout(cues: StructuralCues) -> bytes:
    """A cues file as stored before the analysis-size maps were: every map at crop size."""
    meta = {
        "crop_box": cues.crop_box.as_list(),
        "face_box": cues.face_box.as_list() if cues.face_box else None,
        "light_dir": list(cues.light_dir),
        "dropped_anchors": [list(pair) for pair in cues.dropped_anchors],
        "timings_ms": cues.timings_ms,
        "pose": cues.pose,
    }
    zeros = np.zeros_like(cues.subject)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        image=cues.image,
        **{name: getattr(cues, name).astype(np.float16) for name in MAPS},
        hands=(cues.hands if cues.hands is not None else zeros).astype(np.float16),
        repaired=(cues.repaired if cues.repaired is not None else zeros).astype(np.float16),
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    return buffer.getvalue()


def test_the_cues_come_back_as_stored() -> None:
    back = cues_from_bytes(cues_to_bytes(CUES), anchors_to_json(CUES.anchors))
    assert np.array_equal(back.image, CUES.image)
    for name in MAPS:  # stored as float16
        expected = getattr(CUES, name).astype(np.float16).astype(np.float32)
        assert np.array_equal(getattr(back, name), expected), name
    assert back.crop_box == CUES.crop_box and back.face_box == CUES.face_box
    assert back.pose == CUES.pose and back.light_dir == tuple(CUES.light_dir)
    assert [a.name for a in back.anchors] == [a.name for a in CUES.anchors]


def test_visions_crop_size_maps_are_its_analysis_maps_enlarged(vision_cues) -> None:
    maps = vision_cues.analysis_maps
    assert maps is not None
    assert max(maps.depth.shape) <= 400 < max(vision_cues.depth.shape)
    full = enlarge_maps(maps, (vision_cues.image.shape[1], vision_cues.image.shape[0]))
    for name in (*MAPS, "hands", "repaired", "contact"):
        ours, theirs = getattr(full, name), getattr(vision_cues, name)
        assert (ours is None) == (theirs is None), name
        if ours is not None:
            assert np.array_equal(ours, theirs), name


def test_visions_cues_come_back_from_maps_stored_at_the_analysis_size(vision_cues) -> None:
    data = cues_to_bytes(vision_cues)
    back = cues_from_bytes(data, anchors_to_json(vision_cues.anchors))
    assert np.array_equal(back.image, vision_cues.image)
    for name in (*MAPS, "hands", "repaired", "contact"):
        ours, theirs = getattr(back, name), getattr(vision_cues, name)
        assert (ours is None) == (theirs is None), name
        if ours is not None:
            assert ours.shape == theirs.shape and ours.dtype == np.float32, name
            assert np.abs(ours - theirs).max() < FLOAT16_ROUNDING, name
    assert np.allclose(np.linalg.norm(back.normals, axis=2), 1, atol=1e-5)
    assert back.analysis_maps is not None
    assert back.analysis_maps.depth.shape == vision_cues.analysis_maps.depth.shape
    # The analysis-size maps are what is stored: a fraction of the crop-size file.
    assert len(data) < 0.6 * len(cues_to_bytes(replace(vision_cues, analysis_maps=None)))


def test_a_cues_file_of_crop_size_maps_still_reads(vision_cues) -> None:
    back = cues_from_bytes(_old_layout(vision_cues), anchors_to_json(vision_cues.anchors))
    assert back.analysis_maps is None
    assert np.array_equal(back.image, vision_cues.image)
    for name in (*MAPS, "hands"):
        expected = getattr(vision_cues, name).astype(np.float16).astype(np.float32)
        assert np.array_equal(getattr(back, name), expected), name
    assert back.pose == vision_cues.pose and back.face_box == vision_cues.face_box
    # Stored again, cues read from an old file keep its layout (no analysis maps to store).
    again = cues_from_bytes(cues_to_bytes(back), anchors_to_json(back.anchors))
    assert np.array_equal(again.depth, back.depth)


def test_a_cues_file_written_before_still_reads() -> None:
    meta = {
        "crop_box": CUES.crop_box.as_list(),
        "face_box": None,
        "light_dir": list(CUES.light_dir),
        "dropped_anchors": [],
        "timings_ms": {},
    }
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        image=CUES.image,
        **{name: getattr(CUES, name).astype(np.float16) for name in MAPS},
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    back = cues_from_bytes(buffer.getvalue(), anchors_to_json(CUES.anchors))
    assert np.array_equal(back.image, CUES.image)
    assert back.pose == "frontal" and back.hands is None and back.face_box is None
