"""The diffusers engine end to end on a tiny random-weight pipeline saved to a temp folder.

The tiny model paints noise, not babies: these tests pin the plumbing (loading from a local
folder, per-candidate seeds, compositing, progress, cancel), not the look.
"""

import cv2
import numpy as np
import pytest

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import get_engine
from render.pipeline.engines.diffusion import load_pipeline, save_tiny_pipeline
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.types import RenderCancelled
from render.tests.pipeline.synthetic_cues import synthetic_cues

STEPS = 2
OUTPUT = 128


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """On a shared 2-core machine torch's thread pool spins against other processes and runs
    these tiny models ~4x slower than one thread does."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="module")
def engine(model_dir):
    return get_engine(
        "diffusers", model_dir=model_dir, steps=STEPS, resolution=64, output_long_side=OUTPUT
    )


@pytest.fixture(scope="module")
def conditioning():
    return build(synthetic_cues(96), blend_tone([6]), background_hex="#e6eef5")


@pytest.fixture(scope="module")
def candidates(engine, conditioning):
    return engine.render(conditioning, [11, 22, 33, 44, 55])


def test_it_renders_five_distinct_candidates(candidates):
    assert [c.seed for c in candidates] == [11, 22, 33, 44, 55]
    assert all(c.engine == "diffusers" and c.image.shape == (OUTPUT, OUTPUT, 3) for c in candidates)
    images = [c.image.astype(np.int16) for c in candidates]
    for i in range(5):
        for j in range(i + 1, 5):
            assert np.abs(images[i] - images[j]).max() > 10


def test_the_same_seed_renders_the_same_image_whatever_else_is_in_the_job(
    engine, conditioning, candidates
):
    again = engine.render(conditioning, [33, 99])
    # The same picture to the rounding of batched float kernels (a batch of two is not
    # summed in the order a batch of five is): a level here and there, never another image.
    difference = np.abs(again[0].image.astype(np.int16) - candidates[2].image)
    assert difference.max() <= 2 and (difference > 0).mean() < 0.001
    # While another seed in the same job is another picture.
    assert np.abs(again[1].image.astype(np.int16) - candidates[2].image).max() > 10


def test_unmasked_pixels_are_the_base_plate_exactly_and_masked_ones_are_painted(
    conditioning, candidates
):
    plate = RelightEngine(output_long_side=OUTPUT).render(conditioning, [22])[0].image
    mask = cv2.resize(conditioning.inpaint_mask, (OUTPUT, OUTPUT), interpolation=cv2.INTER_LINEAR)
    kept, painted = mask <= 0.0, mask >= 0.99
    assert kept.sum() > 1000 and painted.sum() > 1000
    image = candidates[1].image
    assert np.array_equal(image[kept], plate[kept])
    assert np.abs(image[painted].astype(np.int16) - plate[painted]).mean() > 5


def test_the_plate_s_wrap_is_carried_as_props_where_it_survives_the_composite(
    model_dir, conditioning
):
    engine = get_engine(
        "diffusers", model_dir=model_dir, steps=STEPS, resolution=64, output_long_side=OUTPUT
    )
    engine._base_plate = RelightEngine(output_long_side=OUTPUT, wrap=True)
    plate = engine._base_plate.render(conditioning, [22])[0]
    props = engine.render(conditioning, [22])[0].props
    assert plate.props is not None and props is not None
    assert props.shape == (OUTPUT, OUTPUT) and props.dtype == np.float32
    mask = cv2.resize(conditioning.inpaint_mask, (OUTPUT, OUTPUT), interpolation=cv2.INTER_LINEAR)
    kept, painted = mask <= 0.0, mask >= 0.99
    # Where the plate's pixels are kept, so is its wrap; where diffusion painted, the pixels
    # are the model's and not the set.
    assert (plate.props[kept] > 0.99).sum() > 100
    assert np.array_equal(props[kept], plate.props[kept])
    assert props[painted].max() <= 0.01


def test_progress_rises_to_one_through_the_step_callback(model_dir, conditioning):
    # Batches of two: each step of a batch moves both its candidates on.
    engine = get_engine(
        "diffusers",
        model_dir=model_dir,
        steps=STEPS,
        resolution=64,
        output_long_side=OUTPUT,
        batch_size=2,
    )
    fractions: list[float] = []
    engine.render(conditioning, [1, 2, 3, 4], progress=fractions.append)
    assert fractions == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_cancel_mid_batch_interrupts_the_pipeline_and_raises(engine, conditioning):
    fractions: list[float] = []
    with pytest.raises(RenderCancelled, match="during candidates 1-3 of 3"):
        engine.render(
            conditioning, [1, 2, 3], progress=fractions.append, cancel=lambda: bool(fractions)
        )
    assert fractions == pytest.approx([0.5])  # stopped after the batch's first step of two


def test_the_pipeline_is_loaded_once_per_process_in_fp32_on_cpu(model_dir):
    import torch

    first = load_pipeline(model_dir, "cpu")
    assert load_pipeline(model_dir, "cpu") is first
    assert first.unet.dtype == torch.float32
    assert type(first).__name__ == "StableDiffusionControlNetInpaintPipeline"


def test_a_missing_model_folder_is_a_clear_error(tmp_path, conditioning):
    engine = get_engine("diffusers", model_dir=tmp_path / "nothing-here")
    with pytest.raises(FileNotFoundError, match="fetch_render_model"):
        engine.render(conditioning, [1])


def test_few_step_without_a_few_step_lora_names_the_missing_part(tmp_path, conditioning):
    engine = get_engine("diffusers", model_dir=save_tiny_pipeline(tmp_path), few_step=True)
    with pytest.raises(FileNotFoundError, match="lacks few-step-lora/ \\(the few-step LoRA\\)"):
        engine.render(conditioning, [1])


def save_tiny_lora(model_dir, pipeline_class=None):
    """A random LoRA on the tiny UNet's attention, saved where the engine looks for LCM-LoRA
    (``pipeline_class`` writes it: SD 1.5's by default, SDXL's for an SDXL folder)."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(model_dir / "unet")
    unet.add_adapter(
        LoraConfig(
            r=4,
            lora_alpha=4,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
            init_lora_weights=False,
        )
    )
    (pipeline_class or StableDiffusionPipeline).save_lora_weights(
        model_dir / "lcm-lora", unet_lora_layers=get_peft_model_state_dict(unet)
    )


