"""The cues file: what vision found comes back as it was stored, from new files and old."""

import io
import json

import numpy as np

from render.cue_store import anchors_to_json, cues_from_bytes, cues_to_bytes
from render.tests.pipeline.synthetic_cues import synthetic_cues

CUES = synthetic_cues(96, occluded=True)
MAPS = ("depth", "normals", "subject", "low_confidence")


def test_the_cues_come_back_as_stored() -> None:
    back = cues_from_bytes(cues_to_bytes(CUES), anchors_to_json(CUES.anchors))
    assert np.array_equal(back.image, CUES.image)
    for name in MAPS:  # stored as float16
        expected = getattr(CUES, name).astype(np.float16).astype(np.float32)
        assert np.array_equal(getattr(back, name), expected), name
    assert back.crop_box == CUES.crop_box and back.face_box == CUES.face_box
    assert back.pose == CUES.pose and back.light_dir == tuple(CUES.light_dir)
    assert [a.name for a in back.anchors] == [a.name for a in CUES.anchors]


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
