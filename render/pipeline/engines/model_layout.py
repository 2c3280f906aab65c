"""What a diffusers engine's model folder holds, and which part is missing when it is not whole.

Shared by the engine (which refuses an incomplete folder before loading anything) and by
``manage.py fetch_render_model`` (which lays the folder out). No torch here: an operator
checking a folder, or the web process, never imports it.

A folder is a diffusers pipeline saved with ``save_pretrained`` plus Cradle's extra parts::

    model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/     the base model
    text_encoder_2/, tokenizer_2/                                            SDXL only
    controlnet/                  the depth ControlNet made for the same family, or
    t2i-adapter/                 a depth T2I-Adapter (SDXL): run once per render, not per step
    few-step-lora/               optional: a few-step LoRA (SDXL-Lightning, Hyper-SD, LCM) and
                                 its ``few-step.json`` (weights file, steps, scheduler, guidance)
    lcm-lora/                    older folders: an LCM-LoRA, read as a few-step LoRA
    cradle-model.json            written by fetch_render_model: the family and the parts it
                                 laid out, so a part lost later is named, not guessed
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "cradle-model.json"
FEW_STEP_DIR = "few-step-lora"
LCM_DIR = "lcm-lora"
FEW_STEP_FILE = "few-step.json"
ADAPTER_DIR = "t2i-adapter"
SCHEDULERS: tuple[str, ...] = ("euler-trailing", "ddim-trailing", "lcm")

# What each part is, in the words an operator reads in the refusal.
PART_LABELS: dict[str, str] = {
    "model_index.json": "the base model's index",
    "unet": "the base model's UNet",
    "vae": "the base model's VAE",
    "text_encoder": "the first text encoder (CLIP ViT-L)",
    "text_encoder_2": "SDXL's second text encoder (OpenCLIP ViT-bigG)",
    "tokenizer": "the first tokenizer",
    "tokenizer_2": "SDXL's second tokenizer",
    "scheduler": "the scheduler's configuration",
    "controlnet": "the depth ControlNet",
    ADAPTER_DIR: "the depth T2I-Adapter",
    FEW_STEP_DIR: "the few-step LoRA",
}
# A part is present when one of these files is (weights may be fp16 variants or .bin).
_PART_FILES: dict[str, tuple[str, ...]] = {
    "unet": ("config.json",),
    "vae": ("config.json",),
    "controlnet": ("config.json",),
    ADAPTER_DIR: ("config.json",),
    "text_encoder": ("config.json",),
    "text_encoder_2": ("config.json",),
    "tokenizer": ("tokenizer_config.json", "vocab.json"),
    "tokenizer_2": ("tokenizer_config.json", "vocab.json"),
    "scheduler": ("scheduler_config.json",),
}
_WEIGHTS = ("*.safetensors", "*.bin")
_WEIGHTED = ("unet", "vae", "controlnet", ADAPTER_DIR, "text_encoder", "text_encoder_2")


class ModelFolderIncomplete(FileNotFoundError):
    """The model folder lacks a part; the message names it and how to get it."""


@dataclass(frozen=True)
class FewStep:
    """How a few-step LoRA wants to be sampled (``few-step.json`` beside its weights)."""

    folder: Path
    weight_name: str | None
    steps: int
    scheduler: str  # one of SCHEDULERS
    guidance_scale: float
    label: str


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fetch_hint(folder: Path, family: str | None) -> str:
    family_flag = f" --family {family}" if family else ""
    return f"run `python manage.py fetch_render_model{family_flag} --dest {folder}`"


def _part_present(folder: Path, part: str) -> bool:
    path = folder / part
    if part == "model_index.json":
        return path.is_file()
    if part == FEW_STEP_DIR:
        return any(path.glob("*.safetensors")) and (path / FEW_STEP_FILE).is_file()
    if not path.is_dir():
        return False
    if not any((path / name).is_file() for name in _PART_FILES.get(part, ("config.json",))):
        return False
    if part in _WEIGHTED:
        return any(any(path.glob(pattern)) for pattern in _WEIGHTS)
    return True


def manifest(folder: Path) -> dict[str, Any]:
    return read_json(folder / MANIFEST)


def check_folder(folder: str | Path, *, few_step: bool | None = None) -> None:
    """Raise :class:`ModelFolderIncomplete` naming the first missing part of ``folder``.

    The parts are those ``cradle-model.json`` lists (a folder fetch_render_model laid out),
    else the components ``model_index.json`` names, plus the depth control (ControlNet, or a
    T2I-Adapter where the folder has one); with ``few_step=True``, the few-step LoRA too.
    """
    folder = Path(folder)
    laid_out = manifest(folder)
    family = laid_out.get("family") if isinstance(laid_out.get("family"), str) else None
    if not (folder / "model_index.json").is_file():
        raise ModelFolderIncomplete(
            f"no diffusion model in {folder} (no model_index.json): "
            f"{_fetch_hint(folder, family)}, or point RENDER_MODEL_DIR at a saved pipeline"
        )
    index = read_json(folder / "model_index.json")
    parts = [
        name
        for name, value in index.items()
        if not name.startswith("_")
        and name in _PART_FILES
        and name not in ("controlnet", ADAPTER_DIR)
        and isinstance(value, list)
        and value[0] is not None
    ]
    parts.append(depth_control(folder))
    listed = laid_out.get("parts")
    if isinstance(listed, list):
        parts.extend(str(part) for part in listed if str(part) not in parts)
    if few_step and FEW_STEP_DIR not in parts and not (folder / LCM_DIR).is_dir():
        parts.append(FEW_STEP_DIR)
    for part in parts:
        if part == "model_index.json" or _part_present(folder, part):
            continue
        label = PART_LABELS.get(part, part)
        raise ModelFolderIncomplete(
            f"the model folder {folder} lacks {part}/ ({label}): {_fetch_hint(folder, family)}"
        )


def depth_control(folder: str | Path) -> str:
    """``"t2i-adapter"`` when the folder holds a depth T2I-Adapter (and no ControlNet), else
    ``"controlnet"``: the part that holds the painted face to the scan's depth."""
    folder = Path(folder)
    listed = manifest(folder).get("parts")
    if isinstance(listed, list) and ADAPTER_DIR in listed:
        return ADAPTER_DIR
    if (folder / ADAPTER_DIR).is_dir() and not (folder / "controlnet").is_dir():
        return ADAPTER_DIR
    return "controlnet"


def few_step_of(folder: str | Path) -> FewStep | None:
    """The folder's few-step LoRA and how to sample it, or None when it has none."""
    folder = Path(folder)
    lora = folder / FEW_STEP_DIR
    if lora.is_dir():
        settings = read_json(lora / FEW_STEP_FILE)
        scheduler = str(settings.get("scheduler", "euler-trailing"))
        if scheduler not in SCHEDULERS:
            raise ValueError(
                f"{lora / FEW_STEP_FILE} names scheduler {scheduler!r}; "
                f"Cradle knows {', '.join(SCHEDULERS)}"
            )
        weight_name = settings.get("weight_name")
        return FewStep(
            folder=lora,
            weight_name=str(weight_name) if weight_name else None,
            steps=int(settings.get("steps", 4)),
            scheduler=scheduler,
            guidance_scale=float(settings.get("guidance_scale", 0.0)),
            label=str(settings.get("label", settings.get("source", "few-step LoRA"))),
        )
    lcm = folder / LCM_DIR
    if lcm.is_dir():
        # LCM distils sampling to a handful of steps and wants almost no guidance.
        return FewStep(lcm, None, 6, "lcm", 1.2, "LCM-LoRA")
    return None
