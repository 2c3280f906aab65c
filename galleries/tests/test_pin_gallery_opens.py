"""A PIN gallery opens in a real browser (issue 17 item 1).

Chromium posts ``Origin: null`` from a page whose referrer policy is ``no-referrer``, and
Django's CSRF check refuses that origin: the parent's right PIN got "That form had expired".
The parent's pages now ask for ``same-origin`` (the token still never leaves for another
site), and a refused form on a parent's page leads back to her gallery, never to the studio's
sign-in. The Chromium journey is in tests/browser/test_parent_gallery_journey.py.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from galleries.services.gallery import gallery_create
from galleries.tests.factories import ready_job_with_portraits

HOST = "alpha.localhost"


@pytest.fixture
def pin_gallery(studio):
    with schema_context(studio.schema_name):
        return gallery_create(job=ready_job_with_portraits(), pin="2468")


def _referrer_policies(html: str) -> list[str]:
    return re.findall(r'<meta name="referrer" content="([^"]+)"', html)


def test_the_pin_page_lets_the_browser_name_its_origin_when_posting_the_pin(
    studio, pin_gallery
) -> None:
    response = Client(HTTP_HOST=HOST).get(f"/g/{pin_gallery.token}/")
    html = response.content.decode()
    assert "This gallery has a PIN" in html
    # "no-referrer" makes Chromium send Origin: null with the form, which CSRF refuses.
    assert _referrer_policies(html) == ["same-origin"]
    assert response["Referrer-Policy"] == "same-origin"


def test_the_open_gallery_page_asks_for_same_origin_referrers_too(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
    html = Client(HTTP_HOST=HOST).get(f"/g/{gallery.token}/").content.decode()
    assert _referrer_policies(html) == ["same-origin"]


def test_the_right_pin_with_the_browsers_real_origin_opens_the_gallery(studio, pin_gallery) -> None:
    parent = Client(HTTP_HOST=HOST, enforce_csrf_checks=True)
    parent.get(f"/g/{pin_gallery.token}/")
    token = parent.cookies["csrftoken"].value
    response = parent.post(
        f"/g/{pin_gallery.token}/pin/",
        {"pin": "2468", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN=f"http://{HOST}",
    )
    assert response.status_code == 302 and response["Location"] == f"/g/{pin_gallery.token}/"
    assert "Your keepsake portrait" in parent.get(response["Location"]).content.decode()


def test_a_refused_form_on_a_parents_page_leads_back_to_her_gallery_not_to_sign_in(
    studio, pin_gallery
) -> None:
    parent = Client(HTTP_HOST=HOST, enforce_csrf_checks=True)
    response = parent.post(f"/g/{pin_gallery.token}/pin/", {"pin": "2468"}, HTTP_ORIGIN="null")
    html = response.content.decode()
    assert response.status_code == 403
    assert f'href="/g/{pin_gallery.token}/"' in html
    assert "/login/" not in html and 'href="/"' not in html
    assert "Alpha Studio" in html  # her studio's page, not Cradle's staff page
    assert "Sessions" not in html


def test_a_refused_studio_form_still_leads_to_the_studio(studio) -> None:
    member = Client(HTTP_HOST=HOST, enforce_csrf_checks=True)
    html = member.post("/login/", {"username": "owner", "password": "x"}).content.decode()
    assert "That form had expired" in html and 'href="/"' in html


def test_no_template_comment_leaks_into_a_parents_page(studio, pin_gallery) -> None:
    parent = Client(HTTP_HOST=HOST, enforce_csrf_checks=True)
    pages = [
        parent.get(f"/g/{pin_gallery.token}/").content.decode(),
        parent.post(f"/g/{pin_gallery.token}/pin/", {"pin": "2468"}).content.decode(),
    ]
    for html in pages:
        assert "{#" not in html and "#}" not in html and "{%" not in html
