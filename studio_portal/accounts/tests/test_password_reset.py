"""A member who forgot her password asks for a link by email and chooses a new one."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django_tenants.utils import schema_context

from studio_portal.accounts.models import User
from studio_portal.tenants.models import Studio

pytestmark = pytest.mark.django_db


def _link(fake_providers) -> str:
    [mail] = fake_providers.emails()
    text = mail.json()["content"][0]["value"]
    return re.search(r"http://alpha\.localhost(?::\d+)?(/password-reset/[^\s]+/)", text).group(1)


def test_the_sign_in_page_offers_a_reset_and_the_emailed_link_sets_a_new_password(
    studio: Studio,
    fake_providers,
) -> None:
    with schema_context("alpha"):
        User.objects.filter(username="sono").update(email="sono@alpha.example")
    browser = Client(HTTP_HOST="alpha.localhost")
    sign_in = browser.get("/login/").content.decode()
    assert 'href="/password-reset/"' in sign_in

    assert browser.get("/password-reset/").status_code == 200
    asked = browser.post("/password-reset/", {"email": "Sono@Alpha.example"})
    assert asked.status_code == 302 and asked["Location"] == "/password-reset/sent/"
    [mail] = fake_providers.emails()
    body = mail.json()
    assert body["personalizations"][0]["to"][0]["email"] == "sono@alpha.example"
    path = _link(fake_providers)

    page = browser.get(path, follow=True)  # Django swaps the token for a session slot
    assert page.status_code == 200 and b"Choose a new password" in page.content
    form_url = page.redirect_chain[-1][0]
    short = browser.post(form_url, {"new_password1": "abc", "new_password2": "abc"})
    assert short.status_code == 200 and b"too short" in short.content
    done = browser.post(
        form_url, {"new_password1": "a-fresh-long-pass", "new_password2": "a-fresh-long-pass"}
    )
    assert done.status_code == 302 and done["Location"] == "/"
    assert browser.get("/").status_code == 200  # signed in
    with schema_context("alpha"):
        assert User.objects.get(username="sono").check_password("a-fresh-long-pass")

    # The link worked once.
    again = Client(HTTP_HOST="alpha.localhost").get(path, follow=True)
    assert b"This link no longer works" in again.content


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    studio: Studio,
    fake_providers,
) -> None:
    response = Client(HTTP_HOST="alpha.localhost").post(
        "/password-reset/", {"email": "nobody@example.com"}
    )
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert fake_providers.emails() == []


def test_a_reset_on_one_studio_never_reaches_an_account_of_another_with_that_address(
    studio: Studio,
    other_studio: Studio,
    fake_providers,
) -> None:
    with schema_context("alpha"):
        User.objects.filter(username="owner").update(email="shared@example.com")
    with schema_context("beta"):
        User.objects.filter(username="owner").update(email="shared@example.com")
    Client(HTTP_HOST="alpha.localhost").post("/password-reset/", {"email": "shared@example.com"})
    # One email, from alpha only: beta's owner with the same address is another account.
    [mail] = fake_providers.emails()
    assert "/password-reset/" in _link(fake_providers)
    assert "beta" not in mail.json()["content"][0]["value"]


def test_asking_too_often_from_one_address_is_paced(studio: Studio, settings) -> None:
    settings.RATE_LIMITS_ENABLED = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    browser = Client(HTTP_HOST="alpha.localhost")
    answers = [
        browser.post("/password-reset/", {"email": "x@example.com"}).status_code for _ in range(6)
    ]
    assert answers == [302] * 5 + [429]
