from django.contrib import admin
from django_tenants.admin import TenantAdminMixin

from studio_portal.tenants.models import Domain, DomainClaim, Studio


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Studio)
class StudioAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ("name", "schema_name", "plan", "status", "retention_days", "created_at")
    list_filter = ("plan", "status")
    search_fields = ("name", "schema_name")
    # Plan and status change only through billing (Stripe events, refunds).
    readonly_fields = ("schema_name", "plan", "status", "created_at")
    inlines = [DomainInline]


@admin.register(DomainClaim)
class DomainClaimAdmin(admin.ModelAdmin):
    """Who claimed, proved and let go of which custom domain (read-only: owners do it from
    their brand page, with the DNS proof)."""

    list_display = ("domain", "studio", "created_at", "verified_at", "released_at")
    search_fields = ("domain",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
