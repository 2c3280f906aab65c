"""``manage.py analyze_scan``: one JSON verdict per file, maps written, patient text never shown."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from render.pipeline.phantom import Phantom, make_bmode, make_phantom
from render.pipeline.types import ANCHOR_NAMES
from render.pipeline.vision import MSG_BMODE, MSG_NO_FACE

MAPS = ("depth", "normals", "mask")
EVERY_FILE = ("deidentified", "depth", "normals", "mask", "subject", "report")


def run(path: Path, out: Path | None = None) -> dict:
    stdout = io.StringIO()
    args = [str(path), "--json"] + (["--out", str(out)] if out else [])
    call_command("analyze_scan", *args, stdout=stdout)
    return json.loads(stdout.getvalue())  # fails on anything but exactly one JSON value


def save(rgb: np.ndarray, path: Path, **params: object) -> Path:
    Image.fromarray(rgb).save(path, **params)
    return path


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom(seed=3)


@pytest.fixture(scope="module")
def accepted(phantom: Phantom, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("accepted")
    scan = save(phantom.image, folder / "scan.jpg", quality=92)
    return run(scan, folder / "out"), folder / "out"


def test_it_accepts_the_phantom_with_every_anchor_near_the_ground_truth(
    accepted: tuple[dict, Path], phantom: Phantom
) -> None:
    result, _ = accepted
    assert result["kind"] == "3d-render" and result["accepted"] is True
    assert set(result["anchors"]) == set(ANCHOR_NAMES), result["dropped_anchors"]
    tolerance = 0.12 * phantom.face_box.width
    for name, anchor in result["anchors"].items():
        x, y = phantom.anchors[name]
        assert np.hypot(anchor["x"] - x, anchor["y"] - y) <= tolerance, name
        assert 0 < anchor["confidence"] <= 1
    x0, y0, x1, y1 = result["face_box"]
    truth = phantom.face_box
    assert x0 < truth.x0 + 0.2 * truth.width and x1 > truth.x1 - 0.2 * truth.width
    assert y0 < phantom.anchors["eye_left"][1] < phantom.anchors["chin"][1] <= y1 + 5
    rx0, ry0, rx1, ry1 = result["render_box"]
    assert rx0 <= x0 and ry0 <= y0 and x1 <= rx1 and y1 <= ry1
    assert result["frame_index"] is None
    assert {"decode", "deidentify", "landmarks", "maps", "total"} <= set(result["timings_ms"])


def test_it_writes_the_frame_and_every_map_at_the_right_size(accepted: tuple[dict, Path]) -> None:
    result, out = accepted
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{f}.png" for f in EVERY_FILE)
    x0, y0, x1, y1 = result["render_box"]
    assert read(out / "deidentified.png").shape == (872, 1280, 3)
    assert read(out / "report.png").shape == (872, 1280, 3)
    for name in MAPS:
        assert read(out / f"{name}.png").shape == (y1 - y0, x1 - x0, 3), name
    depth = read(out / "depth.png")[..., 0]
    nose = result["anchors"]["nose_tip"]
    assert depth[int(nose["y"]) - y0, int(nose["x"]) - x0] > depth[2, 2] + 80  # nearer = brighter


def test_the_fake_patient_text_is_in_no_written_image(
    accepted: tuple[dict, Path], phantom: Phantom
) -> None:
    result, out = accepted
    deidentified, report = read(out / "deidentified.png"), read(out / "report.png")
    rx0, ry0, rx1, ry1 = result["render_box"]
    maps = {name: read(out / f"{name}.png") for name in MAPS}
    original = phantom.image.astype(int)
    for drawn in phantom.text_boxes:
        region = (slice(drawn.y0, drawn.y1), slice(drawn.x0, drawn.x1))
        ink = original[region].max(axis=2) > 90  # the text's strokes
        assert ink.sum() > 20, drawn
        flat = deidentified[region]
        assert flat.max() - flat.min() <= 12, drawn  # blanked: no stroke survives
        # The report outlines each box, but no stroke pixel keeps the text's colour.
        changed = np.abs(report[region] - original[region]).max(axis=2)
        assert (changed[ink] > 40).all(), drawn
        # Where a text box reaches into the crop, the maps there are flat as well.
        cx0, cy0 = max(drawn.x0, rx0) - rx0, max(drawn.y0, ry0) - ry0
        cx1, cy1 = min(drawn.x1, rx1) - rx0, min(drawn.y1, ry1) - ry0
        if cx0 < cx1 and cy0 < cy1:
            for name, image in maps.items():
                patch = image[cy0:cy1, cx0:cx1]
                assert patch.max() - patch.min() <= 12, (name, drawn)
    assert result["text_boxes"], "the header text was found"


def test_a_gold_bmode_is_refused_as_a_2d_scan_with_only_the_frame_written(tmp_path: Path) -> None:
    scan = save(make_bmode(tint="gold"), tmp_path / "bmode.png")
    result = run(scan, tmp_path / "out")
    assert result["kind"] == "2d-bmode" and result["accepted"] is False
    assert result["reason"] == MSG_BMODE
    assert result["face_box"] is None and result["anchors"] == {}
    assert len(result["render_box"]) == 4 and result["text_boxes"]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["deidentified.png", "report.png"]
    header = read(tmp_path / "out" / "deidentified.png")[:40]
    assert header.max() - header.min() <= 12  # the fake patient text is blanked here too


def test_a_plain_gradient_is_refused_as_having_no_face(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 255, 640).astype(np.uint8), (480, 1))
    scan = save(np.dstack([ramp, (ramp * 0.8).astype(np.uint8), ramp // 2]), tmp_path / "g.png")
    result = run(scan)
    assert result["kind"] == "no-face" and result["accepted"] is False
    assert result["reason"] == MSG_NO_FACE
    assert result["anchors"] == {} and result["face_box"] is None


@pytest.mark.parametrize(
    ("content", "reason_part"),
    [
        (np.random.default_rng(0).bytes(5000), "not a format Cradle can read"),
        (b"", "empty"),
        (b"PK\x03\x04" + bytes(200), "ZIP archive"),
    ],
    ids=["random-bytes", "empty", "zip-named-jpg"],
)
def test_a_file_that_is_no_image_is_unreadable_and_nothing_is_written(
    tmp_path: Path, content: bytes, reason_part: str
) -> None:
    scan = tmp_path / "scan.jpg"
    scan.write_bytes(content)
    result = run(scan, tmp_path / "out")
    assert result["kind"] == "unreadable" and result["accepted"] is False
    assert reason_part in result["reason"]
    assert result["render_box"] is None and result["text_boxes"] == []
    assert list((tmp_path / "out").iterdir()) == []


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path,
    phantom: Phantom,
    settings,
) -> None:
    scan = save(phantom.image, tmp_path / "scan.jpg", quality=92)
    settings.SCAN_MAX_BYTES = scan.stat().st_size - 1
    result = run(scan)
    assert result["kind"] == "unreadable" and "Cradle accepts up to" in result["reason"]


def test_a_missing_file_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No such file"):
        call_command("analyze_scan", str(tmp_path / "nope.jpg"), "--json")


def test_stdout_of_the_real_command_is_one_json_object(tmp_path: Path, phantom: Phantom) -> None:
    """MediaPipe logs from native code; in a real process none of it may reach stdout."""
    scan = save(phantom.image, tmp_path / "scan.jpg", quality=92)
    done = subprocess.run(
        [sys.executable, "manage.py", "analyze_scan", str(scan), "--json"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "studio_portal.settings"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["kind"] == "3d-render"
    assert done.stdout.count("\n") <= 1
