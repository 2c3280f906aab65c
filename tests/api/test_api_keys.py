"""A member's API key: shown once, stored only as a digest, works on its own studio's host
only, and stops working the moment it is revoked."""

from __future__ import annotations

import hashlib

from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from studio_portal.api.models import ApiKey
from tests.api.conftest import api_client_for


def _host(studio) -> str:
    return studio.domains.get(is_primary=True).domain


def test_a_new_key_is_shown_once_and_only_its_digest_is_stored(studio) -> None:
    owner_client, _ = api_client_for(studio, "owner")
    response = owner_client.post("/api/keys/", {"name": "Booking system"}, format="json")
    assert response.status_code == 201
    raw_key = response.json()["key"]
    assert raw_key.startswith("crd_") and len(raw_key) > 40
    with schema_context(studio.schema_name):
        row = ApiKey.objects.get(pk=response.json()["id"])
        assert row.digest == hashlib.sha256(raw_key.encode()).hexdigest()
        stored = [str(v) for v in ApiKey.objects.filter(pk=row.pk).values_list().get()]
        assert raw_key not in stored
    listed = owner_client.get("/api/keys/").json()
    assert all("key" not in item for item in listed)
    assert {item["prefix"] for item in listed} >= {raw_key[:10]}


def test_the_key_authenticates_as_its_member(studio) -> None:
    client, _ = api_client_for(studio, "sono")
    response = client.post(
        "/api/sessions/",
        {"parent_name": "Key Tester", "consent_given": True, "skin_swatches": ["#a07e56"]},
        format="json",
    )
    assert response.status_code == 201
    from render.models import ParentSession

    with schema_context(studio.schema_name):
        session = ParentSession.objects.get(uid=response.json()["uid"])
        assert session.created_by.username == "sono"


def test_requests_without_a_key_or_with_a_wrong_one_get_401(studio) -> None:
    anonymous = APIClient(HTTP_HOST=_host(studio))
    response = anonymous.get("/api/sessions/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    forged = APIClient(HTTP_HOST=_host(studio), HTTP_AUTHORIZATION="Bearer crd_" + "x" * 43)
    response = forged.get("/api/sessions/")
    assert response.status_code == 401
    assert "Unknown or revoked" in response.json()["detail"]


def test_a_key_from_one_studio_is_unknown_on_another_studios_host(studio, other_studio) -> None:
    _, key_a = api_client_for(studio)
    on_b = APIClient(HTTP_HOST=_host(other_studio), HTTP_AUTHORIZATION=f"Bearer {key_a}")
    response = on_b.get("/api/sessions/")
    assert response.status_code == 401


def test_a_revoked_key_stops_working_at_once(studio) -> None:
    client, raw_key = api_client_for(studio, "sono")
    assert client.get("/api/jobs/").status_code == 200
    with schema_context(studio.schema_name):
        key_id = ApiKey.objects.get(digest=hashlib.sha256(raw_key.encode()).hexdigest()).pk
    response = client.post(f"/api/keys/{key_id}/revoke/")
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert client.get("/api/jobs/").status_code == 401


def test_a_sonographer_cannot_make_a_key_for_the_owner(studio) -> None:
    client, _ = api_client_for(studio, "sono")
    response = client.post("/api/keys/", {"name": "sneaky", "username": "owner"}, format="json")
    assert response.status_code == 403
    assert "owner" in response.json()["detail"]
    with schema_context(studio.schema_name):
        assert not ApiKey.objects.filter(name="sneaky").exists()


def test_a_sonographer_sees_only_her_own_keys_and_cannot_revoke_the_owners(studio) -> None:
    owner_client, _ = api_client_for(studio, "owner")
    sono_client, _ = api_client_for(studio, "sono")
    owner_keys = [k for k in owner_client.get("/api/keys/").json() if k["user"] == "owner"]
    listed = sono_client.get("/api/keys/").json()
    assert {item["user"] for item in listed} == {"sono"}
    response = sono_client.post(f"/api/keys/{owner_keys[0]['id']}/revoke/")
    assert response.status_code == 404


def test_the_settings_page_shows_a_new_key_once(studio) -> None:
    from tests.tenancy import signed_in_client

    client = signed_in_client(studio, "owner")
    response = client.post("/api/settings/", {"name": "CRM", "username": "sono"})
    assert response.status_code == 200
    body = response.content.decode()
    with schema_context(studio.schema_name):
        key = ApiKey.objects.get(name="CRM")
        assert key.user.username == "sono"
    assert f'value="{key.prefix}' in body
    again = client.get("/api/settings/").content.decode()
    assert key.prefix in again
    assert 'id="new-key"' not in again
