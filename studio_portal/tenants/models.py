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
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.PILOT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    retention_days = models.PositiveSmallIntegerField(default=90)
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
