"""Where Cradle finds no face, the sonographer places its points herself and Cradle paints.

Membranes across a turned face hide it from the detector: the job is rejected "no face", and
was a dead end (upload another scan). The rejected job's page now offers the face points to drag
onto the scan; saving them starts a job from the vision stage, which reads the scan from those
points, and the render goes on from there as from a detected face.
"""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from render import services
from render.models import RenderJob
from render.pipeline import phantom, vision
from studio_portal.tenants.models import Studio
from tests.api.conftest import api_client_for
from tests.render_jobs import phantom_scan, read_job

pytestmark = pytest.mark.django_db

HIDDEN = {
    "occluder": "membrane",
    "pose": "three-quarter-left",
    "seed": 3,
    "palette": "voluson-gold",
}


@pytest.fixture(scope="module")
def hidden_face() -> phantom.Phantom:
    return phantom.make_phantom(**HIDDEN)


@pytest.fixture
def rejected_job(studio: Studio) -> RenderJob:
    job = read_job(phantom_scan(**HIDDEN), swatch="5")
    assert job.state == RenderJob.State.REJECTED and job.reason == vision.MSG_NO_FACE
    return job


def _points(face: phantom.Phantom, *names: str) -> dict[str, dict[str, float]]:
    return {name: {"x": face.anchors[name][0], "y": face.anchors[name][1]} for name in names}


def test_the_rejected_page_offers_the_face_points_to_place(
    client_a: Client, rejected_job: RenderJob
) -> None:
    page = client_a.get(f"/jobs/{rejected_job.uid}/").content.decode()
    assert "place its points yourself" in page
    assert "Place the face points yourself" in page
    for name in vision.PLACED_NAMES:
        assert f'data-anchor="{name}"' in page
    assert page.count('class="anchor optional"') == 2  # the mouth and the chin
    assert 'name="anchors" value="{}"' in page  # only the points she moves are sent


def test_placed_points_read_the_scan_again_and_the_render_goes_on(
    client_a: Client,
    rejected_job: RenderJob,
    hidden_face: phantom.Phantom,
    django_capture_on_commit_callbacks,
) -> None:
    placed = _points(hidden_face, "eye_left", "eye_right", "nose_tip", "chin")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_a.post(
            f"/jobs/{rejected_job.uid}/anchors/", {"anchors": json.dumps(placed)}
        )
    assert len(callbacks) == 1  # the vision actor, once the new job commits
    with schema_context("alpha"):
        again = RenderJob.objects.get(parent_job=rejected_job)
        assert response["Location"] == f"/jobs/{again.uid}/"
        assert again.state == RenderJob.State.QUEUED
        assert again.scan_id == rejected_job.scan_id and again.scan.anchors_placed
        services.render_job_vision_run(job_id=again.pk, enqueue=False)
        again.refresh_from_db()
        scan = again.scan
        assert again.state == RenderJob.State.CONDITIONING, again.reason
        assert scan.cues_file and scan.report_image
        # Her points are the anchors, sure, where she put them.
        assert set(scan.anchors) == set(placed)
        for name, point in placed.items():
            assert scan.anchors[name]["confidence"] == 1.0
            assert scan.anchors[name]["x"] == pytest.approx(point["x"], abs=0.5)
            assert scan.anchors[name]["y"] == pytest.approx(point["y"], abs=0.5)
        services.render_job_render_run(job_id=again.pk)
        again.refresh_from_db()
        assert again.state in RenderJob.REVIEWABLE, again.reason
        assert again.candidates.count() == 5
    page = client_a.get(f"/jobs/{again.uid}/").content.decode()
    assert "Place the face points yourself" not in page


