from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "studio_portal.tenants"
    label = "tenants"
    verbose_name = "Studios"
