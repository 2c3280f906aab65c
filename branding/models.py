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
