"""Making and removing studios in tests, and clients signed in on a studio's own host."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from studio_portal.accounts.models import User
from studio_portal.tenants.models import Studio
from studio_portal.tenants.services import public_tenant_ensure, studio_create

PASSWORD = "correct-horse-battery"


def make_studio_with_members(subdomain: str, name: str, plan: str = Studio.Plan.PILOT) -> Studio:
    """The studio with an ``owner`` and a sonographer ``sono``; reused when it exists.

    A transactional test flushes the public tables but not the tenant schemas, so a schema
    without its row is dropped and built again.
    """
    studio = Studio.objects.filter(schema_name=subdomain.replace("-", "_")).first()
    if studio is not None:
        return studio
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{subdomain.replace("-", "_")}" CASCADE')
    public_tenant_ensure()
    studio = studio_create(
        name=name,
        subdomain=subdomain,
        owner_username="owner",
        owner_email=f"owner@{subdomain}.example",
        owner_password=PASSWORD,
        plan=plan,
    )
    with schema_context(studio.schema_name):
        User.objects.create_user(
            username="sono", email=f"sono@{subdomain}.example", password=PASSWORD
        )
    return studio


def drop_studio(studio: Studio) -> None:
    connection.set_schema_to_public()
    studio.delete(force_drop=True)


def signed_in_client(studio: Studio, username: str = "sono") -> Client:
    """A test client signed in as a studio member, sending the studio's own Host header."""
    host = studio.domains.get(is_primary=True).domain
    client = Client(HTTP_HOST=host)
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, "login failed"
    connection.set_schema_to_public()
    return client
