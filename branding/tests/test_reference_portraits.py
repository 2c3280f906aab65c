"""The studio's reference photos: added by the owner with the parents' consent, stored without
their metadata, audited, and giving new portraits the studio's backdrop."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context
from PIL import Image

from branding.models import ReferencePortrait
from render import services as render_services
from render.models import RenderJob
from render.pipeline.house_look import srgb_to_oklab
from studio_portal.audit.models import AuditLogEntry
from tests.api.conftest import api_client_for
from tests.tenancy import signed_in_client

SAGE = (120, 150, 110)


def _photo(
    size: tuple[int, int] = (640, 480), backdrop: tuple[int, int, int] = SAGE, exif: bool = True
) -> bytes:
    image = Image.new("RGB", size, backdrop)
    image.paste((214, 170, 140), (size[0] // 3, size[1] // 3, 2 * size[0] // 3, 2 * size[1] // 3))
    buffer = io.BytesIO()
    extra = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "PhoneMaker"  # Make
        data[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPSInfo: latitude
        extra["exif"] = data
    image.save(buffer, "JPEG", quality=92, **extra)
    return buffer.getvalue()


def _upload(data: bytes, name: str = "newborn.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


@pytest.fixture
def owner_client(studio):
    return signed_in_client(studio, "owner")


def _stored_files(studio) -> list[str]:
    folder = f"{studio.schema_name}/brand/references"
    if not default_storage.exists(folder):
        return []
    return default_storage.listdir(folder)[1]


def test_the_owner_adds_a_photo_with_consent_and_it_is_stored_without_metadata(
    studio, owner_client
) -> None:
    big = _photo(size=(2400, 1800))
    response = owner_client.post(
        "/branding/references/",
        {"image": _upload(big), "consent": "on", "consent_note": "Release form 1042"},
    )
    assert response.status_code == 302
    with schema_context(studio.schema_name):
        reference = ReferencePortrait.objects.get()
        assert reference.image.name.startswith(f"{studio.schema_name}/brand/references/")
        with reference.image.open("rb") as handle, Image.open(handle) as stored:
            assert stored.size == (1024, 768) == (reference.width, reference.height)
            assert not stored.getexif() and "exif" not in stored.info
        entry = AuditLogEntry.objects.get(action="reference_portrait.added")
        assert entry.detail["consent_note"] == "Release form 1042"
    page = owner_client.get("/branding/").content.decode()
    assert "Release form 1042" in page and f"/branding/references/{reference.pk}.jpg" in page
    image = owner_client.get(f"/branding/references/{reference.pk}.jpg")
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"image": "photo"}, "agreed in writing"),
        ({"image": "text", "consent": "on"}, "not a photo we can read"),
        ({"image": "tiny", "consent": "on"}, "at least 256 pixels"),
        ({"consent": "on"}, "Choose a photo"),
    ],
)
def test_bad_additions_say_why_and_store_nothing(studio, owner_client, form, message) -> None:
    files = {
        "photo": _upload(_photo()),
        "text": _upload(b"hello, not a photo", "notes.jpg"),
        "tiny": _upload(_photo(size=(120, 90))),
    }
    data = {k: (files[v] if k == "image" else v) for k, v in form.items()}
    response = owner_client.post("/branding/references/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    with schema_context(studio.schema_name):
        assert not ReferencePortrait.objects.exists()
    assert _stored_files(studio) == []


def test_a_studio_keeps_at_most_five(studio, owner_client) -> None:
    for n in range(5):
        photo = _photo(backdrop=(100 + n, 140, 110))
        response = owner_client.post(
            "/branding/references/", {"image": _upload(photo), "consent": "on"}
        )
        assert response.status_code == 302
    refused = owner_client.post(
        "/branding/references/", {"image": _upload(_photo()), "consent": "on"}
    )
    assert refused.status_code == 400 and "at most 5 reference photos" in refused.content.decode()
    with schema_context(studio.schema_name):
        assert ReferencePortrait.objects.count() == 5


def test_deleting_removes_the_row_and_the_file_and_is_audited(
    studio, owner_client, django_capture_on_commit_callbacks
) -> None:
    owner_client.post("/branding/references/", {"image": _upload(_photo()), "consent": "on"})
    with schema_context(studio.schema_name):
        reference = ReferencePortrait.objects.get()
    assert len(_stored_files(studio)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/branding/references/{reference.pk}/delete/")
    assert response.status_code == 302
    assert _stored_files(studio) == []
    with schema_context(studio.schema_name):
        assert not ReferencePortrait.objects.exists()
        assert AuditLogEntry.objects.filter(
            action="reference_portrait.deleted", object_id=str(reference.pk)
        ).exists()


def test_sonographers_cannot_add_or_see_references(studio, client_a) -> None:
    add = client_a.post("/branding/references/", {"image": _upload(_photo()), "consent": "on"})
    assert add.status_code == 403
    api, _ = api_client_for(studio)
    assert api.get("/branding/api/references/").status_code == 403
    with schema_context(studio.schema_name):
        assert not ReferencePortrait.objects.exists()


def test_the_api_lists_adds_and_deletes_references(studio) -> None:
    api, _ = api_client_for(studio, "owner")
    refused = api.post(
        "/branding/api/references/", {"image": _upload(_photo()), "consent": "false"}
    )
    assert refused.status_code == 400 and "consent" in refused.json()["errors"]
    created = api.post(
        "/branding/api/references/",
        {"image": _upload(_photo()), "consent": "true", "consent_note": "form 7"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["consent_note"] == "form 7" and body["width"] == 640
    assert body["image_url"].endswith(f"/branding/references/{body['id']}.jpg")
    assert [r["id"] for r in api.get("/branding/api/references/").json()] == [body["id"]]
    assert api.get(f"/branding/api/references/{body['id']}/").json()["consent_note"] == "form 7"
    assert api.delete(f"/branding/api/references/{body['id']}/").status_code == 204
    assert api.get("/branding/api/references/").json() == []


def _frame_lab(image: np.ndarray) -> np.ndarray:
    """The paper in the frame's top corners (the wrap, a prop, fills the bottom; the crown, or
    a hat on it, may reach the top's middle)."""
    h, w = image.shape[:2]
    corners = np.concatenate([image[: h // 12, : w // 6], image[: h // 12, -(w // 6) :]], axis=1)
    return np.median(srgb_to_oklab(corners.reshape(-1, 3)), axis=0)


def _render(phantom_jpeg: bytes) -> list[np.ndarray]:
    session = render_services.parent_session_create(
        parent_name="Ada", email="ada@example.com", consent_given=True, skin_swatches=["5"]
    )
    job = render_services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
    render_services.render_job_vision_run(job_id=job.pk, enqueue=False)
    RenderJob.objects.filter(pk=job.pk).update(base_seed=7)  # the same seeds in both renders
    render_services.render_job_render_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == RenderJob.State.READY, job.reason
    images = []
    for candidate in job.candidates.order_by("seed"):
        with candidate.image.open("rb") as handle, Image.open(handle) as im:
            images.append(np.asarray(im.convert("RGB")))
    return images


def test_new_portraits_take_the_references_backdrop_and_keep_the_baby(
    studio, owner_client, phantom_jpeg
) -> None:
    with schema_context(studio.schema_name):
        before = _render(phantom_jpeg)
    owner_client.post("/branding/references/", {"image": _upload(_photo()), "consent": "on"})
    with schema_context(studio.schema_name):
        after = _render(phantom_jpeg)
    sage = srgb_to_oklab(np.array([SAGE], np.uint8))[0]
    for plain, housed in zip(before, after, strict=True):
        assert np.linalg.norm(_frame_lab(housed) - sage) < 0.5 * np.linalg.norm(
            _frame_lab(plain) - sage
        )
        # The middle of the frame (the baby's face) is exactly the same portrait.
        h, w = plain.shape[:2]
        middle = (slice(int(h * 0.4), int(h * 0.6)), slice(int(w * 0.4), int(w * 0.6)))
        assert np.array_equal(housed[middle], plain[middle])


def test_the_editor_preview_shows_the_house_look(studio, owner_client) -> None:
    def backdrop() -> np.ndarray:
        response = owner_client.get("/branding/preview.jpg")
        assert response.status_code == 200
        image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
        h, w = image.shape[:2]
        patch = image[int(h * 0.12) : int(h * 0.18), int(w * 0.1) : int(w * 0.16)]
        return np.median(srgb_to_oklab(patch.reshape(-1, 3)), axis=0)

    sage = srgb_to_oklab(np.array([SAGE], np.uint8))[0]
    plain = backdrop()
    owner_client.post("/branding/references/", {"image": _upload(_photo()), "consent": "on"})
    housed = backdrop()
    assert np.linalg.norm(housed - sage) < 0.5 * np.linalg.norm(plain - sage)
