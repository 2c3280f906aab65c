"""Limits that count the right client and cannot be turned against the parent or a member.

Production runs behind a TLS proxy: every request's connecting address is the proxy's. Only
the hops in CRADLE_TRUSTED_PROXIES may say who the client is (X-Forwarded-For), and a gallery's
or an account's own limit slows guessing down without locking its owner out.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models.functions import Now
from django.test import Client, RequestFactory
from django_tenants.utils import schema_context

from galleries.models import GuessCount
from galleries.services.gallery import gallery_create
from galleries.tests.factories import ready_job_with_portraits
from studio_portal import security
from studio_portal.client_address import client_ip, client_subject
from tests.tenancy import PASSWORD

HOST = "alpha.localhost"
PROXY = "10.0.0.2"


@pytest.fixture
def behind_proxy(settings):
    settings.CRADLE_TRUSTED_PROXIES = ["10.0.0.0/24"]
    return settings


def via_proxy(client_address: str) -> Client:
    """A browser at ``client_address`` reaching Cradle through the trusted proxy."""
    return Client(HTTP_HOST=HOST, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address)


def _request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


# The address -----------------------------------------------------------------------------------


def test_without_trusted_proxies_the_forwarded_header_is_ignored(settings) -> None:
    settings.CRADLE_TRUSTED_PROXIES = []
    assert client_ip(_request("198.51.100.7", "203.0.113.1")) == "198.51.100.7"


def test_the_client_is_the_first_untrusted_hop_from_the_right(behind_proxy) -> None:
    # The client claimed to be 1.2.3.4; the outer proxy appended her real address; an inner
    # proxy (also trusted) appended the outer one's.
    request = _request(PROXY, "1.2.3.4, 203.0.113.50, 10.0.0.7")
    assert client_ip(request) == "203.0.113.50"
    # A request straight from the internet cannot pick its own address with the header.
    assert client_ip(_request("198.51.100.7", "203.0.113.1")) == "198.51.100.7"
    # A proxy with nothing to forward is the client itself.
    assert client_ip(_request(PROXY)) == PROXY


def test_an_ipv6_client_is_counted_by_its_64(behind_proxy) -> None:
    first = _request(PROXY, "2001:db8:1:2::17")
    second = _request(PROXY, "[2001:db8:1:2:ffff::9]:443")
    assert client_ip(first) == "2001:db8:1:2::17"
    assert client_subject(first) == client_subject(second) == "2001:db8:1:2::/64"
    assert client_subject(_request(PROXY, "203.0.113.9:5555")) == "203.0.113.9"


# Gallery tokens and PINs ------------------------------------------------------------------------


@pytest.fixture
def gallery(studio):
    with schema_context(studio.schema_name):
        return gallery_create(job=ready_job_with_portraits())


@pytest.fixture
def pin_gallery(studio):
    with schema_context(studio.schema_name):
        return gallery_create(job=ready_job_with_portraits(), pin="2468")


def test_a_strangers_wrong_tokens_behind_the_proxy_do_not_block_the_parent(
    studio, gallery, behind_proxy
) -> None:
    stranger = via_proxy("198.51.100.66")
    for n in range(20):
        assert stranger.get(f"/g/guess{n}/").status_code == 404
    assert stranger.get(f"/g/{gallery.token}/").status_code == 429  # his address is spent
    # Same proxy, another client: the parent's link opens.
    assert via_proxy("203.0.113.10").get(f"/g/{gallery.token}/").status_code == 200


def test_wrong_pins_from_many_addresses_slow_the_gallery_but_never_lock_the_parent_out(
    studio, pin_gallery, behind_proxy
) -> None:
    url = f"/g/{pin_gallery.token}/pin/"
    guesses = iter(f"{n:04d}" for n in range(1000, 1100))
    # 20 wrong PINs from four addresses, five each (each address's own limit).
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"):
        stranger = via_proxy(address)
        for _ in range(5):
            assert stranger.post(url, {"pin": next(guesses)}).status_code == 403
        assert stranger.post(url, {"pin": next(guesses)}).status_code == 429
    # The parent, from her own phone, still gets in (an hour's lock before).
    parent = via_proxy("203.0.113.10")
    assert parent.post(url, {"pin": "2468"}).status_code == 302
    # But from now on the gallery takes one try per 30 s, from anyone.
    fresh = via_proxy("198.51.100.5")
    slowed = fresh.post(url, {"pin": next(guesses)})
    assert slowed.status_code == 429 and 0 < int(slowed["Retry-After"]) <= 30
    assert "seconds" in slowed.content.decode()
    with schema_context(studio.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(1.1)")  # a loaded machine: the test outlasts a second
        # The database's statement clock, the one galleries.throttle reads the slot on (not
        # the wall clock, nor now(), which a test's transaction holds at its start).
        GuessCount.objects.filter(scope="pin-slot").update(
            window_ends_at=Now() - timedelta(seconds=1)
        )
    assert fresh.post(url, {"pin": next(guesses)}).status_code == 403  # its slot: one try
    assert fresh.post(url, {"pin": next(guesses)}).status_code == 429  # and the next waits


# Sign-in ---------------------------------------------------------------------------------------


@pytest.fixture
def limits_on(settings):
    settings.RATE_LIMITS_ENABLED = True
    settings.CRADLE_TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.LOGIN_FAILURES_PER_ACCOUNT = 10
    settings.LOGIN_ACCOUNT_BACKOFF_SECONDS = 30
    cache.clear()
    yield settings
    cache.clear()


def test_sign_in_per_address_counts_the_client_not_the_proxy(studio, limits_on) -> None:
    limits_on.PAGE_RATE_LIMITS = {
        "login": {"url_names": ["login"], "attempts": 3, "window_seconds": 600}
    }
    guesser = via_proxy("198.51.100.66")
    for _ in range(3):
        guesser.post("/login/", {"username": "nobody", "password": "wrong"})
    assert guesser.post("/login/", {"username": "sono", "password": PASSWORD}).status_code == 429
    # Every other member behind the same proxy still signs in.
    member = via_proxy("203.0.113.10")
    assert member.post("/login/", {"username": "sono", "password": PASSWORD}).status_code == 302


def test_wrong_passwords_for_one_account_from_many_addresses_are_paced(studio, limits_on) -> None:
    allowed = 0
    for n in range(150):  # 150 guesses from 10 addresses: all were let through before
        response = via_proxy(f"198.51.100.{n % 10}").post(
            "/login/", {"username": "sono", "password": f"guess-{n}"}
        )
        assert response.status_code in (200, 429)
        allowed += response.status_code == 200
    assert allowed == 11  # ten free wrong passwords, then one try per 30 s
    # Past the threshold even the right password waits its turn: the pace is no oracle...
    waiting = via_proxy("203.0.113.10").post("/login/", {"username": "sono", "password": PASSWORD})
    assert waiting.status_code == 429 and waiting["Retry-After"] == "30"
    # ...another account is untouched...
    owner = via_proxy("203.0.113.10").post("/login/", {"username": "owner", "password": PASSWORD})
    assert owner.status_code == 302
    # ...and half a minute later the member signs in.
    with schema_context(studio.schema_name):
        cache.delete(security._account_key("slot", "sono"))
    member = via_proxy("203.0.113.11").post("/login/", {"username": "sono", "password": PASSWORD})
    assert member.status_code == 302


def test_the_api_counts_anonymous_callers_by_the_trusted_address(behind_proxy) -> None:
    from rest_framework.request import Request

    from studio_portal.api.throttling import StudioApiThrottle

    throttle = StudioApiThrottle()
    # DRF's own get_ident believes any X-Forwarded-For: a fresh allowance per made-up header.
    spoofed = Request(_request("198.51.100.7", "203.0.113.1"))
    assert throttle.get_ident(spoofed) == "198.51.100.7"
    assert throttle.get_ident(Request(_request(PROXY, "203.0.113.1"))) == "203.0.113.1"
