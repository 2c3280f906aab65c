from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Studio(TenantMixin):
    """A keepsake-ultrasound studio: one PostgreSQL schema holds everything it owns."""

    class Plan(models.TextChoices):
        PILOT = "pilot", "Pilot"
        GROWTH = "growth", "Growth"
        STUDIO = "studio", "Studio"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Payment failed"
        LAPSED = "lapsed", "Lapsed"

    name = models.CharField(max_length=120)
    # How parents reach the studio: shown in their galleries and messages; owner-edited.
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.PILOT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    retention_days = models.PositiveSmallIntegerField(default=90)
    # The portrait engine the owner chose among those the operator configured ("": the
    # operator's default). "hosted" is the studio's opt-in to a hosted provider, named in the
    # consent text its parents accept (render.engine_choice).
    render_engine = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = True

    def __str__(self) -> str:
        return self.name

    @property
    def is_white_label(self) -> bool:
        return self.plan == self.Plan.STUDIO


class Domain(DomainMixin):
    def __str__(self) -> str:
        return self.domain


class DomainClaim(models.Model):
    """A studio's claim on a custom domain. It serves nothing until the studio proves it holds
    the domain's DNS (a TXT record carrying ``token``); then a ``Domain`` row routes it. A
    released domain stays held for a while (``CUSTOM_DOMAIN_HOLD_DAYS``) so old gallery links
    never land on another studio at once."""

    domain = models.CharField(max_length=253, db_index=True)
    # Kept when the studio is deleted: the claim then still holds the domain for the hold time.
    studio = models.ForeignKey(
        Studio, null=True, on_delete=models.SET_NULL, related_name="domain_claims"
    )
    token = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open claim per studio and domain (released ones are history).
            models.UniqueConstraint(
                fields=["studio", "domain"],
                condition=models.Q(released_at__isnull=True),
                name="one_open_claim_per_studio_and_domain",
            )
        ]

    def __str__(self) -> str:
        return f"claim {self.domain}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None and self.released_at is None
