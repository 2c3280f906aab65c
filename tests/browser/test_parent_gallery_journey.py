"""The parent's gallery in real Chromium on a 390×844 phone, and the owner's deletions
(issue 17 items 1, 3, 4, 12, 13 and the gallery basics): a PIN gallery opens with the right PIN;
the portrait is above the fold with the tag once; a tap opens it full screen and a swipe moves
to the next; "Download all" saves a ZIP; "Print size" says "being prepared" until the print file
exists, then downloads it at 300 dpi; "Delete portrait" and "Delete gallery" ask first.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django_tenants.utils import schema_context
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from branding.provenance import TAG_TEXT
from branding.services import portrait_finish
from galleries.models import Gallery
from galleries.services.gallery import gallery_create
from galleries.tests.factories import parent_session, ready_job_with_portraits
from render.models import Candidate, RenderJob
from render.print_size import candidate_print_make
from studio_portal.tenants.models import Studio
from tests.browser.conftest import SCREENSHOTS, Screenshots, axe_serious_violations
from tests.tenancy import PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _relit_portraits(count: int) -> list[np.ndarray]:
    """Real portraits: a phantom scan through ingest, vision, conditioning and the relight
    engine (seconds on a CPU), so the screenshots show what a parent sees."""
    from render.pipeline import phantom
    from render.pipeline.conditioning import blend_tone, build
    from render.pipeline.engines import candidate_seeds
    from render.pipeline.engines.relight import RelightEngine
    from render.pipeline.ingest import ingest
    from render.pipeline.vision import analyze

    scan = phantom.make_phantom(palette="hdlive-skin", seed=10)
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, format="JPEG", quality=90)
    conditioning = build(analyze(ingest(buffer.getvalue())), blend_tone([5]))
    return [c.image for c in RelightEngine().render(conditioning, candidate_seeds(7, count))]


def _gallery_of_real_portraits(*, pin: str = "") -> Gallery:
    """Two shared portraits (the primary and an alternate), web files finished with the brand
    and the tag as a job makes them; no print file yet."""
    job = RenderJob.objects.create(
        session=parent_session(parent_name="Maya Lopez"), base_seed=11, state=RenderJob.State.READY
    )
    for rank, raw in enumerate(_relit_portraits(2)):
        candidate = Candidate(
            job=job,
            seed=500 + rank,
            rank=rank,
            score=0.9 - rank / 10,
            is_primary=rank == 0,
            shared_with_parent=True,
        )
        candidate.image.save(f"{500 + rank}.png", ContentFile(_png(raw)), save=False)
        candidate.web_image.save(
            f"{500 + rank}-web.jpg", ContentFile(portrait_finish(raw, size="web")), save=False
        )
        candidate.save()
    return gallery_create(job=job, pin=pin)


def _sign_in(page: Page, studio_url: str, username: str) -> None:
    page.goto(f"{studio_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()


def _swipe(page: Page, *, from_x: int, to_x: int, y: int) -> None:
    """A real touch swipe through the DevTools protocol (what a finger sends)."""
    cdp = page.context.new_cdp_session(page)
    points = np.linspace(from_x, to_x, 6).round().astype(int).tolist()
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": from_x, "y": y}]}
    )
    for x in points[1:]:
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def _no_sideways_scroll(page: Page) -> None:
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
            .slice(0, 8)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wide


def test_a_parent_on_a_phone_unlocks_views_full_screen_swipes_and_downloads_all(
    browser: Browser,
    journey_studio: Studio,
    studio_url: str,
    shots: Screenshots,
    axe_source: str,
) -> None:
    with schema_context(journey_studio.schema_name):
        gallery = _gallery_of_real_portraits(pin="2468")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    parent = context.new_page()
    link = f"{studio_url}/g/{gallery.token}/"

    # The PIN: Chromium posts it with the page's real origin, so the right PIN opens it.
    parent.goto(link)
    expect(parent.get_by_role("heading", name="This gallery has a PIN")).to_be_visible()
    shots.take(parent, "parent-pin")
    parent.get_by_label("PIN").fill("1357")
    parent.get_by_role("button", name="Open my gallery").click()
    expect(parent.get_by_text("That PIN is not right")).to_be_visible()
    parent.get_by_label("PIN").fill("2468")
    parent.get_by_role("button", name="Open my gallery").click()
    expect(parent.get_by_role("heading", name="Your keepsake portraits")).to_be_visible()
    assert parent.url == link

    # On the phone: the studio's pick is whole above the fold, the tag is said once.
    first = parent.locator("a[data-viewer] img").first
    expect(first).to_be_visible()
    parent.wait_for_function("() => document.images[0] && document.images[0].complete")
    parent.screenshot(path=str(SCREENSHOTS / "parent-phone.png"))
    box = first.bounding_box()
    assert box["y"] < 200 and box["y"] + box["height"] <= PHONE["height"], box
    expect(parent.get_by_text(TAG_TEXT, exact=True)).to_have_count(1)
    assert parent.locator("body").inner_text().count("Not a medical prediction") == 1
    _no_sideways_scroll(parent)
    shots.take(parent, "parent-gallery-phone-full")
    found = axe_serious_violations(parent, axe_source)
    assert not found, "axe-core on the parent's gallery:\n" + "\n".join(found)

    # A tap opens the portrait full screen; a swipe to the left shows the next one.
    viewer = parent.locator("#viewer")
    expect(viewer).to_be_hidden()
    first.tap()
    expect(viewer).to_be_visible()
    picture = viewer.locator("img")
    expect(picture).to_have_attribute("src", f"/g/{gallery.token}/p/{_pk(gallery, 0)}/")
    expect(viewer.locator(".count")).to_have_text("1 of 2")
    view_box = viewer.bounding_box()
    assert view_box["width"] == PHONE["width"] and view_box["height"] == PHONE["height"]
    parent.wait_for_function("() => document.querySelector('#viewer img').complete")
    parent.screenshot(path=str(shots.folder / "parent-full-screen.png"))  # the viewport
    _swipe(parent, from_x=320, to_x=60, y=420)
    expect(viewer.locator(".count")).to_have_text("2 of 2")
    expect(picture).to_have_attribute("src", f"/g/{gallery.token}/p/{_pk(gallery, 1)}/")
    _swipe(parent, from_x=60, to_x=320, y=420)
    expect(viewer.locator(".count")).to_have_text("1 of 2")
    # The phone's Back button closes the viewer and stays in the gallery.
    parent.go_back()
    expect(viewer).to_be_hidden()
    assert parent.url == link

    # Download all: one ZIP with both portraits and a note that says what they are.
    with parent.expect_download() as download:
        parent.get_by_role("link", name="Download all (2 portraits, ZIP)").click()
    assert download.value.suggested_filename.startswith("Moonbeam-Studio-portraits-")
    archive = zipfile.ZipFile(download.value.path())
    jpegs = sorted(n for n in archive.namelist() if n.endswith(".jpg"))
    assert len(jpegs) == 2 and all(n.startswith("Moonbeam-Studio-portrait-") for n in jpegs)
    assert all(archive.read(n)[:3] == b"\xff\xd8\xff" for n in jpegs)
    assert TAG_TEXT in archive.read("About these portraits.txt").decode()
    context.close()


def _pk(gallery: Gallery, rank: int) -> int:
    with schema_context("journey"):
        return gallery.job.candidates.get(rank=rank).pk


def test_print_size_is_being_prepared_until_the_print_file_exists_then_it_is_300_dpi(
    browser: Browser,
    journey_studio: Studio,
    studio_url: str,
    shots: Screenshots,
) -> None:
    with schema_context(journey_studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(shared=2, with_print=False))
        primary = gallery.job.candidates.get(rank=0)
        with primary.web_image.open("rb") as handle:
            web_bytes = handle.read()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    parent = context.new_page()
    parent.goto(f"{studio_url}/g/{gallery.token}/")
    expect(parent.get_by_text("Print size: being prepared")).to_have_count(2)
    expect(parent.get_by_role("link", name="Print size")).to_have_count(0)
    shots.take(parent, "print-being-prepared")
    # An old link to the print file is told the same, never handed the web file.
    answer = parent.goto(f"{studio_url}/g/{gallery.token}/p/{primary.pk}/?size=print&download=1")
    assert answer.status == 503
    expect(
        parent.get_by_role("heading", name="The print-size file is being prepared")
    ).to_be_visible()
    shots.take(parent, "print-being-prepared-page")

    # The worker makes it (Real-ESRGAN ×4, brand and tag at print size); the page offers it.
    with schema_context(journey_studio.schema_name):
        candidate_print_make(candidate_id=primary.pk)
    parent.goto(f"{studio_url}/g/{gallery.token}/")
    expect(parent.get_by_text("Print size: being prepared")).to_have_count(1)
    with parent.expect_download() as download:
        parent.get_by_role("link", name="Print size").click()
    assert download.value.suggested_filename.endswith("-print.jpg")
    data = Path(download.value.path()).read_bytes()
    assert data != web_bytes
    with Image.open(io.BytesIO(data)) as image:
        assert image.info["dpi"] == pytest.approx((300, 300))
        assert max(image.size) == 4 * 96  # the factory's 96 px render, upscaled ×4
    shots.take(parent, "print-ready")
    context.close()


def test_the_owner_is_asked_before_a_portrait_or_a_gallery_is_deleted(
    browser: Browser,
    journey_studio: Studio,
    studio_url: str,
    shots: Screenshots,
) -> None:
    with schema_context(journey_studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(shared=2))
        alternate = gallery.job.candidates.get(rank=1)
    context = browser.new_context(viewport=DESKTOP)
    owner = context.new_page()
    _sign_in(owner, studio_url, "owner")
    owner.goto(f"{studio_url}/galleries/{gallery.uid}/")
    questions: list[str] = []

    # "No": nothing is deleted.
    owner.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    owner.get_by_role("button", name="Delete portrait").nth(1).click()
    owner.wait_for_timeout(300)
    assert questions == ["Delete this portrait for good? The parent will no longer see it."]
    with schema_context(journey_studio.schema_name):
        assert Candidate.objects.filter(pk=alternate.pk).exists()

    # "Yes": it is deleted, and the page says so.
    owner.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    owner.get_by_role("button", name="Delete portrait").nth(1).click()
    expect(owner.get_by_text("The portrait is deleted.")).to_be_visible()
    with schema_context(journey_studio.schema_name):
        assert not Candidate.objects.filter(pk=alternate.pk).exists()
    shots.take(owner, "owner-portrait-deleted")

    owner.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    owner.get_by_role("button", name="Delete gallery").click()
    owner.wait_for_timeout(300)
    with schema_context(journey_studio.schema_name):
        assert Gallery.objects.filter(pk=gallery.pk).exists()
    owner.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    owner.get_by_role("button", name="Delete gallery").click()
    expect(owner.get_by_text("The gallery is deleted")).to_be_visible()
    assert questions[-1] == "Delete this gallery? Its link will stop working."
    with schema_context(journey_studio.schema_name):
        assert not Gallery.objects.filter(pk=gallery.pk).exists()
    context.close()


def test_the_galleries_table_fits_a_phone(
    browser: Browser, journey_studio: Studio, studio_url: str, shots: Screenshots
) -> None:
    with schema_context(journey_studio.schema_name):
        for _ in range(3):
            gallery_create(job=ready_job_with_portraits(shared=1), pin="1234")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    _sign_in(page, studio_url, "owner")
    page.goto(f"{studio_url}/galleries/")
    expect(page.get_by_role("link", name="Maya Okafor")).to_have_count(3)
    _no_sideways_scroll(page)
    table = page.locator("table").last.bounding_box()
    assert table["x"] >= 0 and table["x"] + table["width"] <= PHONE["width"], table
    shots.take(page, "owner-galleries-phone")
    page.goto(f"{studio_url}/audit/")
    _no_sideways_scroll(page)
    shots.take(page, "owner-audit-phone")
    context.close()
