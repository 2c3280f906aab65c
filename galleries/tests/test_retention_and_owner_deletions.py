"""Scans and every derivative disappear on the studio's window; portraits stay; every deletion
is in the audit log, which only the owner reads."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from galleries.models import Gallery
from galleries.services.gallery import gallery_create
from galleries.services.retention import scans_purge_expired
from galleries.tests.factories import parent_session, ready_job_with_portraits, scan_with_files
from render.models import Candidate, Scan
from studio_portal.audit.models import AuditLogEntry
from tests.tenancy import signed_in_client


def _files(scan: Scan) -> list[str]:
    return [f.name for f in scan.derivative_fields()]


@pytest.fixture
def scans(studio):
    """Three scans uploaded today; the first has a job with portraits."""
    with schema_context(studio.schema_name):
        session = parent_session()
        made = [scan_with_files(session) for _ in range(3)]
        job = ready_job_with_portraits(scan=made[0])
        return made, job


def test_a_sweep_91_days_later_deletes_every_scan_file_and_keeps_the_portraits(
    studio, scans
) -> None:
    made, job = scans
    names = [name for scan in made for name in _files(scan)]
    assert len(names) == 21 and all(default_storage.exists(name) for name in names)
    with schema_context(studio.schema_name):
        portrait_files = [c.image.name for c in job.candidates.all()] + [
            c.web_image.name for c in job.candidates.all()
        ]
        report = scans_purge_expired(now=timezone.now() + timedelta(days=91))
        assert report.scans == 3 and report.files == 21
        assert not any(default_storage.exists(name) for name in names)
        for scan in Scan.objects.all():
            assert scan.purged_at is not None
            assert all(not field for field in scan.derivative_fields())
            assert scan.anchors == {} and scan.text_boxes == []
        assert Candidate.objects.filter(job=job).count() == 3
        assert all(default_storage.exists(name) for name in portrait_files)
        job.refresh_from_db()
        assert job.scan_id == made[0].pk
        audit = AuditLogEntry.objects.filter(action="scan.purged")
        assert sorted(int(e.object_id) for e in audit) == sorted(s.pk for s in made)
        assert set(audit[0].detail["files"]) == {
            "original_encrypted",
            "deidentified",
            "cues_file",
            "depth_map",
            "normals_map",
            "mask_map",
            "report_image",
        }


def test_scans_inside_the_window_are_kept(studio, scans) -> None:
    made, _ = scans
    with schema_context(studio.schema_name):
        assert scans_purge_expired(now=timezone.now() + timedelta(days=89)).scans == 0
        assert Scan.objects.filter(purged_at__isnull=True).count() == 3
    assert all(default_storage.exists(name) for scan in made for name in _files(scan))


def test_the_studios_shorter_window_is_used_and_a_longer_one_is_capped_at_90(studio) -> None:
    with schema_context(studio.schema_name):
        session = parent_session()
        old, young = scan_with_files(session, age_days=31), scan_with_files(session, age_days=29)
        studio.retention_days = 30
        studio.save()
        report = scans_purge_expired()
        assert report.retention_days == 30 and report.scan_ids == [old.pk]
        studio.retention_days = 400
        studio.save()
        assert scans_purge_expired().retention_days == 90
        assert scans_purge_expired(now=timezone.now() + timedelta(days=62)).scan_ids == [young.pk]


def test_a_second_sweep_deletes_nothing_more_and_writes_no_more_audit_rows(studio, scans) -> None:
    later = timezone.now() + timedelta(days=91)
    with schema_context(studio.schema_name):
        scans_purge_expired(now=later)
        assert scans_purge_expired(now=later).scans == 0
        assert AuditLogEntry.objects.filter(action="scan.purged").count() == 3


def test_the_command_dry_run_deletes_nothing_and_the_real_run_does(
    studio, other_studio, scans
) -> None:
    made, _ = scans
    with schema_context(studio.schema_name):
        Scan.objects.filter(pk=made[0].pk).update(created_at=timezone.now() - timedelta(days=120))
    with schema_context(other_studio.schema_name):
        beta_scan = scan_with_files(parent_session(), age_days=10)
    out = io.StringIO()
    call_command("purge_expired_scans", "--dry-run", stdout=out)
    assert "would purge 1 scans (7 files)" in out.getvalue()
    assert all(default_storage.exists(name) for name in _files(made[0]))
    out = io.StringIO()
    call_command("purge_expired_scans", stdout=out)
    assert "alpha: purged 1 scans (7 files) older than 90 days" in out.getvalue()
    assert not any(default_storage.exists(name) for name in _files(made[0]))
    assert all(default_storage.exists(name) for name in _files(made[1]))
    assert all(default_storage.exists(name) for name in _files(beta_scan))


def test_the_nightly_actor_sweeps_each_studio(studio, scans) -> None:
    from galleries.tasks import retention_sweep_all, retention_sweep_studio

    made, _ = scans
    with schema_context(studio.schema_name):
        Scan.objects.update(created_at=timezone.now() - timedelta(days=95))
    assert retention_sweep_all.options.get("periodic") is not None
    retention_sweep_studio.fn(studio.schema_name)
    with schema_context(studio.schema_name):
        assert Scan.objects.filter(purged_at__isnull=True).count() == 0
    assert not any(default_storage.exists(name) for scan in made for name in _files(scan))


def test_the_procfile_scheduler_runs_the_gallery_tasks() -> None:
    from django.conf import settings

    scheduler = next(
        line
        for line in (settings.BASE_DIR / "Procfile").read_text().splitlines()
        if line.startswith("scheduler:")
    )
    assert "galleries.tasks" in scheduler.split()


def test_the_owner_deletes_a_portrait_and_a_gallery_and_both_are_audited(
    studio,
    django_capture_on_commit_callbacks,
) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
        alternate = gallery.job.candidates.get(rank=1)
        files = [alternate.image.name, alternate.web_image.name, alternate.print_image.name]
    sonographer, owner = signed_in_client(studio), signed_in_client(studio, "owner")
    assert sonographer.post(f"/galleries/portraits/{alternate.pk}/delete/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):  # files go once the row is gone
        deleted = owner.post(f"/galleries/portraits/{alternate.pk}/delete/", {"confirmed": "1"})
        assert deleted.status_code == 302
    assert not any(default_storage.exists(name) for name in files)
    assert sonographer.post(f"/galleries/{gallery.uid}/delete/").status_code == 403
    assert owner.post(f"/galleries/{gallery.uid}/delete/", {"confirmed": "1"}).status_code == 302
    with schema_context(studio.schema_name):
        assert not Candidate.objects.filter(pk=alternate.pk).exists()
        assert not Gallery.objects.exists()
        assert Candidate.objects.count() == 2  # deleting the link kept the other portraits
        actions = {(e.action, e.actor.username) for e in AuditLogEntry.objects.exclude(actor=None)}
    assert {("portrait.deleted", "owner"), ("gallery.deleted", "owner")} <= actions


def test_the_audit_log_page_is_for_the_owner_only(studio, scans) -> None:
    with schema_context(studio.schema_name):
        scans_purge_expired(now=timezone.now() + timedelta(days=91))
    assert signed_in_client(studio).get("/audit/").status_code == 403
    page = signed_in_client(studio, "owner").get("/audit/?action=scan.")
    assert page.status_code == 200 and page.content.decode().count("Scan deleted (retention)") == 3
