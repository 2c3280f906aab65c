from django.contrib import admin
from django_tenants.admin import TenantAdminMixin

from studio_portal.tenants.models import Domain, Studio


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
