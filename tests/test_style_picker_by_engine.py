"""The style picker says what the configured engine can make: "Studio light" (the scan's own
surface re-lit, an artistic style, not a photograph) on the CPU engine; photoreal styles only
where a diffusion engine is configured. Pages and API alike."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from render import services
from render.models import RenderJob
from studio_portal.tenants.models import Studio
from tests.api.conftest import api_client_for

pytestmark = pytest.mark.django_db


def _radio_labels(page: str) -> list[str]:
    labels = re.findall(r'<label class="style-option"[^>]*>.*?>\s*([^<]+?)<span', page, re.S)
    return [label.strip() for label in labels]


def test_the_cpu_engine_offers_studio_light_and_no_photoreal_style(
    client_a: Client, settings
) -> None:
    settings.RENDER_ENGINE = "relight"
    page = client_a.get("/sessions/new/").content.decode()
    assert _radio_labels(page) == [
        "Studio light",
        "Studio light · soft",
        "Studio light · warm",
        "Studio light · black and white",
    ]
    assert "HDlive studio mode" in page
    assert "an artistic style, not a photograph" in page
    assert "photoreal" not in page.lower()
    assert "shallow depth of field" not in page  # a camera's words, not this engine's


def test_a_diffusion_engine_offers_photoreal_styles(client_a: Client, settings) -> None:
    settings.RENDER_ENGINE = "diffusers"
    page = client_a.get("/sessions/new/").content.decode()
    assert _radio_labels(page) == [
        "Photoreal · classic",
        "Photoreal · soft light",
        "Photoreal · warm studio",
        "Photoreal · black and white",
    ]
    assert "never a photograph of the baby or a medical prediction" in page
    assert "Studio light" not in page


def test_a_session_and_its_job_name_the_style_for_the_engine_that_paints_it(
    client_a: Client, studio: Studio, phantom_jpeg: bytes, settings
) -> None:
    settings.RENDER_ENGINE = "relight"
    form = {
        "parent_name": "Kim",
        "consent_given": "on",
        "tone_1": "#a07e56",
        "tone_toggle": "1",
        "style": "warm-studio",
    }
    assert client_a.post("/sessions/new/", form).status_code == 302
    with schema_context("alpha"):
        session = services.parent_session_create(
            parent_name="Ana", consent_given=True, skin_swatches=["4"], style="soft-light"
        )
        job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        # A job keeps the engine it was made with, whatever is configured later.
        photoreal = RenderJob.objects.create(
            session=session, base_seed=3, engine="diffusers", style="soft-light"
        )
    assert "Studio light · soft" in client_a.get(f"/sessions/{session.uid}/").content.decode()
    page = client_a.get(f"/jobs/{job.uid}/").content.decode()
    assert "Studio light · soft" in page
    page = client_a.get(f"/jobs/{photoreal.uid}/").content.decode()
    assert "Photoreal · soft light" in page


def test_a_rerun_offers_the_styles_of_the_jobs_own_engine(
    client_a: Client, studio: Studio, phantom_jpeg: bytes, settings
) -> None:
    settings.RENDER_ENGINE = "relight"
    with schema_context("alpha"):
        session = services.parent_session_create(
            parent_name="Ana", consent_given=True, skin_swatches=["4"]
        )
        job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        services.render_job_vision_run(job_id=job.pk, enqueue=False)
        services.render_job_render_run(job_id=job.pk)
    page = client_a.get(f"/jobs/{job.uid}/").content.decode()
    assert '<option value="soft-light">Studio light · soft</option>' in page
    assert "Photoreal" not in page
    with schema_context("alpha"):
        RenderJob.objects.filter(pk=job.pk).update(engine="diffusers")
    page = client_a.get(f"/jobs/{job.uid}/").content.decode()
    assert '<option value="soft-light">Photoreal · soft light</option>' in page
    assert "Studio light" not in page


@pytest.mark.parametrize(
    ("engine", "look", "photoreal", "first"),
    [("relight", "Studio light", False, "Studio light"), ("diffusers", "Photoreal", True, None)],
)
def test_the_api_lists_the_styles_of_the_configured_engine(
    studio: Studio, settings, engine, look, photoreal, first
) -> None:
    settings.RENDER_ENGINE = engine
    api, _ = api_client_for(studio)
    body = api.get("/api/styles/").json()
    assert body["engine"] == engine
    assert body["look"] == look and body["photoreal"] is photoreal
    assert [s["key"] for s in body["styles"]] == [
        "classic",
        "soft-light",
        "warm-studio",
        "black-and-white",
    ]
    labels = [s["label"] for s in body["styles"]]
    assert all(label.startswith(look) for label in labels)
    if first:
        assert labels[0] == first
    assert api.get("/api/styles/", HTTP_AUTHORIZATION="").status_code in (401, 403)


def test_a_jobs_api_answer_names_its_style_for_its_engine(
    studio: Studio, phantom_jpeg: bytes, settings
) -> None:
    settings.RENDER_ENGINE = "relight"
    with schema_context("alpha"):
        session = services.parent_session_create(
            parent_name="Ana", consent_given=True, skin_swatches=["4"], style="black-and-white"
        )
        job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
    api, _ = api_client_for(studio)
    body = api.get(f"/api/jobs/{job.uid}/").json()
    assert body["style"] == "black-and-white"
    assert body["style_label"] == "Studio light · black and white"
