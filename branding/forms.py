"""The owner's branding editor form: input shapes only; every rule is in ``services``."""

from __future__ import annotations

from typing import Any

from django import forms

from branding.fonts import font_choices
from branding.models import BrandKit
from branding.services import MAX_STYLE_TOKENS

COLOUR_WIDGET = forms.TextInput(attrs={"type": "color", "class": "colour"})


class BrandKitForm(forms.Form):
    logo = forms.FileField(
        required=False,
        label="Logo (PNG, JPG or WEBP, up to 5 MB)",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")
    primary_hex = forms.CharField(max_length=7, label="Primary colour", widget=COLOUR_WIDGET)
    accent_hex = forms.CharField(max_length=7, label="Accent colour", widget=COLOUR_WIDGET)
    font = forms.ChoiceField(choices=font_choices, label="Font")
    frame = forms.ChoiceField(choices=BrandKit.Frame.choices, label="Frame style")
    caption = forms.CharField(
        required=False,
        max_length=200,  # the service's limit (120) gives the friendlier message
        label="Caption on each portrait",
    )
    style_tokens = forms.CharField(
        required=False,
        max_length=400,
        label=f"Brand style words (up to {MAX_STYLE_TOKENS}, separated by commas)",
        help_text="For example: soft light, warm, film grain. They shape every new portrait.",
    )
    custom_domain = forms.CharField(
        required=False,
        max_length=253,
        label="Custom domain (Studio plan)",
        widget=forms.TextInput(attrs={"placeholder": "portraits.yourstudio.com"}),
    )

    @classmethod
    def initial_from(cls, kit: BrandKit) -> dict[str, Any]:
        return {
            "primary_hex": kit.primary_hex,
            "accent_hex": kit.accent_hex,
            "font": kit.font,
            "frame": kit.frame,
            "caption": kit.caption,
            "style_tokens": ", ".join(kit.style_tokens),
            "custom_domain": kit.custom_domain,
        }

    def changes(self) -> dict[str, Any]:
        """The service's keyword arguments (the logo is read by the view, bounded)."""
        data = self.cleaned_data
        changes: dict[str, Any] = {
            name: data[name]
            for name in ("primary_hex", "accent_hex", "font", "frame", "caption", "custom_domain")
        }
        changes["style_tokens"] = data["style_tokens"].split(",")
        if data["remove_logo"] and not data.get("logo"):
            changes["logo"] = None
        return changes
