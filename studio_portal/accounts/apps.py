from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "studio_portal.accounts"
    label = "accounts"
    verbose_name = "Studio team"
