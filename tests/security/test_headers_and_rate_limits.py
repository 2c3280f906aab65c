"""Security headers (CSP with a per-response nonce on the parents' gallery pages, a baseline
elsewhere, HSTS over HTTPS) and rate limits on sign-in, page uploads and the API."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django_tenants.utils import schema_context

from tests.api.conftest import api_client_for
from tests.tenancy import PASSWORD


@pytest.fixture
def limits_on(settings):
    settings.RATE_LIMITS_ENABLED = True
    cache.clear()
    yield settings
    cache.clear()


def _host(studio) -> str:
    return studio.domains.get(is_primary=True).domain


def test_gallery_pages_get_a_strict_csp_with_a_fresh_nonce(studio) -> None:
    from tests.test_studio_isolation import _make_finished_job

    with schema_context(studio.schema_name):
        gallery = _make_finished_job("alpha")["gallery"]
    parent = Client(HTTP_HOST=_host(studio))
    first = parent.get(f"/g/{gallery.token}/")
    second = parent.get(f"/g/{gallery.token}/")
    assert first.status_code == 200
    policy = first["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy and "base-uri 'none'" in policy
    nonces = [
        re.search(r"'nonce-([^']+)'", r["Content-Security-Policy"]).group(1)
        for r in (first, second)
    ]
    assert nonces[0] != nonces[1] and len(nonces[0]) >= 16
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    # A wrong token's page is a gallery page too.
    assert "script-src" in parent.get("/g/not-a-token/")["Content-Security-Policy"]


def test_studio_pages_get_the_baseline_policy(client_a) -> None:
    policy = client_a.get("/")["Content-Security-Policy"]
    assert policy == "frame-ancestors 'none'; object-src 'none'; base-uri 'self'"


def test_hsts_is_sent_over_https_when_configured(studio, settings) -> None:
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = Client(HTTP_HOST=_host(studio)).get("/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_sign_in_attempts_are_limited_per_address(studio, limits_on) -> None:
    limits_on.PAGE_RATE_LIMITS = {
        "login": {"url_names": ["login"], "attempts": 3, "window_seconds": 600}
    }
    client = Client(HTTP_HOST=_host(studio))
    statuses = [
        client.post("/login/", {"username": "sono", "password": "wrong"}).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 200]
    # Past the limit even the right password is refused: the limit is no oracle.
    blocked = client.post("/login/", {"username": "sono", "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many attempts" in blocked.content.decode()
    assert blocked["Retry-After"] == "600"
    other_address = Client(HTTP_HOST=_host(studio), REMOTE_ADDR="203.0.113.9")
    assert (
        other_address.post("/login/", {"username": "sono", "password": PASSWORD}).status_code == 302
    )


def test_page_uploads_are_limited(client_a, studio, limits_on) -> None:
    from render.services import parent_session_create

    limits_on.PAGE_RATE_LIMITS = {
        "upload": {"url_names": ["scan-upload"], "attempts": 2, "window_seconds": 600}
    }
    with schema_context(studio.schema_name):
        session = parent_session_create(
            parent_name="Rate Limit", consent_given=True, skin_swatches=["#a07e56"]
        )
    url = f"/sessions/{session.uid}/upload/"
    statuses = [client_a.post(url, {}).status_code for _ in range(3)]
    assert statuses[-1] == 429 and 429 not in statuses[:2]


def test_api_uploads_and_calls_are_throttled_per_member(studio, limits_on) -> None:
    limits_on.API_RATE_LIMITS = {"api": "3/minute", "scan_upload": "1/minute"}
    client, _ = api_client_for(studio)
    url = "/api/sessions/00000000-0000-0000-0000-000000000000/scans/"
    assert client.post(url, {}, format="multipart").status_code == 404
    throttled = client.post(url, {}, format="multipart")
    assert throttled.status_code == 429 and "Request was throttled" in throttled.json()["detail"]
    statuses = [client.get("/api/jobs/").status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    # Another member of the same studio has her own allowance.
    owner, _ = api_client_for(studio, "owner")
    assert owner.get("/api/jobs/").status_code == 200
