import json
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from render import services
from render.synchronous import run_scan_synchronously
from studio_portal.tenants.models import Studio
from studio_portal.tenants.services import DEMO_SUBDOMAIN, demo_studio_ensure


class Command(BaseCommand):
    help = "Run the whole pipeline for one scan file, synchronously, and print the result."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("path")
        parser.add_argument("--studio", default=DEMO_SUBDOMAIN, help="schema name (default demo)")
        parser.add_argument(
            "--tone", action="append", default=[], help="hex or Monk step; twice for two parents"
        )
        parser.add_argument("--out", help="copy the delivered image files here")
        parser.add_argument("--email", default="parent@example.com")
        parser.add_argument("--phone", default="+14155550123")
        parser.add_argument("--style", default="classic")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["path"]))
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        schema = str(options["studio"])
        if schema == DEMO_SUBDOMAIN:
            demo_studio_ensure(Path(settings.LOCAL_DIR) / "demo-credentials.json")
        elif not Studio.objects.filter(schema_name=schema).exists():
            raise CommandError(f"No studio with schema {schema!r}")
        with schema_context(schema):
            session = services.parent_session_create(
                parent_name="render_scan",
                email=str(options["email"]),
                phone=str(options["phone"]),
                consent_given=True,
                skin_swatches=list(options["tone"]) or ["#d7bd96"],
                style=str(options["style"]),
            )
            channels = [c for c, to in (("email", session.email), ("sms", session.phone)) if to]
            result = run_scan_synchronously(
                session=session, data=path.read_bytes(), channels=channels
            )
            job = result.job
            candidates = list(job.candidates.all()) if job else []
            outputs = [c.web_image.path for c in candidates if c.shared_with_parent and c.web_image]
            if options["out"] and outputs:
                out = Path(str(options["out"]))
                out.mkdir(parents=True, exist_ok=True)
                outputs = [shutil.copy(p, out / Path(p).name) for p in outputs]
            payload = {
                "job_id": str(job.uid) if job else None,
                "state": result.state,
                "reason": result.reason,
                "stage_ms": job.stage_ms() if job else {},
                "outputs": [str(p) for p in outputs],
                "gallery_url": result.gallery_url,
                "candidates": [
                    {
                        "seed": c.seed,
                        "rank": c.rank,
                        "score": c.score,
                        "terms": c.score_terms,
                        "primary": c.is_primary,
                        "rejected_reason": c.rejected_reason,
                    }
                    for c in candidates
                ],
                "primary_seed": next((c.seed for c in candidates if c.is_primary), None),
            }
        if options["json"]:
            self.stdout.write(json.dumps(payload))
        else:
            for key, value in payload.items():
                self.stdout.write(f"{key}: {value}")
