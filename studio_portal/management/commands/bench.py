"""``python manage.py bench <name> [--json]``: each benchmark prints figures, never asserts.

One JSON object goes to stdout (``median_ms`` and, where the benchmark has parts,
``steps_ms``); human-readable lines go to stderr.
"""

import importlib
import json
import sys

from django.core.management.base import BaseCommand, CommandError

# name → "module:function"; each function takes (runs, log) and returns a JSON-able dict.
BENCHMARKS = {
    "pipeline": "render.benchmarks:bench_pipeline",
    "upload": "render.benchmarks:bench_upload",
    "vision": "render.vision_benchmarks:bench_vision",
    "render": "render.engine_benchmarks:bench_render",
    "upscale": "render.engine_benchmarks:bench_upscale",
    "overlay": "branding.benchmarks:bench_overlay",
    "provenance": "branding.benchmarks:bench_provenance",
    "gallery": "galleries.benchmarks:bench_gallery",
    "retention": "galleries.benchmarks:bench_retention",
}


class Command(BaseCommand):
    help = "Run a benchmark and print its figures: " + ", ".join(sorted(BENCHMARKS))

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("name", choices=sorted(BENCHMARKS))
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        module_name, function_name = BENCHMARKS[str(options["name"])].split(":")
        benchmark = getattr(importlib.import_module(module_name), function_name)
        runs = int(options["runs"])
        if runs < 1:
            raise CommandError("--runs must be at least 1")
        result = benchmark(runs=runs, log=lambda line: sys.stderr.write(line + "\n"))
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key}: {value}")
