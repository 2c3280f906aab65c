from django.contrib import admin

from billing.models import BillingAccount, Invoice, Signup, StripeEvent


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "type", "status", "stripe_created", "customer_id", "attempts"]
    list_filter = ["status", "type"]
    search_fields = ["event_id", "customer_id"]
    readonly_fields = [f.name for f in StripeEvent._meta.fields]


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["studio", "stripe_customer_id", "stripe_subscription_id", "pilot_paid_at"]
    search_fields = ["stripe_customer_id", "studio__schema_name"]


@admin.register(Signup)
class SignupAdmin(admin.ModelAdmin):
    list_display = ["subdomain", "owner_email", "status", "created_at"]
    list_filter = ["status"]


admin.site.register(Invoice)
