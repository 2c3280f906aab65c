from django.conf import settings
from django.db import connection, models


def _logo_path(kit: "BrandKit", filename: str) -> str:
    return f"{connection.schema_name}/brand/{filename}"


class BrandKit(models.Model):
    """The studio's look: one row per studio schema (see ``selectors.brand_kit_get``)."""

    class Frame(models.TextChoices):
        NONE = "none", "No frame"
        THIN = "thin", "Thin border"
        POLAROID = "polaroid", "Polaroid"
        MAT = "mat", "Gallery mat"

    logo = models.FileField(upload_to=_logo_path, blank=True, max_length=255)
    primary_hex = models.CharField(max_length=7, default="#6b4f4f")
    accent_hex = models.CharField(max_length=7, default="#f3ece4")
    font = models.CharField(max_length=16, default="serif")
    frame = models.CharField(max_length=16, choices=Frame.choices, default=Frame.THIN)
    caption = models.CharField(max_length=120, blank=True)
    style_tokens = models.JSONField(default=list, blank=True)
    custom_domain = models.CharField(max_length=253, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Brand kit ({self.frame} frame, {self.primary_hex}/{self.accent_hex})"


def _reference_path(reference: "ReferencePortrait", filename: str) -> str:
    return f"{connection.schema_name}/brand/references/{filename}"


class ReferencePortrait(models.Model):
    """One of the studio's own newborn photographs, which its parents agreed in writing may be
    used as a style reference. Only its frame (backdrop colour and contrast) is ever measured:
    see ``render.pipeline.house_look``."""

    image = models.FileField(upload_to=_reference_path, max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    consent_note = models.CharField(max_length=200, blank=True)
    consented_at = models.DateTimeField()
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"reference portrait {self.pk} ({self.width}×{self.height})"
