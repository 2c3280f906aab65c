"""The diffusers engine on a tiny random-weight SDXL + ControlNet folder saved to a temp folder.

Mirrors test_diffusers_engine_tiny_model.py (SD 1.5): the tiny model paints noise, so these pin
the plumbing — the folder recognised as SDXL, per-candidate seeds, compositing, progress,
cancel, an older LCM-LoRA folder, and both families side by side in one process — not the look.
The production SDXL-Lightning layout (few-step-lora/, the T2I-Adapter, a folder lacking a part)
is tested in test_diffusers_sdxl_lightning_tiny.py.
"""

import json
import os
import shutil

import numpy as np
import pytest

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import get_engine
from render.pipeline.engines.diffusion import (
    load_pipeline,
    model_family,
    save_tiny_pipeline,
)
from render.tests.pipeline.synthetic_cues import synthetic_cues

# The engine's contract is the same for both families: these run here on the SDXL module's
# own fixtures (``engine``, ``conditioning``, ``candidates``), at the same OUTPUT size.
from render.tests.pipeline.test_diffusers_engine_tiny_model import (  # noqa: F401
    save_tiny_lora,
    test_cancel_mid_batch_interrupts_the_pipeline_and_raises,
    test_it_renders_five_distinct_candidates,
    test_progress_rises_to_one_through_the_step_callback,
    test_the_same_seed_renders_the_same_image_whatever_else_is_in_the_job,
    test_unmasked_pixels_are_the_base_plate_exactly_and_masked_ones_are_painted,
)

