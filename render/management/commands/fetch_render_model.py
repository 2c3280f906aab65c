"""``python manage.py fetch_render_model``: download the diffusers engine's weights.

For operators whose render worker has internet (or who fetch on one machine and copy the
folder). Writes the layout ``render.pipeline.engines.diffusion.load_pipeline`` reads::

    <dest>/model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/   SD 1.5
    <dest>/controlnet/                                                            ControlNet depth
    <dest>/lcm-lora/                                                 optional, with --lcm-lora

Only the safetensors weights the loader uses are fetched (the SD 1.5 repository also holds
several GB of .ckpt/.bin duplicates and a safety checker the engine does not load).
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEFAULT_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_CONTROLNET = "lllyasviel/control_v11f1p_sd15_depth"
DEFAULT_LCM_LORA = "latent-consistency/lcm-lora-sdv1-5"
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
CONTROLNET_FILES = ["config.json", "diffusion_pytorch_model.safetensors"]
LORA_FILES = ["pytorch_lora_weights.safetensors"]


class Command(BaseCommand):
    help = "Download SD 1.5 + ControlNet depth (+ LCM-LoRA) for the diffusers render engine."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--dest", help="target folder (default: RENDER_MODEL_DIR)")
        parser.add_argument("--repo", default=DEFAULT_REPO, help="SD 1.5 base model repository")
        parser.add_argument("--controlnet", default=DEFAULT_CONTROLNET)
        parser.add_argument(
            "--lcm-lora",
            nargs="?",
            const=DEFAULT_LCM_LORA,
            default=None,
            help=f"also fetch an LCM-LoRA for few-step sampling (default {DEFAULT_LCM_LORA})",
        )
        parser.add_argument(
            "--endpoint", help="Hugging Face Hub URL (default: $HF_ENDPOINT or huggingface.co)"
        )

    def handle(self, *args: object, **options: object) -> None:
        from huggingface_hub import HfApi, snapshot_download

        dest = Path(str(options["dest"] or settings.RENDER_MODEL_DIR)).expanduser()
        endpoint = str(options["endpoint"] or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
        downloads = [(str(options["repo"]), dest, BASE_FILES)]
        downloads.append((str(options["controlnet"]), dest / "controlnet", CONTROLNET_FILES))
        if options["lcm_lora"]:
            downloads.append((str(options["lcm_lora"]), dest / "lcm-lora", LORA_FILES))

        # Ask the hub about every repository first, with a short timeout: an offline machine,
        # a typo or a gated model fails in seconds, before gigabytes are half-written.
        api = HfApi(endpoint=endpoint)
        for repo, _, _ in downloads:
            self._probe(api, repo, endpoint)

        dest.mkdir(parents=True, exist_ok=True)
        for repo, folder, patterns in downloads:
            self.stderr.write(f"Fetching {repo} into {folder} …")
            try:
                snapshot_download(
                    repo, local_dir=folder, allow_patterns=patterns, endpoint=endpoint
                )
            except Exception as exc:  # noqa: BLE001 - any hub/network error becomes one message
                raise CommandError(
                    f"Downloading {repo} from {endpoint} failed ({type(exc).__name__}: {exc}). "
                    "Run the command again: finished files are kept and not fetched twice."
                ) from exc
        missing = [
            str(path)
            for path in (dest / "model_index.json", dest / "controlnet" / "config.json")
            if not path.is_file()
        ]
        if missing:
            raise CommandError(f"The download finished but these files are missing: {missing}")
        self.stdout.write(
            f"Saved the diffusers engine's weights in {dest}. Use them with "
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