def test_an_older_lcm_lora_folder_is_read_as_a_few_step_lora_and_stays_reproducible(
    tmp_path, conditioning, candidates
):
    model_dir = save_tiny_pipeline(tmp_path)
    save_tiny_lora(model_dir)
    engine = get_engine(
        "diffusers",
        model_dir=model_dir,
        steps=STEPS,
        resolution=64,
        output_long_side=OUTPUT,
    )
    first, again = engine.render(conditioning, [22]), engine.render(conditioning, [22])
    pipe = load_pipeline(model_dir, "cpu", few_step=True)
    assert type(pipe.scheduler).__name__ == "LCMScheduler"
    assert np.array_equal(first[0].image, again[0].image)
    assert np.abs(first[0].image.astype(np.int16) - candidates[1].image).mean() > 1.0


@pytest.mark.real_weights
def test_real_weights_render_a_portrait_that_scores_well(conditioning):
    import os

    from render.pipeline.scoring import rank

    engine = get_engine("diffusers", model_dir=os.environ["RENDER_MODEL_DIR"], steps=20)
    ranked = rank(conditioning, engine.render(conditioning, [1, 2]))
    assert max(ranked[0].candidate.image.shape[:2]) >= 1024
    assert ranked[0].terms["delta_e"] < 10 and not ranked[0].rejected_reason
