"""Whole journeys in real Chromium: owner → sonographer → worker → parent on a phone."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from django_tenants.utils import schema_context
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from galleries.models import Delivery
from render.models import Candidate, ParentSession, RenderJob
from render.pipeline import phantom
from studio_portal.tenants.models import Studio
from tests.browser.conftest import Screenshots, axe_serious_violations
from tests.tenancy import PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _sign_in(page: Page, studio_url: str, username: str) -> None:
    page.goto(f"{studio_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()


def _new_session_as_sonographer(page: Page, studio_url: str) -> None:
    _sign_in(page, studio_url, "sono")
    page.goto(f"{studio_url}/sessions/new/")
    page.get_by_label("Parent's name").fill("Ana Silva")
    page.get_by_label("Email for the gallery link").fill("ana@example.com")
    page.get_by_label("The parent has read and agreed to the consent text").check()
    page.get_by_role("button", name="Create session").click()


def _assert_accessible(page: Page, axe_source: str, where: str) -> None:
    found = axe_serious_violations(page, axe_source)
    assert not found, f"axe-core on {where}:\n" + "\n".join(found)


def _jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _faceless_render() -> bytes:
    """A smooth colour gradient: a valid image in which vision finds no face."""
    y, x = np.mgrid[0:480, 0:640]
    channels = [x / 640 * 200 + 30, y / 480 * 120 + 60, np.full(x.shape, 90.0)]
    return _jpeg(np.stack(channels, -1).astype(np.uint8))


def test_owner_sonographer_and_parent_go_from_sign_in_to_a_gallery_on_a_phone(
    browser: Browser,
    journey_studio: Studio,
    studio_url: str,
    worker,
    fake_providers,
    phantom_jpeg: bytes,
    shots: Screenshots,
    axe_source: str,
    tmp_path,
) -> None:
    # The owner signs in, sees the owner-only links, opens branding and the team page.
    owner_context = browser.new_context(viewport=DESKTOP)
    owner = owner_context.new_page()
    _sign_in(owner, studio_url, "owner")
    nav = owner.get_by_role("navigation", name="Studio")
    expect(nav.get_by_role("link", name="Team")).to_be_visible()
    expect(nav.get_by_role("link", name="Settings")).to_be_visible()
    shots.take(owner, "owner-sessions-empty")
    _assert_accessible(owner, axe_source, "the empty sessions list")
    branding = nav.get_by_role("link", name="Branding")
    if branding.count():
        branding.click()
        owner.wait_for_load_state()
        assert owner.url.endswith("/branding/")
        shots.take(owner, "owner-branding")
    owner.goto(f"{studio_url}/team/")
    expect(owner.get_by_role("heading", name="Team")).to_be_visible()
    shots.take(owner, "owner-team")
    _assert_accessible(owner, axe_source, "the team page")
    owner.goto(f"{studio_url}/settings/")
    owner.get_by_label("Keep scans and portraits for").fill("60")
    owner.get_by_role("button", name="Save", exact=True).click()
    expect(owner.get_by_text("now kept for 60 days")).to_be_visible()
    assert Studio.objects.get(pk=journey_studio.pk).retention_days == 60
    owner_context.close()

    # The sonographer: a sonographer gets 403 on owner pages.
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in(page, studio_url, "sono")
    assert page.goto(f"{studio_url}/team/").status == 403
    page.goto(f"{studio_url}/")
    page.get_by_role("link", name="Start the first session").click()

    # New session: name, contacts, consent, two tones (a Monk swatch and the picker), a style.
    expect(page.get_by_role("heading", name="New session")).to_be_visible()
    page.get_by_label("Parent's name").fill("Maya Lopez")
    page.get_by_label("Email for the gallery link").fill("maya@example.com")
    page.get_by_label("Mobile for the gallery link").fill("+1 415 555 0123")
    page.get_by_role("button", name="Monk tone 6 (#a07e56)").first.click()
    expect(page.locator("#id_tone_1")).to_have_value("#a07e56")
    page.get_by_label("Blend in a second parent's tone").check()
    page.locator("[data-second-tone]").get_by_role("button", name="Monk tone 3 (#f7ead0)").click()
    page.get_by_label("Studio light · soft").check()
    page.get_by_role("button", name="Create session").click()
    expect(page.locator(".alert-error")).to_contain_text("consent")  # forgot the consent box
    page.get_by_label("The parent has read and agreed to the consent text").check()
    shots.take(page, "sonographer-new-session")
    _assert_accessible(page, axe_source, "the new-session form")
    page.get_by_role("button", name="Create session").click()
    expect(page.get_by_role("heading", name="Maya Lopez")).to_be_visible()
    with schema_context("journey"):
        session = ParentSession.objects.get()
        assert session.style == "soft-light"
        assert session.skin_swatches == ["#a07e56", "#f7ead0"]
    shots.take(page, "sonographer-session-before-upload")
    _assert_accessible(page, axe_source, "the session page")

    # Upload through the page's XHR path; the progress bar reaches 100 before the redirect.
    scan_file = tmp_path / "maya-scan.jpg"
    scan_file.write_bytes(phantom_jpeg)
    page.set_input_files("#id_scan", str(scan_file))
    expect(page.locator("[data-dropzone] strong")).to_have_text("maya-scan.jpg")
    page.get_by_role("button", name="Upload and render").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    job_url = page.url
    shots.take(page, "sonographer-job-progress")

    # Live progress: the poller swaps the partial until the job is ready, then reloads.
    expect(page.locator(".big-state")).to_have_text(
        re.compile("Ready to review|Failed|Scan not usable"), timeout=90_000
    )
    with schema_context("journey"):
        job = RenderJob.objects.get()
        assert job.state == RenderJob.State.READY, job.reason
    expect(page.locator(".big-state")).to_have_text("Ready to review")
    expect(page.locator(".stages li.done")).to_have_count(6)
    for stage in ("ingest", "vision", "conditioning", "render", "score", "overlay"):
        expect(page.locator(f'[data-stage="{stage}"] .stage-time')).to_have_text(
            re.compile(r"^\d+(\.\d)? (ms|s)$")
        )
    expect(page.locator(".candidate")).to_have_count(5)
    expect(page.locator(".candidate.is-primary")).to_have_count(1)
    expect(page.locator(".anchor")).not_to_have_count(0)
    shots.take(page, "sonographer-candidates")
    _assert_accessible(page, axe_source, "the ready job page")

    # Pick portrait 2 as the primary, and share portrait 3 as an alternate.
    cards = page.locator(".candidate")
    cards.nth(1).get_by_role("button", name="Make primary").click()
    expect(page.locator(".candidate").nth(1)).to_have_class(re.compile("is-primary"))
    cards.nth(2).get_by_role("button", name="Add to gallery").click()
    expect(cards.nth(2).get_by_role("button", name="In the gallery")).to_be_visible()
    # The former primary stays shared until taken out.
    cards.nth(0).get_by_role("button", name="In the gallery").click()
    expect(cards.nth(0).get_by_role("button", name="Add to gallery")).to_be_visible()
    with schema_context("journey"):
        job = RenderJob.objects.get()
        shared = list(
            Candidate.objects.filter(job=job, shared_with_parent=True).values_list(
                "rank", "is_primary"
            )
        )
        assert sorted(shared) == [(1, True), (2, False)]

    # Send by email and SMS; the worker delivers; the page shows each delivery's status.
    page.get_by_role("button", name="Send gallery").click()
    expect(page.get_by_text("on its way")).to_be_visible()
    expect(page.locator(".big-state")).to_have_text("Sent", timeout=30_000)
    expect(page.locator("table .badge.sent")).to_have_count(2)
    shots.take(page, "sonographer-sent")
    with schema_context("journey"):
        assert dict(Delivery.objects.values_list("channel", "status")) == {
            "email": "sent",
            "sms": "sent",
        }

    # The parent opens the link from her email on a phone.
    [email] = fake_providers.emails()
    text = " ".join(part["value"] for part in email.json()["content"])
    link = re.search(r"http://journey\.localhost:\d+/g/[^\s\"<]+/", text).group(0)
    parent_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    parent = parent_context.new_page()
    parent.goto(link)
    expect(parent.get_by_text("Not a medical prediction").first).to_be_visible()
    portraits = parent.locator("img[src*='/p/']")
    expect(portraits).to_have_count(2)
    assert parent.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots.take(parent, "parent-gallery-phone")
    _assert_accessible(parent, axe_source, "the parent's gallery")
    favourite = parent.get_by_role("button", name="Mark favourite").first
    favourite.click()
    expect(parent.get_by_role("button", name="Favourite").first).to_have_attribute(
        "aria-pressed", "true"
    )
    parent.reload()  # the choice is kept by the server, not only by the page
    expect(parent.get_by_role("button", name="Favourite", exact=True).first).to_be_visible()
    shots.take(parent, "parent-favourite")
    with parent.expect_download() as download:
        parent.get_by_role("link", name="Download").first.click()
    assert download.value.suggested_filename.endswith(".jpg")
    assert Path(download.value.path()).read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    shots.take(parent, "parent-after-download")
    parent_context.close()

    # The sessions list on a phone shows the session as sent; the job page has no overflow.
    page.set_viewport_size(PHONE)
    page.goto(f"{studio_url}/")
    expect(page.get_by_text("Maya Lopez")).to_be_visible()
    expect(page.locator(".session-list .badge")).to_have_text("Sent")
    shots.take(page, "sonographer-sessions-phone")
    _assert_accessible(page, axe_source, "the sessions list")
    page.goto(job_url)
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
            .slice(0, 8)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wide
    # Candidates sit two abreast on a phone, so the sonographer compares them side by side.
    first, second = (page.locator(".candidate").nth(i).bounding_box() for i in (0, 1))
    assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"] + first["width"] - 1
    shots.take(page, "sonographer-job-phone")
    context.close()


def test_a_faceless_scan_shows_why_it_was_rejected_and_what_to_do(
    browser: Browser,
    journey_studio: Studio,
    studio_url: str,
    worker,
    shots: Screenshots,
    axe_source: str,
    tmp_path,
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    _new_session_as_sonographer(page, studio_url)
    expect(page.get_by_role("heading", name="Ana Silva")).to_be_visible()

    # Not an image at all: refused at once on the session page, nothing stored.
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"not a scan")
    page.set_input_files("#id_scan", str(junk))
    page.get_by_role("button", name="Upload and render").click()
    expect(page.locator("#upload-error .reason")).not_to_be_empty()
    shots.take(page, "upload-refused")

    # An image with no face: the job is rejected by vision, with the reason and the next step.
    scan = tmp_path / "gradient.jpg"
    scan.write_bytes(_faceless_render())
    page.set_input_files("#id_scan", str(scan))
    page.get_by_role("button", name="Upload and render").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    expect(page.locator(".big-state")).to_have_text("Scan not usable", timeout=60_000)
    panel = page.locator(".state-panel")
    expect(panel).to_contain_text("No baby's face could be found")
    expect(panel).to_contain_text("Export a 3D/4D surface render")
    expect(panel.get_by_role("link", name="Upload another scan")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots.take(page, "rejected-scan-phone")
    _assert_accessible(page, axe_source, "the rejected job page")
    with schema_context("journey"):
        assert RenderJob.objects.get().state == RenderJob.State.REJECTED
    context.close()


def test_a_face_the_detector_missed_is_painted_from_points_the_sonographer_places(
    browser: Browser,
    journey_studio: Studio,
    studio_url: str,
    worker,
    shots: Screenshots,
    axe_source: str,
    tmp_path,
) -> None:
    # Membranes across a turned face: the detector finds no face.
    hidden = phantom.make_phantom(
        occluder="membrane", pose="three-quarter-left", seed=3, palette="voluson-gold"
    )
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _new_session_as_sonographer(page, studio_url)
    scan = tmp_path / "hidden.jpg"
    scan.write_bytes(_jpeg(hidden.image))
    page.set_input_files("#id_scan", str(scan))
    page.get_by_role("button", name="Upload and render").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    expect(page.locator(".big-state")).to_have_text("Scan not usable", timeout=60_000)
    expect(page.locator(".state-panel")).to_contain_text("place its points yourself")
    expect(page.get_by_role("heading", name="Place the face points yourself")).to_be_visible()
    _assert_accessible(page, axe_source, "the page to place face points on")

    # She drags both eyes, the nose and the chin onto the face (the mouth is under the fist).
    height, width = hidden.image.shape[:2]
    page.locator("[data-anchor-stage]").scroll_into_view_if_needed()
    for name in ("eye_left", "eye_right", "nose_tip", "chin"):
        stage = page.locator("[data-anchor-stage] img").bounding_box()
        point = page.locator(f'[data-anchor="{name}"]').bounding_box()
        x, y = hidden.anchors[name]
        page.mouse.move(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
        page.mouse.down()
        page.mouse.move(
            stage["x"] + x / width * stage["width"],
            stage["y"] + y / height * stage["height"],
            steps=8,
        )
        page.mouse.up()
    shots.take(page, "face-points-placed")
    page.get_by_role("button", name="Paint from these points").click()
    expect(page.locator(".messages")).to_contain_text("Points placed")
    expect(page.locator(".big-state")).to_have_text(
        re.compile("Ready to review|Needs review"), timeout=120_000
    )
    expect(page.locator(".candidate")).to_have_count(5)
    shots.take(page, "painted-from-placed-points")
    with schema_context("journey"):
        again = RenderJob.objects.exclude(state=RenderJob.State.REJECTED).get()
        assert again.scan.anchors_placed
        placed = again.scan.anchors
        assert set(placed) == {"eye_left", "eye_right", "nose_tip", "chin"}
        for name, (x, y) in ((n, hidden.anchors[n]) for n in placed):
            # Where she dropped it, to the few pixels a drag on a scaled image can miss by.
            assert abs(placed[name]["x"] - x) < 0.02 * width
            assert abs(placed[name]["y"] - y) < 0.02 * width
    context.close()
