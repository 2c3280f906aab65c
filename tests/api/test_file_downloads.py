"""An integration with an API key downloads the finished portraits (web, full and print size)
and the scan's vision report as bytes, follows the URLs the JSON gives, and gets a clear 4xx
for a size that does not exist, a print file not made yet, a scan deleted by retention, or
another studio's ids."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import urlsplit

import numpy as np
import pytest
import yaml
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context
from drf_spectacular.drainage import reset_generator_stats
from PIL import Image
from rest_framework.test import APIClient

from branding.provenance import read_provenance
from branding.watermark import detect, psnr
from galleries.services.retention import scans_purge_expired
from galleries.tests.factories import jpeg_bytes, parent_session, ready_job_with_portraits
from render.models import Candidate, RenderJob, Scan
from render.print_size import candidate_print_make
from tests.api.conftest import api_client_for
from tests.test_studio_isolation import _make_finished_job
from verification.models import PortraitMark

# What ready_job_with_portraits stores for every candidate, by size (width, height).
STORED_SIZES = {"full": (96, 96), "web": (48, 48), "print": (160, 160)}


def _bytes(response) -> bytes:
    return b"".join(response.streaming_content)


def _path(url: str) -> str:
    """A URL from the JSON, as the test client takes it (path and query)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _stored(candidate: Candidate, field: str) -> bytes:
    with getattr(candidate, field).open("rb") as handle:
        return handle.read()


@pytest.fixture
def alpha_job(studio):
    """A ready job in studio A: a primary and an alternate, both with print files."""
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits(shared=2, unshared=0)
        return job, list(job.candidates.order_by("rank"))


def test_an_api_key_downloads_each_size_as_the_stored_image(api_a, studio, alpha_job) -> None:
    job, (primary, _) = alpha_job
    for size, field in (("web", "web_image"), ("full", "image"), ("print", "print_image")):
        response = api_a.get(f"/api/candidates/{primary.pk}/image/?size={size}")
        assert response.status_code == 200, size
        body = _bytes(response)
        with schema_context(studio.schema_name):
            stored = _stored(primary, field)
        if size == "full":  # the render as painted leaves marked and tagged (issue 19)
            assert body != stored and read_provenance(body).carries_tag_everywhere
        else:
            assert body == stored
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "JPEG"
            assert image.size == STORED_SIZES[size]
        assert response["Content-Type"] == "image/jpeg"
        day = f"{timezone.localdate(job.created_at):%Y-%m-%d}"
        assert response["Content-Disposition"] == (
            f'attachment; filename="Alpha-Studio-Maya-Okafor-portrait-1-{day}-{size}.jpg"'
        )
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cache-Control"].startswith("private")
        assert int(response["Content-Length"]) == len(body)


def test_the_full_render_leaves_with_one_watermark_however_often_it_is_fetched(
    api_a,
    studio,
) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits(shared=1, unshared=0)
        candidate = job.candidates.get()
        painted = np.asarray(Image.fromarray(_textured(320, 400)))
        buffer = io.BytesIO()
        Image.fromarray(painted).save(buffer, "PNG")
        candidate.image.save("painted.png", ContentFile(buffer.getvalue()))
    first, second = (
        _bytes(api_a.get(f"/api/candidates/{candidate.pk}/image/?size=full")) for _ in range(2)
    )
    marks = []
    for body in (first, second):
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "PNG" and image.size == (320, 400)
            pixels = np.asarray(image.convert("RGB"))
        assert psnr(painted, pixels) >= 40.0
        marks.append(detect(pixels).mark_id)
        assert read_provenance(body).c2pa_mark_id == marks[-1]
    assert marks[0] is not None and marks[0] == marks[1]
    mark = PortraitMark.objects.get(mark_id=marks[0])
    assert (mark.kind, mark.studio_id) == ("full", studio.pk)
    with schema_context(studio.schema_name):  # the stored render stays as painted
        assert _stored(candidate, "image") == buffer.getvalue()


