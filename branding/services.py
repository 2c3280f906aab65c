"""The studio's brand kit, and turning a rendered candidate into a deliverable file in it.

Plan rules live here, not in templates: Pilot and Growth are cobranded (studio logo plus a
small Cradle mark), Studio is white-label and may bring its own domain. The tag is added by
``overlay``/``provenance`` whatever the brand says; nothing here can switch it off.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from billing.selectors import studio_is_white_label
from branding.fonts import BUNDLED_FONTS
from branding.marks import portrait_mark_issue
from branding.models import BrandKit, ReferencePortrait
from branding.overlay import (
    MAX_LOGO_BYTES,
    BrandingError,
    BrandSpec,
    compose,
    hex_to_rgb,
    overlay_layout,
    validate_brand_colours,
    validate_logo,
)
from branding.provenance import C2paSigner, ensure_dev_signing_material, tag_image
from branding.references import MAX_REFERENCE_BYTES, reference_photo_read
from branding.selectors import brand_kit_get, reference_portrait_arrays
from branding.watermark import MIN_SIDE as WATERMARK_MIN_SIDE
from branding.watermark import embed as watermark_embed
from studio_portal.audit.services import audit_log_write
from studio_portal.permissions import require_owner
from studio_portal.tenants.models import DomainClaim, Studio
from studio_portal.tenants.selectors import current_studio
from studio_portal.tenants.services import (
    custom_domain_claim,
    custom_domain_release,
    custom_domain_unavailable_reason,
    custom_domain_verify,
)


@lru_cache(maxsize=1)
def c2pa_signer() -> C2paSigner:
    """Production material from settings; otherwise a development CA made once on this machine."""
    if settings.C2PA_CERT_CHAIN_FILE and settings.C2PA_PRIVATE_KEY_FILE:
        return C2paSigner.from_files(settings.C2PA_CERT_CHAIN_FILE, settings.C2PA_PRIVATE_KEY_FILE)
    return ensure_dev_signing_material(Path(settings.C2PA_DEV_DIR))


def brand_spec_for_current_studio(
    kit: BrandKit | None = None, *, studio: Studio | None = None
) -> BrandSpec:
    """The overlay's input for the studio whose schema we are in; the plan decides cobranding."""
    studio = studio or current_studio()
    kit = kit or brand_kit_get()
    logo_png = None
    if kit.logo:
        with kit.logo.open("rb") as handle:
            logo_png = handle.read()
    return BrandSpec(
        studio_name=studio.name,
        primary_hex=kit.primary_hex,
        accent_hex=kit.accent_hex,
        font=kit.font,
        frame=kit.frame,
        caption=kit.caption,
        logo_png=logo_png,
        cobranded=not studio_is_white_label(studio),
    )


# What a print file says it is: print shops size a picture by it (readers assume 72 without).
PRINT_DPI = 300


# --------------------------------------------------------------------------------------------
# The brand a gallery was sent with
# --------------------------------------------------------------------------------------------

# What a snapshot holds: enough to draw the parent's page, card and print files as they were.
SNAPSHOT_KEYS = (
    "studio_name",
    "contact_email",
    "contact_phone",
    "primary_hex",
    "accent_hex",
    "font",
    "frame",
    "caption",
    "cobranded",
    "logo",  # a storage name of the logo as it was ("" for none)
)


def brand_snapshot_take(*, store: bool = True) -> dict[str, object]:
    """The current studio's name, contacts and brand, frozen for a gallery being sent: later
    brand changes reach it only when the owner republishes it. The logo is copied once per
    distinct image (named by its digest) and never deleted with the brand kit's, so an old
    gallery keeps the logo it was sent with. ``store=False`` only says what it would be (to
    compare with a gallery's)."""
    studio = current_studio()
    spec = brand_spec_for_current_studio()
    logo = ""
    if spec.logo_png:
        digest = hashlib.sha256(spec.logo_png).hexdigest()
        logo = f"{studio.schema_name}/brand/sent/logo-{digest[:24]}.png"
        if store and not default_storage.exists(logo):
            logo = default_storage.save(logo, ContentFile(spec.logo_png))
    return {
        "studio_name": spec.studio_name,
        "contact_email": studio.contact_email,
        "contact_phone": studio.contact_phone,
        "primary_hex": spec.primary_hex,
        "accent_hex": spec.accent_hex,
        "font": spec.font,
        "frame": spec.frame,
        "caption": spec.caption,
        "cobranded": spec.cobranded,
        "logo": logo,
    }


