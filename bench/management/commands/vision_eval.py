"""``python manage.py vision_eval [--json]``: the vision stage over the fixture set.

Prints faces found, the median anchor error (a share of the face diagonal) per anchor and per
pose, false faces on 2D scans and no-face negatives, patient-text boxes left, crashes and how
much of the subject mask lies on placenta, wall or cord. Figures only; it never asserts.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from bench.vision_eval import run
from render.management.commands.analyze_scan import stdout_to_stderr


class Command(BaseCommand):
    help = "Measure the vision stage on generated and real fixtures with known answers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: object, **options: object) -> None:
        with stdout_to_stderr():
            result = run(log=lambda line: sys.stderr.write(line + "\n"))
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        for key, value in result.items():
            self.stdout.write(f"{key}: {value}")
