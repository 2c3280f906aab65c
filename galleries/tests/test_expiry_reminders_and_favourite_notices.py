"""A parent is reminded (email and SMS) a few days before her gallery closes, once; the studio
hears which portraits she marked, once she has finished choosing."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from galleries.models import Delivery, Favourite, Gallery
from galleries.services import gallery as gallery_services
from galleries.services import notices, sending
from galleries.services.gallery import gallery_protect, gallery_settings_update
from galleries.services.notices import favourites_notices_due, gallery_expiry_reminders_due
from galleries.services.provider_webhooks import sms_inbound_record
from galleries.services.sending import _message_for, delivery_send, gallery_send
from galleries.tests.factories import ready_job_with_portraits
from studio_portal.accounts.models import User
from studio_portal.audit.models import AuditLogEntry


def _sent_gallery(*, closes_in: timedelta, sent_ago: timedelta = timedelta(days=20)) -> Gallery:
    job = ready_job_with_portraits()
    deliveries = gallery_send(
        job=job,
        channels=["email", "sms"],
        enqueue=False,
        expires_at=timezone.now() + timedelta(days=60),
    )
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=Delivery.Status.SENT, created_at=timezone.now() - sent_ago
    )
    gallery = deliveries[0].gallery
    Gallery.objects.filter(pk=gallery.pk).update(expires_at=timezone.now() + closes_in)
    gallery.refresh_from_db()
    return gallery


def test_a_gallery_closing_in_two_days_is_reminded_once_by_email_and_sms(studio) -> None:
    with schema_context(studio.schema_name):
        soon = _sent_gallery(closes_in=timedelta(days=2))
        later = _sent_gallery(closes_in=timedelta(days=10))
        assert gallery_expiry_reminders_due(enqueue=False) == 1
        assert gallery_expiry_reminders_due(enqueue=False) == 0  # a second run: nothing new
        reminders = Delivery.objects.filter(kind=Delivery.Kind.REMINDER)
        assert sorted(reminders.values_list("gallery_id", "channel")) == [
            (soon.pk, "email"),
            (soon.pk, "sms"),
        ]
        email = _message_for(reminders.get(channel="email"))
        sms = _message_for(reminders.get(channel="sms"))
        assert "closes on" in email.subject and f"/g/{soon.token}/" in email.text
        assert "Download all" in email.text
        assert "closes on" in sms.text and "Reply STOP" in sms.text
        assert AuditLogEntry.objects.filter(action="gallery.expiry_reminded").count() == 1
        later.refresh_from_db()
        assert later.expiry_reminded_at is None


def test_a_new_closing_day_earns_a_new_reminder(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = _sent_gallery(closes_in=timedelta(days=2))
        gallery_expiry_reminders_due(enqueue=False)
        gallery.refresh_from_db()
        gallery_protect(gallery=gallery, expires_at=timezone.now() + timedelta(days=2, hours=5))
        assert gallery_expiry_reminders_due(enqueue=False) == 1


def test_no_reminder_for_a_link_sent_yesterday_or_a_number_that_said_stop(studio) -> None:
    with schema_context(studio.schema_name):
        _sent_gallery(closes_in=timedelta(days=2), sent_ago=timedelta(hours=3))
        assert gallery_expiry_reminders_due(enqueue=False) == 0
        stopped = _sent_gallery(closes_in=timedelta(days=2))
        sms_inbound_record(phone=stopped.job.session.phone, body="STOP")
        assert gallery_expiry_reminders_due(enqueue=False) == 1
        channels = Delivery.objects.filter(kind=Delivery.Kind.REMINDER).values_list(
            "channel", flat=True
        )
        assert list(channels) == ["email"]


def test_a_reminder_goes_out_through_the_worker_path(studio, monkeypatch) -> None:
    sent = []

    class Recorder:
        def send(self, message):
            sent.append(message)
            return "id-1"

    monkeypatch.setattr(sending, "email_sender", Recorder)
    monkeypatch.setattr(sending, "sms_sender", Recorder)
    with schema_context(studio.schema_name):
        gallery = _sent_gallery(closes_in=timedelta(days=1))
        gallery_expiry_reminders_due(enqueue=False)
        for delivery in Delivery.objects.filter(kind=Delivery.Kind.REMINDER):
            assert delivery_send(delivery_id=delivery.pk).status == Delivery.Status.SENT
    assert len(sent) == 2 and all(f"/g/{gallery.token}/" in m.text for m in sent)


def _mark(gallery: Gallery, rank: int) -> None:
    gallery_services.gallery_favourite_set(
        gallery=gallery, candidate=gallery.job.candidates.get(rank=rank), favourite=True
    )


def test_the_studio_hears_of_favourites_once_she_pauses_and_only_once(studio, monkeypatch) -> None:
    sent = []

    class Recorder:
        def send(self, message):
            sent.append(message)
            return "id"

    monkeypatch.setattr(notices, "email_sender", Recorder)
    with schema_context(studio.schema_name):
        User.objects.filter(username="owner").update(email="owner@alpha.example")
        gallery = _sent_gallery(closes_in=timedelta(days=30))
        _mark(gallery, 0)
        _mark(gallery, 1)
        assert favourites_notices_due() == 0  # she is still choosing
        later = timezone.now() + timedelta(minutes=11)
        assert favourites_notices_due(now=later) == 1
        assert favourites_notices_due(now=later) == 0
        assert Favourite.objects.count() == 2
    [message] = sent
    assert message.to == "owner@alpha.example"
    assert message.subject == "Maya Okafor picked 2 favourites"
    assert "portraits 1, 2" in message.text and f"/galleries/{gallery.uid}/" in message.text


def test_a_studio_can_turn_the_favourites_email_off(studio, monkeypatch) -> None:
    sent = []

    class Recorder:
        def send(self, message):
            sent.append(message)
            return "id"

    monkeypatch.setattr(notices, "email_sender", Recorder)
    with schema_context(studio.schema_name):
        gallery_settings_update(default_expiry_days=None, favourites_email=False)
        gallery = _sent_gallery(closes_in=timedelta(days=30))
        _mark(gallery, 0)
        favourites_notices_due(now=timezone.now() + timedelta(minutes=11))
    assert sent == []
