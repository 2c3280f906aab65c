"""Fixtures shared by every app's tests: studios (tenants), signed-in clients, fake providers.

Two studios, ``alpha`` and ``beta``, are created once per test session with their schemas
migrated (seconds each); every test then runs inside its own rolled-back transaction.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.db import connection

from render.pipeline.phantom import make_phantom
from studio_portal.tenants.models import Studio
from tests.stack import services_start_for_tests
from tests.tenancy import make_studio_with_members, signed_in_client

# The pipeline's own tests need no database, broker or browser: under ``make test``'s two
# xdist workers each of their modules is a unit of work the idle worker takes, while every
# test that touches the stack runs on one worker in collection order (they share its Redis).
PIPELINE_TESTS = Path(__file__).resolve().parent / "render" / "tests" / "pipeline"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path).resolve()
        group = path.stem if PIPELINE_TESTS in path.parents else "stack"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config: pytest.Config) -> None:
    """The development stack for the run: the embedded PostgreSQL unless DATABASE_URL names a
    server (the settings never start it themselves)."""
    if not (config.getoption("help") or config.getoption("version")):
        services_start_for_tests()


@pytest.fixture(scope="session")
def _session_studios(django_db_setup, django_db_blocker) -> None:
    with django_db_blocker.unblock():
        make_studio_with_members("alpha", "Alpha Studio")
        make_studio_with_members("beta", "Beta Studio")


@pytest.fixture
def studio(_session_studios, db) -> Studio:
    return make_studio_with_members("alpha", "Alpha Studio")


@pytest.fixture
def other_studio(_session_studios, db) -> Studio:
    return make_studio_with_members("beta", "Beta Studio")


@pytest.fixture
def client_a(studio):
    return signed_in_client(studio)


@pytest.fixture
def client_b(other_studio):
    return signed_in_client(other_studio)


@pytest.fixture(autouse=True)
def _back_to_public_schema():
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def fake_providers(settings):
    """Point the SendGrid and Twilio SDKs at a local fake server for this test."""
    from tests.fakes.providers import start_fake_providers

    state, server = start_fake_providers()
    settings.EMAIL_DELIVERY_BACKEND = "sendgrid"
    settings.SENDGRID_API_KEY = "SG.test-key"
    settings.SENDGRID_API_BASE = state.url
    settings.SMS_DELIVERY_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = "ACtest00000000000000000000000000"
    settings.TWILIO_AUTH_TOKEN = "test-token"
    settings.TWILIO_API_BASE = state.url
    yield state
    server.shutdown()


@pytest.fixture
def phantom_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(make_phantom().image).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()
