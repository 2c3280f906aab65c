"""The job state machine: claimed once, resumable after a dead worker, failing cleanly."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image

from render import services
from render.models import RenderJob
from render.tasks import render_job_render, render_job_vision


@pytest.fixture
def tenant(studio):
    with schema_context(studio.schema_name):
        yield studio


def _new_job(data: bytes) -> RenderJob:
    session = services.parent_session_create(
        parent_name="Ada", email="ada@example.com", consent_given=True, skin_swatches=["5"]
    )
    return services.scan_upload(session=session, data=data, enqueue=False)


def test_a_job_runs_each_stage_once_even_when_its_message_arrives_twice(
    tenant, phantom_jpeg
) -> None:
    job = _new_job(phantom_jpeg)
    assert services.render_job_vision_run(job_id=job.pk, enqueue=False) is not None
    assert services.render_job_vision_run(job_id=job.pk, enqueue=False) is None
    assert services.render_job_render_run(job_id=job.pk) is not None
    assert services.render_job_render_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.state == RenderJob.State.READY
    assert job.attempts == 3  # check, vision, render: each claimed once
    assert job.candidates.count() == 5
    assert [c.rank for c in job.candidates.all()] == [0, 1, 2, 3, 4]
    # The raw render is a PNG read back whole; the vision maps are stored small for display.
    candidate = job.candidates.first()
    with candidate.image.open("rb") as handle, Image.open(handle) as raw:
        assert raw.format == "PNG" and raw.mode == "RGB" and max(raw.size) >= 1024
        raw.load()
    scan = job.scan
    for field in (scan.depth_map, scan.normals_map, scan.mask_map):
        with field.open("rb") as handle, Image.open(handle) as shown:
            assert max(shown.size) == services.DISPLAY_MAP_LONG_SIDE
    with scan.report_image.open("rb") as handle, Image.open(handle) as report:
        assert report.size == (scan.width, scan.height)


@pytest.mark.parametrize("encode", [services.png_stored, services.png_compressed])
def test_cradles_own_pngs_read_back_as_the_same_pixels(encode) -> None:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    ramp = np.broadcast_to(np.arange(53, dtype=np.uint8)[None, :, None] * 4, (37, 53, 3))
    for pixels in (noise, np.ascontiguousarray(ramp), np.zeros((1, 1, 3), np.uint8)):
        data = encode(pixels)
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # chunk CRCs and structure
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG" and image.size == pixels.shape[1::-1]
            assert np.array_equal(np.asarray(image.convert("RGB")), pixels)


def test_a_live_lease_held_by_another_worker_makes_the_actor_retry(tenant, phantom_jpeg) -> None:
    job = _new_job(phantom_jpeg)
    RenderJob.objects.filter(pk=job.pk).update(
        state=RenderJob.State.VISION, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    with pytest.raises(services.JobBusy):
        services.render_job_vision_run(job_id=job.pk, enqueue=False)


def test_a_job_whose_worker_died_is_taken_over_after_its_lease_expires(
    tenant, phantom_jpeg
) -> None:
    job = _new_job(phantom_jpeg)
    RenderJob.objects.filter(pk=job.pk).update(
        state=RenderJob.State.VISION, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.render_job_vision_run(job_id=job.pk, enqueue=False) is not None
    job.refresh_from_db()
    assert job.state == RenderJob.State.CONDITIONING


def test_a_crashing_stage_fails_the_job_with_its_reason_and_the_next_job_still_runs(
    tenant,
    phantom_jpeg,
    monkeypatch,
) -> None:
    broken = _new_job(phantom_jpeg)
    healthy = _new_job(phantom_jpeg)

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("depth estimator out of memory")

    with monkeypatch.context() as patch:
        patch.setattr("render.services.vision.analyze", explode)
        render_job_vision.fn(tenant.schema_name, broken.pk)  # the actor body, as a worker runs it
    broken.refresh_from_db()
    assert broken.state == RenderJob.State.FAILED
    assert "vision" in broken.reason and "out of memory" in broken.reason
    assert broken.lease_expires_at is None

    render_job_vision.fn(tenant.schema_name, healthy.pk)
    render_job_render.fn(tenant.schema_name, healthy.pk)
    healthy.refresh_from_db()
    assert healthy.state == RenderJob.State.READY


def test_a_cancelled_job_is_not_rendered(tenant, phantom_jpeg) -> None:
    job = _new_job(phantom_jpeg)
    services.render_job_cancel(job=job)
    job.refresh_from_db()
    assert job.state == RenderJob.State.CANCELLED
    assert services.render_job_vision_run(job_id=job.pk, enqueue=False) is None
    assert job.candidates.count() == 0


def test_a_stalled_job_is_sent_to_the_queue_again(tenant, phantom_jpeg) -> None:
    import dramatiq

    broker = dramatiq.get_broker()
    broker.flush_all()
    job = _new_job(phantom_jpeg)
    RenderJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert services.render_jobs_sweep_due().requeued == 1
    assert broker.queues["vision"].qsize() == 1


def test_a_ready_job_queues_the_print_file_of_its_primary_when_automatic(
    tenant,
    phantom_jpeg,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    import dramatiq

    settings.PRINT_FILES_AUTOMATIC = True
    broker = dramatiq.get_broker()
    broker.flush_all()
    job = _new_job(phantom_jpeg)
    services.render_job_vision_run(job_id=job.pk, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.render_job_render_run(job_id=job.pk)
    primary = job.candidates.get(is_primary=True)
    queue = broker.queues["print"]  # its own queue: re-renders never wait behind an upscale
    message = dramatiq.Message.decode(queue.get(timeout=5))
    queue.task_done()
    assert queue.qsize() == 0
    assert message.actor_name == "candidate_print_make_task"
    assert list(message.args) == [tenant.schema_name, primary.pk]
