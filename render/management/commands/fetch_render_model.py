"""``python manage.py fetch_render_model``: lay out the diffusers engine's model folder.

Writes the layout ``render.pipeline.engines.diffusion.load_pipeline`` reads (see
``render.pipeline.engines.model_layout``)::

    <dest>/model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/   base model
    <dest>/text_encoder_2/, tokenizer_2/                          SDXL families only
    <dest>/controlnet/                                            depth ControlNet, or
    <dest>/t2i-adapter/                     sdxl-lightning --depth t2i-adapter: depth T2I-Adapter
    <dest>/few-step-lora/ + few-step.json                         sdxl-lightning: the LoRA
    <dest>/lcm-lora/                                              optional, with --lcm-lora
    <dest>/cradle-model.json                                      the family and its parts

``--family sdxl-lightning`` is the GPU worker's: a photoreal SDXL base (RealVisXL V4.0,
openrail++), the SDXL depth ControlNet and the SDXL-Lightning 4-step LoRA (or, with ``--lora
hyper-sd``, Hyper-SDXL 4-step), about 7 GB in fp16. ``sd15`` and ``sdxl`` are the older
layouts (SD 1.5 or SDXL base, depth ControlNet, optional LCM-LoRA).

Each part is looked for first in the Hugging Face cache (``--cache-dir``, default the hub's
own, e.g. ``~/.cache/huggingface/hub``): a machine that already fetched it, or a cache copied
from one, gets the folder laid out as links into the cache, with no network at all. What is
not cached is downloaded; when the hub cannot be reached the command says what it would fetch
and where, and writes nothing. ``--dry-run`` prints that plan (and what is cached) only.

Only the safetensors weights the loader uses are fetched (the base repositories also hold
several GB of .ckpt/.bin/ONNX duplicates and, for SD 1.5, a safety checker the engine does not
load).
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

LIGHTNING = "sdxl-lightning"
FAMILIES = ("sd15", "sdxl", LIGHTNING)
FAMILY_LABELS = {"sd15": "SD 1.5", "sdxl": "SDXL", LIGHTNING: "SDXL-Lightning (photoreal SDXL)"}
# model_family() reads an sdxl-lightning folder as SDXL: the same pipeline, a LoRA fused in.
PIPELINE_FAMILY = {"sd15": "sd15", "sdxl": "sdxl", LIGHTNING: "sdxl"}
DEFAULT_REPOS = {
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    LIGHTNING: "SG161222/RealVisXL_V4.0",
}
DEFAULT_CONTROLNETS = {
    "sd15": "lllyasviel/control_v11f1p_sd15_depth",
    "sdxl": "diffusers/controlnet-depth-sdxl-1.0",
    LIGHTNING: "diffusers/controlnet-depth-sdxl-1.0",
}
# The SDXL depth T2I-Adapter (--depth t2i-adapter): 79 M parameters run once per render,
# against the ControlNet's 1,251 M at every step.
DEPTH_ADAPTER = "TencentARC/t2i-adapter-depth-midas-sdxl-1.0"
DEFAULT_LCM_LORAS = {
    "sd15": "latent-consistency/lcm-lora-sdv1-5",
    "sdxl": "latent-consistency/lcm-lora-sdxl",
}
# The few-step LoRAs for SDXL (both openrail++) and how their authors sample them: 4 steps,
# no classifier-free guidance, timesteps spaced "trailing".
FEW_STEP_LORAS = {
    "sdxl-lightning": {
        "source": "ByteDance/SDXL-Lightning",
        "label": "SDXL-Lightning 4-step LoRA",
        "weight_name": "sdxl_lightning_4step_lora.safetensors",
        "steps": 4,
        "scheduler": "euler-trailing",
        "guidance_scale": 0.0,
    },
    "hyper-sd": {
        "source": "ByteDance/Hyper-SD",
        "label": "Hyper-SDXL 4-step LoRA",
        "weight_name": "Hyper-SDXL-4steps-lora.safetensors",
        "steps": 4,
        "scheduler": "ddim-trailing",
        "guidance_scale": 0.0,
    },
}
DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 4.0

BASE_FILES = [
    "model_index.json",
    "scheduler/*.json",
    "tokenizer/*",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
]
# SDXL's second text encoder (OpenCLIP ViT-bigG) and its tokenizer, next to the first.
SDXL_EXTRA_FILES = [
    "tokenizer_2/*",
    "text_encoder_2/config.json",
    "text_encoder_2/model.safetensors",
]
FAMILY_BASE_FILES = {
    "sd15": BASE_FILES,
    "sdxl": BASE_FILES + SDXL_EXTRA_FILES,
    LIGHTNING: BASE_FILES + SDXL_EXTRA_FILES,
}
CONTROLNET_FILES = ["config.json", "diffusion_pytorch_model.safetensors"]
LORA_FILES = ["pytorch_lora_weights.safetensors"]

# ``--lcm-lora`` with no repository: the family's default LCM-LoRA.
_FAMILY_LCM_LORA = object()


@dataclass(frozen=True)
class Part:
    """One repository's files, and the folder they go to."""

    repo: str
    folder: Path
    patterns: list[str]
    name: str  # as cradle-model.json lists it ("" for the base model at the folder's root)


