"""``python manage.py fairness [--json]``: rendered skin against the target at all 10 Monk
Skin Tone steps (goal: ΔE2000 ≤ 5 at each, spread ≤ 2) and how legible the face's features
are at each (face contrast, goal ≥ 0.7× tone 3's). Figures only; it never asserts."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from bench.engines import monk_fairness


class Command(BaseCommand):
    help = (
        "Render a phantom at the 10 Monk skin tones and print each tone's ΔE2000 and face contrast."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--width", type=int, default=1280, help="phantom scan width")
        parser.add_argument("--height", type=int, default=872, help="phantom scan height")
        parser.add_argument("--candidates", type=int, default=5, help="candidates per tone")

    def handle(self, *args: object, **options: object) -> None:
        width, height = int(options["width"]), int(options["height"])
        candidates = int(options["candidates"])
        if min(width, height) < 320:
            raise CommandError(
                "The phantom needs at least 320 px a side for vision to find a face."
            )
        if candidates < 1:
            raise CommandError("--candidates must be at least 1")
        result = monk_fairness(
            width=width,
            height=height,
            candidates=candidates,
            log=lambda line: sys.stderr.write(line + "\n"),
        )
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        for tone in result["tones"]:
            self.stdout.write(
                f"Monk {tone['monk']:2d}  {tone['target']}  ΔE2000 {tone['delta_e']:5.2f}  "
                f"face contrast {tone['face_contrast']:6.3f}  ×tone 3 {tone['contrast_ratio']:.2f}"
            )
        self.stdout.write(f"max ΔE2000 {result['max_delta_e']}, spread {result['spread']}")
        self.stdout.write(
            f"lowest face contrast {result['min_contrast_ratio']:.2f}× tone 3's "
            f"(goal ≥ {result['goal']['contrast_ratio']})"
        )
