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
    "pipeline": "bench.pipeline:bench_pipeline",
    "upload": "bench.pipeline:bench_upload",
    "vision": "bench.vision:bench_vision",
    "render": "bench.engines:bench_render",
    "upscale": "bench.engines:bench_upscale",
    "overlay": "bench.overlay:bench_overlay",
    "provenance": "bench.provenance:bench_provenance",
    "gallery": "bench.galleries:bench_gallery",
    "retention": "bench.galleries:bench_retention",
}


class Command(BaseCommand):
    help = "Run a benchmark and print its figures: " + ", ".join(sorted(BENCHMARKS))

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", choices=sorted(BENCHMARKS))
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--engine", help="render: relight (default) or diffusers")
        parser.add_argument(
            "--tiny",
            action="store_true",
            help="render --engine diffusers: a tiny random-weight model, not RENDER_MODEL_DIR",
        )
        parser.add_argument("--input", help="pipeline: a scan file (still, DICOM or clip)")

    def handle(self, *args: object, **options: object) -> None:
        module_name, function_name = BENCHMARKS[str(options["name"])].split(":")
        benchmark = getattr(importlib.import_module(module_name), function_name)
        runs = int(options["runs"])
        if runs < 1:
            raise CommandError("--runs must be at least 1")
        # Options only some benchmarks take are passed only when given.
        extra = {name: options[name] for name in ("engine", "tiny", "input") if options.get(name)}
        try:
            result = benchmark(runs=runs, log=lambda line: sys.stderr.write(line + "\n"), **extra)
        except TypeError as exc:
            if extra and "unexpected keyword argument" in str(exc):
                given = ", ".join(f"--{name}" for name in extra)
                raise CommandError(f"bench {options['name']} does not take {given}") from exc
            raise
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key}: {value}")