def test_the_nose_and_an_eye_are_needed(
    client_a: Client, rejected_job: RenderJob, hidden_face: phantom.Phantom
) -> None:
    placed = _points(hidden_face, "eye_left", "eye_right")
    page = client_a.post(
        f"/jobs/{rejected_job.uid}/anchors/", {"anchors": json.dumps(placed)}, follow=True
    ).content.decode()
    assert "Place the nose tip and the eyes you can see" in page
    with schema_context("alpha"):
        assert not RenderJob.objects.filter(parent_job=rejected_job).exists()
        rejected_job.scan.refresh_from_db()
        assert not rejected_job.scan.anchors_placed


def test_the_api_places_the_points_too(
    studio: Studio, rejected_job: RenderJob, hidden_face: phantom.Phantom
) -> None:
    api: APIClient = api_client_for(studio)[0]
    missing = api.post(
        f"/api/jobs/{rejected_job.uid}/anchors/",
        {"anchors": _points(hidden_face, "eye_left", "chin")},
        format="json",
    )
    assert missing.status_code == 400
    assert "nose tip" in json.dumps(missing.json())
    placed = api.post(
        f"/api/jobs/{rejected_job.uid}/anchors/",
        {"anchors": _points(hidden_face, "eye_left", "eye_right", "nose_tip")},
        format="json",
    )
    assert placed.status_code == 201
    assert placed.json()["state"] == "queued"


def test_points_are_placed_once_per_rejected_job(
    studio: Studio, rejected_job: RenderJob, hidden_face: phantom.Phantom
) -> None:
    placed = _points(hidden_face, "eye_left", "eye_right", "nose_tip")
    with schema_context("alpha"):
        services.scan_anchors_correct(job=rejected_job, anchors=placed)
        with pytest.raises(ValidationError, match="placed once"):
            services.scan_anchors_correct(job=rejected_job, anchors=placed)
        assert RenderJob.objects.filter(parent_job=rejected_job).count() == 1
        assert not services.anchors_placeable(rejected_job)


def test_eyes_named_the_other_way_round_are_named_as_seen_upright(
    studio: Studio, rejected_job: RenderJob, hidden_face: phantom.Phantom
) -> None:
    swapped = _points(hidden_face, "eye_left", "eye_right", "nose_tip")
    swapped["eye_left"], swapped["eye_right"] = swapped["eye_right"], swapped["eye_left"]
    with schema_context("alpha"):
        again = services.scan_anchors_correct(job=rejected_job, anchors=swapped)
        anchors = again.scan.anchors
    assert anchors["eye_left"]["x"] == pytest.approx(hidden_face.anchors["eye_left"][0], abs=0.1)
    assert anchors["eye_right"]["x"] == pytest.approx(hidden_face.anchors["eye_right"][0], abs=0.1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eye_right": "eye_left"}, "on one spot"),
        ({"nose_tip": (3.0, 3.0)}, "on the render itself"),
    ],
)
def test_points_that_cannot_be_a_face_are_refused(
    studio: Studio, rejected_job: RenderJob, hidden_face: phantom.Phantom, change, message
) -> None:
    placed = _points(hidden_face, "eye_left", "eye_right", "nose_tip")
    for name, to in change.items():
        placed[name] = dict(placed[to]) if isinstance(to, str) else {"x": to[0], "y": to[1]}
    with schema_context("alpha"), pytest.raises(ValidationError, match=message):
        services.scan_anchors_correct(job=rejected_job, anchors=placed)


def test_only_a_no_face_rejection_takes_placed_points(
    studio: Studio, rejected_job: RenderJob, hidden_face: phantom.Phantom
) -> None:
    with schema_context("alpha"):
        RenderJob.objects.filter(pk=rejected_job.pk).update(reason="Something else went wrong")
        rejected_job.refresh_from_db()
        assert not services.anchors_placeable(rejected_job)
        with pytest.raises(ValidationError):
            services.scan_anchors_correct(
                job=rejected_job, anchors=_points(hidden_face, "eye_left", "eye_right", "nose_tip")
            )
        assert not RenderJob.objects.filter(parent_job=rejected_job).exists()
