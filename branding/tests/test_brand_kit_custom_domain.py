"""A custom domain is a Studio-plan feature: a validated hostname the studio proves it holds (a
DNS TXT record), then one non-primary Domain row; a released domain is held before anyone else
may have it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from branding.selectors import brand_kit_get
from branding.services import brand_kit_custom_domain_verify, brand_kit_update
from branding.tests.brand_kit_factories import kit_snapshot, owner
from studio_portal.tenants.models import Domain, DomainClaim, Studio
from studio_portal.tenants.selectors import custom_domain_status


@pytest.fixture
def dns(monkeypatch):
    """A DNS zone the test publishes TXT records in (nothing leaves the machine)."""
    from studio_portal.tenants import dns as dns_module

    zone: dict[str, list[str]] = {}
    monkeypatch.setattr(dns_module, "txt_records", lambda name: zone.get(name, []))
    return zone


def _publish_proof(dns: dict, studio: Studio, domain: str) -> None:
    status = custom_domain_status(studio, domain)
    dns[status.record_name] = ["v=spf1 -all", status.record_value]


def _connect(studio: Studio, dns: dict, domain: str) -> None:
    """Save the domain, publish its proof, check it: what an owner does."""
    with schema_context(studio.schema_name):
        kit = brand_kit_update(kit=brand_kit_get(), actor=owner(), custom_domain=domain)
        _publish_proof(dns, studio, domain)
        brand_kit_custom_domain_verify(kit=kit, actor=owner())


def _set_plan(studio: Studio, plan: str) -> None:
    Studio.objects.filter(pk=studio.pk).update(plan=plan)


def _domains(studio: Studio) -> list[tuple[str, bool]]:
    return sorted(Domain.objects.filter(tenant=studio).values_list("domain", "is_primary"))


def test_a_saved_domain_serves_nothing_until_its_dns_proof_is_found(studio, dns, settings) -> None:
    _set_plan(studio, Studio.Plan.STUDIO)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "portraits.bloom.example"]
    with schema_context(studio.schema_name):
        kit = brand_kit_update(
            kit=brand_kit_get(), actor=owner(), custom_domain="https://Portraits.Bloom.example/"
        )
        assert kit.custom_domain == "portraits.bloom.example"
    assert _domains(studio) == [("alpha.localhost", True)]  # claimed, not connected
    assert Client(HTTP_HOST="portraits.bloom.example").get("/login/").status_code == 404
    status = custom_domain_status(studio, "portraits.bloom.example")
    assert not status.active
    assert status.record_name == "_cradle-challenge.portraits.bloom.example"
    assert status.record_value.startswith("cradle-verify=") and len(status.record_value) > 30

    with schema_context(studio.schema_name):
        with pytest.raises(ValidationError) as raised:  # no record yet
            brand_kit_custom_domain_verify(kit=kit, actor=owner())
        assert status.record_name in " ".join(raised.value.messages)
        dns[status.record_name] = ["cradle-verify=someone-elses-token"]
        with pytest.raises(ValidationError):
            brand_kit_custom_domain_verify(kit=kit, actor=owner())
        _publish_proof(dns, studio, "portraits.bloom.example")
        brand_kit_custom_domain_verify(kit=kit, actor=owner())
    assert _domains(studio) == [("alpha.localhost", True), ("portraits.bloom.example", False)]
    assert custom_domain_status(studio, "portraits.bloom.example").active
    response = Client(HTTP_HOST="portraits.bloom.example").get("/login/")
    assert response.status_code == 200
    assert "Alpha Studio" in response.content.decode()


def test_a_new_domain_replaces_the_old_one_and_blank_removes_it(studio, dns) -> None:
    _set_plan(studio, Studio.Plan.STUDIO)
    _connect(studio, dns, "a.bloom.example")
    _connect(studio, dns, "b.bloom.example")
    assert _domains(studio) == [("alpha.localhost", True), ("b.bloom.example", False)]
    with schema_context(studio.schema_name):
        kit = brand_kit_update(kit=brand_kit_get(), actor=owner(), custom_domain="")
        assert kit.custom_domain == ""
    assert _domains(studio) == [("alpha.localhost", True)]


def test_a_released_domain_is_held_before_another_studio_may_claim_it(
    studio, other_studio, dns, settings
) -> None:
    settings.CUSTOM_DOMAIN_HOLD_DAYS = 30
    _set_plan(studio, Studio.Plan.STUDIO)
    _set_plan(other_studio, Studio.Plan.STUDIO)
    _connect(studio, dns, "portraits.bloom.example")
    with schema_context(studio.schema_name):
        brand_kit_update(kit=brand_kit_get(), actor=owner(), custom_domain="")
    # Beta takes over the DNS the next day: Alpha's parents' old links must not open Beta.
    with schema_context(other_studio.schema_name):
        with pytest.raises(ValidationError) as raised:
            brand_kit_update(
                kit=brand_kit_get(), actor=owner(), custom_domain="portraits.bloom.example"
            )
    assert "can be connected from" in " ".join(raised.value.messages)
    assert not Domain.objects.filter(domain="portraits.bloom.example").exists()
    # Alpha may take its own domain back at once (after proving it again).
    _connect(studio, dns, "portraits.bloom.example")
    assert _domains(studio)[-1] == ("portraits.bloom.example", False)
    with schema_context(studio.schema_name):
        brand_kit_update(kit=brand_kit_get(), actor=owner(), custom_domain="")
    # Once the hold is over, Beta proves it holds the domain and gets it.
    DomainClaim.objects.filter(domain="portraits.bloom.example").update(
        released_at=timezone.now() - timedelta(days=31)
    )
    _connect(other_studio, dns, "portraits.bloom.example")
    assert _domains(other_studio)[-1] == ("portraits.bloom.example", False)


@pytest.mark.parametrize("plan", [Studio.Plan.PILOT, Studio.Plan.GROWTH])
def test_a_custom_domain_below_the_studio_plan_is_refused(studio, plan) -> None:
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
def test_an_invalid_hostname_is_refused(studio, hostname) -> None:
    _set_plan(studio, Studio.Plan.STUDIO)
    with schema_context(studio.schema_name):
        before = kit_snapshot()
        with pytest.raises(ValidationError) as raised:
            brand_kit_update(kit=brand_kit_get(), actor=owner(), custom_domain=hostname)
        assert kit_snapshot() == before
    assert raised.value.message_dict["custom_domain"]


def test_a_domain_another_studio_uses_is_refused(studio, other_studio) -> None:
    _set_plan(studio, Studio.Plan.STUDIO)
    Domain.objects.create(tenant=other_studio, domain="portraits.beta.example", is_primary=False)
    with schema_context(studio.schema_name):
        with pytest.raises(ValidationError) as raised:
            brand_kit_update(
                kit=brand_kit_get(), actor=owner(), custom_domain="portraits.beta.example"
            )
    assert "another studio" in " ".join(raised.value.messages)
    assert _domains(studio) == [("alpha.localhost", True)]


def test_the_editor_shows_the_record_to_publish_and_checks_it(studio, dns) -> None:
    from tests.tenancy import signed_in_client

    _set_plan(studio, Studio.Plan.STUDIO)
    with schema_context(studio.schema_name):
        brand_kit_update(
            kit=brand_kit_get(), actor=owner(), custom_domain="portraits.bloom.example"
        )
    status = custom_domain_status(studio, "portraits.bloom.example")
    client = signed_in_client(studio, "owner")
    page = client.get("/branding/").content.decode()
    assert status.record_name in page and status.record_value in page
    assert "is not connected yet" in page
    dns[status.record_name] = [status.record_value]
    checked = client.post("/branding/domain/verify/", follow=True).content.decode()
    assert "portraits.bloom.example now serves your galleries" in checked
    assert "is not connected yet" not in checked
    assert Domain.objects.filter(tenant=studio, domain="portraits.bloom.example").exists()
