"""API clients: one per studio, authenticated with a member's API key on the studio's host."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from studio_portal.accounts.models import User
from studio_portal.api.services import api_key_create
from studio_portal.tenants.models import Studio


def api_client_for(studio: Studio, username: str = "sono") -> tuple[APIClient, str]:
    """A client that sends ``Authorization: Bearer <key>`` for ``username`` on the studio's host."""
    with schema_context(studio.schema_name):
        user = User.objects.get(username=username)
        _, raw_key = api_key_create(user=user, name=f"{username} tests", created_by=user)
    connection.set_schema_to_public()
    host = studio.domains.get(is_primary=True).domain
    client = APIClient(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client, raw_key


@pytest.fixture
def api_a(studio):
    return api_client_for(studio)[0]


@pytest.fixture
def api_b(other_studio):
    return api_client_for(other_studio)[0]


@pytest.fixture
def owner_api_a(studio):
    return api_client_for(studio, "owner")[0]