def brand_snapshot_logo(snapshot: dict[str, object]) -> bytes | None:
    """The snapshot's logo PNG, or None (none, or its file is gone)."""
    name = str(snapshot.get("logo") or "")
    if not name:
        return None
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        return None


def brand_spec_from_snapshot(snapshot: dict[str, object] | None) -> BrandSpec:
    """The overlay's input as a gallery was sent; the current brand for a gallery made before
    snapshots were kept (an empty one)."""
    if not snapshot:
        return brand_spec_for_current_studio()
    return BrandSpec(
        studio_name=str(snapshot["studio_name"]),
        primary_hex=str(snapshot["primary_hex"]),
        accent_hex=str(snapshot["accent_hex"]),
        font=str(snapshot["font"]),
        frame=str(snapshot["frame"]),
        caption=str(snapshot["caption"]),
        logo_png=brand_snapshot_logo(snapshot),
        cobranded=bool(snapshot["cobranded"]),
    )


def portrait_finish(
    image: np.ndarray, *, size: str = "web", spec: BrandSpec | None = None
) -> bytes:
    """The delivered JPEG: brand overlay, visible tag, invisible watermark, EXIF/XMP tag and a
    signed C2PA manifest bound to the watermark (``raster_deliver``)."""
    studio = current_studio()
    spec = spec or brand_spec_for_current_studio(studio=studio)
    framed = compose(image, spec, size=size)
    tag_box = overlay_layout((image.shape[1], image.shape[0]), spec.frame, size=size).tag_box
    return raster_deliver(
        framed,
        kind=size,
        artist=spec.studio_name,
        dpi=PRINT_DPI if size == "print" else None,
        keep_clear=(_grown(tag_box, 2),),
        studio=studio,
    )


def raster_deliver(
    image: Image.Image,
    *,
    kind: str,
    artist: str,
    fmt: str = "JPEG",
    dpi: int | None = None,
    source: str = "",
    keep_clear: Sequence[tuple[int, int, int, int]] = (),
    studio: Studio | None = None,
) -> bytes:
    """Every picture that leaves Cradle is encoded here, after its pixels are final.

    A fresh mark id is recorded for the current studio (``verification.PortraitMark``: studio,
    kind, time — nothing about the parent), hidden in the pixels by ``branding.watermark``
    (≥ 40 dB PSNR, survives recompression, resizing, cropping, screenshots), and named by the
    C2PA manifest's soft binding; EXIF, XMP and PNG text carry the tag as before. ``kind`` is a
    ``PortraitMark.Kind``; ``source`` (e.g. ``candidate:42``) keeps one mark for a file made again
    from the same source; ``keep_clear`` boxes (the visible tag) are left untouched. A picture
    too small to carry a mark (under 64 px a side: never a real portrait) is tagged only.
    ``studio`` is the current studio when the caller has it already.
    """
    if min(image.size) < WATERMARK_MIN_SIDE:
        return tag_image(image, fmt=fmt, signer=c2pa_signer(), artist=artist, dpi=dpi)
    mark = portrait_mark_issue(studio=studio or current_studio(), kind=kind, source=source)
    pixels = np.asarray(image.convert("RGB"))
    marked = Image.fromarray(watermark_embed(pixels, mark.mark_id, keep_clear=keep_clear))
    return tag_image(
        marked, fmt=fmt, signer=c2pa_signer(), artist=artist, dpi=dpi, mark_id=mark.mark_id
    )


