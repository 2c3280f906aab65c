"""The isolation matrix: every URL pattern of a studio's site (pages, files, galleries, the API,
whatever other apps add later) is walked with another studio's real object ids, as a signed-in
owner, with an API key, and with foreign credentials on the other studio's own host. Nothing of
the other studio may come back: 404/403 (or a sign-in redirect / 401 for foreign credentials),
and none of its marker strings in any body.

Arguments are filled from FOREIGN_ARG_VALUES by name; a pattern with an argument the map does
not know fails the test with a message saying what to add, so new pages are never skipped.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_tenants.utils import schema_context
from rest_framework.test import APIClient
from rest_framework.views import APIView

from galleries.models import Delivery, Favourite, Gallery, token_digest
from render.models import Candidate, ParentSession, RenderJob, Scan
from studio_portal.accounts.models import User
from studio_portal.api.models import ApiKey, WebhookDelivery, WebhookEndpoint
from studio_portal.api.services import api_key_create
from studio_portal.audit.models import AuditLogEntry
from tests.tenancy import PASSWORD, signed_in_client

# Ids far above anything the other studio's sequences reach in a test run: a foreign id can
# never name one of the requesting studio's own rows by coincidence.
FOREIGN_BASE_PK = 9_100_000
# Pages anyone may open without signing in, by design (each needs a secret in its URL or is
# a provider callback checked by signature). Their secrets are still walked on the wrong host.
PUBLIC_URL_NAMES = {
    "favicon",
    "apple-touch-icon",
    "login",
    "password-reset",
    "password-reset-sent",
    "password-reset-confirm",
    "invite-accept",
    "billing-set-password",
    "api-schema",
    "api-docs",
}
PUBLIC_PATH_PREFIXES = ("g/", "hooks/")
# Django's password-reset-style views answer a bad link with 200 and an "invalid link" page;
# accepted only when the page lacks the form a valid link shows (the field named here).
INVALID_LINK_PAGES = {
    "billing-set-password": 'name="new_password1"',
    "password-reset-confirm": 'name="new_password1"',
}


def _png(value: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class StudioObjects:
    label: str
    markers: list[str]
    values: dict[str, list[str]]  # URL argument name -> values naming this studio's objects
    int_pks: dict[type, int]


def make_studio_objects(label: str, base_pk: int | None) -> StudioObjects:
    """One of everything a studio owns, in the current schema, with marker strings to look for."""

    def pk(offset: int) -> dict[str, int]:
        return {"pk": base_pk + offset} if base_pk else {}

    name = f"{label.title()} Parent Zed{secrets.token_hex(3)}"
    session = ParentSession.objects.create(
        **pk(1),
        parent_name=name,
        email=f"{label}-zed@example.com",
        phone="+14155550199",
        consent_at=timezone.now(),
        consent_text_version="test",
        skin_swatches=["#a07e56"],
        target_tone_hex="#a07e56",
    )
    scan = Scan(
        **pk(2),
        session=session,
        sha256="0" * 64,
        detected_type="jpeg",
        size_bytes=1,
        width=8,
        height=8,
    )
    scan_bytes = _png(201 if label == "beta" else 9)
    scan.original_encrypted.save(
        "original.bin.enc", ContentFile(f"{label}-original".encode()), save=False
    )
    for field in ("deidentified", "report_image", "depth_map", "normals_map", "mask_map"):
        getattr(scan, field).save(f"{field}.png", ContentFile(scan_bytes), save=False)
    scan.save()
    job = RenderJob.objects.create(
        **pk(3), scan=scan, session=session, base_seed=1, state=RenderJob.State.READY
    )
    candidate = Candidate(
        **pk(4), job=job, seed=1, rank=0, score=0.5, is_primary=True, shared_with_parent=True
    )
    portrait = f"{label}-portrait-{secrets.token_hex(4)}"
    candidate.image.save("1.png", ContentFile(portrait.encode()), save=False)
    candidate.web_image.save("1-web.jpg", ContentFile(portrait.encode()), save=False)
    candidate.print_image.save("1-print.jpg", ContentFile(portrait.encode()), save=False)
    candidate.save()
    token = secrets.token_urlsafe(24)
    gallery = Gallery.objects.create(
        **pk(5), job=job, token=token, token_digest=token_digest(token)
    )
    delivery = Delivery.objects.create(
        **pk(6), gallery=gallery, channel="email", recipient=session.email
    )
    favourite = Favourite.objects.create(**pk(7), gallery=gallery, candidate=candidate)
    member = User.objects.create_user(
        **pk(8), username=f"{label}-extra", email=f"{label}-extra@example.com", password=PASSWORD
    )
    key, raw_key = api_key_create(user=member, name=f"{label} key", created_by=member)
    if base_pk:
        ApiKey.objects.filter(pk=key.pk).update(id=base_pk + 9)
        key = ApiKey.objects.get(pk=base_pk + 9)
    endpoint = WebhookEndpoint.objects.create(
        **pk(10), url="https://hooks.example.com/x", events=["job.ready"], secret=f"whsec_{label}zz"
    )
    webhook = WebhookDelivery.objects.create(
        **pk(11), endpoint=endpoint, event="job.ready", body="{}"
    )
    audit = AuditLogEntry.objects.create(
        **pk(12), action="test", object_type="Gallery", object_id=str(gallery.pk)
    )
    uidb64 = urlsafe_base64_encode(force_bytes(member.pk))
    rows = [session, scan, job, candidate, gallery, delivery, favourite, member, key, endpoint]
    rows += [webhook, audit]
    from render import views as render_views

    kinds = sorted(
        set(getattr(render_views, "SCAN_FILES", {}))
        | set(getattr(render_views, "CANDIDATE_FILES", {}))
        | {"web", "print", "image", "full", "original"}
    )
    return StudioObjects(
        label=label,
        markers=[name, session.email, token, portrait, endpoint.secret, raw_key, member.username],
        values={
            "uid": [str(o.uid) for o in (session, scan, job, gallery, endpoint, webhook)],
            "pk": [str(row.pk) for row in rows],
            "token": [token, default_token_generator.make_token(member)],
            "uidb64": [uidb64],
            "kind": kinds,
        },
        int_pks={type(row): row.pk for row in rows},
    )


# The walker -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str  # "sessions/<uuid:uid>/"
    name: str
    args: tuple[str, ...]
    is_rest_api: bool  # a DRF view: API keys authenticate there (pages take the session only)


def walk_routes(patterns: list, prefix: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            if route.startswith("^") or "(?P" in route:
                pytest.fail(f"{route!r} is a regex pattern: the walker fills only path() routes")
            args = tuple(re.findall(r"<(?:\w+:)?(\w+)>", route))
            view_class = getattr(entry.callback, "cls", None)
            is_rest_api = isinstance(view_class, type) and issubclass(view_class, APIView)
            yield Route(route, entry.name or route, args, is_rest_api)


def fill(route: Route, values: dict[str, list[str]], *, every_pair: bool = True) -> Iterator[str]:
    """URLs for the route: every combination of values, or (``every_pair=False``) each value of
    each argument at least once, for checks that do not depend on which object is named."""
    missing = [arg for arg in route.args if arg not in values]
    if missing:
        pytest.fail(
            f"The isolation walker cannot fill {missing} in {route.route!r} ({route.name}). "
            "Add the argument to make_studio_objects' values in "
            "tests/security/test_isolation_matrix.py."
        )
    columns = [values[arg] for arg in route.args]
    if every_pair:
        combinations = list(itertools.product(*columns))
    else:
        longest = max(len(column) for column in columns)
        combinations = [tuple(c[i % len(c)] for c in columns) for i in range(longest)]
    for combination in combinations:
        path = route.route
        for arg, value in zip(route.args, combination, strict=True):
            path = re.sub(rf"<(?:\w+:)?{arg}>", value, path, count=1)
        yield "/" + path


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("latin-1")
    return response.content.decode("latin-1")


def is_public(route: Route) -> bool:
    return route.name in PUBLIC_URL_NAMES or route.route.startswith(PUBLIC_PATH_PREFIXES)


@pytest.fixture
def two_studios(studio, other_studio) -> tuple[StudioObjects, StudioObjects]:
    with schema_context(other_studio.schema_name):
        beta = make_studio_objects("beta", FOREIGN_BASE_PK)
    with schema_context(studio.schema_name):
        alpha = make_studio_objects("alpha", None)
        for model, foreign_pk in beta.int_pks.items():
            assert not model.objects.filter(pk=foreign_pk).exists(), (
                f"{model.__name__} {foreign_pk} exists in both studios: raise FOREIGN_BASE_PK"
            )
    connection.set_schema_to_public()
    return alpha, beta


def _routes() -> list[Route]:
    return list(walk_routes(get_resolver("studio_portal.urls_tenant").url_patterns))


def _api_client(studio, username: str) -> APIClient:
    with schema_context(studio.schema_name):
        user = User.objects.get(username=username)
        _, raw_key = api_key_create(user=user, name="matrix", created_by=user)
    connection.set_schema_to_public()
    host = studio.domains.get(is_primary=True).domain
    return APIClient(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def _assert_no_leak(
    response,
    url: str,
    method: str,
    foreign: StudioObjects,
    allowed: set[int],
) -> None:
    body = body_of(response)
    leaked = [marker for marker in foreign.markers if marker in body]
    assert not leaked, f"{method} {url} leaked {leaked} of studio {foreign.label}"
    match = getattr(response, "resolver_match", None)
    form_field = INVALID_LINK_PAGES.get(match.url_name if match else "")
    if response.status_code == 200 and form_field:
        assert form_field not in body, f"{method} {url} accepted another studio's link"
        return
    assert response.status_code in allowed, (
        f"{method} {url} answered {response.status_code}, expected one of {sorted(allowed)}"
    )


def test_every_url_with_another_studios_ids_is_a_404_or_403_for_a_member(
    studio,
    other_studio,
    two_studios,
) -> None:
    alpha, beta = two_studios
    owner_page = signed_in_client(studio, "owner")
    owner_api = _api_client(studio, "owner")
    requests = proven = 0
    for route in _routes():
        if not route.args:
            # Lists and forms: only reads, and they must not show the other studio's rows.
            for client in (owner_page, owner_api) if route.is_rest_api else (owner_page,):
                response = client.get("/" + route.route)
                _assert_no_leak(response, route.route, "GET", beta, set(range(200, 500)))
                requests += 1
            continue
        own_ok = any(owner_page.get(url).status_code == 200 for url in fill(route, alpha.values))
        clients: list[Client] = [owner_page, owner_api] if route.is_rest_api else [owner_page]
        for url in fill(route, beta.values):
            for client in clients:
                statuses = {}
                for method in ("get", "post"):
                    response = getattr(client, method)(url)
                    _assert_no_leak(response, url, method.upper(), beta, {403, 404, 405, 429})
                    statuses[method] = response.status_code
                    requests += 1
                assert set(statuses.values()) != {405}, f"{url}: neither GET nor POST is routed"
        proven += own_ok
    print(f"isolation matrix: {requests} requests, {proven} patterns 200 for own ids, 0 leaks")
    assert proven >= 8, "the walk must include pages that do answer 200 with the studio's own ids"


def test_foreign_credentials_on_a_studios_own_host_reach_nothing(
    studio,
    other_studio,
    two_studios,
) -> None:
    _, beta = two_studios
    session_of_a = signed_in_client(studio, "owner")
    host_b = other_studio.domains.get(is_primary=True).domain
    session_of_a.defaults["HTTP_HOST"] = host_b  # A's session cookie, sent to B's host
    key_of_a = _api_client(studio, "owner")
    key_of_a.defaults["HTTP_HOST"] = host_b  # A's API key, sent to B's host
    requests = 0
    for route in _routes():
        if is_public(route):
            continue
        urls = (
            list(fill(route, beta.values, every_pair=False)) if route.args else ["/" + route.route]
        )
        for url in urls:
            for client in (session_of_a, key_of_a):
                for method in ("get", "post") if route.args else ("get",):
                    response = getattr(client, method)(url)
                    requests += 1
                    if response.status_code == 302:
                        assert response["Location"].startswith("/login/"), (
                            f"{method.upper()} {url} redirected a foreign user to "
                            f"{response['Location']}; if the page is public by design, add its "
                            "name to PUBLIC_URL_NAMES"
                        )
                    _assert_no_leak(
                        response, url, method.upper(), beta, {302, 401, 403, 404, 405, 429}
                    )
    print(f"foreign credentials: {requests} requests on the other studio's host, 0 leaks")


def test_no_media_url_serves_a_scan_file(studio, other_studio, two_studios, settings) -> None:
    _, beta = two_studios
    with schema_context(other_studio.schema_name):
        scan = Scan.objects.get(pk=beta.int_pks[Scan])
        names = [f.name for f in scan.derivative_fields() if f]
        scan_bytes = scan.deidentified.open("rb").read()
    assert len(names) >= 6
    owner_b = signed_in_client(other_studio, "owner")
    anonymous_b = Client(HTTP_HOST=other_studio.domains.get(is_primary=True).domain)
    prefixes = {"/", "/media/", f"/{settings.MEDIA_URL.strip('/')}/".replace("//", "/")}
    for name in names:
        for prefix in prefixes:
            for client in (owner_b, anonymous_b):
                response = client.get(prefix + name)
                assert response.status_code == 404, f"{prefix + name} is served"
    # The scan reaches its own studio's staff only through the checked view.
    ok = owner_b.get(f"/files/scans/{scan.uid}/deidentified/")
    assert ok.status_code == 200 and body_of(ok).encode("latin-1") == scan_bytes
    refused = anonymous_b.get(f"/files/scans/{scan.uid}/deidentified/")
    assert refused.status_code == 302 and refused["Location"].startswith("/login/")
