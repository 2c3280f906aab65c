"""The branded overlay painted on every delivered portrait, and the brand-kit checks behind it.

Pure: Pillow and numpy only, no Django. The tag "Artistic interpretation · Not a medical
prediction" is painted last, in a fixed font on a fixed dark plate, from a layout that no
`BrandSpec` field feeds into except the frame's margins — so no spec can hide, recolour or shrink
it below readability. Social apps strip metadata; these pixels are what survives a screenshot.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from branding.fonts import BUNDLED_FONTS, load_font
from branding.provenance import TAG_TEXT

FRAMES = ("none", "thin", "polaroid", "mat")
SIZES = ("web", "print")
WEB_LONG_SIDE = 1080

MAX_LOGO_BYTES = 5 * 1024 * 1024
MAX_LOGO_SIDE = 1024
# A logo is a few hundred pixels wide; anything past this is a decompression bomb, not a logo.
MAX_LOGO_SOURCE_PIXELS = 40_000_000

# The tag's look is fixed here, not in BrandSpec: white on an 85 % near-black plate keeps a
# contrast ratio above 10:1 over any photo or frame colour (worst case: a white background).
TAG_FONT_KEY = "sans"
TAG_TEXT_RGB = (255, 255, 255)
TAG_PLATE_RGBA = (17, 17, 17, 217)
MIN_TAG_FONT_PX = 11

CRADLE_MARK_TEXT = "made with Cradle"
CRADLE_MARK_DOT_RGB = (240, 168, 140)
CRADLE_MARK_PLATE_RGBA = (255, 255, 255, 200)
CRADLE_MARK_TEXT_RGB = (40, 36, 34)

_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


class BrandingError(ValueError):
    """A brand-kit input the studio must fix; `message` is shown to the owner as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class BrandSpec:
    studio_name: str
    primary_hex: str
    accent_hex: str
    font: str
    frame: str
    caption: str
    logo_png: bytes | None
    cobranded: bool

    def __post_init__(self) -> None:
        for label, value in (("Primary", self.primary_hex), ("Accent", self.accent_hex)):
            if not _HEX_COLOUR.match(value or ""):
                raise BrandingError(f"{label} colour must look like #1a2b3c, got {value!r}")
        if self.frame not in FRAMES:
            raise BrandingError(f"Frame must be one of {', '.join(FRAMES)}, got {self.frame!r}")
        if self.font not in BUNDLED_FONTS:
            raise BrandingError(f"Font must be one of {', '.join(BUNDLED_FONTS)}")


# --------------------------------------------------------------------------------------------
# Colour
# --------------------------------------------------------------------------------------------


