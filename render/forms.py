from django import forms

from render.pipeline.conditioning import STYLES


class ParentSessionForm(forms.Form):
    parent_name = forms.CharField(max_length=120, label="Parent's name")
    email = forms.EmailField(required=False, label="Email for the gallery link")
    phone = forms.CharField(required=False, max_length=32, label="Mobile for the gallery link")
    consent_given = forms.BooleanField(
        required=False, label="The parent has read and agreed to the consent text"
    )
    tone_1 = forms.CharField(max_length=16, label="Parent 1 skin tone", initial="#d7bd96")
    tone_2 = forms.CharField(max_length=16, required=False, label="Parent 2 skin tone (optional)")
    style = forms.ChoiceField(choices=[(key, key.replace("-", " ").title()) for key in STYLES])


class ScanUploadForm(forms.Form):
    scan = forms.FileField(label="Scan (JPG, PNG, WEBP, MP4 or DICOM)")
