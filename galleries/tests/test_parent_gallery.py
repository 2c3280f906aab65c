"""The parent's journey on the studio's own domain: open, favourite, download, share, PIN,
expiry."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image

from branding.provenance import TAG_TEXT
from galleries.models import Favourite, Gallery
from galleries.services.gallery import gallery_create, gallery_for_parent
from galleries.tests.factories import ready_job_with_portraits

HOST = "alpha.localhost"


@pytest.fixture
def gallery(studio):
    with schema_context(studio.schema_name):
        return gallery_create(job=ready_job_with_portraits(shared=2, unshared=1))


@pytest.fixture
def parent() -> Client:
    return Client(HTTP_HOST=HOST)


def _url(gallery: Gallery, suffix: str = "") -> str:
    return f"/g/{gallery.token}/{suffix}"


def test_the_page_shows_the_primary_and_shared_alternates_with_the_tag(
    studio, gallery, parent
) -> None:
    response = parent.get(_url(gallery))
    html = response.content.decode()
    assert response.status_code == 200
    assert TAG_TEXT in html
    with schema_context(studio.schema_name):
        candidates = list(gallery.job.candidates.order_by("rank"))
        gallery.refresh_from_db()
    shown = [c.pk for c in candidates if f'/p/{c.pk}/"' in html]
    assert shown == [candidates[0].pk, candidates[1].pk]  # the unshared one stays with the studio
    assert html.index(f"/p/{candidates[0].pk}/") < html.index(f"/p/{candidates[1].pk}/")
    assert gallery.opens == 1
    assert response["X-Robots-Tag"].startswith("noindex")


def test_the_share_card_carries_brand_and_tag_but_not_the_parents_name(
    studio, gallery, parent
) -> None:
    html = parent.get(_url(gallery)).content.decode()
    head = html[: html.index("</head>")]
    assert 'property="og:image"' in head and f"/g/{gallery.token}/card.jpg" in head
    assert TAG_TEXT in head and "Alpha Studio" in head
    assert "Maya" not in html and "Okafor" not in html  # nowhere on the page, not only the card
    card = parent.get(_url(gallery, "card.png"))
    assert card.status_code == 200 and card["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(card.content))
    assert image.size == (1200, 630)
    # The brand's accent fills the top-left corner (give or take the watermark's few levels),
    # its primary the tag band (kept clear of the watermark: exact).
    corner = image.convert("RGB").getpixel((5, 5))
    assert all(abs(a - b) <= 3 for a, b in zip(corner, (0xF3, 0xEC, 0xE4), strict=True))
    assert image.convert("RGB").getpixel((5, 625)) == (0x6B, 0x4F, 0x4F)


def test_a_parent_marks_and_unmarks_a_favourite_without_an_account(studio, gallery, parent) -> None:
    with schema_context(studio.schema_name):
        alternate = gallery.job.candidates.get(rank=1)
        kept_back = gallery.job.candidates.get(rank=2)
    response = parent.post(_url(gallery, f"p/{alternate.pk}/favourite/"), {"favourite": "1"})
    assert response.status_code == 302
    with schema_context(studio.schema_name):
        assert list(Favourite.objects.values_list("candidate_id", flat=True)) == [alternate.pk]
    assert 'aria-pressed="true"' in parent.get(_url(gallery)).content.decode()
    fetch = parent.post(
        _url(gallery, f"p/{alternate.pk}/favourite/"),
        {"favourite": "0"},
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert fetch.json() == {"favourite": False}
    assert parent.post(_url(gallery, f"p/{kept_back.pk}/favourite/")).status_code == 404
    with schema_context(studio.schema_name):
        assert Favourite.objects.count() == 0


def test_downloads_give_web_and_print_sizes_and_are_counted(studio, gallery, parent) -> None:
    with schema_context(studio.schema_name):
        primary = gallery.job.candidates.get(rank=0)
    web = parent.get(_url(gallery, f"p/{primary.pk}/?download=1"))
    printed = parent.get(_url(gallery, f"p/{primary.pk}/?size=print&download=1"))
    assert web["Content-Disposition"].startswith("attachment")
    assert "print" in printed["Content-Disposition"]
    assert Image.open(io.BytesIO(b"".join(web.streaming_content))).size == (48, 48)
    assert Image.open(io.BytesIO(b"".join(printed.streaming_content))).size == (160, 160)
    parent.get(_url(gallery, f"p/{primary.pk}/"))  # viewing is not downloading
    with schema_context(studio.schema_name):
        gallery.refresh_from_db()
    assert gallery.downloads == 2


def test_sharing_is_counted(studio, gallery, parent) -> None:
    assert parent.post(_url(gallery, "share/"), HTTP_X_REQUESTED_WITH="fetch").json() == {
        "shared": True
    }
    parent.post(_url(gallery, "share/"))
    with schema_context(studio.schema_name):
        gallery.refresh_from_db()
    assert gallery.shares == 2


def test_a_pin_gallery_asks_for_the_pin_and_opens_with_the_right_one(studio, parent) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(), pin="2468")
        primary = gallery.job.candidates.get(rank=0)
    assert "2468" not in gallery.pin_hash
    page = parent.get(_url(gallery))
    assert "This gallery has a PIN" in page.content.decode()
    assert f"/p/{primary.pk}/" not in page.content.decode()
    assert parent.get(_url(gallery, f"p/{primary.pk}/")).status_code == 302  # files stay locked
    wrong = parent.post(_url(gallery, "pin/"), {"pin": "1111"})
    assert wrong.status_code == 403 and "not right" in wrong.content.decode()
    assert parent.post(_url(gallery, "pin/"), {"pin": "2468"}).status_code == 302
    assert f"/p/{primary.pk}/" in parent.get(_url(gallery)).content.decode()
    assert parent.get(_url(gallery, f"p/{primary.pk}/")).status_code == 200


def test_wrong_pins_are_rate_limited_even_before_the_right_one(studio, parent) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(), pin="2468")
    for guess in ("0000", "0001", "0002", "0003", "0004"):
        assert parent.post(_url(gallery, "pin/"), {"pin": guess}).status_code == 403
    blocked = parent.post(_url(gallery, "pin/"), {"pin": "2468"})
    assert blocked.status_code == 429
    assert "Too many tries" in blocked.content.decode() and int(blocked["Retry-After"]) > 0


def test_an_expired_gallery_shows_a_friendly_410(studio, parent) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(
            job=ready_job_with_portraits(), expires_at=timezone.now() + timedelta(minutes=1)
        )
        Gallery.objects.filter(pk=gallery.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)  # the minute has passed
        )
        primary = gallery.job.candidates.get(rank=0)
    response = parent.get(_url(gallery))
    assert response.status_code == 410
    assert "This gallery has closed" in response.content.decode()
    assert "Alpha Studio" in response.content.decode()
    assert parent.get(_url(gallery, f"p/{primary.pk}/")).status_code == 410


def test_a_gallery_cannot_be_made_or_set_already_expired(studio, client_a) -> None:
    from django.core.exceptions import ValidationError

    from galleries.services.gallery import gallery_protect
    from tests.api.conftest import api_client_for

    yesterday = timezone.now() - timedelta(days=1)
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
        with pytest.raises(ValidationError, match="already passed"):
            gallery_create(job=job, expires_at=yesterday)
        assert not Gallery.objects.filter(job=job).exists()
        gallery = gallery_create(job=job)
        with pytest.raises(ValidationError, match="already passed"):
            gallery_protect(gallery=gallery, expires_at=yesterday)
        job_uid = ready_job_with_portraits().uid
    api, _ = api_client_for(studio)
    response = api.post(
        "/api/galleries/",
        {"job": str(job_uid), "expires_at": yesterday.isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert "already passed" in response.json()["detail"]
    page = client_a.post(
        f"/galleries/{gallery.uid}/protect/",
        {"expires_on": f"{yesterday:%Y-%m-%d}", "keep_pin": "1"},
        follow=True,
    )
    assert "already passed" in page.content.decode()
    with schema_context(studio.schema_name):
        gallery.refresh_from_db()
    assert gallery.expires_at is None or gallery.expires_at > timezone.now()


def test_the_studio_default_expiry_applies_to_new_galleries(studio) -> None:
    from galleries.services.gallery import gallery_settings_update

    with schema_context(studio.schema_name):
        gallery_settings_update(default_expiry_days=30)
        gallery = gallery_create(job=ready_job_with_portraits())
    remaining = gallery.expires_at - timezone.now()
    assert timedelta(days=29, hours=23) < remaining <= timedelta(days=30)


def test_an_unknown_token_shows_a_helpful_page_that_leaks_nothing(studio, gallery, parent) -> None:
    near_miss = gallery.token[:-1] + ("A" if gallery.token[-1] != "A" else "B")
    for token in ("nope", near_miss, "x" * 65):
        response = parent.get(f"/g/{token}/")
        assert response.status_code == 404
        html = response.content.decode()
        assert "could not open this gallery" in html
        assert "Maya" not in html and "expired" not in html.lower()


def test_a_token_works_only_on_its_own_studios_domain(studio, other_studio, gallery) -> None:
    other_host = other_studio.domains.get(is_primary=True).domain
    response = Client(HTTP_HOST=other_host).get(_url(gallery))
    assert response.status_code == 404
    assert "Alpha" not in response.content.decode()
    assert Client(HTTP_HOST=HOST).get(_url(gallery)).status_code == 200


def test_wrong_tokens_are_rate_limited_per_address(studio, gallery, parent) -> None:
    for n in range(20):
        assert parent.get(f"/g/guess{n}/").status_code == 404
    assert parent.get(_url(gallery)).status_code == 429  # even the right one, so no oracle
    elsewhere = Client(HTTP_HOST=HOST, REMOTE_ADDR="10.0.0.9")
    assert elsewhere.get(_url(gallery)).status_code == 200


def test_the_logo_is_served_under_the_gallery_url(studio, gallery, parent) -> None:
    from django.core.files.base import ContentFile

    from branding.selectors import brand_kit_get

    assert parent.get(_url(gallery, "logo")).status_code == 404
    with schema_context(studio.schema_name):
        kit = brand_kit_get()
        buffer = io.BytesIO()
        Image.new("RGBA", (40, 20), (10, 120, 200, 255)).save(buffer, format="PNG")
        kit.logo.save("logo.png", ContentFile(buffer.getvalue()))
    # A sent gallery keeps the brand it was sent with (no logo) until the owner republishes.
    assert parent.get(_url(gallery, "logo")).status_code == 404
    with schema_context(studio.schema_name):
        from galleries.services.gallery import gallery_republish

        gallery_republish(gallery=gallery)
    response = parent.get(_url(gallery, "logo"))
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (40, 20)
    assert f"/g/{gallery.token}/logo" in parent.get(_url(gallery)).content.decode()


def test_the_studio_sees_opens_downloads_shares_and_favourites(studio, gallery, parent) -> None:
    from tests.tenancy import signed_in_client

    with schema_context(studio.schema_name):
        primary = gallery.job.candidates.get(rank=0)
    parent.get(_url(gallery))
    parent.get(_url(gallery))
    parent.get(_url(gallery, f"p/{primary.pk}/?download=1"))
    parent.post(_url(gallery, "share/"))
    parent.post(_url(gallery, f"p/{primary.pk}/favourite/"), {"favourite": "1"})
    owner = signed_in_client(studio, "owner")
    listing = owner.get("/galleries/").content.decode()
    row = listing[listing.index(f"/galleries/{gallery.uid}/") :].split("</tr>")[0]
    cells = [cell.split("</td>")[0] for cell in re.split(r"<td[^>]*>", row)[1:]]
    assert cells[1:5] == ["2", "1", "1", "1"]  # opens, downloads, shares, favourites
    detail = owner.get(f"/galleries/{gallery.uid}/").content.decode()
    assert "Parent&#x27;s favourite" in detail or "Parent's favourite" in detail


def test_a_gallery_with_nothing_shared_yet_says_so_and_counts_the_open(studio, parent) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(shared=0, unshared=2))
    response = parent.get(_url(gallery))
    assert response.status_code == 200
    html = response.content.decode()
    assert "has not shared a portrait here yet" in html and "/p/" not in html
    with schema_context(studio.schema_name):
        gallery.refresh_from_db()
    assert gallery.opens == 1 and gallery.last_opened_at is not None


def test_a_guess_window_ends_and_the_nightly_sweep_forgets_it(studio, gallery, parent) -> None:
    from galleries.models import GuessCount
    from galleries.tasks import retention_sweep_studio

    for n in range(20):
        assert parent.get(f"/g/guess{n}/").status_code == 404
    assert parent.get(_url(gallery)).status_code == 429
    with schema_context(studio.schema_name), connection.cursor() as cursor:
        counts = GuessCount.objects.get(scope="token")
        assert counts.hits == 20
        cursor.execute("SELECT pg_sleep(1.1)")  # a loaded machine: the test outlasts a second
        # On the database's statement clock, the one galleries.throttle reads windows on (not
        # the wall clock, nor now(), which a test's transaction holds at its start).
        GuessCount.objects.filter(pk=counts.pk).update(window_ends_at=Now() - timedelta(seconds=1))
    with schema_context(studio.schema_name):
        # The one-statement path serves it again (not only the slow path behind it).
        assert gallery_for_parent(gallery.token, client_ip="127.0.0.1") is not None
    assert parent.get(_url(gallery)).status_code == 200  # the window is over
    assert parent.get("/g/guess-again/").status_code == 404  # a new window starts at one
    with schema_context(studio.schema_name):
        assert GuessCount.objects.get(scope="token").hits == 1
        GuessCount.objects.update(window_ends_at=timezone.now() - timedelta(seconds=1))
    retention_sweep_studio(studio.schema_name)
    with schema_context(studio.schema_name):
        assert not GuessCount.objects.exists()


def test_the_kept_page_gets_each_visitors_own_csrf_token_and_runs_no_inline_script(
    studio, gallery
) -> None:
    import re

    with schema_context(studio.schema_name):
        alternate = gallery.job.candidates.get(rank=1)
    tokens = []
    for _ in range(2):
        visitor = Client(HTTP_HOST=HOST, enforce_csrf_checks=True)
        response = visitor.get(_url(gallery))
        html = response.content.decode()
        assert "CradleCsrfTokenSlot" not in html
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        # The page's script is a static file the CSP allows as 'self'; nothing inline.
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="/static/galleries/gallery.js" defer>'
        ]
        # The token in the page is this visitor's: the favourite form posts with it.
        marked = visitor.post(
            _url(gallery, f"p/{alternate.pk}/favourite/"),
            {"favourite": "1", "csrfmiddlewaretoken": token},
        )
        assert marked.status_code == 302
        tokens.append(token)
    assert tokens[0] != tokens[1]


def test_a_brand_change_reaches_a_sent_gallery_when_it_is_republished(
    studio, gallery, parent
) -> None:
    from branding.selectors import brand_kit_get
    from galleries.selectors import _brand_memo
    from galleries.services.gallery import gallery_republish

    assert "--primary: #6b4f4f" in parent.get(_url(gallery)).content.decode()
    with schema_context(studio.schema_name):
        kit = brand_kit_get()
        kit.primary_hex = "#204a87"
        kit.save()
    _brand_memo.clear()
    # The gallery keeps the brand it was sent with (its portraits carry that frame) ...
    assert "--primary: #6b4f4f" in parent.get(_url(gallery)).content.decode()
    with schema_context(studio.schema_name):
        gallery_republish(gallery=gallery)
    # ... until the owner republishes it.
    html = parent.get(_url(gallery)).content.decode()
    assert "--primary: #204a87" in html and "#6b4f4f" not in html


def test_a_portrait_file_gone_from_storage_is_a_404_not_an_error(studio, gallery, parent) -> None:
    with schema_context(studio.schema_name):
        primary = gallery.job.candidates.get(rank=0)
        primary.web_image.storage.delete(primary.web_image.name)
    response = parent.get(_url(gallery, f"p/{primary.pk}/?download=1"))
    assert response.status_code == 404
    with schema_context(studio.schema_name):
        gallery.refresh_from_db()
    assert gallery.downloads == 0  # nothing was downloaded


def test_the_open_is_counted_after_the_page_and_a_failed_count_never_reaches_the_parent(
    studio, gallery, parent, monkeypatch, caplog
) -> None:

    from galleries.services import gallery as gallery_services

    def broken(**kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(gallery_services, "gallery_count", broken)
    response = parent.get(_url(gallery))
    assert response.status_code == 200 and TAG_TEXT in response.content.decode()
    assert "Could not count an open of gallery" in caplog.text
    with schema_context(studio.schema_name):
        gallery.refresh_from_db()
    assert gallery.opens == 0
