"""Downloads carry a name a person can read, and no page asks for an icon that is not there
(issue 17 item 12). The galleries table on a phone is checked in Chromium
(tests/browser/test_parent_gallery_journey.py)."""

from __future__ import annotations

import re

from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from galleries.services.gallery import gallery_create
from galleries.tests.factories import parent_session, ready_job_with_portraits
from tests.tenancy import signed_in_client

HOST = "alpha.localhost"


def _disposition_name(response) -> str:
    return re.search(r'filename="([^"]+)"', response["Content-Disposition"]).group(1)


def test_a_parents_download_is_named_for_the_studio_and_the_day_never_a_uuid(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
        primary, alternate = gallery.job.candidates.filter(shared_with_parent=True).order_by("rank")
        day = timezone.localdate(gallery.job.created_at)
    parent = Client(HTTP_HOST=HOST)
    web = _disposition_name(parent.get(f"/g/{gallery.token}/p/{primary.pk}/?download=1"))
    printed = _disposition_name(
        parent.get(f"/g/{gallery.token}/p/{alternate.pk}/?size=print&download=1")
    )
    assert web == f"Alpha-Studio-portrait-1-{day:%Y-%m-%d}.jpg"
    assert printed == f"Alpha-Studio-portrait-2-{day:%Y-%m-%d}-print.jpg"
    # The parent's name stays off a file that a shared link lets anyone save.
    assert "Maya" not in web


def test_the_studios_download_names_the_parent_and_the_day(studio) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits(scan=None)
        job.session.parent_name = "Zoë O'Neil"
        job.session.save()
        primary = job.candidates.get(rank=0)
        day = timezone.localdate(job.created_at)
    response = signed_in_client(studio).get(f"/files/candidates/{primary.pk}/web/?download=1")
    name = _disposition_name(response)
    assert name == f"Alpha-Studio-Zoe-O-Neil-portrait-1-{day:%Y-%m-%d}-web.jpg"
    assert str(job.uid) not in name


def test_the_parents_page_names_an_icon_of_the_studios_own_and_no_icon_is_missing(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
        parent_session()
    staff = signed_in_client(studio)
    studio_page = staff.get("/galleries/").content.decode()
    assert '<link rel="icon"' in studio_page
    parent_page = Client(HTTP_HOST=HOST).get(f"/g/{gallery.token}/").content.decode()
    # The parent's page is the studio's (white label): an icon in its colour, not Cradle's mark.
    assert re.search(r'<link rel="icon" href="data:image/svg\+xml,', parent_page)
    assert "favicon.svg" not in parent_page
    for host in (HOST, "localhost"):
        answer = Client(HTTP_HOST=host).get("/favicon.ico")
        assert answer.status_code in (200, 301, 302), host
