from django.apps import AppConfig


class RenderConfig(AppConfig):
    name = "render"
    verbose_name = "Sessions, scans and render jobs"
