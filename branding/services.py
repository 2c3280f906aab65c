"""Turning a rendered candidate into a deliverable file in the studio's brand.

Plan rules live here, not in templates: Pilot and Growth are cobranded (studio logo plus a
small Cradle mark), Studio is white-label. The tag is added by ``overlay``/``provenance``
whatever the brand says; nothing here can switch it off.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings


from billing.selectors import studio_is_white_label
from branding.models import BrandKit
from branding.overlay import BrandSpec, compose
from branding.provenance import C2paSigner, ensure_dev_signing_material, tag_image
from branding.selectors import brand_kit_get
from studio_portal.tenants.selectors import current_studio


@lru_cache(maxsize=1)
def c2pa_signer() -> C2paSigner:
    """Production material from settings; otherwise a development CA made once on this machine."""
    if settings.C2PA_CERT_CHAIN_FILE and settings.C2PA_PRIVATE_KEY_FILE:
        return C2paSigner.from_files(settings.C2PA_CERT_CHAIN_FILE, settings.C2PA_PRIVATE_KEY_FILE)
    return ensure_dev_signing_material(Path(settings.C2PA_DEV_DIR))


def brand_spec_for_current_studio(kit: BrandKit | None = None) -> BrandSpec:
    studio = current_studio()
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


def portrait_finish(image: np.ndarray, *, size: str = "web", spec: BrandSpec | None = None) -> bytes:
    """The delivered JPEG: brand overlay, visible tag, EXIF/XMP tag and a signed C2PA manifest."""
    framed = compose(image, spec or brand_spec_for_current_studio(), size=size)
    return tag_image(framed, fmt="JPEG", signer=c2pa_signer())
