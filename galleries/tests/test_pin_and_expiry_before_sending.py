"""The PIN and the closing day are chosen before the gallery is sent, and the parent is told
her PIN in the email and the text (issue 17 item 2)."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from galleries.models import Delivery, Gallery
from galleries.services.gallery import gallery_protect, gallery_settings_update
from galleries.services.sending import _message_for
from galleries.tests.factories import ready_job_with_portraits
from tests.tenancy import signed_in_client

HOST = "alpha.localhost"


def test_the_send_form_offers_a_pin_and_the_studios_default_closing_day(studio) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
        gallery_settings_update(default_expiry_days=30)
    html = signed_in_client(studio).get(f"/jobs/{job.uid}/").content.decode()
    send_form = html[html.index(f'action="/jobs/{job.uid}/send/"') :].split("</form>")[0]
    assert 'name="pin"' in send_form
    closes = (timezone.localdate() + timedelta(days=30)).isoformat()
    assert f'name="expires_on" type="date" value="{closes}"' in send_form


def test_sending_with_a_pin_and_a_day_protects_the_gallery_and_tells_her_the_pin(studio) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
    day = timezone.localdate() + timedelta(days=14)
    response = signed_in_client(studio).post(
        f"/jobs/{job.uid}/send/",
        {"channel": ["email", "sms"], "pin": "4821", "expires_on": day.isoformat()},
    )
    assert response.status_code == 302
    with schema_context(studio.schema_name):
        gallery = Gallery.objects.get(job=job)
        assert gallery.has_pin and timezone.localdate(gallery.expires_at) == day
        email = _message_for(Delivery.objects.get(channel="email"))
        sms = _message_for(Delivery.objects.get(channel="sms"))
    assert "Your PIN: 4821" in email.text and "4821</strong>" in email.html
    assert "PIN 4821" in sms.text and f"/g/{gallery.token}/" in sms.text
    assert f"Open until {day:%-d %b}" in sms.text
    assert "Not a medical prediction" in email.text
    # The PIN she was told opens the gallery.
    parent = Client(HTTP_HOST=HOST)
    assert "This gallery has a PIN" in parent.get(f"/g/{gallery.token}/").content.decode()
    assert parent.post(f"/g/{gallery.token}/pin/", {"pin": "4821"}).status_code == 302


def test_an_empty_closing_day_means_never_even_with_a_studio_default(studio) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
        gallery_settings_update(default_expiry_days=30)
    signed_in_client(studio).post(
        f"/jobs/{job.uid}/send/", {"channel": ["email"], "pin": "", "expires_on": ""}
    )
    with schema_context(studio.schema_name):
        gallery = Gallery.objects.get(job=job)
    assert gallery.expires_at is None and not gallery.has_pin


def test_a_bad_pin_sends_nothing_and_says_why(studio) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
    client = signed_in_client(studio)
    client.post(f"/jobs/{job.uid}/send/", {"channel": ["email"], "pin": "12"})
    page = client.get(f"/jobs/{job.uid}/").content.decode()
    assert "A gallery PIN is 4 to 8 digits." in page
    with schema_context(studio.schema_name):
        assert not Delivery.objects.exists() and not Gallery.objects.exists()


def test_a_changed_pin_is_the_one_later_messages_carry(studio) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
    signed_in_client(studio).post(f"/jobs/{job.uid}/send/", {"channel": ["email"], "pin": "1111"})
    with schema_context(studio.schema_name):
        gallery = Gallery.objects.get(job=job)
        gallery_protect(gallery=gallery, pin="97531")
        assert "Your PIN: 97531" in _message_for(Delivery.objects.get()).text
