from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "studio_portal.api"
    label = "studio_api"
    verbose_name = "API keys and outgoing webhooks"