def _matches(files: list[str], pattern: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for name in files)


def cached_snapshot(repo: str, patterns: list[str], cache_dir: str | None) -> Path | None:
    """The Hugging Face cache's snapshot of ``repo`` when it holds every pattern, else None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot = Path(
            snapshot_download(
                repo, allow_patterns=patterns, cache_dir=cache_dir, local_files_only=True
            )
        )
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    files = [
        path.relative_to(snapshot).as_posix() for path in snapshot.rglob("*") if path.is_file()
    ]
    if all(_matches(files, pattern) for pattern in patterns):
        return snapshot
    return None


def _link_from_cache(snapshot: Path, part: Part) -> int:
    """Link the part's files from the cache into its folder; returns how many."""
    linked = 0
    for path in sorted(snapshot.rglob("*")):
        relative = path.relative_to(snapshot).as_posix()
        if not path.is_file() or not any(fnmatch.fnmatch(relative, p) for p in part.patterns):
            continue
        target = part.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        # The cache's blob itself, so the link survives the snapshot being re-pointed.
        target.symlink_to(path.resolve())
        linked += 1
    return linked


class Command(BaseCommand):
    help = (
        "Lay out the diffusers render engine's model folder: --family sdxl-lightning (the GPU "
        "worker's photoreal SDXL + depth ControlNet + few-step LoRA), sdxl or sd15. Uses the "
        "Hugging Face cache when it holds the parts, downloads the rest."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dest", help="target folder (default: RENDER_MODEL_DIR)")
        parser.add_argument(
            "--family",
            choices=FAMILIES,
            default="sd15",
            help="sdxl-lightning (the GPU worker's: photoreal SDXL, 4 steps, 1024 px), sdxl "
            "(SDXL base, 25 steps) or sd15 (default, 512 px)",
        )
        parser.add_argument(
            "--repo",
            help="base model repository (default: "
            + ", ".join(f"{DEFAULT_REPOS[f]} for {f}" for f in FAMILIES)
            + ")",
        )
        parser.add_argument(
            "--controlnet",
            help=f"depth ControlNet repository (default: {DEFAULT_CONTROLNETS['sd15']}, "
            f"or {DEFAULT_CONTROLNETS['sdxl']} for the SDXL families)",
        )
        parser.add_argument(
            "--depth",
            choices=("controlnet", "t2i-adapter"),
            default="controlnet",
            help="sdxl-lightning family: hold the face to the scan's depth with the depth "
            f"ControlNet (default) or the depth T2I-Adapter ({DEPTH_ADAPTER}; faster)",
        )
        parser.add_argument(
            "--lora",
            choices=sorted(FEW_STEP_LORAS),
            default="sdxl-lightning",
            help="sdxl-lightning family: which few-step LoRA (default: sdxl-lightning)",
        )
        parser.add_argument(
            "--lcm-lora",
            nargs="?",
            const=_FAMILY_LCM_LORA,
            default=None,
            help="sd15/sdxl: also fetch an LCM-LoRA for few-step sampling (default: "
            f"{DEFAULT_LCM_LORAS['sd15']}, or {DEFAULT_LCM_LORAS['sdxl']} for sdxl)",
        )
        parser.add_argument(
            "--cache-dir",
            help="Hugging Face cache to take parts from (default: $HF_HUB_CACHE or "
            "~/.cache/huggingface/hub)",
        )
        parser.add_argument(
            "--endpoint", help="Hugging Face Hub URL (default: $HF_ENDPOINT or huggingface.co)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print which repositories and files would go where, and download nothing",
        )

    def _plan(self, family: str, dest: Path, options: dict[str, object]) -> list[Part]:
        repo = str(options["repo"] or DEFAULT_REPOS[family])
        controlnet = str(options["controlnet"] or DEFAULT_CONTROLNETS[family])
        parts = [Part(repo, dest, FAMILY_BASE_FILES[family], "")]
        if family == LIGHTNING and options.get("depth") == "t2i-adapter":
            if options.get("controlnet"):
                raise CommandError("--controlnet and --depth t2i-adapter exclude each other.")
            parts.append(Part(DEPTH_ADAPTER, dest / "t2i-adapter", CONTROLNET_FILES, "t2i-adapter"))
        else:
            parts.append(Part(controlnet, dest / "controlnet", CONTROLNET_FILES, "controlnet"))
        if family != LIGHTNING and options.get("depth") == "t2i-adapter":
            raise CommandError("--depth t2i-adapter is for --family sdxl-lightning.")
        if family == LIGHTNING:
            if options.get("lcm_lora"):
                raise CommandError("--lcm-lora is for sd15/sdxl; sdxl-lightning takes --lora.")
            lora = FEW_STEP_LORAS[str(options.get("lora") or "sdxl-lightning")]
            parts.append(
                Part(
                    str(lora["source"]),
                    dest / "few-step-lora",
                    [str(lora["weight_name"])],
                    "few-step-lora",
                )
            )
            return parts
        lcm_lora = options.get("lcm_lora")
        if lcm_lora is _FAMILY_LCM_LORA:
            lcm_lora = DEFAULT_LCM_LORAS[family]
        if lcm_lora:
            parts.append(Part(str(lcm_lora), dest / "lcm-lora", LORA_FILES, "lcm-lora"))
        return parts

    def handle(self, *args: object, **options: object) -> None:
        family = str(options["family"] or "sd15")
        if family not in FAMILIES:
            raise CommandError(f"--family must be one of {', '.join(FAMILIES)}, not {family!r}")
        label = FAMILY_LABELS[family]
        dest = Path(str(options["dest"] or settings.RENDER_MODEL_DIR)).expanduser()
        endpoint = str(options["endpoint"] or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
        cache_dir = str(options["cache_dir"]) if options.get("cache_dir") else None
        parts = self._plan(family, dest, options)
        cached = {part.repo: cached_snapshot(part.repo, part.patterns, cache_dir) for part in parts}

        def plan_lines() -> list[str]:
            lines = []
            for part in parts:
                where = f" (in the Hugging Face cache: {cached[part.repo]})"
                lines.append(
                    f"  {part.repo} -> {part.folder}: {', '.join(part.patterns)}"
                    + (where if cached[part.repo] else "")
                )
            return lines

        if options["dry_run"]:
            self.stdout.write(f"{label} for the diffusers engine, into {dest}:")
            for line in plan_lines():
                self.stdout.write(line)
            return

        # One folder holds one family: fetching SDXL over SD 1.5 would leave a mixed folder
        # (an old LCM-LoRA, a stale text encoder) that fails only at render time. Lazy, heavy
        # ML: the diffusion engine's module loads torch and diffusers.
        from render.pipeline.engines.diffusion import model_family
        from render.pipeline.engines.model_layout import (
            FEW_STEP_FILE,
            MANIFEST,
            ModelFolderIncomplete,
            check_folder,
        )

        wanted = PIPELINE_FAMILY[family]
        if (dest / "model_index.json").is_file() and model_family(dest) != wanted:
            there = FAMILY_LABELS[model_family(dest)]
            raise CommandError(
                f"{dest} already holds an {there} model. Fetch {label} into another folder "
                f"with --dest and point RENDER_MODEL_DIR at it."
            )

        to_download = [part for part in parts if cached[part.repo] is None]
        if to_download:
            # Ask the hub about every repository first, with a short timeout: an offline
            # machine, a typo or a gated model fails in seconds, before gigabytes are
            # half-written, and says what it would have fetched where.
            from huggingface_hub import HfApi

            api = HfApi(endpoint=endpoint)
            for part in to_download:
                self._probe(api, part.repo, endpoint, plan_lines())

        dest.mkdir(parents=True, exist_ok=True)
        for part in parts:
            snapshot = cached[part.repo]
            if snapshot is not None:
                count = _link_from_cache(snapshot, part)
                self.stderr.write(f"Linked {count} files of {part.repo} from {snapshot}")
                continue
            from huggingface_hub import snapshot_download

            self.stderr.write(f"Fetching {part.repo} into {part.folder} …")
            try:
                snapshot_download(
                    part.repo,
                    local_dir=part.folder,
                    allow_patterns=part.patterns,
                    endpoint=endpoint,
                    cache_dir=cache_dir,
                )
            except Exception as exc:
                raise CommandError(
                    f"Downloading {part.repo} from {endpoint} failed ({type(exc).__name__}: "
                    f"{exc}). Run the command again: finished files are kept and not fetched "
                    "twice."
                ) from exc
        if family == LIGHTNING:
            lora = dict(FEW_STEP_LORAS[str(options.get("lora") or "sdxl-lightning")])
            (dest / "few-step-lora" / FEW_STEP_FILE).write_text(
                json.dumps(lora, indent=2), encoding="utf-8"
            )
        (dest / MANIFEST).write_text(
            json.dumps(
                {
                    "family": family,
                    "parts": [part.name for part in parts if part.name],
                    "sources": {part.name or "base": part.repo for part in parts},
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        try:
            check_folder(dest, few_step=family == LIGHTNING)
        except ModelFolderIncomplete as exc:
            raise CommandError(f"The folder is still not whole: {exc}") from exc
        if model_family(dest) != wanted:
            raise CommandError(
                f"{parts[0].repo} is not an {label} model (the folder reads as "
                f"{FAMILY_LABELS[model_family(dest)]}): pass a matching --repo or --family."
            )
        self.stdout.write(
            f"Saved the diffusers engine's {label} weights in {dest}. Use them with "
            f"RENDER_ENGINE=diffusers RENDER_MODEL_DIR={dest}."
        )

    def _probe(self, api: object, repo: str, endpoint: str, plan: list[str]) -> None:
        from huggingface_hub.errors import (
            GatedRepoError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
        )

        would = "It would fetch:\n" + "\n".join(plan)
        try:
            api.model_info(repo, timeout=PROBE_TIMEOUT_S)  # type: ignore[attr-defined]
        except OfflineModeIsEnabled as exc:
            raise CommandError(
                f"HF_HUB_OFFLINE is set and {repo} is not in the Hugging Face cache, so it "
                "cannot be fetched. Unset it on a machine with internet, or copy a fetched "
                f"model folder (or Hugging Face cache) here. {would}"
            ) from exc
        except GatedRepoError as exc:
            raise CommandError(
                f"{repo} needs an accepted licence: accept it on the hub and set HF_TOKEN."
            ) from exc
        except RepositoryNotFoundError as exc:
            raise CommandError(f"{repo} does not exist on {endpoint} (or is private).") from exc
        except Exception as exc:
            raise CommandError(
                f"Could not reach the Hugging Face Hub at {endpoint} "
                f"({type(exc).__name__}) for {repo}, which is not in the Hugging Face cache. "
                "This command needs internet for it; on an offline worker, fetch on another "
                f"machine and copy the folder to RENDER_MODEL_DIR. {would}"
            ) from exc
