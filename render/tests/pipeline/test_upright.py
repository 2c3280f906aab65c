"""A baby lying on her side in the scan is painted upright: vision reads her face turned
upright, and conditioning turns the crop, every map and the anchors so the portrait stands
head up with the wrap beneath the chin. A small tilt is kept as the scan shows it."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest

from render.cue_store import anchors_to_json, cues_from_bytes, cues_to_bytes
from render.pipeline import phantom
from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import candidate_seeds
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.ingest import ingest
from render.pipeline.types import Anchor, Box, StructuralCues
from render.pipeline.upright import face_roll, upright
from render.pipeline.vision import analyze
from render.tests.pipeline.synthetic_cues import synthetic_cues
from render.tests.pipeline.test_portraits_from_phantom_scans import jpeg


def _rolled_a_quarter(cues: StructuralCues) -> StructuralCues:
    """``cues`` turned a quarter counter-clockwise (as shown), built independently of upright.py:
    np.rot90, (x, y) -> (y, W - x), and the normals' picture-plane part turned with it."""
    width = cues.depth.shape[1]
    n = cues.normals
    normals = np.rot90(np.dstack([-n[..., 1], n[..., 0], n[..., 2]]))
    return replace(
        cues,
        image=np.ascontiguousarray(np.rot90(cues.image)),
        depth=np.ascontiguousarray(np.rot90(cues.depth)),
        normals=np.ascontiguousarray(normals),
        subject=np.ascontiguousarray(np.rot90(cues.subject)),
        low_confidence=np.ascontiguousarray(np.rot90(cues.low_confidence)),
        anchors=tuple(Anchor(a.name, a.y, width - a.x, a.confidence) for a in cues.anchors),
        analysis_maps=None,
        roll=-90.0,  # as vision confirms it: turning clockwise stands the face up
    )


def test_a_face_turned_a_quarter_is_turned_back_map_for_map() -> None:
    face = synthetic_cues(256, occluded=True)
    lying = _rolled_a_quarter(face)

    stood = upright(lying)

    assert stood.depth.shape == face.depth.shape
    inner = (slice(8, -8), slice(8, -8))  # the interpolated border aside
    assert np.abs(stood.depth[inner] - face.depth[inner]).mean() < 0.01
    assert np.abs(stood.low_confidence[inner] - face.low_confidence[inner]).mean() < 0.01
    on_face = face.subject[inner] > 0.5
    agreement = (stood.normals[inner] * face.normals[inner]).sum(axis=2)[on_face]
    assert np.median(agreement) > 0.99  # the surface faces the same way, not a quarter off
    for anchor in face.anchors:
        back = stood.anchor(anchor.name)
        assert back is not None
        assert abs(back.x - anchor.x) < 1.5 and abs(back.y - anchor.y) < 1.5
    assert stood.analysis_maps is None  # vision's own maps are not passed on turned
    assert stood.roll == 0.0 and upright(stood) is stood


def test_a_small_tilt_and_a_profile_are_painted_as_the_scan_shows_them() -> None:
    face = synthetic_cues(256, occluded=False)
    tilted = replace(face, roll=12.0)
    assert upright(tilted) is tilted
    assert build(tilted, blend_tone([5])).cues is tilted
    # The silhouette reader finds only upright profiles: a roll on one is not trusted.
    profile = replace(face, roll=60.0, pose="profile-left")
    assert face_roll(profile) == 0.0 and upright(profile) is profile


