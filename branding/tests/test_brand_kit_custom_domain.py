"""A custom domain is a Studio-plan feature: a validated hostname, one non-primary Domain row."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django_tenants.utils import schema_context

from branding.selectors import brand_kit_get
from branding.services import brand_kit_update
from branding.tests.brand_kit_factories import kit_snapshot, owner
from studio_portal.tenants.models import Domain, Studio


def _set_plan(studio: Studio, plan: str) -> None:
    Studio.objects.filter(pk=studio.pk).update(plan=plan)


def _domains(studio: Studio) -> list[tuple[str, bool]]:
    return sorted(Domain.objects.filter(tenant=studio).values_list("domain", "is_primary"))


def test_a_studio_plan_owner_connects_a_domain_as_a_second_address(studio) -> None:  # noqa: ANN001
    _set_plan(studio, Studio.Plan.STUDIO)
    with schema_context(studio.schema_name):
        kit = brand_kit_update(
            kit=brand_kit_get(), actor=owner(), custom_domain="https://Portraits.Bloom.example/"
        )
        assert kit.custom_domain == "portraits.bloom.example"
    assert _domains(studio) == [("alpha.localhost", True), ("portraits.bloom.example", False)]


def test_a_new_domain_replaces_the_old_one_and_blank_removes_it(studio) -> None:  # noqa: ANN001
    _set_plan(studio, Studio.Plan.STUDIO)
    with schema_context(studio.schema_name):
        kit = brand_kit_update(kit=brand_kit_get(), actor=owner(), custom_domain="a.bloom.example")
        kit = brand_kit_update(kit=kit, actor=owner(), custom_domain="b.bloom.example")
        assert _domains(studio) == [("alpha.localhost", True), ("b.bloom.example", False)]
        kit = brand_kit_update(kit=kit, actor=owner(), custom_domain="")
        assert kit.custom_domain == ""
    assert _domains(studio) == [("alpha.localhost", True)]


def test_the_custom_domain_serves_the_studio(studio, settings) -> None:  # noqa: ANN001
    _set_plan(studio, Studio.Plan.STUDIO)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "portraits.bloom.example"]
    with schema_context(studio.schema_name):
        brand_kit_update(
            kit=brand_kit_get(), actor=owner(), custom_domain="portraits.bloom.example"
        )
    response = Client(HTTP_HOST="portraits.bloom.example").get("/login/")
    assert response.status_code == 200
    assert "Alpha Studio" in response.content.decode()


@pytest.mark.parametrize("plan", [Studio.Plan.PILOT, Studio.Plan.GROWTH])
def test_a_custom_domain_below_the_studio_plan_is_refused(studio, plan) -> None:  # noqa: ANN001
    _set_plan(studio, plan)
    with schema_context(studio.schema_name):
        before = kit_snapshot()
        with pytest.raises(ValidationError) as raised:
            brand_kit_update(
                kit=brand_kit_get(),
                actor=owner(),
                custom_domain="portraits.bloom.example",
                primary_hex="#1f4e79",
            )
        assert kit_snapshot() == before
    message = " ".join(raised.value.message_dict["custom_domain"])
    assert "Studio plan" in message and Studio.Plan(plan).label in message
    assert _domains(studio) == [("alpha.localhost", True)]


@pytest.mark.parametrize(
    "hostname",
    [
        "not a domain",
        "localhost",
        "203.0.113.7",
        "bloom.example:8443",
        "-bad.example",
        "bloom..example",
        "x" * 64 + ".example",
        "alpha.localhost",  # a Cradle address, not one the studio owns
        "beta.localhost",
    ],
)
def test_an_invalid_hostname_is_refused(studio, hostname) -> None:  # noqa: ANN001
    _set_plan(studio, Studio.Plan.STUDIO)
    with schema_context(studio.schema_name):
        before = kit_snapshot()
        with pytest.raises(ValidationError) as raised:
            brand_kit_update(kit=brand_kit_get(), actor=owner(), custom_domain=hostname)
        assert kit_snapshot() == before
    assert raised.value.message_dict["custom_domain"]


def test_a_domain_another_studio_uses_is_refused(studio, other_studio) -> None:  # noqa: ANN001
    _set_plan(studio, Studio.Plan.STUDIO)
    Domain.objects.create(tenant=other_studio, domain="portraits.beta.example", is_primary=False)
    with schema_context(studio.schema_name):
        with pytest.raises(ValidationError) as raised:
            brand_kit_update(
                kit=brand_kit_get(), actor=owner(), custom_domain="portraits.beta.example"
            )
    assert "another studio" in " ".join(raised.value.messages)
    assert _domains(studio) == [("alpha.localhost", True)]
