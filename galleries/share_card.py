"""The OpenGraph card a shared gallery link shows: the studio's colours, logo and name and the
tag — never the parent's name or a portrait, because a shared link travels to strangers."""

from __future__ import annotations

import io
import threading
from functools import lru_cache

from PIL import Image, ImageDraw

from branding.fonts import BUNDLED_FONTS, DEFAULT_FONT_KEY, load_font
from branding.models import BrandKit
from branding.overlay import hex_to_rgb, relative_luminance
from branding.provenance import TAG_TEXT

CARD_SIZE = (1200, 630)  # the size Facebook, iMessage and WhatsApp previews expect
_render_lock = threading.Lock()


def _ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    dark, light = (28, 26, 25), (255, 255, 255)
    on_dark = (relative_luminance(background) + 0.05) / (relative_luminance(dark) + 0.05)
    on_light = 1.05 / (relative_luminance(background) + 0.05)
    return dark if on_dark >= on_light else light


def _fit(draw: ImageDraw.ImageDraw, text: str, font_key: str, size: int, max_width: int):  # noqa: ANN202
    while size > 14:
        font = load_font(font_key, size)
        if draw.textlength(text, font=font) <= max_width:
            return font
        size -= 2
    return load_font(font_key, size)


def share_card_png(brand: BrandKit, *, studio_name: str) -> bytes:
    logo_bytes = b""
    if brand.logo:
        with brand.logo.open("rb") as logo_file:
            logo_bytes = logo_file.read()
    return _card(brand.primary_hex, brand.accent_hex, brand.font, studio_name, logo_bytes)


@lru_cache(maxsize=64)  # one per studio brand: the card changes only when the brand kit does
def _card(primary_hex: str, accent_hex: str, font_key: str, studio_name: str, logo: bytes) -> bytes:
    with _render_lock:  # FreeType faces are per thread, but the lru_cache fill is not atomic
        width, height = CARD_SIZE
        primary, accent = hex_to_rgb(primary_hex), hex_to_rgb(accent_hex)
        card = Image.new("RGB", CARD_SIZE, accent)
        draw = ImageDraw.Draw(card)
        band_top = height - 170
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
        out = io.BytesIO()
        card.save(out, format="PNG", optimize=True)
        return out.getvalue()