def test_the_cues_file_keeps_the_roll_and_an_older_file_reads_as_upright() -> None:
    lying = replace(synthetic_cues(64, occluded=False), roll=-90.0)
    anchors = anchors_to_json(lying.anchors)
    assert cues_from_bytes(cues_to_bytes(lying), anchors).roll == -90.0
    # A file written before rolls were stored: the same members, no "roll" in its meta.
    stored = np.load(io.BytesIO(cues_to_bytes(lying)))
    members = {name: stored[name] for name in stored.files}
    meta = json.loads(members["meta"].tobytes().decode())
    del meta["roll"]
    members["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    older = io.BytesIO()
    np.savez(older, **members)
    assert cues_from_bytes(older.getvalue(), anchors).roll == 0.0


@pytest.fixture(
    scope="module",
    # The skin-like palette's mesh reads the face upright at first (5 anchors agreeing, the
    # template across her brow): the quarter turn must still win.
    params=[(90, 110, "voluson-gold"), (-90, 112, "hdlive-skin")],
    ids=["roll+90", "roll-90-skin"],
)
def lying(request: pytest.FixtureRequest) -> tuple[phantom.Phantom, StructuralCues]:
    roll, seed, palette = request.param
    scan = phantom.make_phantom(roll=roll, seed=seed, palette=palette)
    return scan, analyze(ingest(jpeg(scan.image)))


def test_vision_reads_a_face_lying_on_its_side_whole(lying) -> None:
    scan, cues = lying
    assert cues.pose == "frontal"
    assert abs(abs(cues.roll) - 90.0) < 12.0
    assert {a.name for a in cues.anchors} == set(scan.anchors)
    diagonal = float(np.hypot(*np.ptp(np.array(list(scan.anchors.values())), axis=0)))
    for anchor in cues.anchors:
        truth = scan.anchors[anchor.name]  # the phantom names sides as seen upright
        assert np.hypot(anchor.x - truth[0], anchor.y - truth[1]) < 0.1 * diagonal, anchor.name


def test_her_portrait_stands_upright_with_the_wrap_below_the_chin(lying) -> None:
    _, cues = lying
    conditioning = build(cues, blend_tone([4]))
    turned = conditioning.cues
    assert any("painted upright" in note for note in conditioning.notes)
    eyes = [turned.anchor("eye_left"), turned.anchor("eye_right")]
    nose, mouth, chin = (turned.anchor(n) for n in ("nose_tip", "mouth", "chin"))
    assert all(a is not None for a in (*eyes, nose, mouth, chin))
    gap = eyes[1].x - eyes[0].x
    assert gap > 0 and abs(eyes[1].y - eyes[0].y) < 0.2 * gap  # level, left to right
    assert max(e.y for e in eyes) < nose.y < mouth.y < chin.y  # head up
    assert turned.subject.shape == turned.depth.shape == turned.image.shape[:2]
    assert conditioning.inpaint_mask.shape == turned.depth.shape

    candidate = RelightEngine(output_long_side=512).render(conditioning, candidate_seeds(1))[0]
    props = candidate.props > 0.5
    rows = np.nonzero(props.any(axis=1))[0]
    scale = candidate.image.shape[0] / turned.depth.shape[0]
    assert rows.size and rows.max() == candidate.image.shape[0] - 1  # the wrap is at the bottom
    # ... and does not rise over the eyes: it lies round the chin, not over a side of the face.
    eye_row = int(max(e.y for e in eyes) * scale)
    assert props[: eye_row + 1].mean() < 0.01


def test_the_face_box_keeps_the_face_size_whatever_the_turn() -> None:
    # A face box is the box round the face outline as the picture shows it; turned upright,
    # it must be the face's own box again, not the larger box round a turned box.
    for roll in (30.0, 45.0, -60.0, 90.0, 180.0):
        theta = np.deg2rad(roll)
        a, b = 85.0, 100.0  # the outline's half width and half height, upright
        half_w = np.sqrt((a * np.cos(theta)) ** 2 + (b * np.sin(theta)) ** 2)
        half_h = np.sqrt((a * np.sin(theta)) ** 2 + (b * np.cos(theta)) ** 2)
        face = synthetic_cues(512, occluded=False)
        box = Box(int(256 - half_w), int(256 - half_h), int(256 + half_w), int(256 + half_h))
        turned = upright(replace(face, face_box=box, roll=roll))
        assert turned.face_box is not None
        width = turned.face_box.x1 - turned.face_box.x0
        height = turned.face_box.y1 - turned.face_box.y0
        assert abs(width - 2 * a) < 0.08 * 2 * a and abs(height - 2 * b) < 0.08 * 2 * b, roll


def test_anchors_a_sonographer_placed_say_which_way_is_up() -> None:
    # Vision read her upright (roll 0); the sonographer's anchors put the chin to the left of
    # the eyes: a quarter turn counter-clockwise stands her up.
    lying = replace(synthetic_cues(64, occluded=False), roll=0.0)
    placed = {
        "eye_left": {"x": 40.0, "y": 20.0, "confidence": 1.0},
        "eye_right": {"x": 40.0, "y": 44.0, "confidence": 1.0},
        "nose_tip": {"x": 30.0, "y": 32.0, "confidence": 1.0},
        "mouth": {"x": 22.0, "y": 32.0, "confidence": 1.0},
        "chin": {"x": 14.0, "y": 32.0, "confidence": 1.0},
    }
    assert cues_from_bytes(cues_to_bytes(lying), placed).roll == pytest.approx(90.0)
    # Vision's own anchors (its confidences) keep the roll vision stored.
    read = {name: {**point, "confidence": 0.9} for name, point in placed.items()}
    assert cues_from_bytes(cues_to_bytes(lying), read).roll == 0.0
