from django import forms

from render.engine_choice import studio_engine
from render.models import RenderJob
from render.pipeline.conditioning import MONK_SKIN_TONES, engine_look
from studio_portal.tenants.selectors import current_studio


def style_choices(engine: str) -> list[tuple[str, str]]:
    """The styles ``engine`` offers, named for what it makes of them ("Studio light" on the CPU
    engine, "Photoreal" only on a diffusion engine)."""
    return [(offer.key, offer.label) for offer in engine_look(engine).styles]


class ParentSessionForm(forms.Form):
    parent_name = forms.CharField(
        max_length=120,
        label="Parent's name",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        required=False,
        label="Email for the gallery link",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        required=False,
        max_length=32,
        label="Mobile for the gallery link",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    consent_given = forms.BooleanField(
        required=False, label="The parent has read and agreed to the consent text"
    )
    # A colour input sends "#rrggbb"; a Monk swatch button fills the same input with its colour,
    # so the pure pipeline receives one hex per parent whichever way the tone was picked.
    tone_1 = forms.CharField(
        max_length=16,
        label="Parent 1 skin tone",
        initial=MONK_SKIN_TONES[5],
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    use_tone_2 = forms.BooleanField(required=False, label="Blend in a second parent's tone")
    tone_2 = forms.CharField(
        max_length=16,
        required=False,
        label="Parent 2 skin tone",
        initial=MONK_SKIN_TONES[7],
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    style = forms.ChoiceField(choices=(), widget=forms.RadioSelect, initial="classic")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # New sessions render on the studio's engine as chosen now.
        self.fields["style"].choices = style_choices(studio_engine(current_studio()))

    def skin_swatches(self) -> list[str]:
        data = self.cleaned_data
        tones = [data["tone_1"]]
        # The page sends a marker with its "second parent" checkbox, because a colour input always
        # sends a value; clients without that checkbox send tone_2 only when they mean it.
        wants_second = data.get("use_tone_2") or "tone_toggle" not in self.data
        if data.get("tone_2") and wants_second:
            tones.append(data["tone_2"])
        return [t for t in tones if t]


class ScanUploadForm(forms.Form):
    scan = forms.FileField(label="Scan file (JPG, PNG, WEBP, MP4 or DICOM)")


class RerunForm(forms.Form):
    style = forms.ChoiceField(choices=(), label="New style", required=False)
    fix_anatomy = forms.BooleanField(required=False)

    def __init__(self, *args: object, engine: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # A re-render paints on the job's own engine.
        self.fields["style"].choices = style_choices(engine)


class SessionSearchForm(forms.Form):
    STATUS_CHOICES = [("", "Any status"), ("none", "No scan yet")] + [
        (value, label) for value, label in RenderJob.State.choices
    ]
    q = forms.CharField(required=False, label="Search by parent's name")
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES, label="Status")