def hex_to_rgb(hex_colour: str) -> tuple[int, int, int]:
    if not _HEX_COLOUR.match(hex_colour):
        raise BrandingError(f"Colour must look like #1a2b3c, got {hex_colour!r}")
    digits = hex_colour[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.1 relative luminance (sRGB, 0.03928 threshold as the 2.1 text states)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(hex_a: str, hex_b: str) -> float:
    """WCAG 2.1 contrast ratio, 1.0 (same colour) to 21.0 (black on white)."""
    la, lb = relative_luminance(hex_to_rgb(hex_a)), relative_luminance(hex_to_rgb(hex_b))
    lighter, darker = max(la, lb), min(la, lb)
    return (lighter + 0.05) / (darker + 0.05)


MIN_BRAND_CONTRAST = 3.0


def validate_brand_colours(primary_hex: str, accent_hex: str) -> None:
    """Refuse a pair the overlay cannot make readable: caption text in the primary colour sits
    on the accent mat, so the pair needs WCAG AA for large text and UI parts (3:1)."""
    ratio = contrast_ratio(primary_hex, accent_hex)
    if ratio < MIN_BRAND_CONTRAST:
        raise BrandingError(
            f"{primary_hex} on {accent_hex} is hard to read (contrast {ratio:.1f}:1); "
            f"pick colours with at least {MIN_BRAND_CONTRAST:.0f}:1 — one darker, one lighter."
        )


def _readable_ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Near-black or white, whichever reads better on `background`."""
    dark, light = (28, 26, 25), (255, 255, 255)
    background_l = relative_luminance(background)
    on_dark = (background_l + 0.05) / (relative_luminance(dark) + 0.05)
    on_light = 1.05 / (background_l + 0.05)
    return dark if on_dark >= on_light else light


def _ink_on(background: tuple[int, int, int], preferred: tuple[int, int, int]) -> tuple[int, ...]:
    """The brand colour when it is readable (AA large text, 3:1) on `background`, else ink."""
    lp, lb = relative_luminance(preferred), relative_luminance(background)
    if (max(lp, lb) + 0.05) / (min(lp, lb) + 0.05) >= 3.0:
        return preferred
    return _readable_ink(background)


# --------------------------------------------------------------------------------------------
# Logo validation
# --------------------------------------------------------------------------------------------

_FORMAT_HELP = "Please upload your logo as PNG, JPG or WEBP"


def _sniff_image_kind(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head:
        return "SVG"
    return None


@contextmanager
def image_decoding(*, too_many_pixels: str, unreadable: str) -> Iterator[None]:
    """Decode an uploaded image inside this: a pixel bomb (Pillow only warns between
    MAX_IMAGE_PIXELS and twice that; both count) or a damaged file becomes a BrandingError
    with the caller's sentence; BrandingErrors raised inside pass through."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except BrandingError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise BrandingError(too_many_pixels) from error
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise BrandingError(unreadable) from error


def validate_logo(data: bytes) -> bytes:
    """A sanitised RGBA PNG (≤ 1024 px, no metadata) or BrandingError with the reason.

    SVG is refused outright: rasterising it safely needs a renderer we would have to trust
    with scripts and external references, and a logo does not need vectors at 1080 px.
    """
    if len(data) > MAX_LOGO_BYTES:
        megabytes = len(data) / (1024 * 1024)
        raise BrandingError(f"Your logo is {megabytes:.1f} MB; the limit is 5 MB.")
    if not data:
        raise BrandingError(f"The logo file is empty. {_FORMAT_HELP}.")
    kind = _sniff_image_kind(data)
    if kind == "SVG":
        raise BrandingError(f"{_FORMAT_HELP} — SVG files are not accepted.")
    if kind is None:
        raise BrandingError(f"This file is not an image we can read. {_FORMAT_HELP}.")

    with image_decoding(
        too_many_pixels="Your logo has too many pixels to process safely; please upload a "
        "smaller one.",
        unreadable=f"The logo file is damaged or incomplete. {_FORMAT_HELP}.",
    ):
        with Image.open(io.BytesIO(data), formats=[kind] if kind != "GIF" else ["GIF"]) as im:
            if getattr(im, "is_animated", False) or getattr(im, "n_frames", 1) > 1:
                raise BrandingError(
                    f"Animated images can't be used as a logo. {_FORMAT_HELP} with a single frame."
                )
            if kind == "GIF":
                raise BrandingError(f"{_FORMAT_HELP}.")
            width, height = im.size
            if width * height > MAX_LOGO_SOURCE_PIXELS:
                raise BrandingError(
                    f"Your logo is {width}×{height} pixels; please upload one under "
                    "4000 pixels on its longest side."
                )
            im.draft("RGBA", (MAX_LOGO_SIDE, MAX_LOGO_SIDE))  # JPEG: decode reduced
            im.load()
            logo = ImageOps.exif_transpose(im).convert("RGBA")

    logo.thumbnail((MAX_LOGO_SIDE, MAX_LOGO_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    logo.save(out, "PNG", optimize=False)  # re-encoded pixels only: no EXIF, text or ICC
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)


@dataclass(frozen=True)
class FrameGeometry:
    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True)
class OverlayLayout:
    canvas_size: tuple[int, int]
    photo_box: Box
    frame: FrameGeometry
    unit: float
    tag_box: Box
    tag_font_px: int
    cradle_mark_box: Box
    logo_box: Box
    caption_box: Box


def _frame_geometry(frame: str, unit: float) -> FrameGeometry:
    def px(value: float) -> int:
        return max(1, round(value * unit))

    if frame == "thin":
        side = px(14)
        return FrameGeometry(side, side, side, side)
    if frame == "polaroid":
        side = px(40)
        return FrameGeometry(side, side, side, px(170))
    if frame == "mat":
        side = px(64)
        return FrameGeometry(side, side, side, side)
    return FrameGeometry(0, 0, 0, 0)


def _image_size(image: np.ndarray | Image.Image) -> tuple[int, int]:
    if isinstance(image, Image.Image):
        return image.size
    return int(image.shape[1]), int(image.shape[0])


def overlay_layout(image_size: tuple[int, int], frame: str, *, size: str = "web") -> OverlayLayout:
    """Where everything goes for an input of `image_size`; compose and the tests share it."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if frame not in FRAMES:
        raise BrandingError(f"Frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    width, height = image_size
    long_side = WEB_LONG_SIDE if size == "web" else max(width, height)
    unit = long_side / WEB_LONG_SIDE
    geometry = _frame_geometry(frame, unit)

    # Scale the photo so photo + frame has exactly `long_side` on its long side: no crop, and
    # the frame keeps its proportions whatever the photo's aspect ratio.
    scale = min(
        (long_side - geometry.left - geometry.right) / width,
        (long_side - geometry.top - geometry.bottom) / height,
    )
    photo_w, photo_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas_w = photo_w + geometry.left + geometry.right
    canvas_h = photo_h + geometry.top + geometry.bottom
    photo_box = (geometry.left, geometry.top, geometry.left + photo_w, geometry.top + photo_h)

    inset = max(6, round(14 * unit))
    tag_font_px, tag_w, tag_h = _fit_tag(canvas_w - 2 * inset, unit)
    tag_right = canvas_w - max(inset, geometry.right + (inset if frame != "mat" else 0))
    if frame == "polaroid":
        tag_bottom = canvas_h - inset
    elif frame == "mat":
        # Centred in the bottom mat when it fits there, otherwise on the photo's corner.
        tag_bottom = canvas_h - max(inset // 2, (geometry.bottom - tag_h) // 2)
    else:
        tag_bottom = canvas_h - geometry.bottom - inset
    tag_box = (tag_right - tag_w, tag_bottom - tag_h, tag_right, tag_bottom)

    mark_h = max(16, round(26 * unit))
    mark_font = load_font("sans-bold", _cradle_mark_font_px(mark_h))
    mark_w = round(mark_h * 1.15 + mark_font.getlength(CRADLE_MARK_TEXT) + mark_h * 0.5)
    mark_right = photo_box[2] - inset
    mark_top = photo_box[1] + inset
    cradle_mark_box = (mark_right - mark_w, mark_top, mark_right, mark_top + mark_h)

    if frame == "polaroid":
        band_top = photo_box[3]
        logo_h = round(min(96 * unit, (canvas_h - band_top) * 0.62))
        logo_top = band_top + (canvas_h - band_top - logo_h) // 2
        # The logo never runs under the tag plate on narrow canvases (the tag would win anyway).
        logo_right = geometry.left + logo_h * 3
        if logo_top + logo_h > tag_box[1]:
            logo_right = min(logo_right, tag_box[0] - inset)
        logo_box = (geometry.left, logo_top, max(geometry.left + 1, logo_right), logo_top + logo_h)
        caption_left = geometry.left
        caption_box = (
            caption_left,
            band_top + round(18 * unit),
            tag_box[2],
            tag_box[1] - inset // 2,
        )
    else:
        logo_h = round(48 * unit) if frame != "mat" else max(4, geometry.top - inset)
        logo_left = photo_box[0] + inset if frame != "mat" else geometry.left
        logo_top = photo_box[1] + inset if frame != "mat" else (geometry.top - logo_h) // 2
        logo_right = logo_left + logo_h * 4
        if frame != "mat":  # same top strip as the Cradle mark: stop short of it
            logo_right = min(logo_right, cradle_mark_box[0] - inset)
        logo_box = (logo_left, logo_top, max(logo_left + 1, logo_right), logo_top + logo_h)
        caption_h = round(40 * unit)
        caption_left = photo_box[0] + inset if frame != "mat" else geometry.left
        caption_bottom = tag_box[1] - inset // 2 if frame != "mat" else tag_box[3]
        caption_right = tag_box[0] - inset if frame == "mat" else tag_box[2]
        caption_box = (caption_left, caption_bottom - caption_h, caption_right, caption_bottom)

    return OverlayLayout(
        canvas_size=(canvas_w, canvas_h),
        photo_box=photo_box,
        frame=geometry,
        unit=unit,
        tag_box=tag_box,
        tag_font_px=tag_font_px,
        cradle_mark_box=cradle_mark_box,
        logo_box=logo_box,
        caption_box=caption_box,
    )


def _tag_plate_padding(font_px: int) -> tuple[int, int]:
    return max(4, round(font_px * 0.5)), max(3, round(font_px * 0.3))


@lru_cache(maxsize=32)
def _fit_tag(max_width: int, unit: float) -> tuple[int, int, int]:
    """Font size and plate size for the tag: 17 px per 1080, smaller only to fit the width."""
    font_px = max(MIN_TAG_FONT_PX, round(17 * unit))
    while True:
        font = load_font(TAG_FONT_KEY, font_px)
        left, top, right, bottom = font.getbbox(TAG_TEXT)
        pad_x, pad_y = _tag_plate_padding(font_px)
        plate_w = (right - left) + 2 * pad_x
        plate_h = round(font_px * 1.25) + 2 * pad_y
        if plate_w <= max_width or font_px <= MIN_TAG_FONT_PX:
            return font_px, plate_w, plate_h
        font_px -= 1


# --------------------------------------------------------------------------------------------
# Compose
# --------------------------------------------------------------------------------------------


def _to_rgb_image(image: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):
        if image.mode == "RGB":
            return image
        if "A" in image.getbands():
            # Portrait renders are opaque; a stray alpha is flattened on white, not black.
            base = Image.new("RGB", image.size, (255, 255, 255))
            base.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
            return base
        return image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
            array = array * 255.0
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return Image.fromarray(array).convert("RGB")
    if array.ndim == 3 and array.shape[2] == 4:
        return _to_rgb_image(Image.fromarray(array))
    if array.ndim == 3 and array.shape[2] == 3:
        return Image.fromarray(array)
    raise ValueError(f"Expected an HxW, HxWx3 or HxWx4 image, got shape {array.shape}")


def _resize_photo(photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    if photo.size == size:
        return photo
    # The web size shrinks a render mildly (1024 → ~870 px): OpenCV's bilinear filter does it in
    # 3 ms where its area filter takes 14 (a non-integer ratio is its slow path) and Pillow's
    # Lanczos 30, a mean 0.15 levels from the area filter's result; a stronger shrink (under
    # three quarters) takes the alias-free area filter. Compose is most of the overlay's budget
    # (issue D: 5 candidates in 300 ms).
    shrinking = size[0] < photo.width
    if shrinking:
        mild = size[0] >= 0.75 * photo.width and size[1] >= 0.75 * photo.height
        interpolation = cv2.INTER_LINEAR if mild else cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_CUBIC
    return Image.fromarray(cv2.resize(np.asarray(photo), size, interpolation=interpolation))


def _blend_rect(
    canvas: Image.Image, box: Box, rgba: tuple[int, int, int, int], radius: int
) -> None:
    """Draw a translucent rounded plate, compositing only the plate's region (cheap at 1080)."""
    region = canvas.crop(box).convert("RGBA")
    plate = Image.new("RGBA", region.size, (0, 0, 0, 0))
    ImageDraw.Draw(plate).rounded_rectangle(
        (0, 0, region.width - 1, region.height - 1), radius=radius, fill=rgba
    )
    canvas.paste(Image.alpha_composite(region, plate).convert("RGB"), box[:2])


@lru_cache(maxsize=8)
def _prepared_logo(logo_png: bytes, max_w: int, max_h: int) -> Image.Image:
    with Image.open(io.BytesIO(logo_png)) as im:
        logo = im.convert("RGBA")
    logo.thumbnail((max_w, max_h), Image.Resampling.LANCZOS)
    return logo


def _fit_text(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> str:
    if font.getlength(text) <= max_width:
        return text
    while text and font.getlength(text + "…") > max_width:
        text = text[:-1]
    return (text.rstrip() + "…") if text else ""


def _draw_frame(canvas: Image.Image, layout: OverlayLayout, spec: BrandSpec) -> None:
    draw = ImageDraw.Draw(canvas)
    primary, accent = hex_to_rgb(spec.primary_hex), hex_to_rgb(spec.accent_hex)
    px0, py0, px1, py1 = layout.photo_box
    if spec.frame == "thin":
        canvas.paste(primary, (0, 0, canvas.width, canvas.height))
    elif spec.frame == "polaroid":
        canvas.paste((250, 248, 243), (0, 0, canvas.width, canvas.height))
    elif spec.frame == "mat":
        canvas.paste(accent, (0, 0, canvas.width, canvas.height))
        keyline = max(2, round(3 * layout.unit))
        draw.rectangle(
            (px0 - keyline, py0 - keyline, px1 + keyline - 1, py1 + keyline - 1), fill=primary
        )


def _frame_background(spec: BrandSpec) -> tuple[int, int, int]:
    if spec.frame == "polaroid":
        return (250, 248, 243)
    if spec.frame == "mat":
        return hex_to_rgb(spec.accent_hex)
    return hex_to_rgb(spec.primary_hex)


def _draw_logo(canvas: Image.Image, layout: OverlayLayout, spec: BrandSpec) -> None:
    if not spec.logo_png:
        return
    left, top, right, bottom = layout.logo_box
    logo = _prepared_logo(spec.logo_png, right - left, bottom - top)
    y = top + (bottom - top - logo.height) // 2
    canvas.paste(logo, (left, y), logo)


def _draw_caption(canvas: Image.Image, layout: OverlayLayout, spec: BrandSpec) -> None:
    caption = spec.caption.strip()
    if not caption:
        return
    left, top, right, bottom = layout.caption_box
    if spec.logo_png and spec.frame == "polaroid":
        logo_left, logo_top, logo_right, logo_bottom = layout.logo_box
        logo = _prepared_logo(spec.logo_png, logo_right - logo_left, logo_bottom - logo_top)
        left = min(logo_left + logo.width + round(24 * layout.unit), right - 1)
    height = bottom - top
    primary = hex_to_rgb(spec.primary_hex)
    if spec.frame in ("polaroid", "mat"):
        font_px = max(10, round(min(height * 0.7, 30 * layout.unit)))
        # Shrink a long caption down to 60 % before resorting to an ellipsis.
        smallest = max(10, round(font_px * 0.6))
        font = load_font(spec.font, font_px)
        while font_px > smallest and font.getlength(caption) > right - left:
            font_px -= 1
            font = load_font(spec.font, font_px)
        text = _fit_text(caption, font, right - left)
        ink = _ink_on(_frame_background(spec), primary)
        ImageDraw.Draw(canvas).text(
            (left, top + height // 2), text, font=font, fill=ink, anchor="lm"
        )
        return
    # Over the photo: the caption sits on a plate of the studio's primary colour.
    font = load_font(spec.font, max(10, round(height * 0.55)))
    pad = round(height * 0.3)
    text = _fit_text(caption, font, right - left - 2 * pad)
    if not text:
        return
    plate_right = left + round(font.getlength(text)) + 2 * pad
    _blend_rect(canvas, (left, top, plate_right, bottom), (*primary, 225), radius=pad)
    ImageDraw.Draw(canvas).text(
        (left + pad, top + height // 2), text, font=font, fill=_readable_ink(primary), anchor="lm"
    )


def _cradle_mark_font_px(plate_height: int) -> int:
    return max(8, round(plate_height / 2))


def _draw_cradle_mark(canvas: Image.Image, layout: OverlayLayout) -> None:
    left, top, right, bottom = layout.cradle_mark_box
    height = bottom - top
    _blend_rect(canvas, layout.cradle_mark_box, CRADLE_MARK_PLATE_RGBA, radius=height // 2)
    draw = ImageDraw.Draw(canvas)
    dot = round(height * 0.36)
    cx, cy = left + height // 2, top + height // 2
    draw.ellipse(
        (cx - dot // 2, cy - dot // 2, cx + dot // 2, cy + dot // 2), fill=CRADLE_MARK_DOT_RGB
    )
    font = load_font("sans-bold", _cradle_mark_font_px(height))
    draw.text(
        (left + round(height * 1.15), cy),
        CRADLE_MARK_TEXT,
        font=font,
        fill=CRADLE_MARK_TEXT_RGB,
        anchor="lm",
    )


def draw_tag(canvas: Image.Image, layout: OverlayLayout) -> None:
    """Paint TAG_TEXT on its plate. Called last by compose so nothing can cover it."""
    left, top, right, bottom = layout.tag_box
    _blend_rect(canvas, layout.tag_box, TAG_PLATE_RGBA, radius=max(2, (bottom - top) // 4))
    font = load_font(TAG_FONT_KEY, layout.tag_font_px)
    ImageDraw.Draw(canvas).text(
        ((left + right) // 2, (top + bottom) // 2),
        TAG_TEXT,
        font=font,
        fill=TAG_TEXT_RGB,
        anchor="mm",
    )


def compose(image: np.ndarray | Image.Image, spec: BrandSpec, *, size: str = "web") -> Image.Image:
    """The delivered portrait: frame, logo, colours, caption, Cradle mark when cobranded, tag.

    web: 1080 px on the long side. print: the input's (upscaled) long side is kept.
    """
    photo = _to_rgb_image(image)
    layout = overlay_layout(photo.size, spec.frame, size=size)
    canvas = Image.new("RGB", layout.canvas_size, (255, 255, 255))
    _draw_frame(canvas, layout, spec)
    px0, py0, px1, py1 = layout.photo_box
    canvas.paste(_resize_photo(photo, (px1 - px0, py1 - py0)), (px0, py0))
    _draw_logo(canvas, layout, spec)
    _draw_caption(canvas, layout, spec)
    if spec.cobranded:
        _draw_cradle_mark(canvas, layout)
    draw_tag(canvas, layout)
    return canvas
