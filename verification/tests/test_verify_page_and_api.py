"""The public check on Cradle's own host: ``/verify/`` and ``POST /api/verify/`` tell anyone
whether an image is a Cradle artistic interpretation, which studio made it and when — from the
signed manifest, or from the watermark once a messaging app has stripped the metadata — and
never anything about the parent. Uploads are size-limited, never stored, and limited per client
address."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image

from branding.provenance import (
    TAG_TEXT,
    encode_with_tag,
    ensure_dev_signing_material,
    read_provenance,
    sign_c2pa,
)
from branding.sample_portrait import sample_portrait_render
from branding.selectors import brand_kit_get
from branding.services import portrait_finish
from render.models import ParentSession
from studio_portal.tenants.services import public_tenant_ensure
from verification.models import PortraitMark

PARENT_NAME = "Zoë Quintessa"
PARENT_EMAIL = "zoe.quintessa@example.com"


@pytest.fixture
def visitor(db) -> Client:
    public_tenant_ensure()
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def delivered_jpeg(studio) -> bytes:
    """A web portrait as Alpha Studio delivers it, for a parent with a name and an address."""
    with schema_context(studio.schema_name):
        ParentSession.objects.create(
            parent_name=PARENT_NAME,
            email=PARENT_EMAIL,
            consent_at=timezone.now(),
            consent_text_version="test",
            skin_swatches=["#a07e56"],
            target_tone_hex="#a07e56",
        )
        return portrait_finish(sample_portrait_render())


def _stripped(data: bytes, *, quality: int = 80) -> bytes:
    """What a messaging app sends on: the pixels re-encoded, every metadata block gone."""
    pixels = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    pixels.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _upload(data: bytes, name: str = "portrait.jpg") -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def _unmarked_photo() -> bytes:
    out = io.BytesIO()
    Image.fromarray(sample_portrait_render()).save(out, "JPEG", quality=90)
    return out.getvalue()


def test_a_portrait_stripped_of_its_metadata_is_found_by_its_watermark(
    visitor: Client,
    delivered_jpeg: bytes,
) -> None:
    stripped = _stripped(delivered_jpeg)
    report = read_provenance(stripped)
    assert not report.c2pa_present and report.exif_description is None

    page = visitor.post("/verify/", {"image": _upload(stripped)})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Yes — a Cradle artistic interpretation" in html
    assert "Alpha Studio" in html and timezone.now().strftime("%-d %B %Y") in html
    assert "invisible watermark" in html and "Web-size portrait" in html
    assert PARENT_NAME not in html and PARENT_EMAIL not in html

    answer = visitor.post("/api/verify/", {"image": _upload(stripped)})
    assert answer.status_code == 200
    body = answer.json()
    assert body["cradle"] is True and body["found_by"] == "watermark"
    assert body["studio"] == "Alpha Studio"
    assert body["made_on"] == dt.date.today().isoformat()
    assert body["kind"] == "web" and body["tag"] == TAG_TEXT
    assert PortraitMark.objects.filter(mark_id=int(body["mark_id"], 16)).exists()
    assert set(body) == {
        "cradle",
        "found_by",
        "studio",
        "made_on",
        "kind",
        "mark_id",
        "tag",
        "detail",
    }
    assert PARENT_NAME not in answer.content.decode()


def test_a_delivered_file_is_found_by_its_signed_manifest(
    visitor: Client,
    delivered_jpeg: bytes,
) -> None:
    body = visitor.post("/api/verify/", {"image": _upload(delivered_jpeg)}).json()
    assert body["cradle"] is True and body["found_by"] == "manifest"
    assert body["studio"] == "Alpha Studio"
    assert body["mark_id"] == f"{read_provenance(delivered_jpeg).c2pa_mark_id:010x}"


def test_an_unmarked_photo_is_not_taken_for_a_cradle_portrait(visitor: Client) -> None:
    photo = _unmarked_photo()
    page = visitor.post("/verify/", {"image": _upload(photo)})
    assert page.status_code == 200
    assert "No Cradle mark found" in page.content.decode()
    body = visitor.post("/api/verify/", {"image": _upload(photo)}).json()
    assert body["cradle"] is False and body["found_by"] == ""
    assert body["studio"] is None and body["tag"] is None


def test_a_manifest_signed_by_someone_else_is_not_believed(
    visitor: Client,
    delivered_jpeg: bytes,
) -> None:
    # A forger copies a real mark id into a manifest of his own on a picture Cradle never made.
    real_mark = read_provenance(delivered_jpeg).c2pa_mark_id
    with tempfile.TemporaryDirectory() as folder:
        forger = ensure_dev_signing_material(Path(folder))
        unmarked = encode_with_tag(Image.open(io.BytesIO(_unmarked_photo())), fmt="JPEG")
        forged = sign_c2pa(unmarked, fmt="JPEG", signer=forger, mark_id=real_mark)
    assert read_provenance(forged).c2pa_mark_id == real_mark

    body = visitor.post("/api/verify/", {"image": _upload(forged)}).json()
    assert body["cradle"] is False and body["studio"] is None


def test_an_oversized_upload_is_refused(visitor: Client, settings) -> None:
    settings.VERIFY_MAX_UPLOAD_BYTES = 100_000
    noise = np.random.default_rng(1).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    big = io.BytesIO()
    Image.fromarray(noise).save(big, "PNG")
    assert len(big.getvalue()) > 300_000  # refused from its declared length, unread

    page = visitor.post("/verify/", {"image": _upload(big.getvalue(), "big.png")})
    assert page.status_code == 413
    assert "larger than 0 MB" not in page.content.decode()
    assert "send a smaller copy" in page.content.decode()
    answer = visitor.post("/api/verify/", {"image": _upload(big.getvalue(), "big.png")})
    assert answer.status_code == 413 and "smaller copy" in answer.json()["detail"]

    # Just over the limit: read, but dropped past the limit by the upload handler.
    settings.VERIFY_MAX_UPLOAD_BYTES = len(big.getvalue()) - 10_000
    assert visitor.post("/verify/", {"image": _upload(big.getvalue())}).status_code == 413
    answer = visitor.post("/api/verify/", {"image": _upload(big.getvalue())})
    assert answer.status_code == 413


def test_what_is_not_an_image_gets_a_sentence(visitor: Client) -> None:
    page = visitor.post("/verify/", {"image": _upload(b"%PDF-1.7 not a picture", "a.pdf")})
    assert page.status_code == 400 and "JPEG, PNG or WEBP" in page.content.decode()
    answer = visitor.post("/api/verify/", {"image": _upload(b"GIF89a....", "a.gif")})
    assert answer.status_code == 400 and "JPEG, PNG or WEBP" in answer.json()["detail"]
    assert visitor.post("/api/verify/", {}).status_code == 400
    assert visitor.post("/verify/", {}).status_code == 400


def test_nothing_sent_is_kept(visitor: Client, delivered_jpeg: bytes, settings) -> None:
    def stored() -> set[Path]:
        root = Path(settings.MEDIA_ROOT)
        return set(root.rglob("*")) if root.exists() else set()

    marks, files = PortraitMark.objects.count(), stored()
    visitor.post("/verify/", {"image": _upload(_stripped(delivered_jpeg))})
    visitor.post("/api/verify/", {"image": _upload(_unmarked_photo())})
    assert PortraitMark.objects.count() == marks and stored() == files


def test_checks_are_limited_per_client_address(visitor: Client, settings) -> None:
    settings.RATE_LIMITS_ENABLED = True
    settings.PAGE_RATE_LIMITS = {
        **settings.PAGE_RATE_LIMITS,
        "verify": {"url_names": ["verify", "api-verify"], "attempts": 2, "window_seconds": 600},
    }
    cache.clear()
    try:
        photo = _unmarked_photo()
        here = {"REMOTE_ADDR": "203.0.113.9"}
        assert visitor.post("/verify/", {"image": _upload(photo)}, **here).status_code == 200
        assert visitor.post("/api/verify/", {"image": _upload(photo)}, **here).status_code == 200
        # The page and the API share one allowance per address.
        third = visitor.post("/verify/", {"image": _upload(photo)}, **here)
        assert third.status_code == 429 and "Too many attempts" in third.content.decode()
        limited = visitor.post("/api/verify/", {"image": _upload(photo)}, **here)
        assert limited.status_code == 429 and limited["Retry-After"] == "600"
        assert "Too many attempts" in limited.json()["detail"]
        # Someone else is not held back by it.
        elsewhere = {"REMOTE_ADDR": "198.51.100.20"}
        assert (
            visitor.post("/api/verify/", {"image": _upload(photo)}, **elsewhere).status_code == 200
        )
        # The page itself still opens: only checks are counted.
        assert visitor.get("/verify/", **here).status_code == 200
    finally:
        cache.clear()


def test_the_check_lives_on_cradles_own_host(visitor: Client, studio) -> None:
    page = visitor.get("/verify/")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.content.decode()
    studio_host = Client(HTTP_HOST=studio.domains.get(is_primary=True).domain)
    assert studio_host.get("/verify/").status_code == 404


def test_a_screenshot_of_a_shared_portrait_is_found_by_its_watermark(
    visitor: Client,
    delivered_jpeg: bytes,
) -> None:
    # A phone screenshot: the portrait shown smaller on a bigger canvas, saved as a PNG.
    portrait = Image.open(io.BytesIO(_stripped(delivered_jpeg, quality=70))).convert("RGB")
    shown = portrait.resize((portrait.width * 6 // 10, portrait.height * 6 // 10))
    screen = Image.new("RGB", (shown.width + 40, shown.height + 300), (250, 250, 250))
    screen.paste(shown, (20, 150))
    out = io.BytesIO()
    screen.save(out, "PNG")

    body = visitor.post("/api/verify/", {"image": _upload(out.getvalue(), "Screenshot.png")})
    assert body.status_code == 200
    assert body.json()["found_by"] == "watermark" and body.json()["studio"] == "Alpha Studio"


def test_the_brand_only_share_card_is_told_apart_from_a_portrait(visitor: Client, studio) -> None:
    from galleries import share_card

    share_card._finished_brand_card.cache_clear()
    with schema_context(studio.schema_name):
        card = share_card.share_card_png(brand_kit_get(), studio_name="Alpha Studio")
    share_card._finished_brand_card.cache_clear()
    stripped = _stripped(card, quality=70)

    page = visitor.post("/verify/", {"image": _upload(stripped)}).content.decode()
    assert "Yes — a Cradle share card" in page and "no portrait" in page
    assert "artistic interpretation, made by" not in page
    body = visitor.post("/api/verify/", {"image": _upload(stripped)}).json()
    assert body["cradle"] is True and body["found_by"] == "watermark"
    assert body["kind"] == "brand-card" and body["studio"] == "Alpha Studio"
