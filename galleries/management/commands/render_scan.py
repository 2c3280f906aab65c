"""``python manage.py render_scan PATH``: the whole pipeline for one file, synchronously.

By default the run happens in a throwaway studio of its own, dropped afterwards with everything
in it (sessions, jobs, galleries, sends and files): nothing lands in the demo studio or counts
against anyone's plan. The delivered portraits are copied out first (``--out``, by default
``.local/render_scan/<job id>/``). ``--studio SCHEMA`` runs in that existing studio instead and
keeps the results there (its gallery link then works). No broker is needed either way.
"""

import contextlib
import json
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from galleries.synchronous import run_scan_synchronously
from render import services
from studio_portal.tenants.models import Studio
from studio_portal.tenants.services import studio_throwaway

THROWAWAY_PREFIX = "scratch-scan"


class Command(BaseCommand):
    help = "Run the whole pipeline for one scan file, synchronously, and print the result."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument(
            "--studio",
            help="run in this existing studio (schema name) and keep the results there; "
            "default: a throwaway studio, dropped afterwards",
        )
        parser.add_argument(
            "--tone", action="append", default=[], help="hex or Monk step; twice for two parents"
        )
        parser.add_argument(
            "--out", help="copy the delivered image files here (default: .local/render_scan/<job>)"
        )
        parser.add_argument("--email", default="parent@example.com")
        parser.add_argument("--phone", default="+14155550123")
        parser.add_argument("--style", default="classic")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["path"]))
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        schema = options["studio"]
        with contextlib.ExitStack() as stack:
            if schema:
                studio = Studio.objects.filter(schema_name=str(schema)).first()
                if studio is None or studio.schema_name == "public":
                    raise CommandError(f"No studio with schema {schema!r}")
            else:
                # Migrating the new schema prints; stdout is kept for the result.
                with contextlib.redirect_stdout(self.stderr):
                    studio = stack.enter_context(
                        studio_throwaway(prefix=THROWAWAY_PREFIX, name="render_scan")
                    )
            payload = self._run(studio, path, options, keep=bool(schema))
        if options["json"]:
            self.stdout.write(json.dumps(payload))
        else:
            for key, value in payload.items():
                self.stdout.write(f"{key}: {value}")

    def _run(self, studio: Studio, path: Path, options: dict, *, keep: bool) -> dict:
        with schema_context(studio.schema_name):
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
            out = options["out"] or (
                None
                if keep or job is None
                else Path(settings.LOCAL_DIR) / "render_scan" / str(job.uid)
            )
            if out and outputs:
                out = Path(str(out))
                out.mkdir(parents=True, exist_ok=True)
                outputs = [shutil.copy(p, out / Path(p).name) for p in outputs]
            return {
                "job_id": str(job.uid) if job else None,
                "state": result.state,
                "reason": result.reason,
                "studio": studio.schema_name if keep else "throwaway (dropped after the run)",
                "stage_ms": job.stage_ms() if job else {},
                "outputs": [str(p) for p in outputs],
                # A throwaway studio's gallery is gone with it: no link that leads nowhere.
                "gallery_url": result.gallery_url if keep else None,
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
