from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context
from PIL import Image

from galleries.services import studio_base_url
from render.pipeline.phantom import make_phantom
from studio_portal.tenants.services import demo_studio_ensure


class Command(BaseCommand):
    help = "Create (or refresh) the demo studio, its logins and a sample scan. Safe to repeat."

    def handle(self, *args: object, **options: object) -> None:
        local = Path(settings.LOCAL_DIR)
        studio, credentials = demo_studio_ensure(local / "demo-credentials.json")
        sample = local / "demo-scan.jpg"
        if not sample.exists():
            Image.fromarray(make_phantom().image).save(sample, quality=92)
        with schema_context(studio.schema_name):
            url = studio_base_url()
        self.stdout.write(
            "\n"
            f"  Demo studio:   {url}/\n"
            f"  Owner login:   {credentials['owner']} / {credentials['owner_password']}\n"
            f"  Sonographer:   {credentials['sonographer']} / "
            f"{credentials['sonographer_password']}\n"
            f"  Sample scan:   {sample}\n"
            f"  Platform admin: http://{settings.CRADLE_BASE_DOMAIN}:{settings.CRADLE_PUBLIC_PORT}/admin/\n"
        )
