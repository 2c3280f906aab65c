from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from PIL import Image

from render.pipeline.phantom import make_phantom
from studio_portal.tenants.addresses import studio_base_url
from studio_portal.tenants.services import demo_studio_ensure


class Command(BaseCommand):
    help = (
        "Create the demo studio, its logins and a sample scan; safe to repeat: existing members "
        "keep their passwords."
    )

    def handle(self, *args: object, **options: object) -> None:
        local = Path(settings.LOCAL_DIR)
        studio, credentials = demo_studio_ensure(local / "demo-credentials.json")
        sample = local / "demo-scan.jpg"
        if not sample.exists():
            Image.fromarray(make_phantom().image).save(sample, quality=92)
        url = studio_base_url(studio)
        self.stdout.write(
            "\n"
            f"  Demo studio:   {url}/\n"
            f"  Owner login:   {_login(credentials, 'owner')}\n"
            f"  Sonographer:   {_login(credentials, 'sonographer')}\n"
            f"  Sample scan:   {sample}\n"
            f"  Platform admin: http://{settings.CRADLE_BASE_DOMAIN}:{settings.CRADLE_PUBLIC_PORT}/admin/\n"
            '  (Existing passwords are never reset here; "Forgot your password?" on the\n'
            "  sign-in page, or `manage.py tenant_command changepassword --schema demo owner`.)\n"
        )


def _login(credentials: dict[str, str | None], who: str) -> str:
    password = credentials[f"{who}_password"]
    if password is None:
        return f"{credentials[who]} / (unchanged; not saved in this checkout)"
    return f"{credentials[who]} / {password}"