def _textured(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    base = 150 + 40 * np.sin(x / 23.0) * np.cos(y / 31.0)
    noise = np.random.default_rng(5).normal(0, 6, (height, width))
    grey = np.clip(base + noise, 0, 255)
    return np.dstack([grey, grey * 0.9, grey * 0.8]).astype(np.uint8)


def test_without_a_size_the_web_file_comes_back_even_to_a_client_that_accepts_only_images(
    api_a,
    alpha_job,
) -> None:
    _, (primary, _) = alpha_job
    response = api_a.get(f"/api/candidates/{primary.pk}/image/", HTTP_ACCEPT="image/jpeg")
    assert response.status_code == 200
    with Image.open(io.BytesIO(_bytes(response))) as image:
        assert image.size == STORED_SIZES["web"]


def test_the_job_json_links_to_each_download_and_the_links_work(api_a, studio) -> None:
    with schema_context(studio.schema_name):
        made = _make_finished_job("alpha")  # a real PNG report, no print file yet
    host = studio.domains.get(is_primary=True).domain
    job = api_a.get(f"/api/jobs/{made['job'].uid}/").json()
    candidate = job["candidates"][0]
    assert candidate["image_url"] == (f"http://{host}/api/candidates/{made['candidate'].pk}/image/")
    assert candidate["print_url"] is None
    assert job["report_url"] == f"http://{host}/api/jobs/{made['job'].uid}/report/"

    portrait = api_a.get(_path(candidate["image_url"]))
    assert portrait.status_code == 200 and _bytes(portrait) == b"alpha-portrait"
    report = api_a.get(_path(job["report_url"]))
    assert report.status_code == 200
    assert report["Content-Type"] == "image/png"
    assert report["Content-Disposition"] == (f'attachment; filename="report-{made["job"].uid}.png"')
    with Image.open(io.BytesIO(_bytes(report))) as image:
        assert image.format == "PNG" and image.size == (8, 8)
    # The same links in the list and the candidates endpoint.
    listed = api_a.get("/api/jobs/").json()
    assert listed[0]["report_url"] == job["report_url"]
    candidates = api_a.get(f"/api/jobs/{made['job'].uid}/candidates/").json()
    assert candidates[0]["image_url"] == candidate["image_url"]


def test_the_print_url_is_given_once_the_print_file_exists(api_a, alpha_job) -> None:
    job, _ = alpha_job
    candidate = api_a.get(f"/api/jobs/{job.uid}/candidates/").json()[0]
    assert candidate["print_url"] == candidate["image_url"] + "?size=print"
    response = api_a.get(_path(candidate["print_url"]))
    assert response.status_code == 200
    with Image.open(io.BytesIO(_bytes(response))) as image:
        assert image.size == STORED_SIZES["print"]


def test_a_print_file_not_made_yet_is_a_409_until_the_worker_makes_it(
    api_a,
    studio,
) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits(shared=2, unshared=0, with_print=False)
        primary, alternate = job.candidates.order_by("rank")

    waiting = api_a.get(f"/api/candidates/{primary.pk}/image/?size=print")
    assert waiting.status_code == 409
    assert waiting.json()["detail"].startswith(
        "The print-size file is still being made (it takes about a minute"
    )
    assert waiting["Retry-After"] == "30"

    # An alternate never gets one until it is chosen as the primary.
    alternate_print = api_a.get(f"/api/candidates/{alternate.pk}/image/?size=print")
    assert alternate_print.status_code == 409
    assert alternate_print.json()["detail"] == (
        "A print-size file is made only for the primary portrait. Choose this portrait as the "
        "primary, then try again in a minute."
    )
    chosen = api_a.post(f"/api/candidates/{alternate.pk}/primary/")
    assert chosen.status_code == 200 and chosen.json()["print_url"] is None

    with schema_context(studio.schema_name):
        candidate_print_make(candidate_id=alternate.pk)  # what the render worker runs
    made = api_a.get(f"/api/candidates/{alternate.pk}/image/?size=print")
    assert made.status_code == 200
    with Image.open(io.BytesIO(_bytes(made))) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 4 * max(STORED_SIZES["full"])  # Real-ESRGAN ×4
    listed = api_a.get(f"/api/jobs/{job.uid}/candidates/").json()
    assert [c["print_url"] is not None for c in listed] == [False, True]


def test_an_unknown_size_is_a_400_that_names_the_sizes(api_a, alpha_job) -> None:
    _, (primary, _) = alpha_job
    response = api_a.get(f"/api/candidates/{primary.pk}/image/?size=huge")
    assert response.status_code == 400
    assert response.json() == {"detail": "Unknown size 'huge'. Use one of: full, web, print."}


def test_studio_bs_key_never_reaches_studio_as_portrait_with_the_same_id(
    studio,
    other_studio,
    api_a,
    api_b,
) -> None:
    with schema_context(studio.schema_name):
        job_a = ready_job_with_portraits(shared=2, unshared=0)
        shared_id, alpha_only_id = job_a.candidates.order_by("rank").values_list("pk", flat=True)
    with schema_context(other_studio.schema_name):
        job_b = ready_job_with_portraits(shared=1, unshared=0, with_print=False)
        beta = job_b.candidates.get()
        beta.web_image.save("beta-web.jpg", ContentFile(jpeg_bytes((40, 30), (9, 9, 9))))
        # The same integer id names a different portrait in each studio's schema.
        Candidate.objects.filter(pk=beta.pk).update(id=shared_id)
        assert not Candidate.objects.filter(pk=alpha_only_id).exists()

    own = api_b.get(f"/api/candidates/{shared_id}/image/")
    assert own.status_code == 200
    with Image.open(io.BytesIO(_bytes(own))) as image:
        assert image.size == (40, 30)  # studio B's own file, never A's 48×48
    never_made_in_b = api_b.get(f"/api/candidates/{shared_id}/image/?size=print")
    assert never_made_in_b.status_code == 409  # B's candidate has none; A's has one

    nowhere = api_b.get("/api/candidates/987654321/image/")
    assert nowhere.status_code == 404
    for size in ("web", "full", "print"):
        foreign = api_b.get(f"/api/candidates/{alpha_only_id}/image/?size={size}")
        assert foreign.status_code == 404
        assert foreign.json() == nowhere.json()  # the same answer as an id nobody has
    foreign_report = api_b.get(f"/api/jobs/{job_a.uid}/report/")
    assert foreign_report.status_code == 404
    # And studio A still gets its own portrait for the shared id.
    mine = api_a.get(f"/api/candidates/{shared_id}/image/")
    with Image.open(io.BytesIO(_bytes(mine))) as image:
        assert image.size == STORED_SIZES["web"]


def test_studio_as_key_on_studio_bs_host_is_refused(studio, other_studio) -> None:
    with schema_context(other_studio.schema_name):
        beta = ready_job_with_portraits(shared=1, unshared=0).candidates.get()
    client, _ = api_client_for(studio)
    client.defaults["HTTP_HOST"] = other_studio.domains.get(is_primary=True).domain
    response = client.get(f"/api/candidates/{beta.pk}/image/")
    assert response.status_code == 401
    assert not getattr(response, "streaming", False)


def test_downloads_need_a_key_or_a_signed_in_member(studio, alpha_job) -> None:
    job, (primary, _) = alpha_job
    anonymous = APIClient(HTTP_HOST=studio.domains.get(is_primary=True).domain)
    for url in (f"/api/candidates/{primary.pk}/image/", f"/api/jobs/{job.uid}/report/"):
        response = anonymous.get(url)
        assert response.status_code in (401, 403), url
        assert not getattr(response, "streaming", False)
        assert "detail" in response.json()
    revoked = APIClient(
        HTTP_HOST=studio.domains.get(is_primary=True).domain,
        HTTP_AUTHORIZATION="Bearer crd_not-a-key-of-this-studio",
    )
    assert revoked.get(f"/api/candidates/{primary.pk}/image/").status_code == 401


def test_a_scan_deleted_by_retention_answers_410_and_its_job_has_no_report_url(
    api_a,
    studio,
) -> None:
    with schema_context(studio.schema_name):
        made = _make_finished_job("alpha")
    url = f"/api/jobs/{made['job'].uid}/report/"
    assert api_a.get(url).status_code == 200
    with schema_context(studio.schema_name):
        purge = scans_purge_expired(now=timezone.now() + timedelta(days=3650))
        assert purge.scans == 1
        assert Scan.objects.get(pk=made["scan"].pk).purged_at is not None

    response = api_a.get(url)
    assert response.status_code == 410
    assert response.json() == {
        "detail": "This scan was deleted after the studio's retention window."
    }
    job = api_a.get(f"/api/jobs/{made['job'].uid}/").json()
    assert job["report_url"] is None
    # Portraits are kept by retention: still downloadable.
    assert job["candidates"][0]["image_url"]
    assert api_a.get(_path(job["candidates"][0]["image_url"])).status_code == 200


def test_a_report_not_made_yet_is_a_409_and_a_rejected_scans_is_a_404(api_a, studio) -> None:
    with schema_context(studio.schema_name):
        session = parent_session()
        scan = Scan.objects.create(
            session=session, sha256="0" * 64, detected_type="jpeg", size_bytes=1, width=8, height=8
        )
        queued = RenderJob.objects.create(scan=scan, session=session, base_seed=1)
        rejected = RenderJob.objects.create(
            scan=scan, session=session, base_seed=1, state=RenderJob.State.REJECTED
        )
    waiting = api_a.get(f"/api/jobs/{queued.uid}/report/")
    assert waiting.status_code == 409 and waiting["Retry-After"] == "30"
    assert "try again in a few seconds" in waiting.json()["detail"]
    assert api_a.get(f"/api/jobs/{queued.uid}/").json()["report_url"] is None
    missing = api_a.get(f"/api/jobs/{rejected.uid}/report/")
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("This scan has no report: it was rejected")


def test_the_openapi_document_describes_the_downloads_without_warnings(tmp_path) -> None:
    reset_generator_stats()
    target = tmp_path / "schema.yaml"
    call_command(
        "spectacular",
        urlconf="studio_portal.urls_tenant",
        fail_on_warn=True,
        validate=True,
        file=str(target),
    )
    paths = yaml.safe_load(target.read_text())["paths"]
    image = paths["/api/candidates/{id}/image/"]["get"]
    assert set(image["responses"]["200"]["content"]) == {"image/jpeg", "image/png"}
    assert set(image["responses"]) == {"200", "400", "404", "409"}
    size = next(p for p in image["parameters"] if p["name"] == "size")
    assert size["schema"]["enum"] == ["full", "print", "web"]
    report = paths["/api/jobs/{uid}/report/"]["get"]
    assert set(report["responses"]["200"]["content"]) == {"image/png"}
    assert set(report["responses"]) == {"200", "404", "409", "410"}