def full_render_deliver(stored: bytes, *, source: str) -> bytes:
    """The render as painted (``Candidate.image``: no frame, no visible tag) as it leaves Cradle,
    downloaded or in the owner's export: with a watermark of its own (one per ``source``, however
    often it is fetched) and the tag in its metadata, in the format it is stored in. The stored
    file stays unmarked: it is the print file's source, and the print gets its own mark."""
    with Image.open(io.BytesIO(stored)) as image:
        fmt = "PNG" if image.format == "PNG" else "JPEG"
        render = image.convert("RGB")
    return raster_deliver(render, kind="full", artist=current_studio().name, fmt=fmt, source=source)


def _grown(box: tuple[int, int, int, int], pixels: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    return (left - pixels, top - pixels, right + pixels, bottom + pixels)


# --------------------------------------------------------------------------------------------
# Validating brand-kit changes
# --------------------------------------------------------------------------------------------

EDITABLE_FIELDS = (
    "logo",
    "primary_hex",
    "accent_hex",
    "font",
    "frame",
    "caption",
    "style_tokens",
    "custom_domain",
)
# A CharField's max_length: always set (the stubs allow None for any field).
MAX_CAPTION_CHARS: int = BrandKit._meta.get_field("caption").max_length  # type: ignore[assignment]
MAX_STYLE_TOKENS = 8
MAX_STYLE_TOKEN_CHARS = 32
# Words only: the tokens end up in the render prompt, so punctuation that could start a new
# clause ("(", ":", weights like "::2") or a negative prompt has no business there.
_STYLE_TOKEN = re.compile(r"^[a-z0-9][a-z0-9 '\-]*$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^\d+(\.\d+){3}$")


@dataclass(frozen=True)
class BrandKitChanges:
    """Validated, normalised values for the fields a caller asked to change.

    ``logo_png`` is the sanitised PNG (never the upload's own bytes); ``remove_logo`` is set
    when the caller passed ``logo=None``.
    """

    fields: dict[str, Any]
    logo_png: bytes | None = None
    remove_logo: bool = False


def _normalise_hex(value: object) -> str:
    try:
        r, g, b = hex_to_rgb(str(value or "").strip())
    except BrandingError:
        raise ValidationError(
            f"Colours look like #1a2b3c (a hash and six hex digits); got {value!r}."
        ) from None
    return f"#{r:02x}{g:02x}{b:02x}"


def _normalise_style_tokens(value: object) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise ValidationError("Brand style words are a list of short words or phrases.")
    tokens: list[str] = []
    for raw in value:
        token = " ".join(str(raw).split()).lower()
        if not token:
            continue
        if len(token) > MAX_STYLE_TOKEN_CHARS or not _STYLE_TOKEN.match(token):
            raise ValidationError(
                f"“{raw}” can't be a brand style word: use letters, digits, spaces or dashes, "
                f"at most {MAX_STYLE_TOKEN_CHARS} characters."
            )
        if token not in tokens:
            tokens.append(token)
    if len(tokens) > MAX_STYLE_TOKENS:
        raise ValidationError(
            f"Pick at most {MAX_STYLE_TOKENS} brand style words; you gave {len(tokens)}."
        )
    return tokens


def normalise_hostname(value: object) -> str:
    """A bare lower-case hostname, or ValidationError saying what is wrong with it."""
    text = str(value or "").strip().lower()
    # Owners paste URLs; take the host from one rather than refuse it.
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text).split("/", 1)[0].rstrip(".")
    if not text:
        return ""
    try:
        host = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(f"“{value}” is not a valid domain name.") from None
    labels = host.split(".")
    if (
        len(host) > 253
        or len(labels) < 2
        or not all(_HOST_LABEL.match(label) for label in labels)
        or not re.match(r"^(xn--[a-z0-9-]+|[a-z]{2,63})$", labels[-1])
        or _IPV4.match(host)
    ):
        raise ValidationError(
            f"“{value}” is not a domain name we can serve; use something like "
            "portraits.yourstudio.com (no spaces, ports or paths)."
        )
    base = settings.CRADLE_BASE_DOMAIN.lower()
    if host == base or host.endswith(f".{base}"):
        raise ValidationError(
            f"{host} is a Cradle address; a custom domain is one your studio owns."
        )
    return host


