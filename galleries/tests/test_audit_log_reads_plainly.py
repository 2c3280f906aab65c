"""The owner's audit log reads as sentences with links, and records only what changed
(issue 17 item 11: raw dicts, ids that were not links, "pin: cleared" when only the expiry
changed)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from galleries.services.gallery import gallery_create
from galleries.services.sending import gallery_send
from galleries.tests.factories import ready_job_with_portraits
from studio_portal.audit.models import AuditLogEntry
from tests.tenancy import signed_in_client


def test_changing_only_the_expiry_records_only_the_expiry(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
    owner = signed_in_client(studio, "owner")
    day = (timezone.now() + timedelta(days=20)).date()
    owner.post(f"/galleries/{gallery.uid}/protect/", {"pin": "", "expires_on": day.isoformat()})
    with schema_context(studio.schema_name):
        entry = AuditLogEntry.objects.get(action="gallery.protected")
    assert set(entry.detail) == {"expires_at"}  # no PIN was there, and none was cleared
    html = owner.get("/audit/").content.decode()
    rows = html.split("<tbody>")[1]
    assert "PIN removed" not in rows and "PIN set" not in rows
    assert f"closes on {day:%-d %b %Y}" in html


def test_keeping_the_pin_and_the_expiry_changes_nothing_and_setting_a_pin_says_so(
    studio,
) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
    owner = signed_in_client(studio, "owner")
    owner.post(f"/galleries/{gallery.uid}/protect/", {"pin": "1357", "expires_on": ""})
    owner.post(f"/galleries/{gallery.uid}/protect/", {"pin": "", "keep_pin": "1"})
    with schema_context(studio.schema_name):
        details = list(
            AuditLogEntry.objects.filter(action="gallery.protected")
            .order_by("at")
            .values_list("detail", flat=True)
        )
    assert details == [{"pin": "set"}]


def test_entries_read_as_sentences_and_name_their_objects_with_links(studio) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
        [delivery] = gallery_send(job=job, channels=["email"], enqueue=False)
        gallery = delivery.gallery
        alternate = job.candidates.get(rank=1)
    owner = signed_in_client(studio, "owner")
    owner.post(f"/galleries/portraits/{alternate.pk}/delete/", {"confirmed": "1"})
    html = owner.get("/audit/").content.decode()
    rows = html.split("<tbody>")[1].split("</tbody>")[0]
    assert "{" not in rows and "[" not in rows and "'" not in rows  # no Python reprs
    assert f'<a href="/galleries/{gallery.uid}/">' in rows  # the gallery, by a link
    assert f'<a href="/jobs/{job.uid}/">' in rows  # the deleted portrait's render
    assert "Gallery sent" in rows and "by email" in rows
    assert "Portrait deleted" in rows and "portrait 2" in rows


def test_a_deleted_gallery_is_named_without_a_dead_link(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
    owner = signed_in_client(studio, "owner")
    owner.post(f"/galleries/{gallery.uid}/delete/", {"confirmed": "1"})
    rows = owner.get("/audit/").content.decode().split("<tbody>")[1]
    assert f"/galleries/{gallery.uid}/" not in rows
    assert "Gallery deleted" in rows and "(deleted)" in rows
