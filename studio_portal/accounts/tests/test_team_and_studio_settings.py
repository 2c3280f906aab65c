"""Owner pages: invite by email → one-time link → password; roles; removal; retention."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from studio_portal.accounts.models import User
from studio_portal.audit.models import AuditLogEntry
from studio_portal.tenants.models import Studio
from tests.tenancy import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(studio: Studio) -> Client:
    return signed_in_client(studio, "owner")


def _invite(owner_client: Client, capture, email: str, role: str = "sonographer"):
    with capture(execute=True):
        return owner_client.post("/team/invite/", {"email": email, "role": role})


def test_a_sonographer_gets_403_on_every_owner_page(client_a: Client) -> None:
    assert client_a.get("/team/").status_code == 403
    assert client_a.get("/settings/").status_code == 403
    assert (
        client_a.post("/team/invite/", {"email": "x@example.com", "role": "owner"}).status_code
        == 403
    )
    assert client_a.post("/settings/", {"retention_days": 5}).status_code == 403


def test_an_invite_emails_a_one_time_link_that_sets_a_password_and_signs_in(
    studio: Studio, owner_client: Client, fake_providers, django_capture_on_commit_callbacks
) -> None:
    response = _invite(owner_client, django_capture_on_commit_callbacks, "Sam@Example.com")
    assert response.status_code == 302
    [mail] = fake_providers.emails()
    body = mail.json()
    assert body["personalizations"][0]["to"][0]["email"] == "sam@example.com"
    text = body["content"][0]["value"]
    path = re.search(r"http://alpha\.localhost(?::\d+)?(/invite/[^\s]+/)", text).group(1)

    invitee = Client(HTTP_HOST="alpha.localhost")
    assert invitee.get(path).status_code == 200
    short = invitee.post(path, {"password": "abc", "password_again": "abc"})
    assert short.status_code == 400 and b"too short" in short.content
    done = invitee.post(path, {"password": "a-long-new-pass", "password_again": "a-long-new-pass"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert invitee.get("/").status_code == 200  # signed in

    # The link worked once.
    again = Client(HTTP_HOST="alpha.localhost").get(path)
    assert again.status_code == 404 and b"no longer works" in again.content
    with schema_context("alpha"):
        member = User.objects.get(username="sam@example.com")
        assert member.role == "sonographer" and member.check_password("a-long-new-pass")
        assert AuditLogEntry.objects.filter(
            action="team.invited", object_id=str(member.pk)
        ).exists()


def test_inviting_an_existing_member_says_so(
    owner_client: Client, django_capture_on_commit_callbacks
) -> None:
    with schema_context("alpha"):
        User.objects.filter(username="sono").update(email="sono@alpha.example")
    response = _invite(owner_client, django_capture_on_commit_callbacks, "sono@alpha.example")
    assert response.status_code == 400
    assert b"already on the team" in response.content


def test_an_owner_changes_a_role_but_never_demotes_the_last_owner(
    studio: Studio, owner_client: Client
) -> None:
    with schema_context("alpha"):
        sono = User.objects.get(username="sono")
        owner = User.objects.get(username="owner")
    owner_client.post(f"/team/{sono.pk}/role/", {"role": "owner"})
    with schema_context("alpha"):
        assert User.objects.get(pk=sono.pk).role == "owner"
    owner_client.post(f"/team/{sono.pk}/role/", {"role": "sonographer"})
    response = owner_client.post(f"/team/{owner.pk}/role/", {"role": "sonographer"}, follow=True)
    assert b"at least one owner" in response.content
    with schema_context("alpha"):
        assert User.objects.get(pk=owner.pk).role == "owner"


def test_a_removed_member_can_no_longer_sign_in(studio: Studio, owner_client: Client) -> None:
    with schema_context("alpha"):
        sono = User.objects.get(username="sono")
    response = owner_client.post(f"/team/{sono.pk}/remove/", follow=True)
    assert b"no longer has access" in response.content
    assert b"<strong>sono</strong>" not in response.content
    with schema_context("alpha"):
        assert not User.objects.get(pk=sono.pk).is_active
    with pytest.raises(AssertionError, match="login failed"):
        signed_in_client(studio, "sono")


def test_retention_is_saved_on_the_studio_and_capped_at_90_days(
    studio: Studio, owner_client: Client
) -> None:
    too_long = owner_client.post("/settings/", {"retention_days": 120})
    assert too_long.status_code == 400
    assert b"less than or equal to 90" in too_long.content
    assert owner_client.post("/settings/", {"retention_days": 30}).status_code == 302
    assert Studio.objects.get(pk=studio.pk).retention_days == 30
    page = owner_client.get("/settings/")
    assert b'value="30"' in page.content


def test_the_nav_shows_owner_links_only_to_owners(owner_client: Client, client_a: Client) -> None:
    owner_page = owner_client.get("/").content.decode()
    sono_page = client_a.get("/").content.decode()
    assert 'href="/team/"' in owner_page and 'href="/settings/"' in owner_page
    assert 'href="/team/"' not in sono_page and 'href="/settings/"' not in sono_page
