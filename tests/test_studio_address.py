"""One studio address for every link Cradle makes for a studio's people
(``studio_portal.tenants.addresses.studio_base_url``): its proven custom domain, else its Cradle
subdomain. Before issue 18 the galleries' copy and billing's copy disagreed on a studio with
both."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from billing.selectors import owner_set_password_url
from galleries.models import Gallery
from galleries.services.gallery import gallery_url
from studio_portal.tenants.addresses import studio_base_url
from studio_portal.tenants.models import Domain
from studio_portal.tenants.services import public_tenant_ensure

CUSTOM = "portraits.alpha.example"


@pytest.fixture
def port(settings) -> str:
    settings.CRADLE_PUBLIC_PORT = "8000"
    return "8000"


def test_a_studio_with_only_its_cradle_subdomain_is_addressed_there(studio, port) -> None:
    assert studio_base_url(studio) == "http://alpha.localhost:8000"
    with schema_context(studio.schema_name):
        assert gallery_url(Gallery(token="t0k3n")) == "http://alpha.localhost:8000/g/t0k3n/"


def test_a_studio_with_a_primary_and_a_proven_custom_domain_gets_the_custom_one_everywhere(
    studio, other_studio, port
) -> None:
    # The Cradle subdomain is the primary row; a custom domain is a non-primary row, made only
    # once the owner proved she holds it (studio_portal.tenants.services.custom_domain_verify).
    assert studio.domains.get(is_primary=True).domain == "alpha.localhost"
    Domain.objects.create(tenant=studio, domain=CUSTOM, is_primary=False)

    assert studio_base_url(studio) == f"http://{CUSTOM}:8000"
    # The parent's gallery link, the owner's set-password link and the sign-in finder agree.
    with schema_context(studio.schema_name):
        assert gallery_url(Gallery(token="t0k3n")) == f"http://{CUSTOM}:8000/g/t0k3n/"
    assert owner_set_password_url(studio, email="owner@alpha.example").startswith(
        f"http://{CUSTOM}:8000/billing/set-password/"
    )
    public_tenant_ensure()
    found = Client(HTTP_HOST="localhost").get("/signin/", {"studio": "alpha"})
    assert found.status_code == 302 and found["Location"] == f"http://{CUSTOM}:8000/login/"
    # Another studio keeps its own address.
    assert studio_base_url(other_studio) == "http://beta.localhost:8000"
