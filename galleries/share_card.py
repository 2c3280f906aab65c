"""The OpenGraph card a shared gallery link shows: the studio's colours, logo and name, the tag
and — for a gallery without a PIN, whose portraits anyone with the link may see anyway — the
studio's pick (its web file, which carries the frame and the visible tag). Never the parent's
name, and never a portrait of a PIN gallery: the card is served before the PIN. The portrait
card is a picture of the portrait, so it goes out like one (``branding.services.raster_deliver``:
its own invisible watermark, the tag in its metadata, a signed C2PA manifest); so does the
brand-only card (a PNG, its watermark of kind ``brand-card``), which shows no baby but leaves
Cradle like every other picture."""

from __future__ import annotations

import hashlib
import io
import threading
from functools import lru_cache
from typing import Protocol

from django.db import connection
from PIL import Image, ImageDraw

from branding.fonts import BUNDLED_FONTS, DEFAULT_FONT_KEY, load_font
from branding.overlay import hex_to_rgb, relative_luminance
from branding.provenance import TAG_TEXT
from branding.services import raster_deliver

CARD_SIZE = (1200, 630)  # the size Facebook, iMessage and WhatsApp previews expect
_render_lock = threading.Lock()


def _ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    dark, light = (28, 26, 25), (255, 255, 255)
    on_dark = (relative_luminance(background) + 0.05) / (relative_luminance(dark) + 0.05)
    on_light = 1.05 / (relative_luminance(background) + 0.05)
    return dark if on_dark >= on_light else light


def _fit(draw: ImageDraw.ImageDraw, text: str, font_key: str, size: int, max_width: int):
    while size > 14:
        font = load_font(font_key, size)
        if draw.textlength(text, font=font) <= max_width:
            return font
        size -= 2
    return load_font(font_key, size)


class BrandColours(Protocol):
    primary_hex: str
    accent_hex: str
    font: str


def share_card_png(brand: BrandColours, *, studio_name: str, logo: bytes = b"") -> bytes:
    """``brand`` is the gallery's brand as sent (galleries.selectors.SentBrand)."""
    return _finished_brand_card(
        connection.schema_name, brand.primary_hex, brand.accent_hex, brand.font, studio_name, logo
    )


def share_card_jpeg(
    brand: BrandColours, *, studio_name: str, portrait: bytes, logo: bytes = b""
) -> bytes:
    """The card with the portrait on its left: JPEG, small enough for every link preview."""
    return _finished_portrait_card(
        connection.schema_name,
        brand.primary_hex,
        brand.accent_hex,
        brand.font,
        studio_name,
        logo,
        portrait,
    )


PORTRAIT_PANE_WIDTH = 560
TAG_BAND_HEIGHT = 150  # the brand band under the studio's name, with the tag on it


# Per studio (the mark is the studio's), portrait and brand; a portrait's web file is ~100-300 kB.
@lru_cache(maxsize=32)
def _finished_portrait_card(
    schema_name: str,
    primary_hex: str,
    accent_hex: str,
    font_key: str,
    studio_name: str,
    logo: bytes,
    portrait: bytes,
) -> bytes:
    card = _portrait_card(primary_hex, accent_hex, font_key, studio_name, logo, portrait)
    # The same card made again (another process, a restart) keeps its mark.
    digest = hashlib.sha256()
    for part in (primary_hex, accent_hex, font_key, studio_name):
        digest.update(part.encode() + b"\x00")
    digest.update(hashlib.sha256(logo).digest() + hashlib.sha256(portrait).digest())
    width, height = CARD_SIZE
    return raster_deliver(
        card,
        kind="share-card",
        artist=studio_name,
        source=f"share-card:{digest.hexdigest()[:32]}",
        keep_clear=((PORTRAIT_PANE_WIDTH, height - TAG_BAND_HEIGHT, width, height),),  # the tag
    )


