"""Reads for the public check: what a file says about where it came from.

``image_origin_find`` looks in two places, in this order: the file's C2PA manifest (signed by
Cradle, its soft binding naming the watermark's mark id) and, when the metadata is gone — a
messaging app, a screenshot —, the invisible watermark in its pixels. Either way the mark id is
looked up in ``PortraitMark``: only an id Cradle issued counts, and all it yields is the
studio's name, the day and the kind of file. Nothing about a parent is stored there to give.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from branding.overlay import BrandingError, image_decoding
from branding.provenance import ProvenanceError, ProvenanceReport, read_provenance
from branding.watermark import detect
from verification.models import PortraitMark

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PIXELS = 50_000_000
# The watermark is read at a 768 px short side; a big JPEG is decoded at a fraction of its size
# (libjpeg scales by 1/2, 1/4 or 1/8 while decoding), never below this short side.
_DECODE_SHORT_SIDE = 1024


class VerifyRefused(ValueError):
    """The upload is not something the check can read; ``message`` says what to send instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageOrigin:
    """The check's answer. ``found_by`` is "manifest", "watermark" or "" (nothing of Cradle's)."""

    cradle: bool
    found_by: str
    studio_name: str | None = None
    made_on: dt.date | None = None
    kind: str | None = None
    kind_label: str | None = None
    mark_id: int | None = None
    # A C2PA manifest was there but is not Cradle's, or no longer matches the pixels.
    foreign_manifest: bool = False

    @property
    def mark_hex(self) -> str | None:
        return f"{self.mark_id:010x}" if self.mark_id is not None else None

    @property
    def is_portrait(self) -> bool:
        """A portrait (or its share card): the brand-only share card shows no portrait at all."""
        return self.cradle and self.kind != PortraitMark.Kind.BRAND_CARD

    @property
    def headline(self) -> str:
        if not self.cradle:
            return "No Cradle mark found"
        if not self.is_portrait:
            return "Yes — a Cradle share card"
        return "Yes — a Cradle artistic interpretation"

    @property
    def lead(self) -> str:
        """The sentence after the headline on the page (the facts follow it in a list)."""
        if not self.cradle:
            return self.summary
        if not self.is_portrait:
            return "The studio's brand and the tag, no portrait: a gallery's link preview."
        return "Made from a 3D scan; it is not a medical prediction."

    @property
    def summary(self) -> str:
        if not self.cradle:
            return (
                "We found no Cradle mark in this image: neither Cradle's signed manifest nor "
                "its invisible watermark. It was not made by Cradle, or it was changed too much "
                "to tell (a heavy crop, a rotation, a filter)."
            )
        who = self.studio_name or "a studio that has since left Cradle"
        when = f" on {self.made_on:%-d %B %Y}" if self.made_on else ""
        how = (
            "its signed C2PA manifest"
            if self.found_by == "manifest"
            else "the invisible watermark in its pixels (the file's metadata is gone)"
        )
        if not self.is_portrait:
            return (
                f"This is the share card of a Cradle gallery, made by {who}{when}: the studio's "
                f"brand and the tag, no portrait. We found it by {how}."
            )
        return (
            f"This is a Cradle artistic interpretation, made by {who}{when}. We found it by "
            f"{how}. It is not a medical prediction."
        )


def portrait_mark_get(mark_id: int) -> PortraitMark | None:
    return PortraitMark.objects.select_related("studio").filter(mark_id=mark_id).first()


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _pixels(data: bytes) -> np.ndarray:
    with image_decoding(
        too_many_pixels="This image has too many pixels to check; send a smaller copy.",
        unreadable="This file is damaged or not an image we can read.",
    ):
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise BrandingError("This image has too many pixels to check; send a smaller copy.")
            short = min(image.width, image.height)
            if image.format == "JPEG" and short > 2 * _DECODE_SHORT_SIDE:
                scale = _DECODE_SHORT_SIDE / short
                image.draft("RGB", (round(image.width * scale), round(image.height * scale)))
            return np.asarray(image.convert("RGB"))


def _origin_from_mark(mark: PortraitMark, found_by: str) -> ImageOrigin:
    return ImageOrigin(
        cradle=True,
        found_by=found_by,
        studio_name=mark.studio.name if mark.studio else None,
        made_on=mark.issued_at.date(),
        kind=mark.kind,
        kind_label=mark.get_kind_display(),
        mark_id=mark.mark_id,
    )


def _cradle_signed(report: ProvenanceReport, signer_identity: tuple[str, str] | None) -> bool:
    """The manifest is intact and signed with Cradle's own certificate."""
    return (
        report.c2pa_present
        and report.c2pa_validation_state not in (None, "Invalid")
        and signer_identity is not None
        and (report.c2pa_signer_issuer, report.c2pa_signer_serial) == signer_identity
    )


def image_origin_find(data: bytes, *, signer_identity: tuple[str, str] | None) -> ImageOrigin:
    """Whether ``data`` (an uploaded file's bytes, never stored) is a Cradle portrait, and whose.

    ``signer_identity`` is Cradle's signing certificate as (issuer, serial): a manifest signed
    by anyone else is not taken at its word, whatever it names. Raises VerifyRefused for a file
    that is not a JPEG, PNG or WEBP image or cannot be decoded.
    """
    if _sniff(data) not in ACCEPTED_FORMATS:
        raise VerifyRefused("Send a JPEG, PNG or WEBP image (the file a portrait was shared as).")
    try:
        report = read_provenance(data)
    except ProvenanceError as error:
        raise VerifyRefused("This file is damaged or not an image we can read.") from error
    signed = _cradle_signed(report, signer_identity)
    if signed and report.c2pa_mark_id is not None:
        mark = portrait_mark_get(report.c2pa_mark_id)
        if mark is not None:
            return _origin_from_mark(mark, "manifest")
    try:
        pixels = _pixels(data)
    except BrandingError as error:
        raise VerifyRefused(error.message) from error
    detection = detect(pixels)
    if detection.found:
        mark = portrait_mark_get(detection.mark_id)  # type: ignore[arg-type]
        if mark is not None:
            return _origin_from_mark(mark, "watermark")
    if signed:
        # Signed by Cradle before files carried a watermark: Cradle's, but no record to name.
        return ImageOrigin(cradle=True, found_by="manifest")
    return ImageOrigin(cradle=False, found_by="", foreign_manifest=report.c2pa_present)