def brand_kit_changes_validate(
    *, kit: BrandKit, studio: Studio, changes: dict[str, Any]
) -> BrandKitChanges:
    """Check every requested change against the kit and the studio's plan; write nothing.

    Errors are collected per field so an owner sees all of them at once; a ValidationError
    keyed by field name is raised if there is any.
    """
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        # Callers are our own forms and API; an unknown key is a bug, but it must never be
        # silently dropped (e.g. an attempt to switch the tag off).
        raise ValidationError({"__all__": [f"These settings don't exist: {', '.join(unknown)}."]})

    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    logo_png: bytes | None = None
    remove_logo = False

    def check(name: str, normalise) -> None:
        if name not in changes:
            return
        try:
            fields[name] = normalise(changes[name])
        except ValidationError as error:
            errors.setdefault(name, []).extend(error.messages)

    check("primary_hex", _normalise_hex)
    check("accent_hex", _normalise_hex)
    if ("primary_hex" in fields or "accent_hex" in fields) and not (
        "primary_hex" in errors or "accent_hex" in errors
    ):
        primary = fields.get("primary_hex", kit.primary_hex)
        accent = fields.get("accent_hex", kit.accent_hex)
        try:
            validate_brand_colours(primary, accent)
        except BrandingError as error:
            errors.setdefault("accent_hex" if "accent_hex" in fields else "primary_hex", []).append(
                error.message
            )

    def font(value: object) -> str:
        if value not in BUNDLED_FONTS:
            names = ", ".join(f.display_name for f in BUNDLED_FONTS.values())
            raise ValidationError(f"Pick one of the bundled fonts: {names}.")
        return str(value)

    def frame(value: object) -> str:
        if value not in BrandKit.Frame.values:
            labels = ", ".join(str(label) for label in BrandKit.Frame.labels)
            raise ValidationError(f"Pick a frame style: {labels}.")
        return str(value)

    def caption(value: object) -> str:
        text = " ".join(str(value or "").split())
        if len(text) > MAX_CAPTION_CHARS:
            raise ValidationError(
                f"Keep the caption to {MAX_CAPTION_CHARS} characters; it has {len(text)}."
            )
        return text

    check("font", font)
    check("frame", frame)
    check("caption", caption)
    check("style_tokens", _normalise_style_tokens)
    check("custom_domain", normalise_hostname)

    if "custom_domain" in fields:
        host = fields["custom_domain"]
        if host == kit.custom_domain:
            del fields["custom_domain"]  # unchanged: no plan question to ask
        elif host and not studio_is_white_label(studio):
            errors.setdefault("custom_domain", []).append(
                "Custom domains come with the Studio plan. Your studio is on the "
                f"{studio.get_plan_display()} plan; upgrade on the Billing page to use one."
            )
        elif host and (reason := custom_domain_unavailable_reason(host, studio=studio)):
            errors.setdefault("custom_domain", []).append(reason)

    if "logo" in changes:
        if changes["logo"] is None:
            remove_logo = True
        else:
            try:
                logo_png = validate_logo(bytes(changes["logo"]))
            except BrandingError as error:
                errors.setdefault("logo", []).append(error.message)

    if errors:
        raise ValidationError(errors)
    return BrandKitChanges(fields=fields, logo_png=logo_png, remove_logo=remove_logo)


def logo_upload_read(upload: UploadedFile) -> bytes:
    """The upload's bytes, refusing an oversized file before it is read into memory."""
    if upload.size is not None and upload.size > MAX_LOGO_BYTES:
        megabytes = upload.size / (1024 * 1024)
        raise ValidationError({"logo": [f"Your logo is {megabytes:.1f} MB; the limit is 5 MB."]})
    return upload.read(MAX_LOGO_BYTES + 1)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

OWNER_ONLY = "Only the studio owner can change the studio's branding."


