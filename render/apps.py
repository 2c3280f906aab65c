from django.apps import AppConfig


class RenderConfig(AppConfig):
    name = "render"
    verbose_name = "Sessions, scans and render jobs"

    def ready(self) -> None:
        # Lazy: views import models, which load only once the app registry is ready.
        from render.views import settings_engine_part
        from studio_portal.accounts.views import settings_page_part_add

        settings_page_part_add(settings_engine_part)
