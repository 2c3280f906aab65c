"""Deleting a portrait or a gallery asks first (issue 17 item 3).

The gallery pages' Content-Security-Policy blocks inline handlers, so the old
``onsubmit="return confirm(…)"`` never ran and a click deleted at once. A static script
(studio_portal/static/confirm.js, allowed as 'self') now asks in the browser; the server asks
on a page of its own when the form arrives without the answer (no script). The Chromium test is
in tests/browser/test_parent_gallery_journey.py.
"""

from __future__ import annotations

import re

from django_tenants.utils import schema_context

from galleries.models import Gallery
from galleries.services.gallery import gallery_create
from galleries.tests.factories import ready_job_with_portraits
from render.models import Candidate
from tests.tenancy import signed_in_client


def test_the_gallery_page_has_no_inline_handlers_and_loads_the_static_confirmation(
    studio,
) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
    response = signed_in_client(studio, "owner").get(f"/galleries/{gallery.uid}/")
    html = response.content.decode()
    assert not re.search(r"\son[a-z]+=", html), "inline handlers never run under this CSP"
    policy = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert "'unsafe-inline'" not in policy.get("script-src", "")
    assert re.search(r'<script src="/static/confirm\.js"', html)
    assert 'data-confirm="Delete this portrait for good?' in html
    assert 'data-confirm="Delete this gallery?' in html


def test_a_delete_without_the_answer_shows_a_confirmation_page_and_deletes_nothing(
    studio,
) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
        alternate = gallery.job.candidates.get(rank=1)
    owner = signed_in_client(studio, "owner")
    asked = owner.post(f"/galleries/portraits/{alternate.pk}/delete/")
    assert asked.status_code == 200
    html = asked.content.decode()
    assert "Delete this portrait for good?" in html
    assert 'name="confirmed" value="1"' in html
    assert f'href="/galleries/{gallery.uid}/"' in html  # "Keep it" goes back
    asked = owner.post(f"/galleries/{gallery.uid}/delete/", {"with_portraits": "1"})
    assert asked.status_code == 200 and "Delete this gallery?" in asked.content.decode()
    assert 'name="with_portraits" value="1"' in asked.content.decode()  # the choice is kept
    with schema_context(studio.schema_name):
        assert Candidate.objects.filter(pk=alternate.pk).exists()
        assert Gallery.objects.filter(pk=gallery.pk).exists()


def test_a_confirmed_delete_deletes(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
        alternate = gallery.job.candidates.get(rank=1)
    owner = signed_in_client(studio, "owner")
    gone = owner.post(f"/galleries/portraits/{alternate.pk}/delete/", {"confirmed": "1"})
    assert gone.status_code == 302
    assert owner.post(f"/galleries/{gallery.uid}/delete/", {"confirmed": "1"}).status_code == 302
    with schema_context(studio.schema_name):
        assert not Candidate.objects.filter(pk=alternate.pk).exists()
        assert not Gallery.objects.exists()
