"""The audit log moved from galleries to studio_portal.audit by its migrations' state alone: the
table galleries made (and every row in it) is the one the new app reads and writes."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_context

from studio_portal.audit.models import AuditLogEntry
from studio_portal.audit.services import audit_log_write
from studio_portal.tenants.models import Studio

pytestmark = pytest.mark.django_db


def test_the_migrations_describe_the_models_as_they_are() -> None:
    out = StringIO()
    # Exits non-zero (SystemExit) if a model differs from the state its migrations build.
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_galleries_lets_the_model_go_only_after_the_audit_app_has_taken_it() -> None:
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    plan = graph.forwards_plan(("galleries", "0009_audit_log_to_studio_portal"))
    assert plan.index(("galleries", "0001_initial")) < plan.index(("audit", "0001_initial"))
    assert plan.index(("audit", "0001_initial")) < plan.index(
        ("galleries", "0009_audit_log_to_studio_portal")
    )


def test_a_studio_migrated_from_nothing_writes_its_audit_log_to_the_table_galleries_made(
    studio: Studio,
) -> None:
    # The test database's studio schemas are built by every migration from zero.
    assert AuditLogEntry._meta.db_table == "galleries_auditlogentry"
    with schema_context(studio.schema_name):
        entry = audit_log_write(action="studio.checked", obj=studio, detail={"n": 1})
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT action, object_type, object_id, detail FROM galleries_auditlogentry "
                "WHERE id = %s",
                [entry.pk],
            )
            row = cursor.fetchone()
    assert row is not None
    assert row[:3] == ("studio.checked", "Studio", str(studio.pk))
    assert row[3] in ({"n": 1}, '{"n": 1}')
