import hashlib
import uuid

from django.db import models


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Gallery(models.Model):
    """A parent's private page. Only the token's digest is indexed; see ``selectors``."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.OneToOneField("render.RenderJob", on_delete=models.CASCADE, related_name="gallery")
    token = models.CharField(max_length=64)
    token_digest = models.CharField(max_length=64, unique=True)
    pin_hash = models.CharField(max_length=128, blank=True)
    # The PIN again, encrypted with the at-rest key (services.pin_seal): the parent is told it in
    # every message (the first, a resend, the expiry reminder), so it cannot be only a hash.
    pin_sealed = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Claimed by the reminder sweep (a conditional UPDATE), so she is reminded once per expiry.
    expiry_reminded_at = models.DateTimeField(null=True, blank=True)
    # The studio hears of her favourites once she has stopped choosing for a while.
    favourites_changed_at = models.DateTimeField(null=True, blank=True)
    favourites_noticed_at = models.DateTimeField(null=True, blank=True)
    opens = models.PositiveIntegerField(default=0)
    downloads = models.PositiveIntegerField(default=0)
    shares = models.PositiveIntegerField(default=0)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    # The studio's name, contacts and brand as the gallery was sent
    # (branding.services.brand_snapshot_take): later brand changes reach the parent's page,
    # card and print files only when the owner republishes. Empty for galleries made before.
    brand = models.JSONField(default=dict, blank=True)
    brand_taken_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Not a field: the channels a PIN change was just sent on (services.gallery.gallery_protect
    # sets it on the instance it returns, for the page that made the change).
    pin_sent_on: list[str]

    class Meta:
        verbose_name_plural = "galleries"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"gallery {self.uid}"

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)


class Favourite(models.Model):
    """A portrait the parent marked; no account, so it belongs to the gallery (the link)."""

    gallery = models.ForeignKey(Gallery, on_delete=models.CASCADE, related_name="favourites")
    candidate = models.ForeignKey(
        "render.Candidate", on_delete=models.CASCADE, related_name="favourites"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["gallery", "candidate"], name="one_favourite_per_portrait"
            )
        ]

    def __str__(self) -> str:
        return f"favourite {self.candidate_id} in gallery {self.gallery_id}"


class GuessCount(models.Model):
    """Wrong gallery tokens or PINs from one address (or at one gallery) in the current window;
    see ``galleries.throttle``. Kept in the studio's schema, beside what it protects."""

    scope = models.CharField(max_length=16)
    subject = models.CharField(max_length=80)
    hits = models.PositiveIntegerField(default=0)
    window_ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "subject"], name="one_guess_count_per_subject")
        ]

    def __str__(self) -> str:
        return f"{self.hits} wrong {self.scope} guesses from {self.subject}"


class GallerySettings(models.Model):
    """The studio's defaults for new galleries: one row per studio schema."""

    default_expiry_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Links stop working this many days after sending; empty = never.",
    )
    favourites_email = models.BooleanField(
        default=True,
        help_text="Email the owners and the sonographer when a parent picks favourites.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "gallery settings"


class Delivery(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    # Named (signed, with the studio's schema) in what providers echo back: their webhooks come
    # to one public URL for every studio and are routed by it, never by the sequential pk.
    class Kind(models.TextChoices):
        LINK = "link", "Gallery link"
        REMINDER = "reminder", "Expiry reminder"
        PIN = "pin", "New PIN"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    gallery = models.ForeignKey(Gallery, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LINK)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # The provider's own word for the last status (e.g. "bounce", "undelivered"), for the studio.
    provider_status = models.CharField(max_length=32, blank=True)
    provider_id = models.CharField(max_length=128, blank=True, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the broker last took this delivery's message (or a worker last tried it); empty
    # while queued with a message the broker never took (studio_portal.outbox: swept).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient}: {self.status}"


class ProviderEvent(models.Model):
    """Each webhook event handled once: a replayed event finds its key here and does nothing."""

    provider = models.CharField(max_length=16)
    event_key = models.CharField(max_length=128)
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    kind = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_key"], name="one_row_per_provider_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_key}"


class SmsOptOut(models.Model):
    """A number that replied STOP: no SMS goes to it until it replies START."""

    phone = models.CharField(max_length=20, unique=True)
    opted_out_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"opt-out {self.phone}"
