"""A sent gallery keeps the studio's name, contacts and brand it was sent with — page, PIN
form, share card, logo and print files — while new galleries take the new ones; the owner
republishes a gallery to give it (and its portraits' frames) the current brand (issue 17
item 9)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django_tenants.utils import schema_context
from PIL import Image

from branding.overlay import hex_to_rgb
from branding.selectors import brand_kit_get
from branding.services import brand_kit_update, portrait_finish
from branding.tests.brand_kit_factories import logo_png
from galleries.models import Gallery
from galleries.services.gallery import gallery_create
from galleries.tests.factories import parent_session
from render.models import Candidate, RenderJob
from render.print_size import _sent_brand_spec
from studio_portal.accounts.models import User
from studio_portal.accounts.services import studio_profile_update
from studio_portal.audit.models import AuditLogEntry
from studio_portal.tenants.models import Studio
from tests.tenancy import signed_in_client

pytestmark = pytest.mark.django_db

OLD_PRIMARY, NEW_PRIMARY = "#6b4f4f", "#0b6e4f"


def _raw_png() -> bytes:
    y, x = np.mgrid[0:160, 0:128]
    image = np.dstack([200 + x * 0.2, 170 + y * 0.2, np.full(x.shape, 150.0)]).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def _job_with_portraits() -> RenderJob:
    job = RenderJob.objects.create(
        session=parent_session(), base_seed=5, state=RenderJob.State.READY
    )
    raw = _raw_png()
    for rank in range(2):
        candidate = Candidate(
            job=job,
            seed=60 + rank,
            rank=rank,
            score=0.9,
            is_primary=rank == 0,
            shared_with_parent=True,
        )
        candidate.image.save("raw.png", ContentFile(raw), save=False)
        array = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
        candidate.web_image.save("web.jpg", ContentFile(portrait_finish(array)), save=False)
        candidate.save()
    return job


def _border(data: bytes) -> np.ndarray:
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    return image[image.shape[0] // 2, 3]  # the thin frame's left edge


def _web_border(candidate: Candidate) -> np.ndarray:
    candidate.refresh_from_db()
    with candidate.web_image.open("rb") as handle:
        return _border(handle.read())


@pytest.fixture
def sent(studio: Studio):
    """A gallery sent in the old brand (with a logo), then the owner changes name and brand."""
    with schema_context("alpha"):
        owner = User.objects.get(username="owner")
        brand_kit_update(kit=brand_kit_get(), actor=owner, frame="thin", logo=logo_png())
        job = _job_with_portraits()
        gallery = gallery_create(job=job)
        studio_profile_update(
            studio=Studio.objects.get(pk=studio.pk),
            name="Alpha Bloom 4D",
            contact_email="hello@bloom.example",
            contact_phone="+14155550199",
            changed_by=owner,
        )
        brand_kit_update(kit=brand_kit_get(), actor=owner, primary_hex=NEW_PRIMARY, logo=None)
    return gallery


def test_a_sent_gallery_keeps_the_name_brand_and_logo_it_was_sent_with(sent: Gallery) -> None:
    parent = Client(HTTP_HOST="alpha.localhost")
    page = parent.get(f"/g/{sent.token}/").content.decode()
    assert f"--primary: {OLD_PRIMARY}" in page and NEW_PRIMARY not in page
    assert "Alpha Studio" in page and "Alpha Bloom 4D" not in page
    logo = parent.get(f"/g/{sent.token}/logo")
    assert logo.status_code == 200  # the brand kit's logo is gone; the gallery's is kept
    assert Image.open(io.BytesIO(logo.content)).size == (300, 120)
    card = parent.get(f"/g/{sent.token}/card.png")
    assert card.status_code == 200
    # A print file made now is framed as the gallery was sent.
    with schema_context("alpha"):
        primary = sent.job.candidates.get(is_primary=True)
        assert _sent_brand_spec(primary).primary_hex == OLD_PRIMARY

    with schema_context("alpha"):
        fresh = gallery_create(job=_job_with_portraits())
    new_page = parent.get(f"/g/{fresh.token}/").content.decode()
    assert f"--primary: {NEW_PRIMARY}" in new_page and "Alpha Bloom 4D" in new_page
    assert "hello@bloom.example" in new_page and "tel:+14155550199" in new_page
    assert parent.get(f"/g/{fresh.token}/logo").status_code == 404  # sent without a logo


def test_the_owner_republishes_a_gallery_in_the_current_brand(
    sent: Gallery,
    django_capture_on_commit_callbacks,
) -> None:
    owner = signed_in_client(Studio.objects.get(schema_name="alpha"), "owner")
    detail = owner.get(f"/galleries/{sent.uid}/").content.decode()
    assert "Republish with the current details and brand" in detail
    with schema_context("alpha"):
        primary = sent.job.candidates.get(is_primary=True)
        assert np.abs(_web_border(primary) - hex_to_rgb(OLD_PRIMARY)).max() <= 8
        Candidate.objects.filter(pk=primary.pk).update(print_image="old-print.jpg")

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(f"/galleries/{sent.uid}/republish/")
    assert response.status_code == 302

    page = Client(HTTP_HOST="alpha.localhost").get(f"/g/{sent.token}/").content.decode()
    assert f"--primary: {NEW_PRIMARY}" in page and "Alpha Bloom 4D" in page
    with schema_context("alpha"):
        primary.refresh_from_db()
        assert np.abs(_web_border(primary) - hex_to_rgb(NEW_PRIMARY)).max() <= 8
        assert not primary.print_image and primary.print_requested_at is not None  # made again
        entry = AuditLogEntry.objects.get(action="gallery.republished")
        assert entry.detail["portraits"] == 2 and entry.actor.username == "owner"
    after = owner.get(f"/galleries/{sent.uid}/").content.decode()
    assert "have not changed since" in after


def test_a_sonographer_cannot_republish(sent: Gallery, client_a: Client) -> None:
    assert client_a.post(f"/galleries/{sent.uid}/republish/").status_code == 403
