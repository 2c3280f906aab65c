"""Download all as a ZIP (the parent), and the studio's export of everything it holds for one
parent before retention deletes her scan."""

from __future__ import annotations

import io
import json
import zipfile

from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from branding.provenance import read_provenance
from galleries.models import Favourite
from galleries.services.gallery import gallery_create
from galleries.tests.factories import parent_session, ready_job_with_portraits, scan_with_files
from studio_portal.audit.models import AuditLogEntry
from tests.tenancy import signed_in_client

HOST = "alpha.localhost"


def _zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_download_all_gives_every_shared_portrait_and_its_print_file(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(shared=2, unshared=1))
        gallery.job.candidates.filter(rank=1).update(print_image="")
        day = f"{timezone.localdate(gallery.job.created_at):%Y-%m-%d}"
    response = Client(HTTP_HOST=HOST).get(f"/g/{gallery.token}/download.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f'filename="Alpha-Studio-portraits-{day}.zip"' in response["Content-Disposition"]
    archive = _zip(response)
    assert sorted(archive.namelist()) == sorted(
        [
            f"Alpha-Studio-portrait-1-{day}.jpg",
            f"Alpha-Studio-portrait-1-{day}-print.jpg",
            f"Alpha-Studio-portrait-2-{day}.jpg",  # its print file is still being prepared
            "About these portraits.txt",
        ]
    )
    about = archive.read("About these portraits.txt").decode()
    assert "Not a medical prediction" in about and "portrait 2 was still being prepared" in about
    assert archive.read(f"Alpha-Studio-portrait-1-{day}-print.jpg")[:2] == b"\xff\xd8"
    with schema_context(studio.schema_name):
        gallery.refresh_from_db()
    assert gallery.downloads == 1


def test_download_all_of_a_pin_gallery_needs_the_pin_first(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(), pin="1234")
    parent = Client(HTTP_HOST=HOST)
    assert parent.get(f"/g/{gallery.token}/download.zip").status_code == 302
    parent.post(f"/g/{gallery.token}/pin/", {"pin": "1234"})
    assert parent.get(f"/g/{gallery.token}/download.zip").status_code == 200


def test_the_owner_exports_a_parents_portraits_scan_and_manifest(studio) -> None:
    with schema_context(studio.schema_name):
        session = parent_session(parent_name="Maya Okafor")
        scan = scan_with_files(session)
        job = ready_job_with_portraits(scan=scan)
        gallery = gallery_create(job=job)
        Favourite.objects.create(gallery=gallery, candidate=job.candidates.get(rank=1))
    assert (
        signed_in_client(studio).get(f"/galleries/parents/{session.uid}/export.zip").status_code
        == 403
    )
    response = signed_in_client(studio, "owner").get(f"/galleries/parents/{session.uid}/export.zip")
    assert response.status_code == 200
    assert "Alpha-Studio-Maya-Okafor-export-" in response["Content-Disposition"]
    archive = _zip(response)
    names = archive.namelist()
    assert "scans/scan-1-deidentified.png" in names and "scans/scan-1-vision-report.png" in names
    portraits = [n for n in names if n.startswith("render-1/")]
    assert len(portraits) == 9  # 3 portraits × full, web and print
    # The render as painted leaves marked and tagged like the delivered files (issue 19).
    full = archive.read(next(n for n in portraits if n.endswith("-full.jpg")))
    assert read_provenance(full).c2pa_mark_id is not None
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["parent_name"] == "Maya Okafor"
    assert manifest["scans"][0]["deleted_on_or_after"]  # the day retention takes the scan
    [render] = manifest["renders"]
    favourite = [p for p in render["portraits"] if p["parents_favourite"]]
    assert [p["number"] for p in favourite] == [2]
    with schema_context(studio.schema_name):
        entry = AuditLogEntry.objects.get(action="parent_session.exported")
    assert entry.actor.username == "owner" and entry.detail["files"] == 11


def test_the_session_page_offers_the_export_and_says_when_the_scan_goes(studio) -> None:
    from datetime import timedelta

    with schema_context(studio.schema_name):
        session = parent_session()
        scan = scan_with_files(session, age_days=10)
    owner_page = signed_in_client(studio, "owner").get(f"/sessions/{session.uid}/")
    html = owner_page.content.decode()
    assert f'href="/galleries/parents/{session.uid}/export.zip"' in html
    deleted_on = timezone.localdate(scan.created_at + timedelta(days=90))
    assert f"deleted on <strong>{deleted_on:%-d %B %Y}</strong>" in html
    sonographer_page = signed_in_client(studio).get(f"/sessions/{session.uid}/").content.decode()
    assert "export.zip" not in sonographer_page
