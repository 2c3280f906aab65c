"""The owner edits the studio's name, contact email and phone on the settings page."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from studio_portal.audit.models import AuditLogEntry
from studio_portal.tenants.models import Studio
from tests.tenancy import signed_in_client

pytestmark = pytest.mark.django_db


def test_the_owner_renames_the_studio_and_sets_how_parents_reach_it(studio: Studio) -> None:
    owner = signed_in_client(studio, "owner")
    page = owner.get("/settings/").content.decode()
    assert 'action="/settings/profile/"' in page and 'value="Alpha Studio"' in page

    response = owner.post(
        "/settings/profile/",
        {
            "name": "  Alpha   Bloom 4D ",
            "contact_email": "Hello@AlphaBloom.example",
            "contact_phone": "(415) 555-0123",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/settings/"
    saved = Studio.objects.get(pk=studio.pk)
    assert (saved.name, saved.contact_email, saved.contact_phone) == (
        "Alpha Bloom 4D",
        "hello@alphabloom.example",
        "+14155550123",
    )
    after = owner.get("/settings/").content.decode()
    assert "Alpha Bloom 4D</a>" in after  # the header's wordmark
    with schema_context("alpha"):
        entry = AuditLogEntry.objects.get(action="studio.profile_changed")
        assert entry.detail["name"] == {"from": "Alpha Studio", "to": "Alpha Bloom 4D"}
        assert entry.actor.username == "owner"


def test_bad_details_are_refused_beside_their_field_and_nothing_changes(studio: Studio) -> None:
    owner = signed_in_client(studio, "owner")
    response = owner.post(
        "/settings/profile/", {"name": " ", "contact_email": "not-an-email", "contact_phone": "12"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="name-error"' in body and 'id="email-error"' in body and 'id="phone-error"' in body
    assert Studio.objects.get(pk=studio.pk).name == "Alpha Studio"


def test_a_sonographer_cannot_change_the_studio(client_a: Client, studio: Studio) -> None:
    response = client_a.post("/settings/profile/", {"name": "Taken over"})
    assert response.status_code == 403
    assert Studio.objects.get(pk=studio.pk).name == "Alpha Studio"
