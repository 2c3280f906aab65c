from django import forms


class SignupForm(forms.Form):
    studio_name = forms.CharField(label="Studio name", max_length=120)
    subdomain = forms.CharField(
        label="Subdomain",
        max_length=32,
        help_text="Your studio's address: <subdomain>.cradle — lowercase letters, digits, dashes.",
    )
    owner_email = forms.EmailField(label="Owner's email")
