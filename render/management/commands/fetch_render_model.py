"""``python manage.py fetch_render_model``: download the diffusers engine's weights.

For operators whose render worker has internet (or who fetch on one machine and copy the
folder). Writes the layout ``render.pipeline.engines.diffusion.load_pipeline`` reads::

    <dest>/model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/   base model
    <dest>/text_encoder_2/, tokenizer_2/                          SDXL only (--family sdxl)
    <dest>/controlnet/                                            ControlNet depth
    <dest>/lcm-lora/                                              optional, with --lcm-lora

``--family sd15`` (the default) fetches SD 1.5, its depth ControlNet and LCM-LoRA; ``--family
sdxl`` fetches SDXL base 1.0, the SDXL depth ControlNet and the SDXL LCM-LoRA (about 17 GB in
full precision, loaded as fp16 on a GPU; the engine then renders at 1024 px). The engine tells
the families apart from the folder itself, so each family needs its own ``--dest``.

Only the safetensors weights the loader uses are fetched (the base repositories also hold
several GB of .ckpt/.bin/ONNX duplicates and, for SD 1.5, a safety checker the engine does not
load). ``--dry-run`` prints what would be fetched where, without touching the network.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

FAMILIES = ("sd15", "sdxl")
FAMILY_LABELS = {"sd15": "SD 1.5", "sdxl": "SDXL"}
DEFAULT_REPOS = {
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
}
DEFAULT_CONTROLNETS = {
    "sd15": "lllyasviel/control_v11f1p_sd15_depth",
    "sdxl": "diffusers/controlnet-depth-sdxl-1.0",
}
DEFAULT_LCM_LORAS = {
    "sd15": "latent-consistency/lcm-lora-sdv1-5",
    "sdxl": "latent-consistency/lcm-lora-sdxl",
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
FAMILY_BASE_FILES = {"sd15": BASE_FILES, "sdxl": BASE_FILES + SDXL_EXTRA_FILES}
CONTROLNET_FILES = ["config.json", "diffusion_pytorch_model.safetensors"]
LORA_FILES = ["pytorch_lora_weights.safetensors"]

# ``--lcm-lora`` with no repository: the family's default LCM-LoRA.
_FAMILY_LCM_LORA = object()


class Command(BaseCommand):
    help = (
        "Download SD 1.5 (or, with --family sdxl, SDXL) + ControlNet depth (+ LCM-LoRA) for "
        "the diffusers render engine."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--dest", help="target folder (default: RENDER_MODEL_DIR)")
        parser.add_argument(
            "--family",
            choices=FAMILIES,
            default="sd15",
            help="sd15 (default, 512 px, runs on a CPU) or sdxl (1024 px, wants a GPU)",
        )
        parser.add_argument(
            "--repo",
            help=f"base model repository (default: {DEFAULT_REPOS['sd15']}, "
            f"or {DEFAULT_REPOS['sdxl']} for sdxl)",
        )
        parser.add_argument(
            "--controlnet",
            help=f"depth ControlNet repository (default: {DEFAULT_CONTROLNETS['sd15']}, "
            f"or {DEFAULT_CONTROLNETS['sdxl']} for sdxl)",
        )
        parser.add_argument(
            "--lcm-lora",
            nargs="?",
            const=_FAMILY_LCM_LORA,
            default=None,
            help="also fetch an LCM-LoRA for few-step sampling (default: "
            f"{DEFAULT_LCM_LORAS['sd15']}, or {DEFAULT_LCM_LORAS['sdxl']} for sdxl)",
        )
        parser.add_argument(
            "--endpoint", help="Hugging Face Hub URL (default: $HF_ENDPOINT or huggingface.co)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print which repositories and files would go where, and download nothing",
        )

    def handle(self, *args: object, **options: object) -> None:
        family = str(options["family"] or "sd15")
        if family not in FAMILIES:
            raise CommandError(f"--family must be one of {', '.join(FAMILIES)}, not {family!r}")
        label = FAMILY_LABELS[family]
        dest = Path(str(options["dest"] or settings.RENDER_MODEL_DIR)).expanduser()
        endpoint = str(options["endpoint"] or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
        repo = str(options["repo"] or DEFAULT_REPOS[family])
        controlnet = str(options["controlnet"] or DEFAULT_CONTROLNETS[family])
        downloads = [(repo, dest, FAMILY_BASE_FILES[family])]
        downloads.append((controlnet, dest / "controlnet", CONTROLNET_FILES))
        lcm_lora = options["lcm_lora"]
        if lcm_lora is _FAMILY_LCM_LORA:
            lcm_lora = DEFAULT_LCM_LORAS[family]
        if lcm_lora:
            downloads.append((str(lcm_lora), dest / "lcm-lora", LORA_FILES))

        if options["dry_run"]:
            self.stdout.write(f"{label} for the diffusers engine, into {dest}:")
            for source, folder, patterns in downloads:
                self.stdout.write(f"  {source} -> {folder}: {', '.join(patterns)}")
            return

        # One folder holds one family: fetching SDXL over SD 1.5 would leave a mixed folder
        # (an old LCM-LoRA, a stale text encoder) that fails only at render time.
        from render.pipeline.engines.diffusion import model_family

        if (dest / "model_index.json").is_file() and model_family(dest) != family:
            there = FAMILY_LABELS[model_family(dest)]
            raise CommandError(
                f"{dest} already holds an {there} model. Fetch {label} into another folder "
                f"with --dest and point RENDER_MODEL_DIR at it."
            )

        # Ask the hub about every repository first, with a short timeout: an offline machine,
        # a typo or a gated model fails in seconds, before gigabytes are half-written.
        from huggingface_hub import HfApi, snapshot_download

        api = HfApi(endpoint=endpoint)
        for source, _, _ in downloads:
            self._probe(api, source, endpoint)

        dest.mkdir(parents=True, exist_ok=True)
        for source, folder, patterns in downloads:
            self.stderr.write(f"Fetching {source} into {folder} …")
            try:
                snapshot_download(
                    source, local_dir=folder, allow_patterns=patterns, endpoint=endpoint
                )
            except Exception as exc:  # noqa: BLE001 - any hub/network error becomes one message
                raise CommandError(
                    f"Downloading {source} from {endpoint} failed ({type(exc).__name__}: {exc}). "
                    "Run the command again: finished files are kept and not fetched twice."
                ) from exc
        required = [dest / "model_index.json", dest / "controlnet" / "config.json"]
        if family == "sdxl":
            required.append(dest / "text_encoder_2" / "config.json")
        missing = [str(path) for path in required if not path.is_file()]
        if missing:
            raise CommandError(f"The download finished but these files are missing: {missing}")
        if model_family(dest) != family:
            raise CommandError(
                f"{repo} is not an {label} model (the folder reads as "
                f"{FAMILY_LABELS[model_family(dest)]}): pass a matching --repo or --family."
            )
        self.stdout.write(
            f"Saved the diffusers engine's {label} weights in {dest}. Use them with "
            f"RENDER_ENGINE=diffusers RENDER_MODEL_DIR={dest}."
        )

    def _probe(self, api: object, repo: str, endpoint: str) -> None:
        from huggingface_hub.errors import (
            GatedRepoError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
        )

        try:
            api.model_info(repo, timeout=PROBE_TIMEOUT_S)  # type: ignore[attr-defined]
        except OfflineModeIsEnabled as exc:
            raise CommandError(
                "HF_HUB_OFFLINE is set, so nothing can be downloaded. Unset it on a machine "
                "with internet, or copy a fetched model folder to RENDER_MODEL_DIR."
            ) from exc
        except GatedRepoError as exc:
            raise CommandError(
                f"{repo} needs an accepted licence: accept it on the hub and set HF_TOKEN."
            ) from exc
        except RepositoryNotFoundError as exc:
            raise CommandError(f"{repo} does not exist on {endpoint} (or is private).") from exc
        except Exception as exc:  # noqa: BLE001 - connection refused, DNS, TLS, timeouts…
            raise CommandError(
                f"Could not reach the Hugging Face Hub at {endpoint} "
                f"({type(exc).__name__}). This command needs internet; on an offline worker, "
                "fetch on another machine and copy the folder to RENDER_MODEL_DIR."
            ) from exc
