"""``python manage.py landing_samples``: render the landing page's sample portraits again.

Each is a generated phantom scan run through ingest, vision, conditioning, the relight engine
and the brand overlay (``branding.sample_portrait``); the JPEGs are committed under
``studio_portal/static/samples`` so the landing page never renders anything itself.
"""

from pathlib import Path

from django.core.management.base import BaseCommand

from branding.sample_portrait import landing_samples_write

# The landing page is studio_portal's; the samples are drawn by branding's own sample portrait.
SAMPLES_DIR = Path(__file__).resolve().parents[3] / "studio_portal" / "static" / "samples"


class Command(BaseCommand):
    help = "Render the landing page's sample scans and portraits into studio_portal/static/samples."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", default=str(SAMPLES_DIR))

    def handle(self, *args: object, **options: object) -> None:
        for path in landing_samples_write(Path(str(options["out"]))):
            self.stdout.write(f"{path} ({path.stat().st_size // 1024} KB)")
