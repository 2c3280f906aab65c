"""Errors get Cradle's own pages in the studio's chrome, with a sentence that says what to do."""

from __future__ import annotations

from django.test import Client, RequestFactory
from django.views.defaults import server_error

from tests.tenancy import PASSWORD


def _host(studio) -> str:
    return studio.domains.get(is_primary=True).domain


def test_a_sonographer_on_an_owner_page_reads_why_in_the_studio_chrome(client_a) -> None:
    response = client_a.get("/team/")
    html = response.content.decode()
    assert response.status_code == 403
    assert "Your account cannot open this page" in html
    assert "Only the studio&#x27;s owners can open this page." in html
    assert "Alpha Studio" in html and "Sign out" in html  # the studio's own header and nav


def test_an_unknown_address_gets_a_friendly_404(studio, client_a) -> None:
    response = client_a.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We could not find that page" in html and "Alpha Studio" in html


def test_an_expired_form_explains_itself(studio) -> None:
    member = Client(HTTP_HOST=_host(studio), enforce_csrf_checks=True)
    response = member.post("/login/", {"username": "sono", "password": PASSWORD})
    assert response.status_code == 403
    assert "That form had expired" in response.content.decode()


def test_a_server_error_page_renders_without_any_context() -> None:
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html and "cradle.css" in html
