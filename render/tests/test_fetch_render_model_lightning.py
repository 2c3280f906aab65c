"""``fetch_render_model --family sdxl-lightning``: what it lays out, from a Hugging Face cache
with no network, and what it says when a part is neither cached nor reachable."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import get_engine
from render.pipeline.engines.diffusion import save_tiny_few_step_lora, save_tiny_pipeline
from render.tests.pipeline.synthetic_cues import synthetic_cues

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on port 9


def _cache_repo(cache: Path, repo: str, files: dict[str, Path]) -> None:
    """``repo`` in the Hugging Face cache layout (refs/main → snapshots/<commit>/files)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    for relative, source in files.items():
        target = root / "snapshots" / commit / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def hf_cache(tmp_path_factory) -> Path:
    """A cache holding a tiny SDXL as RealVisXL, its ControlNet and an SDXL-Lightning LoRA."""
    built = save_tiny_pipeline(tmp_path_factory.mktemp("tiny"), family="sdxl")
    save_tiny_few_step_lora(built, weight_name="sdxl_lightning_4step_lora.safetensors")
    cache = tmp_path_factory.mktemp("hub")
    base = {
        path.relative_to(built).as_posix(): path
        for path in built.rglob("*")
        if path.is_file() and path.parts[len(built.parts)] not in {"controlnet", "few-step-lora"}
    }
    _cache_repo(cache, "SG161222/RealVisXL_V4.0", base)
    _cache_repo(
        cache,
        "diffusers/controlnet-depth-sdxl-1.0",
        {path.name: path for path in (built / "controlnet").iterdir()},
    )
    lora = built / "few-step-lora" / "sdxl_lightning_4step_lora.safetensors"
    _cache_repo(cache, "ByteDance/SDXL-Lightning", {lora.name: lora})
    return cache


def test_it_lays_the_folder_out_from_the_cache_offline_and_the_engine_renders_from_it(
    hf_cache, tmp_path, monkeypatch
) -> None:
    import torch

    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    dest = tmp_path / "lightning"
    out = io.StringIO()
    call_command(
        "fetch_render_model",
        "--family",
        "sdxl-lightning",
        "--cache-dir",
        str(hf_cache),
        "--dest",
        str(dest),
        stdout=out,
        stderr=io.StringIO(),
    )
    assert f"RENDER_ENGINE=diffusers RENDER_MODEL_DIR={dest}" in out.getvalue()
    manifest = json.loads((dest / "cradle-model.json").read_text())
    assert manifest["family"] == "sdxl-lightning"
    assert manifest["parts"] == ["controlnet", "few-step-lora"]
    assert manifest["sources"]["few-step-lora"] == "ByteDance/SDXL-Lightning"
    few_step = json.loads((dest / "few-step-lora" / "few-step.json").read_text())
    assert few_step["steps"] == 4 and few_step["scheduler"] == "euler-trailing"
    assert few_step["guidance_scale"] == 0.0
    # Links into the cache, not copies of several GB.
    unet = dest / "unet" / "diffusion_pytorch_model.safetensors"
    assert unet.is_symlink() and str(unet.resolve()).startswith(str(hf_cache.resolve()))

    torch.set_num_threads(1)
    cond = build(synthetic_cues(96), blend_tone([6]), background_hex="#e6eef5")
    engine = get_engine("diffusers", model_dir=dest, resolution=64, output_long_side=128)
    rendered = engine.render(cond, [5, 6])
    assert engine.pipeline("cpu").scheduler.config.timestep_spacing == "trailing"
    assert rendered[0].image.shape == (128, 128, 3)
    assert np.abs(rendered[0].image.astype(int) - rendered[1].image).max() > 10


def test_the_dry_run_says_what_is_cached_and_what_would_be_fetched(hf_cache, tmp_path) -> None:
    dest = tmp_path / "plan"
    out = io.StringIO()
    call_command(
        "fetch_render_model",
        "--family",
        "sdxl-lightning",
        "--lora",
        "hyper-sd",
        "--cache-dir",
        str(hf_cache),
        "--dry-run",
        "--dest",
        str(dest),
        stdout=out,
    )
    header, base, controlnet, lora = out.getvalue().splitlines()
    assert header == f"SDXL-Lightning (photoreal SDXL) for the diffusers engine, into {dest}:"
    assert base.startswith(f"  SG161222/RealVisXL_V4.0 -> {dest}: model_index.json")
    assert "text_encoder_2/model.safetensors" in base and "(in the Hugging Face cache: " in base
    assert "(in the Hugging Face cache: " in controlnet
    assert lora == (
        f"  ByteDance/Hyper-SD -> {dest / 'few-step-lora'}: Hyper-SDXL-4steps-lora.safetensors"
    )
    assert not dest.exists()


def test_offline_without_the_lora_cached_it_names_what_it_would_fetch_and_writes_nothing(
    hf_cache, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    dest = tmp_path / "hyper"
    started = time.monotonic()
    with pytest.raises(CommandError) as refused:
        call_command(
            "fetch_render_model",
            "--family",
            "sdxl-lightning",
            "--lora",
            "hyper-sd",
            "--cache-dir",
            str(hf_cache),
            "--dest",
            str(dest),
        )
    assert time.monotonic() - started < 5.0
    message = str(refused.value)
    assert f"Could not reach the Hugging Face Hub at {UNREACHABLE}" in message
    assert "for ByteDance/Hyper-SD, which is not in the Hugging Face cache" in message
    assert (
        f"ByteDance/Hyper-SD -> {dest / 'few-step-lora'}: Hyper-SDXL-4steps-lora.safetensors"
        in message
    )
    assert not dest.exists()


def test_the_depth_t2i_adapter_is_planned_in_place_of_the_controlnet(tmp_path) -> None:
    dest = tmp_path / "adapter"
    out = io.StringIO()
    call_command(
        "fetch_render_model",
        "--family",
        "sdxl-lightning",
        "--depth",
        "t2i-adapter",
        "--cache-dir",
        str(tmp_path / "empty-cache"),
        "--dry-run",
        "--dest",
        str(dest),
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    assert lines[2] == (
        f"  TencentARC/t2i-adapter-depth-midas-sdxl-1.0 -> {dest / 't2i-adapter'}: "
        "config.json, diffusion_pytorch_model.safetensors"
    )
    assert not any("controlnet" in line for line in lines)
    with pytest.raises(CommandError, match="--depth t2i-adapter is for --family sdxl-lightning"):
        call_command(
            "fetch_render_model", "--family", "sdxl", "--depth", "t2i-adapter", "--dry-run"
        )
