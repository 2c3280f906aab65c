"""Every raster Cradle delivers carries its own watermark, recorded with its studio and kind: the
web and print portraits (``portrait_finish``), the share card with a portrait on it and the
brand-only card (a PIN gallery's link preview), the visible tag's pixels left exactly as drawn."""

from __future__ import annotations

import io

import numpy as np
from django_tenants.utils import schema_context
from PIL import Image

from branding.provenance import read_provenance
from branding.sample_portrait import sample_portrait_render
from branding.selectors import brand_kit_get
from branding.services import portrait_finish
from branding.watermark import detect
from galleries import share_card
from verification.models import PortraitMark


def _mark_in(data: bytes) -> PortraitMark:
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    found = detect(pixels)
    assert found.mark_id is not None
    return PortraitMark.objects.get(mark_id=found.mark_id)


def test_the_share_card_with_a_portrait_carries_its_own_mark(studio, other_studio) -> None:
    with schema_context(studio.schema_name):
        web = portrait_finish(sample_portrait_render())
        card = share_card.share_card_jpeg(brand_kit_get(), studio_name="Alpha", portrait=web)
        share_card._finished_portrait_card.cache_clear()  # another process, the same card
        again = share_card.share_card_jpeg(brand_kit_get(), studio_name="Alpha", portrait=web)

    mark = _mark_in(card)
    assert (mark.kind, mark.studio_id) == ("share-card", studio.pk)
    assert mark.mark_id != _mark_in(web).mark_id
    assert read_provenance(card).c2pa_mark_id == mark.mark_id
    assert _mark_in(again).mark_id == mark.mark_id

    # The same card in another studio is that studio's, never a copy of the first one's mark.
    with schema_context(other_studio.schema_name):
        theirs = share_card.share_card_jpeg(brand_kit_get(), studio_name="Alpha", portrait=web)
    assert _mark_in(theirs).studio_id == other_studio.pk


def test_the_brand_only_card_carries_its_own_mark_and_keeps_its_tag_exact(
    studio, other_studio
) -> None:
    share_card._finished_brand_card.cache_clear()
    with schema_context(studio.schema_name):
        card = share_card.share_card_png(brand_kit_get(), studio_name="Alpha")
        share_card._finished_brand_card.cache_clear()  # another process, the same card
        again = share_card.share_card_png(brand_kit_get(), studio_name="Alpha")
        kit = brand_kit_get()

    assert card[:8] == b"\x89PNG\r\n\x1a\n"
    mark = _mark_in(card)
    assert (mark.kind, mark.studio_id) == ("brand-card", studio.pk)
    assert read_provenance(card).c2pa_mark_id == mark.mark_id
    assert read_provenance(card).exif_description is not None  # the tag in its metadata too
    assert _mark_in(again).mark_id == mark.mark_id
    # Sent on by a messaging app: re-encoded as a JPEG at quality 70, metadata gone.
    shared = io.BytesIO()
    Image.open(io.BytesIO(card)).convert("RGB").save(shared, "JPEG", quality=70)
    assert _mark_in(shared.getvalue()).mark_id == mark.mark_id

    # The mark is in the picture, never on the tag band, which stays exactly as drawn.
    drawn = np.asarray(share_card._card(kit.primary_hex, kit.accent_hex, kit.font, "Alpha", b""))
    delivered = np.asarray(Image.open(io.BytesIO(card)).convert("RGB"))
    band_top = share_card.CARD_SIZE[1] - share_card.BRAND_TAG_BAND_HEIGHT
    assert (delivered[band_top:] == drawn[band_top:]).all()
    changed = np.abs(delivered[:band_top].astype(int) - drawn[:band_top].astype(int))
    assert changed.any() and changed.max() <= 8

    with schema_context(other_studio.schema_name):
        theirs = share_card.share_card_png(brand_kit_get(), studio_name="Alpha")
    assert _mark_in(theirs).studio_id == other_studio.pk
    share_card._finished_brand_card.cache_clear()  # its marks go with this test's transaction


def test_web_and_print_portraits_are_marked_as_what_they_are(studio) -> None:
    with schema_context(studio.schema_name):
        web = portrait_finish(sample_portrait_render())
        print_file = portrait_finish(sample_portrait_render(), size="print")
    assert _mark_in(web).kind == "web"
    assert _mark_in(print_file).kind == "print"
