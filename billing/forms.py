from django import forms
from django.conf import settings


class SignupForm(forms.Form):
    studio_name = forms.CharField(label="Studio name", max_length=120)
    subdomain = forms.CharField(
        label="Your studio's address",
        max_length=32,
        help_text="3–32 lowercase letters, digits or dashes, starting with a letter.",
    )
    owner_email = forms.EmailField(label="Owner's email")

    @property
    def address_suffix(self) -> str:
        """What follows the subdomain in the studio's address, e.g. ".localhost"."""
        return f".{settings.CRADLE_BASE_DOMAIN}"
