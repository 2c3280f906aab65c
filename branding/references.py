"""Checking a studio's reference photo before it is stored: a readable still image of a sane
size, re-encoded so nothing of the original file (EXIF with GPS and camera serials, ICC, text)
is kept. Pure Pillow; the services decide who may add one and how many."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from branding.overlay import BrandingError, image_decoding

MAX_REFERENCE_BYTES = 20 * 1024 * 1024
MAX_REFERENCE_SOURCE_PIXELS = 50_000_000
MIN_REFERENCE_SIDE = 256
REFERENCE_LONG_SIDE = 1024  # stored size: the house look reads only the photo's frame
_FORMATS = {"JPEG", "PNG", "WEBP"}
_HELP = "Please upload a photo as JPG, PNG or WEBP"


@dataclass(frozen=True)
class ReferencePhoto:
    jpeg: bytes
    width: int
    height: int


def reference_photo_read(data: bytes) -> ReferencePhoto:
    """A metadata-free JPEG of the photo (≤ 1024 px on its long side), or BrandingError."""
    if not data:
        raise BrandingError(f"The file is empty. {_HELP}.")
    if len(data) > MAX_REFERENCE_BYTES:
        megabytes = len(data) / (1024 * 1024)
        raise BrandingError(f"This photo is {megabytes:.1f} MB; the limit is 20 MB.")
    with image_decoding(
        too_many_pixels="This photo has too many pixels to process safely; please upload a "
        "smaller one.",
        unreadable=f"This file is not a photo we can read, or it is damaged. {_HELP}.",
    ):
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in _FORMATS:
                raise BrandingError(f"This file is not a photo we can use. {_HELP}.")
            if getattr(im, "n_frames", 1) > 1:
                raise BrandingError(f"Animated images can't be used. {_HELP}.")
            width, height = im.size
            if width * height > MAX_REFERENCE_SOURCE_PIXELS:
                raise BrandingError(
                    f"This photo is {width}×{height} pixels; please upload a smaller one."
                )
            if min(width, height) < MIN_REFERENCE_SIDE:
                raise BrandingError(
                    f"This photo is only {width}×{height} pixels; a reference needs at "
                    f"least {MIN_REFERENCE_SIDE} pixels on each side."
                )
            im.draft("RGB", (REFERENCE_LONG_SIDE, REFERENCE_LONG_SIDE))
            im.load()
            photo = ImageOps.exif_transpose(im).convert("RGB")

    photo.thumbnail((REFERENCE_LONG_SIDE, REFERENCE_LONG_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=90)  # pixels only: no EXIF, ICC or comments
    return ReferencePhoto(out.getvalue(), photo.width, photo.height)
