"""The production layout in miniature: a tiny random-weight SDXL + depth ControlNet + few-step
LoRA folder (``sdxl-lightning``, as fetch_render_model lays it out), built from config objects
the way diffusers tests itself. It paints noise: these tests pin batching, seeds, the LoRA's
path, subject-only inpainting and the refusals, not the look."""

import shutil

import cv2
import numpy as np
import pytest

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import get_engine
from render.pipeline.engines.diffusion import save_tiny_lightning_folder
from render.pipeline.engines.model_layout import ModelFolderIncomplete, check_folder
from render.pipeline.engines.relight import RelightEngine
from render.tests.pipeline.synthetic_cues import synthetic_cues

OUTPUT = 128
SEEDS = [11, 22, 33, 44, 55]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_lightning_folder(tmp_path_factory.mktemp("tiny-sdxl-lightning"))


def _engine(model_dir, **options):
    return get_engine(
        "diffusers", model_dir=model_dir, resolution=64, output_long_side=OUTPUT, **options
    )


@pytest.fixture(scope="module")
def conditioning():
    return build(synthetic_cues(96), blend_tone([6]), background_hex="#e6eef5")


@pytest.fixture(scope="module")
def unet_batches(model_dir):
    """The batch size of every UNet call the engine's pipeline makes."""
    engine = _engine(model_dir)
    sizes: list[int] = []
    pipe = engine.pipeline("cpu")
    handle = pipe.unet.register_forward_pre_hook(
        lambda _module, args, kwargs: sizes.append(int(args[0].shape[0])), with_kwargs=True
    )
    yield engine, sizes
    handle.remove()


@pytest.fixture(scope="module")
def batch(unet_batches, conditioning):
    engine, sizes = unet_batches
    sizes.clear()
    candidates = engine.render(conditioning, SEEDS)
    return candidates, list(sizes)


def test_the_folder_loads_fp32_sdxl_with_the_lora_fused_and_a_trailing_scheduler(model_dir):
    import torch

    pipe = _engine(model_dir).pipeline("cpu")
    assert type(pipe).__name__ == "StableDiffusionXLControlNetInpaintPipeline"
    assert pipe.unet.dtype == torch.float32  # fp16 only on a GPU
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert pipe._cradle_few_step.steps == 4 and pipe._cradle_few_step.guidance_scale == 0.0
    # Fused and unloaded: no LoRA layers left to run at every step.
    assert not any("lora" in name for name, _ in pipe.unet.named_modules())


def test_five_candidates_go_through_the_unet_as_one_batch_in_four_steps(batch):
    candidates, sizes = batch
    # guidance 0: no classifier-free doubling, one call of five per step.
    assert sizes == [5, 5, 5, 5]
    assert [c.seed for c in candidates] == SEEDS
    assert all(c.engine == "diffusers" and c.image.shape == (OUTPUT, OUTPUT, 3) for c in candidates)
    images = [c.image.astype(np.int16) for c in candidates]
    for i in range(5):
        for j in range(i + 1, 5):
            assert np.abs(images[i] - images[j]).max() > 10


def test_a_seed_gives_the_same_picture_alone_or_in_any_batch(model_dir, conditioning, batch):
    candidates, _ = batch

    # The same picture to the last level: torch's CPU kernels may sum a batch of one and of
    # two in another order, which can move a rare pixel by one 8-bit step (seen once under load).
    def same(a: np.ndarray, b: np.ndarray) -> bool:
        step = np.abs(a.astype(np.int16) - b)
        return int(step.max()) <= 1 and float((step > 0).mean()) < 0.001

    alone = _engine(model_dir).render(conditioning, [33])[0]
    assert same(alone.image, candidates[2].image)
    pairs = _engine(model_dir, batch_size=2).render(conditioning, [44, 11, 55])
    assert same(pairs[0].image, candidates[3].image)
    assert same(pairs[2].image, candidates[4].image)


def test_only_the_subject_is_painted_the_rest_is_the_studio_backdrop(conditioning, batch):
    candidates, _ = batch
    plates = RelightEngine(output_long_side=OUTPUT).render(conditioning, SEEDS)
    mask = cv2.resize(conditioning.inpaint_mask, (OUTPUT, OUTPUT), interpolation=cv2.INTER_LINEAR)
    kept, painted = mask <= 0.0, mask >= 0.99
    assert kept.sum() > 1000 and painted.sum() > 1000
    for candidate, plate in zip(candidates, plates, strict=True):
        assert np.array_equal(candidate.image[kept], plate.image[kept])
        assert np.abs(candidate.image[painted].astype(np.int16) - plate.image[painted]).mean() > 5


