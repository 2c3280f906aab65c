"""Depth, normals, masks and the report image carry what the scan shows."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from render.pipeline.ingest import ingest
from render.pipeline.phantom import make_phantom
from render.pipeline.report import report_image
from render.pipeline.types import IngestedScan, StructuralCues
from render.pipeline.vision import analyze, maps_as_images


@pytest.fixture(scope="module")
def analysed() -> tuple[IngestedScan, StructuralCues]:
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(seed=7).image).save(buffer, "JPEG", quality=90)
    scan = ingest(buffer.getvalue())
    return scan, analyze(scan)


def local(cues: StructuralCues, name: str) -> tuple[int, int]:
    anchor = cues.anchor(name)
    assert anchor is not None
    return int(anchor.y) - cues.crop_box.y0, int(anchor.x) - cues.crop_box.x0


def test_every_map_covers_the_crop(analysed) -> None:
    _, cues = analysed
    h, w = cues.crop_box.height, cues.crop_box.width
    assert cues.image.shape == (h, w, 3)
    for arr in (cues.depth, cues.subject, cues.low_confidence):
        assert arr.shape == (h, w) and arr.dtype == np.float32
        assert 0 <= arr.min() and arr.max() <= 1
    assert cues.normals.shape == (h, w, 3)
    assert np.allclose(np.linalg.norm(cues.normals, axis=2), 1, atol=1e-3)


def test_the_face_is_nearer_than_the_black_background(analysed) -> None:
    _, cues = analysed
    nose = local(cues, "nose_tip")
    assert cues.depth[nose] > 0.4
    assert cues.depth[2, 2] < 0.05 and cues.subject[2, 2] < 0.1
    assert cues.subject[nose] > 0.9


def test_normals_face_the_viewer_on_the_face_and_tilt_at_its_sides(analysed) -> None:
    _, cues = analysed
    face = cues.face_box
    assert face is not None
    b = cues.crop_box
    on_face = cues.normals[face.y0 - b.y0 : face.y1 - b.y0, face.x0 - b.x0 : face.x1 - b.x0]
    assert np.median(on_face[..., 2]) > 0.8
    ys, xs = np.nonzero(cues.subject > 0.5)
    row = int(np.median(ys))
    left_edge, right_edge = xs[ys == row].min(), xs[ys == row].max()
    # Near the silhouette the surface turns away: x normal points out on each side.
    assert cues.normals[row, left_edge + 6, 0] < -0.1
    assert cues.normals[row, right_edge - 6, 0] > 0.1


def test_the_light_comes_from_the_upper_left_like_the_phantom_lamp(analysed) -> None:
    _, cues = analysed
    x, y, z = cues.light_dir
    assert x < 0 and y > 0 and z > 0
    assert abs(np.linalg.norm(cues.light_dir) - 1) < 1e-6


def test_maps_as_images_are_displayable(analysed) -> None:
    _, cues = analysed
    images = maps_as_images(cues)
    assert set(images) == {"depth", "normals", "mask", "subject"}
    for image in images.values():
        assert image.dtype == np.uint8 and image.shape[:2] == cues.depth.shape
    nose = local(cues, "nose_tip")
    assert images["depth"][nose].mean() > images["depth"][2, 2].mean() + 80
    # The subject view keeps the head as scanned and dims what is not the baby.
    assert (images["subject"][nose] == cues.image[nose]).all()
    assert images["subject"][2, 2].mean() <= 0.35 * cues.image[2, 2].mean() + 1


def test_the_report_draws_anchors_boxes_and_blanked_text(analysed) -> None:
    scan, cues = analysed
    report = report_image(scan, cues, anchors=True)  # a file read on its own
    assert report.shape == scan.image.shape
    for anchor in cues.anchors:
        x, y = int(anchor.x), int(anchor.y)
        assert report[y, x].tolist() == [255, 255, 255]  # the anchor dot
    for box in scan.text_boxes:
        assert not np.array_equal(
            report[box.y0, box.x0 : box.x1], scan.image[box.y0, box.x0 : box.x1]
        )
    # The scan itself is untouched: the report is a copy.
    assert not np.array_equal(report, scan.image)


def test_the_stored_report_leaves_the_anchors_to_the_page(analysed) -> None:
    """The job page draws each anchor as a labelled handle over the report: the report itself
    carries no second set of marks or names to collide with them."""
    scan, cues = analysed
    assert cues.anchors
    report = report_image(scan, cues)
    assert np.array_equal(report, report_image(scan, replace(cues, anchors=())))
    assert not np.array_equal(report, report_image(scan, cues, anchors=True))
    # Boxes are still there: the face outline and the render area.
    assert not np.array_equal(report, scan.image)
