"""``render_scan`` and ``bench pipeline`` run in a throwaway studio of their own and leave
nothing behind (never the demo studio's sessions, galleries or pilot count); they need no
broker; ``seed_demo`` never resets a password that exists (issue 17 item 10)."""

from __future__ import annotations

import io
import json
import logging
import socket
from pathlib import Path

import dramatiq
import pytest
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context
from dramatiq.brokers.redis import RedisBroker

from render.models import ParentSession
from studio_portal.accounts.models import User
from studio_portal.tenants.models import Studio
from studio_portal.tenants.services import throwaway_studios_drop
from verification.models import PortraitMark

pytestmark = pytest.mark.django_db


def _scratch_schemas() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'scratch_%%'")
        return [row[0] for row in cursor.fetchall()]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe closes


@pytest.fixture
def no_broker_running():
    """The settings' broker as on a fresh clone without ``make run``: Redis on a port where
    nothing listens. Every declared actor is moved to it, then back."""
    declared = dramatiq.get_broker()
    redis = RedisBroker(url=f"redis://127.0.0.1:{_closed_port()}/0")
    kinds = {type(middleware) for middleware in redis.middleware}
    for middleware in declared.middleware:  # periodiq's: its actors need it declared
        if type(middleware) not in kinds:
            redis.add_middleware(middleware)
    actors = [declared.get_actor(name) for name in declared.get_declared_actors()]
    for actor in actors:
        actor.broker = redis
        redis.declare_actor(actor)
    dramatiq.set_broker(redis)
    yield redis
    for actor in actors:
        actor.broker = declared
    dramatiq.set_broker(declared)


def test_render_scan_delivers_in_a_throwaway_studio_without_a_broker_and_leaves_nothing(
    studio,
    other_studio,
    tmp_path,
    phantom_jpeg,
    settings,
    no_broker_running,
    caplog,
) -> None:
    settings.PRINT_FILES_AUTOMATIC = True  # as in development: the print file is asked for
    scan = tmp_path / "scan.jpg"
    scan.write_bytes(phantom_jpeg)
    studios_before = set(Studio.objects.values_list("schema_name", flat=True))
    marks_before = PortraitMark.objects.count()
    out = io.StringIO()
    with caplog.at_level(logging.WARNING):
        call_command("render_scan", str(scan), "--json", "--out", str(tmp_path / "out"), stdout=out)
    result = json.loads(out.getvalue())

    assert result["state"] == "delivered", result["reason"]
    assert result["gallery_url"] is None  # its studio is gone: no link that leads nowhere
    assert result["outputs"] and all(Path(p).is_file() for p in result["outputs"])
    assert not [r for r in caplog.records if "broker away" in r.getMessage()]
    assert set(Studio.objects.values_list("schema_name", flat=True)) == studios_before
    assert PortraitMark.objects.count() == marks_before  # its portraits' watermark records too
    assert _scratch_schemas() == []
    assert not [p for p in Path(settings.MEDIA_ROOT).glob("scratch_*")]
    for schema in (studio.schema_name, other_studio.schema_name):
        with schema_context(schema):
            assert not ParentSession.objects.filter(parent_name="render_scan").exists()


def test_bench_pipeline_measures_in_a_throwaway_studio_and_leaves_nothing(
    studio,
    settings,
    no_broker_running,
) -> None:
    studios_before = Studio.objects.count()
    out = io.StringIO()
    call_command("bench", "pipeline", "--json", "--runs", "1", stdout=out)
    result = json.loads(out.getvalue())
    assert result["median_ms"] > 0 and "render" in result["steps_ms"]
    assert Studio.objects.count() == studios_before
    assert _scratch_schemas() == []
    with schema_context(studio.schema_name):
        assert not ParentSession.objects.filter(parent_name="benchmark").exists()


def test_a_throwaway_studio_left_by_a_killed_run_is_dropped_later_but_not_a_fresh_one(
    db,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from studio_portal.tenants.services import studio_create

    old = studio_create(
        name="left behind",
        subdomain="scratch-scan-deadbeef",
        owner_username="owner",
        owner_email="o@example.com",
        owner_password="x-long-password",
    )
    Studio.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=7))
    assert throwaway_studios_drop(prefix="scratch-scan", older_than=timedelta(hours=6)) == 1
    assert not Studio.objects.filter(pk=old.pk).exists()
    assert _scratch_schemas() == []


def test_seed_demo_keeps_existing_passwords(db, tmp_path, settings) -> None:
    settings.LOCAL_DIR = tmp_path
    first = io.StringIO()
    call_command("seed_demo", stdout=first)
    credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert credentials["owner_password"] in first.getvalue()
    demo = Studio.objects.get(schema_name="demo")
    try:
        with schema_context("demo"):
            owner = User.objects.get(username="owner")
            assert owner.check_password(credentials["owner_password"])
            owner.set_password("the-owner-chose-this")  # e.g. through "Forgot your password?"
            owner.save()
            sonographer_hash = User.objects.get(username="sonographer").password

        call_command("seed_demo", stdout=io.StringIO())
        with schema_context("demo"):
            assert User.objects.get(username="owner").check_password("the-owner-chose-this")
            assert User.objects.get(username="sonographer").password == sonographer_hash

        # The saved logins lost: the members keep their passwords, and the seed says so.
        (tmp_path / "demo-credentials.json").unlink()
        again = io.StringIO()
        call_command("seed_demo", stdout=again)
        assert "owner / (unchanged; not saved in this checkout)" in again.getvalue()
        with schema_context("demo"):
            assert User.objects.get(username="owner").check_password("the-owner-chose-this")
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        demo.delete(force_drop=True)