@transaction.atomic
def brand_kit_update(*, kit: BrandKit, actor: Any, **changes: Any) -> BrandKit:
    """Apply the owner's changes to the brand kit, all or nothing.

    ``changes`` may hold any of EDITABLE_FIELDS. ``logo`` is the uploaded file's bytes (None
    removes it); ``custom_domain`` "" removes the studio's custom domain. Every value is
    validated before anything is written; on any error a ValidationError keyed by field is
    raised and neither the kit, its files nor the studio's domains change.
    """
    require_owner(actor, OWNER_ONLY)
    studio = current_studio()
    # Lock the row so two owners saving at once cannot interleave a domain swap.
    kit = BrandKit.objects.select_for_update().get(pk=kit.pk)
    valid = brand_kit_changes_validate(kit=kit, studio=studio, changes=changes)

    changed = sorted(valid.fields)
    if "custom_domain" in valid.fields:
        _custom_domain_replace(studio, old=kit.custom_domain, new=valid.fields["custom_domain"])
    for name, value in valid.fields.items():
        setattr(kit, name, value)

    old_logo_name = kit.logo.name if kit.logo else ""
    if valid.logo_png is not None:
        digest = hashlib.sha256(valid.logo_png).hexdigest()[:12]
        kit.logo.save(f"logo-{digest}.png", ContentFile(valid.logo_png), save=False)
        changed.append("logo")
    elif valid.remove_logo and old_logo_name:
        kit.logo = ""
        changed.append("logo")
    kit.save()

    if "logo" in changed and old_logo_name and old_logo_name != kit.logo.name:
        # Deleted only once the new row is committed: a rollback must keep the old file.
        storage, name = kit.logo.storage, old_logo_name
        transaction.on_commit(lambda: storage.delete(name))
    if changed:
        audit_log_write(
            action="brand_kit.updated", obj=kit, actor=actor, detail={"fields": changed}
        )
    return kit


def _custom_domain_replace(studio: Studio, *, old: str, new: str) -> None:
    """Let the old custom domain go and claim the new one, which serves nothing until the
    studio proves it holds it (``brand_kit_custom_domain_verify``). The studio's Cradle
    subdomain (primary) is never touched."""
    if old:
        custom_domain_release(studio=studio, domain=old)
    if new:
        custom_domain_claim(studio=studio, domain=new)


def brand_kit_custom_domain_verify(*, kit: BrandKit, actor: Any) -> DomainClaim:
    """Check the DNS proof for the kit's custom domain; when found, the domain serves the
    studio's galleries. ValidationError says what is missing."""
    require_owner(actor, OWNER_ONLY)
    if not kit.custom_domain:
        raise ValidationError("Save a custom domain first.")
    claim = custom_domain_verify(studio=current_studio(), domain=kit.custom_domain)
    audit_log_write(
        action="custom_domain.verified", obj=kit, actor=actor, detail={"domain": claim.domain}
    )
    return claim


# --------------------------------------------------------------------------------------------
# The editor's live preview
# --------------------------------------------------------------------------------------------

PREVIEW_FIELDS = ("primary_hex", "accent_hex", "font", "frame", "caption", "style_tokens")


def brand_preview_render(*, kit: BrandKit, **draft: Any) -> bytes:
    """A JPEG of a real sample portrait in the kit's brand with the owner's unsaved ``draft``.

    The portrait is Cradle's own pipeline on a generated phantom scan
    (``branding.sample_portrait``): on the accent colour as its backdrop and lit by the style
    words, as the studio's next portraits will be, in the house look of its reference photos.
    Same validation as ``brand_kit_update`` (ValidationError keyed by field); the plan decides
    the Cradle mark exactly as for a real portrait. Never delivered, so never C2PA-signed; the
    tag is in its pixels and metadata all the same.
    """
    # Lazy, heavy ML: the sample runs the whole pipeline (vision's models, the relight engine),
    # which a web process loads only when the brand editor's preview asks for it.
    from branding.sample_portrait import sample_portrait_render

    studio = current_studio()
    extra = sorted(set(draft) - set(PREVIEW_FIELDS))
    if extra:
        raise ValidationError({"__all__": [f"The preview can't show: {', '.join(extra)}."]})
    valid = brand_kit_changes_validate(kit=kit, studio=studio, changes=draft)
    overlay_fields = {k: v for k, v in valid.fields.items() if k != "style_tokens"}
    spec = replace(brand_spec_for_current_studio(kit), **overlay_fields)
    portrait = sample_portrait_render(
        style="classic",  # the style a new session starts with
        background_hex=spec.accent_hex,
        style_tokens=valid.fields.get("style_tokens", kit.style_tokens),
        references=reference_portrait_arrays(),
    )
    framed = compose(portrait, spec, size="web")
    return tag_image(framed, fmt="JPEG", signer=None, artist=spec.studio_name)