def _portrait_card(
    primary_hex: str, accent_hex: str, font_key: str, studio_name: str, logo: bytes, portrait: bytes
) -> Image.Image:
    with _render_lock:
        width, height = CARD_SIZE
        primary, accent = hex_to_rgb(primary_hex), hex_to_rgb(accent_hex)
        card = Image.new("RGB", CARD_SIZE, accent)
        draw = ImageDraw.Draw(card)
        pane = PORTRAIT_PANE_WIDTH
        try:
            picture = Image.open(io.BytesIO(portrait)).convert("RGB")
            picture.thumbnail((pane, height))
            card.paste(picture, ((pane - picture.width) // 2, (height - picture.height) // 2))
        except OSError:
            pass  # an unreadable file leaves the brand side alone, never a broken preview
        font_key = font_key if font_key in BUNDLED_FONTS else DEFAULT_FONT_KEY
        bold_key = f"{font_key.split('-')[0]}-bold"
        bold_key = bold_key if bold_key in BUNDLED_FONTS else font_key
        left, right = pane + 50, width - 50
        band_top = height - TAG_BAND_HEIGHT
        draw.rectangle([pane, band_top, width, height], fill=primary)
        top = 90
        if logo:
            try:
                mark = Image.open(io.BytesIO(logo)).convert("RGBA")
                mark.thumbnail((200, 120))
                card.paste(mark, (left, top), mark)
                top += mark.height + 30
            except OSError:
                pass
        ink = _ink(accent)
        title_font = _fit(draw, studio_name, bold_key, 64, right - left)
        draw.text((left, top), studio_name, font=title_font, fill=ink)
        draw.text((left, top + 90), "A keepsake portrait", font=load_font(font_key, 40), fill=ink)
        tag_font = _fit(draw, TAG_TEXT, "sans-bold", 36, right - left)
        draw.text((left, band_top + 52), TAG_TEXT, font=tag_font, fill=_ink(primary))
        return card


BRAND_TAG_BAND_HEIGHT = 170  # the brand-only card's band, with the tag on it


# One per studio and brand (the mark is the studio's): the card changes only when the brand does.
@lru_cache(maxsize=64)
def _finished_brand_card(
    schema_name: str,
    primary_hex: str,
    accent_hex: str,
    font_key: str,
    studio_name: str,
    logo: bytes,
) -> bytes:
    card = _card(primary_hex, accent_hex, font_key, studio_name, logo)
    digest = hashlib.sha256()  # the same card made again (another process) keeps its mark
    for part in (primary_hex, accent_hex, font_key, studio_name):
        digest.update(part.encode() + b"\x00")
    digest.update(hashlib.sha256(logo).digest())
    width, height = CARD_SIZE
    return raster_deliver(
        card,
        kind="brand-card",
        artist=studio_name,
        fmt="PNG",
        source=f"brand-card:{digest.hexdigest()[:32]}",
        keep_clear=((0, height - BRAND_TAG_BAND_HEIGHT, width, height),),  # the tag
    )


def _card(
    primary_hex: str, accent_hex: str, font_key: str, studio_name: str, logo: bytes
) -> Image.Image:
    with _render_lock:  # FreeType faces are per thread, but the lru_cache fill is not atomic
        width, height = CARD_SIZE
        primary, accent = hex_to_rgb(primary_hex), hex_to_rgb(accent_hex)
        card = Image.new("RGB", CARD_SIZE, accent)
        draw = ImageDraw.Draw(card)
        band_top = height - BRAND_TAG_BAND_HEIGHT
        draw.rectangle([0, band_top, width, height], fill=primary)
        font_key = font_key if font_key in BUNDLED_FONTS else DEFAULT_FONT_KEY
        bold_key = f"{font_key.split('-')[0]}-bold"
        bold_key = bold_key if bold_key in BUNDLED_FONTS else font_key

        text_left = 80
        if logo:
            try:
                mark = Image.open(io.BytesIO(logo)).convert("RGBA")
                mark.thumbnail((260, 260))
                card.paste(mark, (80, (band_top - mark.height) // 2), mark)
                text_left = 80 + mark.width + 60
            except OSError:
                pass  # an unreadable logo leaves the card text-only, never a broken preview
        ink = _ink(accent)
        title_font = _fit(draw, studio_name, bold_key, 76, width - text_left - 80)
        draw.text((text_left, band_top // 2 - 70), studio_name, font=title_font, fill=ink)
        subtitle = "A keepsake portrait"
        draw.text((text_left, band_top // 2 + 30), subtitle, font=load_font(font_key, 44), fill=ink)
        tag_font = _fit(draw, TAG_TEXT, "sans-bold", 44, width - 160)
        tag_w = draw.textlength(TAG_TEXT, font=tag_font)
        draw.text(((width - tag_w) / 2, band_top + 60), TAG_TEXT, font=tag_font, fill=_ink(primary))
        return card
