"""The engine commands: ``fetch_render_model`` offline, ``fairness`` and ``bench render``, and
the diffusers engine's weights folder coming from ``RENDER_MODEL_DIR``."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import schema_context

from render import services
from render.models import RenderJob


def test_fetch_render_model_fails_fast_and_clearly_when_the_hub_is_unreachable(
    tmp_path,
    monkeypatch,
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    started = time.monotonic()
    with pytest.raises(
        CommandError, match="Could not reach the Hugging Face Hub at http://127.0.0.1:9"
    ):
        call_command("fetch_render_model", "--dest", str(tmp_path / "model"))
    assert time.monotonic() - started < 5.0
    assert not (tmp_path / "model").exists()  # nothing half-written


def test_fairness_reports_every_monk_tone_within_the_goal() -> None:
    out = io.StringIO()
    # A smaller phantom and two candidates per tone keep this to a few seconds.
    call_command(
        "fairness", "--json", "--width", "640", "--height", "436", "--candidates", "2", stdout=out
    )
    result = json.loads(out.getvalue())
    tones = result["tones"]
    assert [t["monk"] for t in tones] == list(range(1, 11))
    assert tones[0]["target"] == "#f6ede4" and tones[9]["target"] == "#292420"
    values = [t["delta_e"] for t in tones]
    assert all(0.0 <= v <= 5.0 for v in values), values
    assert result["max_delta_e"] == max(values)
    assert result["spread"] == pytest.approx(max(values) - min(values), abs=0.011)
    assert result["spread"] <= 2.0


def test_bench_render_times_five_candidates_over_at_least_five_runs() -> None:
    out = io.StringIO()
    call_command("bench", "render", "--json", "--runs", "1", stdout=out)
    result = json.loads(out.getvalue())
    assert result["runs"] == 5 and result["candidates"] == 5
    assert result["median_ms"] > 0
    assert sorted(result["steps_ms"]) == [f"candidate_{i}" for i in range(1, 6)]
    assert max(int(side) for side in result["output"].split("x")) == 1024


def test_a_diffusers_job_looks_for_its_weights_in_render_model_dir(
    studio,
    settings,
    tmp_path,
    phantom_jpeg,
) -> None:
    settings.RENDER_ENGINE = "diffusers"
    settings.RENDER_MODEL_DIR = str(tmp_path / "no-weights-here")
    with schema_context(studio.schema_name):
        session = services.parent_session_create(
            parent_name="Ada", email="ada@example.com", consent_given=True, skin_swatches=["5"]
        )
        job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        assert job.engine == "diffusers"
        services.render_job_vision_run(job_id=job.pk, enqueue=False)
        with pytest.raises(FileNotFoundError, match="no-weights-here.*fetch_render_model"):
            services.render_job_render_run(job_id=job.pk)
        assert RenderJob.objects.get(pk=job.pk).candidates.count() == 0


def test_fetch_render_model_family_sdxl_plans_the_sdxl_layout_without_the_network(
    tmp_path,
    monkeypatch,
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a dry run must not need it
    dest = tmp_path / "sdxl"
    out = io.StringIO()
    call_command(
        "fetch_render_model",
        "--family",
        "sdxl",
        "--lcm-lora",
        "--dry-run",
        "--dest",
        str(dest),
        stdout=out,
    )
    plan = out.getvalue().splitlines()
    assert plan[0] == f"SDXL for the diffusers engine, into {dest}:"
    base, controlnet, lora = plan[1:]
    assert base.startswith(f"  stabilityai/stable-diffusion-xl-base-1.0 -> {dest}: ")
    assert "text_encoder_2/model.safetensors" in base and "tokenizer_2/*" in base
    assert "unet/diffusion_pytorch_model.safetensors" in base
    assert controlnet.startswith(
        f"  diffusers/controlnet-depth-sdxl-1.0 -> {dest / 'controlnet'}: config.json"
    )
    assert lora.startswith(f"  latent-consistency/lcm-lora-sdxl -> {dest / 'lcm-lora'}: ")
    assert not dest.exists()

    out = io.StringIO()
    call_command("fetch_render_model", "--dry-run", "--dest", str(dest), stdout=out)
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in out.getvalue()
    assert "text_encoder_2" not in out.getvalue()  # the default stays SD 1.5


def test_fetch_render_model_family_sdxl_fails_fast_offline_and_never_over_an_sd15_folder(
    tmp_path,
    monkeypatch,
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    started = time.monotonic()
    with pytest.raises(CommandError, match="Could not reach the Hugging Face Hub"):
        call_command("fetch_render_model", "--family", "sdxl", "--dest", str(tmp_path / "xl"))
    assert time.monotonic() - started < 5.0
    assert not (tmp_path / "xl").exists()

    sd15 = tmp_path / "sd15"
    sd15.mkdir()
    index = '{"_class_name": "StableDiffusionPipeline"}'
    (sd15 / "model_index.json").write_text(index)
    with pytest.raises(CommandError, match="already holds an SD 1.5 model.*another folder"):
        call_command("fetch_render_model", "--family", "sdxl", "--dest", str(sd15))
    assert sorted(p.name for p in sd15.iterdir()) == ["model_index.json"]
    assert (sd15 / "model_index.json").read_text() == index

    with pytest.raises(CommandError, match="invalid choice: 'sd3'"):
        call_command("fetch_render_model", "--family", "sd3", "--dest", str(tmp_path / "x"))


def test_bench_render_with_the_diffusers_engine_refuses_a_folder_lacking_a_part(
    settings,
    tmp_path,
) -> None:
    settings.RENDER_MODEL_DIR = str(tmp_path / "empty")
    with pytest.raises(CommandError, match="no diffusion model in .*empty.*fetch_render_model"):
        call_command("bench", "render", "--engine", "diffusers", "--json", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--tiny is for --engine diffusers"):
        call_command("bench", "render", "--tiny", "--json", stdout=io.StringIO())
    with pytest.raises(CommandError, match="bench upscale does not take --engine"):
        call_command("bench", "upscale", "--engine", "diffusers", stdout=io.StringIO())
