"""The hosted engine end to end: an owner opts the studio in (page and API), the consent the
parent accepts names Replicate, and a job renders through the real SDK against a local fake of
Replicate's API, sending nothing about the parent and recording the provider's request id and
cost on the job. A parent who consented before the opt-in is never sent to the provider."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from render import engine_choice, services
from render.models import ParentSession, RenderJob
from render.tests.fake_replicate import start_fake_replicate
from studio_portal.tenants.models import Studio
from tests.api.conftest import api_client_for
from tests.tenancy import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def replicate_server():
    state, httpd = start_fake_replicate()
    yield state
    httpd.shutdown()


@pytest.fixture
def hosted(settings, replicate_server):
    """The operator has set up the hosted engine (pointed at the fake)."""
    replicate_server.requests.clear()
    settings.RENDER_ENGINE = "relight"
    settings.REPLICATE_API_TOKEN = "r8_test_token"
    settings.RENDER_HOSTED_MODEL = "cradle/sdxl-lightning-depth"
    settings.RENDER_HOSTED_BASE_URL = replicate_server.url
    settings.RENDER_HOSTED_USD_PER_SECOND = "0.001525"
    return replicate_server


@pytest.fixture(autouse=True)
def _studio_back_to_default(studio: Studio):
    yield
    Studio.objects.filter(pk=studio.pk).update(render_engine="")


def test_the_hosted_engine_cannot_be_chosen_until_the_operator_sets_it_up(
    studio: Studio, settings
) -> None:
    settings.RENDER_ENGINE = "relight"
    settings.REPLICATE_API_TOKEN = ""
    owner = signed_in_client(studio, "owner")
    page = owner.get("/settings/").content.decode()
    assert "Portrait engine" in page and 'value="hosted"' not in page
    response = owner.post("/settings/engine/", {"render_engine": "hosted"})
    assert response.status_code == 400
    assert "has not set up the hosted engine" in response.content.decode()
    assert Studio.objects.get(pk=studio.pk).render_engine == ""


def test_an_owner_opts_in_and_the_parent_s_consent_names_replicate(
    studio: Studio, client_a: Client, hosted
) -> None:
    assert client_a.post("/settings/engine/", {"render_engine": "hosted"}).status_code == 403
    owner = signed_in_client(studio, "owner")
    page = owner.get("/settings/").content.decode()
    assert 'value="hosted"' in page and "keeps nothing" in page
    response = owner.post("/settings/engine/", {"render_engine": "hosted"})
    assert response.status_code == 302
    assert Studio.objects.get(pk=studio.pk).render_engine == "hosted"
    with schema_context(studio.schema_name):
        from studio_portal.audit.models import AuditLogEntry

        change = AuditLogEntry.objects.filter(action="studio.render_engine_changed").latest("pk")
        assert change.detail == {"from": "default", "to": "hosted"}

    form = client_a.get("/sessions/new/").content.decode()
    assert "sent to Replicate, Inc. (USA)" in form
    assert "does not keep it after the portrait is made and does not use it to train" in form
    assert "Photoreal · classic" in form
    version = engine_choice.consent_version(Studio.objects.get(pk=studio.pk))
    assert version.endswith("+replicate") and f"version {version}" in form


def test_the_api_reads_and_sets_the_engine_for_owners_only(studio: Studio, hosted) -> None:
    sono, _ = api_client_for(studio, "sono")
    owner, _ = api_client_for(studio, "owner")
    answer = sono.get("/api/engine/").json()
    assert answer["chosen"] == "" and answer["engine"] == "relight"
    assert answer["configured"] == ["relight", "hosted"]
    assert sono.put("/api/engine/", {"engine": "hosted"}, format="json").status_code == 403
    refused = owner.put("/api/engine/", {"engine": "dall-e"}, format="json")
    assert refused.status_code == 400 and "Unknown engine 'dall-e'" in str(refused.json())
    answer = owner.put("/api/engine/", {"engine": "hosted"}, format="json").json()
    assert answer["engine"] == "hosted" and answer["consent_version"].endswith("+replicate")
    assert "Replicate" in answer["hosted_consent"]


def test_a_job_renders_through_the_provider_sending_nothing_about_the_parent(
    studio: Studio, hosted, phantom_jpeg: bytes
) -> None:
    engine_choice.studio_render_engine_set(studio=studio, engine="hosted")
    with schema_context(studio.schema_name):
        session = services.parent_session_create(
            parent_name="Ada Lovelace",
            email="ada.lovelace@example.com",
            phone="+14155550123",
            consent_given=True,
            skin_swatches=["5"],
        )
        assert session.consent_text_version.endswith("+replicate")
        job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        assert job.engine == "hosted"
        services.render_job_check_run(job_id=job.pk, enqueue=False)
        services.render_job_vision_run(job_id=job.pk, enqueue=False)
        services.render_job_render_run(job_id=job.pk)
        job = RenderJob.objects.get(pk=job.pk)
        assert job.state in (RenderJob.State.READY, RenderJob.State.NEEDS_REVIEW), job.reason
        assert job.candidates.count() == 5
        request = job.stage_log["hosted"]
        assert request["provider"] == "replicate" and request["status"] == "succeeded"
        assert request["request_id"] in hosted.predictions
        assert request["cost_usd"] == pytest.approx(3.25 * 0.001525, abs=1e-5)
    api, _ = api_client_for(studio, "sono")
    shown = api.get(f"/api/jobs/{job.uid}/").json()
    assert shown["engine"] == "hosted" and shown["provider"]["request_id"] == request["request_id"]
    (create,) = [r for r in hosted.requests if r.method == "POST"]
    sent = create.json()["input"]
    images = [key for key, value in sent.items() if str(value).startswith("data:image/png")]
    assert sorted(images) == ["control_image", "image", "mask"]
    # Everything else is words and numbers; none of them is about the parent, job or studio.
    words = " ".join(str(v) for k, v in sent.items() if k not in images)
    paths = " ".join(r.path for r in hosted.requests)
    for detail in ("Ada", "Lovelace", "ada.lovelace", "4155550123", str(job.uid), studio.name):
        assert detail not in words and detail not in paths


def test_a_parent_who_consented_before_the_opt_in_is_not_sent_to_the_provider(
    studio: Studio, hosted, phantom_jpeg: bytes
) -> None:
    with schema_context(studio.schema_name):
        session = services.parent_session_create(
            parent_name="Grace", consent_given=True, skin_swatches=["4"]
        )
        assert not session.consent_text_version.endswith("+replicate")
        engine_choice.studio_render_engine_set(studio=studio, engine="hosted")
        job = services.scan_upload(
            session=ParentSession.objects.get(pk=session.pk), data=phantom_jpeg, enqueue=False
        )
        assert job.engine == "relight"


def test_a_provider_failure_fails_the_job_with_its_reason_and_keeps_the_request(
    studio: Studio, hosted, phantom_jpeg: bytes
) -> None:
    from render.tasks import _run

    engine_choice.studio_render_engine_set(studio=studio, engine="hosted")
    hosted.outcome = "failed"
    try:
        with schema_context(studio.schema_name):
            session = services.parent_session_create(
                parent_name="Mary", consent_given=True, skin_swatches=["6"]
            )
            job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
            services.render_job_check_run(job_id=job.pk, enqueue=False)
            services.render_job_vision_run(job_id=job.pk, enqueue=False)
        _run(services.render_job_render_run, studio.schema_name, job.pk)
        with schema_context(studio.schema_name):
            job = RenderJob.objects.get(pk=job.pk)
            assert job.state == RenderJob.State.FAILED
            assert "Replicate could not paint the portraits: CUDA out of memory" in job.reason
            assert job.stage_log["hosted"]["status"] == "failed"
            assert job.candidates.count() == 0
    finally:
        hosted.outcome = "succeeded"