STEPS = 2
OUTPUT = 128


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """On a shared 2-core machine torch's thread pool spins against other processes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sdxl_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sdxl"), family="sdxl")


@pytest.fixture(scope="module")
def model_dir(sdxl_dir):
    """The shared contract tests take the folder under this name."""
    return sdxl_dir


@pytest.fixture(scope="module")
def sd15_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd15"))


@pytest.fixture(scope="module")
def engine(sdxl_dir):
    return get_engine(
        "diffusers", model_dir=sdxl_dir, steps=STEPS, resolution=64, output_long_side=OUTPUT
    )


@pytest.fixture(scope="module")
def conditioning():
    return build(synthetic_cues(96), blend_tone([6]), background_hex="#e6eef5")


@pytest.fixture(scope="module")
def candidates(engine, conditioning):
    return engine.render(conditioning, [11, 22, 33, 44, 55])


def test_the_tiny_folder_has_the_sdxl_layout_and_loads_the_sdxl_pipeline_in_fp32(sdxl_dir):
    import torch

    index = json.loads((sdxl_dir / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLControlNetInpaintPipeline"
    for part in ("text_encoder_2", "tokenizer_2", "controlnet", "unet", "vae"):
        assert (sdxl_dir / part).is_dir(), part
    assert model_family(sdxl_dir) == "sdxl"
    pipe = load_pipeline(sdxl_dir, "cpu")
    assert load_pipeline(sdxl_dir, "cpu") is pipe
    assert type(pipe).__name__ == "StableDiffusionXLControlNetInpaintPipeline"
    assert pipe.unet.dtype == torch.float32 and pipe.text_encoder_2.dtype == torch.float32
    assert type(pipe.controlnet).__name__ == "ControlNetModel"


def test_the_family_is_read_from_the_class_name_or_the_second_text_encoder(tmp_path):
    sd15 = tmp_path / "sd15"
    sd15.mkdir()
    (sd15 / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    assert model_family(sd15) == "sd15"

    named = tmp_path / "named"
    named.mkdir()
    (named / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionXLPipeline"})
    )
    assert model_family(named) == "sdxl"

    by_folders = tmp_path / "by-folders"
    (by_folders / "text_encoder_2").mkdir(parents=True)
    (by_folders / "tokenizer_2").mkdir()
    (by_folders / "model_index.json").write_text(json.dumps({"_class_name": "DiffusionPipeline"}))
    assert model_family(by_folders) == "sdxl"


def test_an_sd15_and_an_sdxl_folder_both_render_in_one_process(
    sd15_dir, sdxl_dir, conditioning, candidates
):
    sd15 = get_engine(
        "diffusers", model_dir=sd15_dir, steps=STEPS, resolution=64, output_long_side=OUTPUT
    )
    sdxl = get_engine(
        "diffusers", model_dir=sdxl_dir, steps=STEPS, resolution=64, output_long_side=OUTPUT
    )
    before = sdxl.render(conditioning, [22])[0].image
    from_sd15 = sd15.render(conditioning, [22])[0].image
    from_sdxl = sdxl.render(conditioning, [22])[0].image  # after SD 1.5 was loaded
    assert (
        type(load_pipeline(sd15_dir, "cpu")).__name__ == "StableDiffusionControlNetInpaintPipeline"
    )
    assert type(load_pipeline(sdxl_dir, "cpu")).__name__ == (
        "StableDiffusionXLControlNetInpaintPipeline"
    )
    # Each family keeps its own pipeline: SDXL renders exactly what it did before SD 1.5 loaded.
    assert np.array_equal(from_sdxl, before)
    # The seed holds alone as in the batch of five, to the rounding of batched float kernels:
    # a pixel level here and there, never more.
    difference = np.abs(from_sdxl.astype(np.int16) - candidates[1].image)
    assert difference.max() <= 1 and difference.mean() < 0.01
    assert from_sd15.shape == from_sdxl.shape == (OUTPUT, OUTPUT, 3)
    assert np.abs(from_sd15.astype(np.int16) - from_sdxl).mean() > 1.0


def test_an_sd15_controlnet_in_an_sdxl_folder_is_a_clear_error(
    tmp_path, sd15_dir, sdxl_dir, conditioning
):
    mixed = tmp_path / "mixed"
    shutil.copytree(sdxl_dir, mixed)
    shutil.rmtree(mixed / "controlnet")
    shutil.copytree(sd15_dir / "controlnet", mixed / "controlnet")
    engine = get_engine("diffusers", model_dir=mixed, steps=STEPS, resolution=64)
    with pytest.raises(ValueError, match="does not fit this SDXL model.*--family sdxl"):
        engine.render(conditioning, [1])


def test_an_older_lcm_lora_folder_is_fused_into_sdxl_with_the_lcm_scheduler_and_reproducible(
    tmp_path, sdxl_dir, conditioning, candidates
):
    # SDXL's own LoRA format under lcm-lora/ (as LCM-LoRA SDXL was laid out before
    # few-step-lora/): read as a few-step LoRA without being asked.
    model_dir = tmp_path / "with-lcm-lora"
    shutil.copytree(sdxl_dir, model_dir)
    from diffusers import StableDiffusionXLPipeline

    save_tiny_lora(model_dir, StableDiffusionXLPipeline)
    engine = get_engine(
        "diffusers", model_dir=model_dir, steps=STEPS, resolution=64, output_long_side=OUTPUT
    )
    first, again = engine.render(conditioning, [22]), engine.render(conditioning, [22])
    pipe = engine.pipeline("cpu")
    assert pipe is load_pipeline(model_dir, "cpu", few_step=True)
    assert type(pipe.scheduler).__name__ == "LCMScheduler"
    assert pipe._cradle_few_step.label == "LCM-LoRA"
    # Fused and unloaded: no LoRA layers left to run at every step.
    assert not any("lora" in name for name, _ in pipe.unet.named_modules())
    assert np.array_equal(first[0].image, again[0].image)
    assert np.abs(first[0].image.astype(np.int16) - candidates[1].image).mean() > 1.0


@pytest.mark.real_weights
def test_real_sdxl_weights_render_a_portrait_that_scores_well(conditioning):
    from render.pipeline.scoring import rank

    model_dir = os.environ["RENDER_MODEL_DIR"]
    if model_family(model_dir) != "sdxl":
        pytest.skip(f"{model_dir} holds SD 1.5; fetch with --family sdxl to run this")
    engine = get_engine("diffusers", model_dir=model_dir, steps=20)
    ranked = rank(conditioning, engine.render(conditioning, [1, 2]))
    assert max(ranked[0].candidate.image.shape[:2]) >= 1024
    assert ranked[0].terms["delta_e"] < 10 and not ranked[0].rejected_reason
