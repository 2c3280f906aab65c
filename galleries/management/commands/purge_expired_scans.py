"""``python manage.py purge_expired_scans [--dry-run] [--studio SCHEMA]``: the nightly retention
sweep, on demand, over every studio (or one)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from galleries.services.retention import scans_purge_expired
from studio_portal.tenants.selectors import studio_schema_names


class Command(BaseCommand):
    help = "Delete scans and their derivatives older than each studio's retention window."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument("--studio", help="Only this studio's schema name.")

    def handle(self, *args: object, **options: object) -> None:
        schemas = studio_schema_names()
        if options["studio"]:
            if options["studio"] not in schemas:
                raise CommandError(f"No studio with schema {options['studio']!r}.")
            schemas = [str(options["studio"])]
        dry_run = bool(options["dry_run"])
        verb = "would purge" if dry_run else "purged"
        total_scans = total_files = 0
        for schema_name in schemas:
            with schema_context(schema_name):
                report = scans_purge_expired(dry_run=dry_run)
            total_scans += report.scans
            total_files += report.files
            if report.scans:
                self.stdout.write(
                    f"{schema_name}: {verb} {report.scans} scans ({report.files} files) older than "
                    f"{report.retention_days} days"
                )
        self.stdout.write(
            f"{verb} {total_scans} scans ({total_files} files) in {len(schemas)} studios"
        )
