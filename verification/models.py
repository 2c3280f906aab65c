"""Cradle's record of every watermark it put in a delivered file (public schema).

The public check page (``/verify/``) reads a mark id from a file's pixels or its C2PA manifest and
looks it up here: which studio made the file, and when. Nothing here is about a parent — no name,
no session, no gallery — so a stranger holding a portrait learns only what the portrait already
says in its corner: a studio made it with Cradle.
"""

from __future__ import annotations

from django.db import models

from studio_portal.tenants.models import Studio


class PortraitMark(models.Model):
    """One delivered raster's invisible watermark id (``branding.watermark``)."""

    class Kind(models.TextChoices):
        WEB = "web", "Web-size portrait"
        PRINT = "print", "Print-size portrait"
        FULL = "full", "Full-size render"
        SHARE_CARD = "share-card", "Share card with a portrait"
        # A PIN gallery's link preview: the studio's brand and the tag, no portrait on it.
        BRAND_CARD = "brand-card", "Share card (the studio's brand, no portrait)"

    # 40 random bits (branding.watermark.MARK_ID_BITS): the id the pixels carry.
    mark_id = models.BigIntegerField(primary_key=True)
    # A studio that leaves Cradle takes its name with it; the mark still says "Cradle made it".
    studio = models.ForeignKey(
        Studio, null=True, on_delete=models.SET_NULL, related_name="portrait_marks"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # What the file was made from, in the studio's own terms (e.g. "candidate:42"), so a file
    # made again from the same source keeps its mark; "" when every file gets its own.
    source = models.CharField(max_length=64, blank=True, default="")
    issued_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "kind", "source"],
                condition=~models.Q(source=""),
                name="one_mark_per_studio_kind_and_source",
            )
        ]

    def __str__(self) -> str:
        return f"mark {self.mark_id:010x} ({self.kind})"