def test_the_lora_changes_what_is_painted(model_dir, conditioning, batch):
    candidates, _ = batch
    plain = _engine(model_dir, few_step=False, steps=4, guidance_scale=0.0)
    without = plain.render(conditioning, [11])[0]
    assert np.abs(without.image.astype(np.int16) - candidates[0].image).mean() > 1.0


@pytest.mark.parametrize(
    ("part", "named"),
    [
        ("few-step-lora", "few-step-lora/ (the few-step LoRA)"),
        ("controlnet", "controlnet/ (the depth ControlNet)"),
        ("text_encoder_2", "text_encoder_2/ (SDXL's second text encoder"),
    ],
)
def test_a_folder_lacking_a_part_is_refused_naming_it(
    model_dir, tmp_path, conditioning, part, named
):
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    shutil.rmtree(broken / part)
    with pytest.raises(ModelFolderIncomplete) as refused:
        _engine(broken).render(conditioning, [1])
    assert named in str(refused.value)
    assert "fetch_render_model --family sdxl-lightning" in str(refused.value)


def test_weights_missing_from_a_part_are_refused_too(model_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelFolderIncomplete, match="lacks unet/ \\(the base model's UNet\\)"):
        check_folder(broken)


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    return save_tiny_lightning_folder(
        tmp_path_factory.mktemp("tiny-sdxl-adapter"), depth="t2i-adapter"
    )


@pytest.fixture(scope="module")
def adapter_batch(adapter_dir, conditioning):
    engine = _engine(adapter_dir)
    adapter_calls: list[int] = []
    pipe = engine.pipeline("cpu")
    handle = pipe._cradle_adapter.register_forward_hook(lambda *_: adapter_calls.append(1))
    candidates = engine.render(conditioning, [11, 22, 33])
    handle.remove()
    return engine, candidates, len(adapter_calls)


def test_the_adapter_path_reads_the_depth_once_and_paints_only_the_subject(
    adapter_batch, conditioning
):
    engine, candidates, adapter_calls = adapter_batch
    pipe = engine.pipeline("cpu")
    assert type(pipe).__name__ == "StableDiffusionXLInpaintPipeline"
    assert type(pipe._cradle_adapter).__name__ == "T2IAdapter"
    assert adapter_calls == 1  # once per render, not once per step as a ControlNet
    plates = RelightEngine(output_long_side=OUTPUT).render(conditioning, [11, 22, 33])
    mask = cv2.resize(conditioning.inpaint_mask, (OUTPUT, OUTPUT), interpolation=cv2.INTER_LINEAR)
    kept, painted = mask <= 0.0, mask >= 0.99
    for candidate, plate in zip(candidates, plates, strict=True):
        assert np.array_equal(candidate.image[kept], plate.image[kept])
        assert np.abs(candidate.image[painted].astype(np.int16) - plate.image[painted]).mean() > 5


def test_the_adapter_s_depth_steers_the_picture_and_seeds_hold(
    adapter_dir, adapter_batch, conditioning
):
    _, candidates, _ = adapter_batch
    alone = _engine(adapter_dir).render(conditioning, [22])[0]
    # Batched float kernels may round a pixel the other way: never more than one level.
    difference = np.abs(alone.image.astype(np.int16) - candidates[1].image)
    assert difference.max() <= 1 and difference.mean() < 0.01
    unsteered = _engine(adapter_dir, controlnet_scale=0.0).render(conditioning, [22])[0]
    assert np.abs(unsteered.image.astype(np.int16) - candidates[1].image).mean() > 0.5


def test_a_folder_with_neither_depth_part_is_refused_naming_the_one_it_was_laid_out_with(
    adapter_dir, tmp_path
):
    broken = tmp_path / "model"
    shutil.copytree(adapter_dir, broken)
    shutil.rmtree(broken / "t2i-adapter")
    with pytest.raises(
        ModelFolderIncomplete, match="lacks t2i-adapter/ \\(the depth T2I-Adapter\\)"
    ):
        check_folder(broken)


def test_torch_compile_is_opt_in_and_wraps_the_unet_once_per_pipeline(model_dir, monkeypatch):
    # Compiling happens at the first call (a minute on a GPU): this pins the wiring only.
    assert type(_engine(model_dir).pipeline("cpu").unet).__name__ == "UNet2DConditionModel"
    monkeypatch.setenv("RENDER_TORCH_COMPILE", "1")
    engine = _engine(model_dir)
    assert engine.compile_unet
    compiled = engine.pipeline("cpu")
    assert type(compiled.unet).__name__ == "OptimizedModule"
    assert engine.pipeline("cpu") is compiled
