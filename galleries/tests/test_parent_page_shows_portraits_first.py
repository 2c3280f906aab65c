"""The parent's page (issue 17 item 13): the tag once, not six times; a portrait opens full
screen; the share card carries the studio's pick. (The portrait above the fold on a 390×844
phone, the viewer and swiping are checked in Chromium: tests/browser/.)"""

from __future__ import annotations

import io
import re

from django.test import Client
from django_tenants.utils import schema_context
from PIL import Image

from branding.provenance import TAG_TEXT
from galleries.services.gallery import gallery_create
from galleries.tests.factories import ready_job_with_portraits

HOST = "alpha.localhost"


def _body(html: str) -> str:
    return html[html.index("<body") :]


def test_the_tag_is_shown_once_and_said_in_full_once(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(shared=2))
    html = Client(HTTP_HOST=HOST).get(f"/g/{gallery.token}/").content.decode()
    body = _body(html)
    assert body.count(TAG_TEXT) == 1
    assert body.lower().count("not a medical prediction") == 1
    assert body.count("says nothing about your baby's health") == 1
    # It sits before the first portrait, where it is seen, not after the page's end.
    assert body.index(TAG_TEXT) < body.index('<img src="/g/')
    assert TAG_TEXT in html[: html.index("</head>")]  # and the share card still says it


def test_each_portrait_opens_full_screen_from_a_real_link(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(shared=2))
        pks = list(
            gallery.job.candidates.filter(shared_with_parent=True)
            .order_by("rank")
            .values_list("pk", flat=True)
        )
    html = Client(HTTP_HOST=HOST).get(f"/g/{gallery.token}/").content.decode()
    links = re.findall(r'<a class="view" href="([^"]+)" data-viewer', html)
    assert links == [f"/g/{gallery.token}/p/{pk}/" for pk in pks]  # works without script too
    assert 'id="viewer" role="dialog"' in html
    assert '<script src="/static/galleries/gallery.js" defer>' in html


def test_the_share_card_shows_the_studios_pick_with_the_brand_and_the_tag(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(shared=2))
    parent = Client(HTTP_HOST=HOST)
    html = parent.get(f"/g/{gallery.token}/").content.decode()
    card_url = re.search(r'<meta property="og:image" content="([^"]+)"', html).group(1)
    assert card_url == f"http://{HOST}/g/{gallery.token}/card.jpg"
    card = parent.get(f"/g/{gallery.token}/card.jpg")
    assert card.status_code == 200 and card["Content-Type"] == "image/jpeg"
    assert len(card.content) < 300_000  # link previews refuse large images
    image = Image.open(io.BytesIO(card.content)).convert("RGB")
    assert image.size == (1200, 630)
    # The primary's web file (a flat (200, 150, 120) square in the factory) fills the left pane.
    r, g, b = image.getpixel((280, 315))
    assert abs(r - 200) < 12 and abs(g - 150) < 12 and abs(b - 120) < 12
    # The brand's primary colour carries the tag band on the right.
    band = image.getpixel((1190, 625))
    assert all(abs(a - e) < 6 for a, e in zip(band, (0x6B, 0x4F, 0x4F), strict=True)), band


def test_a_pin_gallerys_card_never_shows_a_portrait(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(), pin="8642")
    parent = Client(HTTP_HOST=HOST)
    answer = parent.get(f"/g/{gallery.token}/card.jpg")
    assert answer.status_code == 302 and answer["Location"].endswith("/card.png")
