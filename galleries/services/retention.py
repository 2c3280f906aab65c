"""Scans purged past the studio's retention window: files gone, rows kept and audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from django.db import transaction
from django.db.models import FileField
from django.utils import timezone

from render.models import Scan
from studio_portal.audit.models import AuditLogEntry
from studio_portal.tenants.selectors import (
    current_schema_name,
    current_studio,
    studio_retention_days,
)

logger = logging.getLogger(__name__)


def scan_derivative_field_names() -> list[str]:
    """The Scan file fields that hold the scan or anything made from it (render owns the list)."""
    return [field_file.field.name for field_file in Scan().derivative_fields()]


# Data read from the scan's pixels that outlives no file: cleared with the files.
_SCAN_DERIVED_DATA: dict[str, object] = {
    "anchors": {},
    "anchors_placed": False,
    "dropped_anchors": [],
    "text_boxes": [],
    "render_box": [],
}


@dataclass
class PurgeReport:
    schema_name: str
    retention_days: int
    cutoff: datetime
    scans: int = 0
    files: int = 0
    scan_ids: list[int] = field(default_factory=list)


def scans_purge_expired(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int = 2000
) -> PurgeReport:
    """Delete every scan file and derivative older than the studio's window; keep the rows
    (marked ``purged_at``), the jobs, the candidates and the portraits; audit each scan.

    Files go first, then the rows are marked, batch by batch: a crash in between leaves files
    already gone and rows still unmarked, and the next run finishes them (deleting a missing
    file is a no-op). The other order could leave files nobody would ever delete.
    """
    now = now or timezone.now()
    studio = current_studio()
    days = studio_retention_days(studio)
    report = PurgeReport(current_schema_name(), days, now - timedelta(days=days))
    names = scan_derivative_field_names()
    storages = {name: cast(FileField, Scan._meta.get_field(name)).storage for name in names}
    last_pk = 0
    while True:
        rows = list(
            Scan.objects.filter(
                created_at__lt=report.cutoff, purged_at__isnull=True, pk__gt=last_pk
            )
            .order_by("pk")
            .values_list("pk", *names)[:batch_size]
        )
        if not rows:
            break
        last_pk = rows[-1][0]
        batch_files = 0
        deleted_fields: dict[int, list[str]] = {}
        for pk, *paths in rows:
            present = [(name, path) for name, path in zip(names, paths, strict=True) if path]
            deleted_fields[pk] = [name for name, _ in present]
            batch_files += len(present)
            if not dry_run:
                for name, path in present:
                    storages[name].delete(path)
        report.scans += len(rows)
        report.files += batch_files
        report.scan_ids.extend(deleted_fields)
        if dry_run:
            continue
        with transaction.atomic():
            Scan.objects.filter(pk__in=deleted_fields, purged_at__isnull=True).update(
                purged_at=now, **{name: "" for name in names}, **_SCAN_DERIVED_DATA
            )
            AuditLogEntry.objects.bulk_create(
                [
                    AuditLogEntry(
                        action="scan.purged",
                        object_type="Scan",
                        object_id=str(pk),
                        detail={
                            "reason": "retention",
                            "retention_days": days,
                            "files": fields,
                        },
                    )
                    for pk, fields in deleted_fields.items()
                ]
            )
    if not dry_run and report.scans:
        logger.info(
            "retention: %s scans (%s files) purged in %s",
            report.scans,
            report.files,
            report.schema_name,
        )
    return report