# --------------------------------------------------------------------------------------------
# Reference portraits (the studio's house look)
# --------------------------------------------------------------------------------------------

MAX_REFERENCE_PORTRAITS = 5


def reference_upload_read(upload: UploadedFile) -> bytes:
    """The upload's bytes, at most one past the limit (the check then says how big it was)."""
    if upload.size is not None and upload.size > MAX_REFERENCE_BYTES:
        megabytes = upload.size / (1024 * 1024)
        raise ValidationError({"image": [f"This photo is {megabytes:.1f} MB; the limit is 20 MB."]})
    return upload.read(MAX_REFERENCE_BYTES + 1)


@transaction.atomic
def reference_portrait_add(
    *, actor: Any, data: bytes, consent: bool, consent_note: str = ""
) -> ReferencePortrait:
    """Keep one of the studio's own photos as a style reference, with the parents' consent.

    The photo is stored re-encoded (no metadata, ≤ 1024 px); only its frame is ever read.
    Raises ValidationError keyed by ``consent``, ``consent_note`` or ``image``; on any error
    nothing is stored.
    """
    require_owner(actor, OWNER_ONLY)
    note = (consent_note or "").strip()
    errors: dict[str, list[str]] = {}
    if not consent:
        errors["consent"] = [
            "Tick the box to confirm the parents agreed in writing that this photo may be "
            "used as a style reference."
        ]
    if len(note) > 200:
        errors["consent_note"] = ["Keep the consent note under 200 characters."]
    # Lock the brand kit row: two owners adding at once cannot pass the limit together.
    BrandKit.objects.select_for_update().get(pk=brand_kit_get().pk)
    if ReferencePortrait.objects.count() >= MAX_REFERENCE_PORTRAITS:
        errors["image"] = [
            f"A studio keeps at most {MAX_REFERENCE_PORTRAITS} reference photos; "
            "delete one before adding another."
        ]
    else:
        try:
            photo = reference_photo_read(data)
        except BrandingError as error:
            errors["image"] = [str(error)]
    if errors:
        raise ValidationError(errors)
    reference = ReferencePortrait(
        width=photo.width,
        height=photo.height,
        consent_note=note,
        consented_at=timezone.now(),
        added_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    digest = hashlib.sha256(photo.jpeg).hexdigest()[:12]
    reference.image.save(f"reference-{digest}.jpg", ContentFile(photo.jpeg), save=False)
    storage, name = reference.image.storage, reference.image.name
    try:  # the file is written before the row: if the row cannot be, remove the file again
        reference.save()
    except Exception:
        storage.delete(name)
        raise
    audit_log_write(
        action="reference_portrait.added",
        obj=reference,
        actor=actor,
        detail={"consent_note": note, "size": [photo.width, photo.height]},
    )
    return reference


@transaction.atomic
def reference_portrait_delete(*, actor: Any, reference: ReferencePortrait) -> None:
    """Forget a reference photo: the row now, the file once that is committed; audited."""
    require_owner(actor, OWNER_ONLY)
    audit_log_write(action="reference_portrait.deleted", obj=reference, actor=actor)
    storage, name = reference.image.storage, reference.image.name
    reference.delete()
    transaction.on_commit(lambda: storage.delete(name))
