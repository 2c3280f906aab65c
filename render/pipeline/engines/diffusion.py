"""The diffusers engine: SDXL (or SD 1.5) + a depth ControlNet or depth T2I-Adapter, inpainting
the subject only, all candidates in one batch, few-step with a LoRA when the folder has one.

The production layout (``manage.py fetch_render_model --family sdxl-lightning``; see
``model_layout`` for every part)::

    <model_dir>/model_index.json, unet/, vae/, text_encoder(_2)/, tokenizer(_2)/, scheduler/
                                  a photoreal SDXL base (RealVisXL V4.0 by default)
    <model_dir>/controlnet/       the SDXL depth ControlNet, or
    <model_dir>/t2i-adapter/      the SDXL depth T2I-Adapter (``--depth t2i-adapter``)
    <model_dir>/few-step-lora/    SDXL-Lightning 4-step (or Hyper-SD) LoRA + few-step.json
    <model_dir>/cradle-model.json the family and parts laid out

The family is read from the folder itself (:func:`model_family`), so ``RENDER_MODEL_DIR`` is the
only setting. A folder lacking a part is refused before anything loads, with the part named
(``model_layout.check_folder``). Nothing is ever downloaded here (``local_files_only=True``).
The pipeline is loaded lazily, once per process and folder, in fp16 on a GPU, its few-step
LoRA fused into the UNet, optionally ``torch.compile``d.

The five candidates go through the UNet as one batch (``batch_size``): each has its own
latents, drawn from its own seed on a CPU generator, so candidate i with seed s is the same
picture alone or in the batch, on any device (to the rounding of batched float kernels: at
most a level here and there). The init image of each is the relight engine's
render of the same seed (the studio backdrop, the softened low-confidence regions); outside
the subject mask those pixels are composited back untouched, so diffusion only paints the
confident face.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from render.pipeline.engines.composite import onto_plates
from render.pipeline.engines.model_layout import (
    ADAPTER_DIR,
    FEW_STEP_DIR,
    FEW_STEP_FILE,
    MANIFEST,
    FewStep,
    check_folder,
    depth_control,
    few_step_of,
    manifest,
    read_json,
)
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.types import (
    CancelFn,
    Conditioning,
    ProgressFn,
    RenderCancelled,
    RenderedCandidate,
)

MODEL_DIR_ENV = "RENDER_MODEL_DIR"

SD15 = "sd15"
SDXL = "sdxl"
FAMILIES: tuple[str, ...] = (SD15, SDXL)
# The working resolution each family was trained at, used when the engine is given none.
NATIVE_RESOLUTION = {SD15: 512, SDXL: 1024}

_PIPELINES: dict[tuple[str, str, str, str, bool, bool], Any] = {}
_PIPELINES_LOCK = threading.Lock()


def _torch() -> Any:
    import torch  # deferred: importing torch costs seconds a worker using relight never pays

    return torch


def _pick_device(device: str | None) -> str:
    if device:
        return device
    return "cuda" if _torch().cuda.is_available() else "cpu"


def model_family(model_dir: str | Path) -> str:
    """``"sdxl"`` or ``"sd15"``, read from the folder's ``model_index.json`` and subfolders.

    An SDXL pipeline names itself ``StableDiffusionXL…`` and carries a second text encoder; a
    folder with ``text_encoder_2/`` and ``tokenizer_2/`` is taken as SDXL even if an older
    tool wrote a generic index.
    """
    folder = Path(model_dir)
    if str(manifest(folder).get("family", "")).startswith(SDXL):
        return SDXL
    index = read_json(folder / "model_index.json")
    if str(index.get("_class_name", "")).startswith("StableDiffusionXL"):
        return SDXL
    if "text_encoder_2" in index:
        return SDXL
    if (folder / "text_encoder_2").is_dir() and (folder / "tokenizer_2").is_dir():
        return SDXL
    return SD15


def _check_controlnet_fits(folder: Path, family: str) -> None:
    """Fail with a plain message when the ControlNet was trained for the other family.

    An SD 1.5 ControlNet (768-wide text attention) in an SDXL folder (2048) would otherwise
    surface as a matrix-shape error deep inside the first denoising step.
    """
    unet_width = read_json(folder / "unet" / "config.json").get("cross_attention_dim")
    control_width = read_json(folder / "controlnet" / "config.json").get("cross_attention_dim")
    if unet_width is not None and control_width is not None and unet_width != control_width:
        label = {SD15: "SD 1.5", SDXL: "SDXL"}[family]
        raise ValueError(
            f"the ControlNet in {folder / 'controlnet'} does not fit this {label} model "
            f"(text attention width {control_width}, the model's is {unet_width}): fetch the "
            f"depth ControlNet made for {label}, e.g. "
            f"`python manage.py fetch_render_model --family {family}`"
        )


def _few_step_scheduler(pipe: Any, few: FewStep) -> Any:
    from diffusers import DDIMScheduler, EulerDiscreteScheduler, LCMScheduler

    config = pipe.scheduler.config
    if few.scheduler == "lcm":
        return LCMScheduler.from_config(config)
    # SDXL-Lightning and Hyper-SD were distilled on "trailing" timesteps: the first step
    # starts from pure noise (t = 999), which "leading" spacing would skip.
    if few.scheduler == "ddim-trailing":
        return DDIMScheduler.from_config(config, timestep_spacing="trailing")
    return EulerDiscreteScheduler.from_config(config, timestep_spacing="trailing")


def _load_controlnet_pipeline(folder: Path, family: str, dtype: Any) -> Any:
    from diffusers import (
        ControlNetModel,
        StableDiffusionControlNetInpaintPipeline,
        StableDiffusionXLControlNetInpaintPipeline,
    )

    controlnet = ControlNetModel.from_pretrained(
        folder / "controlnet", torch_dtype=dtype, local_files_only=True
    )
    if family == SDXL:
        # SDXL has no safety checker; its VAE config asks to be upcast for decoding in fp16
        # (force_upcast), which the pipeline does by itself.
        return StableDiffusionXLControlNetInpaintPipeline.from_pretrained(
            folder,
            controlnet=controlnet,
            torch_dtype=dtype,
            local_files_only=True,
            feature_extractor=None,
            image_encoder=None,
        )
    return StableDiffusionControlNetInpaintPipeline.from_pretrained(
        folder,
        controlnet=controlnet,
        torch_dtype=dtype,
        local_files_only=True,
        # Every candidate is reviewed by studio staff before a parent sees it; the NSFW
        # checker's false positives on newborn skin would blank good portraits.
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _load_adapter_pipeline(folder: Path, family: str, dtype: Any) -> tuple[Any, Any]:
    """SDXL inpainting + a depth T2I-Adapter. diffusers has no inpainting adapter pipeline, so
    the adapter's features are computed once per render and handed to the UNet at every step
    (``down_intrablock_additional_residuals``, as ``StableDiffusionXLAdapterPipeline`` does)
    by a hook for the length of the call (:func:`_adapter_hook`)."""
    from diffusers import StableDiffusionXLInpaintPipeline, T2IAdapter

    if family != SDXL:
        raise ValueError(
            f"the T2I-Adapter in {folder / ADAPTER_DIR} needs an SDXL model; use a depth "
            "ControlNet (controlnet/) with SD 1.5"
        )
    adapter = T2IAdapter.from_pretrained(
        folder / ADAPTER_DIR, torch_dtype=dtype, local_files_only=True
    )
    pipe = StableDiffusionXLInpaintPipeline.from_pretrained(
        folder,
        torch_dtype=dtype,
        local_files_only=True,
        feature_extractor=None,
        image_encoder=None,
    )
    return pipe, adapter


def _adapter_hook(states: list[Any]) -> Any:
    """A UNet forward pre-hook adding the adapter's features to every call, repeated to the
    call's batch (the candidates, doubled under classifier-free guidance). A fresh list each
    call: the UNet consumes it."""

    def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        sample = args[0] if args else kwargs["sample"]
        batch = int(sample.shape[0])
        kwargs["down_intrablock_additional_residuals"] = [
            state.repeat(batch, 1, 1, 1) for state in states
        ]
        return args, kwargs

    return hook


def load_pipeline(
    model_dir: str | Path, device: str, *, few_step: bool = False, compile_unet: bool = False
) -> Any:
    """The inpainting pipeline from ``model_dir``, loaded once per process.

    SD 1.5 folders load ``StableDiffusionControlNetInpaintPipeline``, SDXL folders
    ``StableDiffusionXLControlNetInpaintPipeline`` (see :func:`model_family`), or with a depth
    T2I-Adapter instead of a ControlNet ``StableDiffusionXLInpaintPipeline`` and the adapter
    (``pipe._cradle_adapter``); each is cached,
    keyed by folder, family, device, dtype, few-step and compile. With ``few_step`` the
    folder's few-step LoRA is fused into the UNet and its scheduler set.
    """
    torch = _torch()
    folder = Path(model_dir)
    # fp16 halves memory and doubles speed on a GPU; CPU kernels for fp16 are slow or missing.
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    family = model_family(folder)
    key = (str(folder.resolve()), family, device, str(dtype), few_step, compile_unet)
    with _PIPELINES_LOCK:
        if key in _PIPELINES:
            return _PIPELINES[key]
        check_folder(folder, few_step=few_step)
        control = depth_control(folder)
        few = few_step_of(folder) if few_step else None
        adapter = None
        if control == ADAPTER_DIR:
            pipe, adapter = _load_adapter_pipeline(folder, family, dtype)
        else:
            _check_controlnet_fits(folder, family)
            pipe = _load_controlnet_pipeline(folder, family, dtype)
        if few is not None:
            options = {"weight_name": few.weight_name} if few.weight_name else {}
            pipe.load_lora_weights(str(few.folder), **options)
            # Fused: the LoRA costs nothing per step once folded into the UNet's weights.
            pipe.fuse_lora()
            pipe.unload_lora_weights()
            pipe.scheduler = _few_step_scheduler(pipe, few)
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        if compile_unet:
            # The first render of each shape pays the compile (a minute on a GPU); a worker
            # rendering one size thereafter runs the UNet's fused kernels.
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.unet = torch.compile(pipe.unet, mode="max-autotune-no-cudagraphs")
        pipe._cradle_few_step = few
        pipe._cradle_adapter = adapter.to(device) if adapter is not None else None
        _PIPELINES[key] = pipe
        return pipe


def _working_size(height: int, width: int, long_side: int, multiple: int) -> tuple[int, int]:
    scale = long_side / max(height, width)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class DiffusersEngine:
    """ControlNet-depth inpainting of the subject, the candidates batched on the UNet."""

    name = "diffusers"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: str | None = None,
        few_step: bool | None = None,
        steps: int | None = None,
        resolution: int | None = None,
        output_long_side: int = 1024,
        guidance_scale: float | None = None,
        controlnet_scale: float = 0.8,
        batch_size: int | None = None,
        compile_unet: bool | None = None,
    ) -> None:
        model_dir = model_dir or os.environ.get(MODEL_DIR_ENV)
        if not model_dir:
            raise ValueError(f"the diffusers engine needs model_dir or {MODEL_DIR_ENV}")
        self.model_dir = Path(model_dir)
        self.device = device
        # None: few-step when the folder has a few-step LoRA (decided when it loads).
        self.few_step = few_step
        self.steps = steps
        self.guidance_scale = guidance_scale
        # None: the family's native size (512 px for SD 1.5, 1024 px for SDXL), decided once the
        # folder is loaded.
        self.resolution = resolution
        self.output_long_side = output_long_side
        self.controlnet_scale = controlnet_scale
        # How many candidates share one UNet batch: all of them unless memory says otherwise
        # (RENDER_DIFFUSERS_BATCH on a small GPU).
        batch_env = os.environ.get("RENDER_DIFFUSERS_BATCH", "").strip()
        self.batch_size = batch_size or (int(batch_env) if batch_env else None)
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        self.compile_unet = (
            compile_unet if compile_unet is not None else _env_flag("RENDER_TORCH_COMPILE")
        )
        self._base_plate = RelightEngine(output_long_side=output_long_side)

    def pipeline(self, device: str) -> Any:
        few_step = self.few_step
        if few_step is None:
            few_step = few_step_of(self.model_dir) is not None
        return load_pipeline(
            self.model_dir, device, few_step=few_step, compile_unet=self.compile_unet
        )

    def render(
        self,
        conditioning: Conditioning,
        seeds: list[int],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> list[RenderedCandidate]:
        torch = _torch()
        from PIL import Image

        if cancel is not None and cancel():
            raise RenderCancelled("render cancelled before it started")
        device = _pick_device(self.device)
        pipe = self.pipeline(device)
        few: FewStep | None = getattr(pipe, "_cradle_few_step", None)
        steps = self.steps or (few.steps if few else 25)
        guidance = self.guidance_scale
        if guidance is None:
            guidance = few.guidance_scale if few else 6.0
        multiple = 8 * pipe.vae_scale_factor
        height, width = conditioning.cues.depth.shape
        resolution = self.resolution or NATIVE_RESOLUTION[model_family(self.model_dir)]
        work_w, work_h = _working_size(height, width, resolution, multiple)
        plates = self._base_plate.render(conditioning, seeds)
        mask_image = Image.fromarray(
            (cv2.resize(conditioning.inpaint_mask, (work_w, work_h)) * 255).astype(np.uint8)
        )
        control_image = Image.fromarray(
            cv2.resize(conditioning.depth_control, (work_w, work_h), interpolation=cv2.INTER_AREA)
        )
        # Fix Anatomy: hold the painted area harder to the scan's depth.
        control_scale = self.controlnet_scale + 0.5 * conditioning.correction_strength
        latent_shape = (
            1,
            pipe.vae.config.latent_channels,
            work_h // pipe.vae_scale_factor,
            work_w // pipe.vae_scale_factor,
        )
        dtype = pipe.unet.dtype
        adapter = getattr(pipe, "_cradle_adapter", None)
        adapter_states = None
        if adapter is not None:
            # The T2I-Adapter reads the depth once per render (the ControlNet runs every step).
            control = torch.from_numpy(np.asarray(control_image, dtype=np.float32) / 255.0)
            control = control.permute(2, 0, 1)[None].to(device=device, dtype=adapter.dtype)
            with torch.inference_mode():
                adapter_states = [state * control_scale for state in adapter(control)]
        total = len(seeds)
        size = self.batch_size or total
        batches = [list(range(start, min(start + size, total))) for start in range(0, total, size)]
        cancelled = False

        painted: list[np.ndarray] = []
        for number, members in enumerate(batches):
            if cancel is not None and cancel():
                raise RenderCancelled(
                    f"render cancelled after {len(painted)} of {total} candidates"
                )

            def on_step_end(
                pipeline: Any,
                step: int,
                timestep: Any,
                tensors: dict[str, Any],
                number: int = number,
            ) -> dict[str, Any]:
                nonlocal cancelled
                done = len(batches[number]) * (step + 1) / steps
                if progress is not None and step + 1 < steps:  # the last is reported below
                    progress((batches[number][0] + done) / total)
                if cancel is not None and cancel():
                    cancelled = True
                    # The pipeline checks this flag at the top of every remaining step.
                    pipeline._interrupt = True
                return tensors

            # Each candidate's noise comes from its own CPU generator, so a seed renders the
            # same image on any device and whatever other candidates share the batch.
            latents = torch.cat(
                [
                    torch.randn(
                        latent_shape,
                        generator=torch.Generator("cpu").manual_seed(seeds[i]),
                        dtype=torch.float32,
                    )
                    for i in members
                ]
            ).to(device=device, dtype=dtype)
            inits = [
                Image.fromarray(
                    cv2.resize(plates[i].image, (work_w, work_h), interpolation=cv2.INTER_AREA)
                )
                for i in members
            ]
            # SDXL: the prompts go to both text encoders (CLIP's 77 tokens each, which the
            # conditioning already respects), and its size conditioning (original_size,
            # target_size) defaults to the working size with no crop: a whole, centred picture.
            call: dict[str, Any] = {
                "prompt": conditioning.prompt,
                "negative_prompt": conditioning.negative_prompt,
                "num_images_per_prompt": len(members),
                "image": inits,
                "mask_image": mask_image,
                "height": work_h,
                "width": work_w,
                "strength": 1.0,  # with explicit latents the pipeline starts from them as noise
                "num_inference_steps": steps,
                "guidance_scale": guidance,
                "latents": latents,
                "generator": [torch.Generator("cpu").manual_seed(seeds[i]) for i in members],
                "output_type": "np",
                "callback_on_step_end": on_step_end,
            }
            hook = None
            if adapter_states is None:
                call["control_image"] = control_image
                call["controlnet_conditioning_scale"] = control_scale
            else:
                hook = pipe.unet.register_forward_pre_hook(
                    _adapter_hook(adapter_states), with_kwargs=True
                )
            try:
                with torch.inference_mode():
                    result = pipe(**call)
            finally:
                if hook is not None:
                    hook.remove()
            if cancelled:
                raise RenderCancelled(
                    f"render cancelled during candidates {members[0] + 1}-{members[-1] + 1} "
                    f"of {total}"
                )
            for image in result.images:
                painted.append((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
            if progress is not None:
                progress((members[-1] + 1) / total)

        return onto_plates(plates, painted, conditioning.inpaint_mask, self.name)


def _write_tiny_tokenizer(folder: Path) -> Any:
    """A byte-level CLIP tokenizer with no learned merges, written offline."""
    from transformers import CLIPTokenizer
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols)]
    vocab = {token: index for index, token in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(
        vocab_file=str(folder / "vocab.json"),
        merges_file=str(folder / "merges.txt"),
        model_max_length=77,
    )


def _randomise_controlnet_outputs(controlnet: Any, seed: int) -> None:
    """A fresh ControlNet initialises its output convolutions to zero; give them weights so the
    control image actually reaches the UNet in tests."""
    torch = _torch()
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        # diffusers' re-exported ControlNetModel hides these attributes from type checkers.
        blocks = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
        for block in blocks:
            block.weight.normal_(0.0, 0.02)


def _tiny_vae(seed: int) -> Any:
    from diffusers import AutoencoderKL

    _torch().manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
    )


def _tiny_clip_config(vocab_size: int, **extra: Any) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        pad_token_id=1,
        vocab_size=vocab_size,
        **extra,
    )


def save_tiny_pipeline(folder: str | Path, *, seed: int = 0, family: str = SD15) -> Path:
    """Build a tiny random-weight ControlNet inpainting pipeline from configs and save it.

    Shapes follow diffusers' own pipeline tests (32/64-channel blocks, 32-wide CLIP): a real
    code path in seconds on a CPU, producing noise, not portraits. ``family="sdxl"`` writes
    the SDXL layout (two text encoders, size-conditioned UNet and ControlNet).
    """
    if family == SDXL:
        return _save_tiny_sdxl_pipeline(Path(folder), seed=seed)
    if family != SD15:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    torch = _torch()
    from diffusers import (
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionControlNetInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    torch.manual_seed(seed)
    controlnet = ControlNetModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=32,
        conditioning_embedding_out_channels=(16, 32),
    )
    _randomise_controlnet_outputs(controlnet, seed)
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    vae = _tiny_vae(seed)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = _write_tiny_tokenizer(Path(scratch))
    text_encoder = CLIPTextModel(_tiny_clip_config(len(tokenizer)))
    pipe = StableDiffusionControlNetInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        controlnet=controlnet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


# The tiny SDXL's size conditioning: six numbers (original size, crop corner, target size), each
# embedded this wide, then joined by the second text encoder's pooled projection.
_TINY_TIME_EMBED = 8
_TINY_PROJECTION = 32


def _tiny_sdxl_blocks() -> dict[str, Any]:
    """What the tiny SDXL UNet and its ControlNet share: SDXL's "text_time" added embedding
    and cross-attention over both text encoders' hidden states side by side (32 + 32)."""
    return {
        "block_out_channels": (32, 64),
        "layers_per_block": 2,
        "in_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "attention_head_dim": (2, 4),
        "use_linear_projection": True,
        "transformer_layers_per_block": (1, 2),
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": _TINY_TIME_EMBED,
        "projection_class_embeddings_input_dim": 6 * _TINY_TIME_EMBED + _TINY_PROJECTION,
        "cross_attention_dim": 64,
    }


def _save_tiny_sdxl_pipeline(folder: Path, *, seed: int) -> Path:
    torch = _torch()
    from diffusers import (
        ControlNetModel,
        EulerDiscreteScheduler,
        StableDiffusionXLControlNetInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        **_tiny_sdxl_blocks(),
        sample_size=32,
        out_channels=4,
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    torch.manual_seed(seed)
    controlnet = ControlNetModel(
        **_tiny_sdxl_blocks(), conditioning_embedding_out_channels=(16, 32)
    )
    _randomise_controlnet_outputs(controlnet, seed)
    # SDXL base ships an Euler scheduler with "leading" spacing.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    vae = _tiny_vae(seed)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = _write_tiny_tokenizer(Path(scratch) / "one")
        tokenizer_2 = _write_tiny_tokenizer(Path(scratch) / "two")
    config = _tiny_clip_config(len(tokenizer), projection_dim=_TINY_PROJECTION, hidden_act="gelu")
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(config)
    torch.manual_seed(seed + 2)
    text_encoder_2 = CLIPTextModelWithProjection(config)
    pipe = StableDiffusionXLControlNetInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        controlnet=controlnet,
        scheduler=scheduler,
        add_watermarker=False,
    )
    pipe.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


def save_tiny_few_step_lora(
    model_dir: str | Path,
    *,
    seed: int = 0,
    scheduler: str = "euler-trailing",
    steps: int = 4,
    guidance_scale: float = 0.0,
    weight_name: str = "tiny_lightning_4step_lora.safetensors",
) -> Path:
    """A random LoRA on the tiny UNet's attention, saved as ``few-step-lora/`` the way
    fetch_render_model lays out SDXL-Lightning (weights under their own file name, and
    ``few-step.json`` saying how to sample them)."""

    from diffusers import (
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    folder = Path(model_dir)
    _torch().manual_seed(seed + 3)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    unet.add_adapter(
        LoraConfig(
            r=4,
            lora_alpha=4,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
            init_lora_weights=False,
        )
    )
    writer = StableDiffusionXLPipeline if model_family(folder) == SDXL else StableDiffusionPipeline
    writer.save_lora_weights(
        folder / FEW_STEP_DIR,
        unet_lora_layers=get_peft_model_state_dict(unet),
        weight_name=weight_name,
    )
    (folder / FEW_STEP_DIR / FEW_STEP_FILE).write_text(
        json.dumps(
            {
                "source": "tiny random LoRA (tests)",
                "label": "tiny few-step LoRA",
                "weight_name": weight_name,
                "steps": steps,
                "scheduler": scheduler,
                "guidance_scale": guidance_scale,
            }
        ),
        encoding="utf-8",
    )
    return folder


def save_tiny_lightning_folder(
    folder: str | Path, *, seed: int = 0, depth: str = "controlnet"
) -> Path:
    """The ``sdxl-lightning`` layout in miniature: tiny SDXL + depth ControlNet (or, with
    ``depth="t2i-adapter"``, a depth T2I-Adapter) + a few-step LoRA + ``cradle-model.json``,
    as fetch_render_model lays out the real one."""
    import shutil

    folder = save_tiny_pipeline(folder, seed=seed, family=SDXL)
    if depth == ADAPTER_DIR:
        # As a photoreal base's own folder is: an SDXL pipeline's index, no ControlNet in it.
        shutil.rmtree(folder / "controlnet")
        index = read_json(folder / "model_index.json")
        index.pop("controlnet", None)
        index["_class_name"] = "StableDiffusionXLPipeline"
        (folder / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
        save_tiny_adapter(folder, seed=seed)
    elif depth != "controlnet":
        raise ValueError(f"depth must be controlnet or {ADAPTER_DIR}, not {depth!r}")
    save_tiny_few_step_lora(folder, seed=seed)
    (folder / MANIFEST).write_text(
        json.dumps({"family": "sdxl-lightning", "parts": [depth, FEW_STEP_DIR]}),
        encoding="utf-8",
    )
    return folder


def save_tiny_adapter(folder: str | Path, *, seed: int = 0) -> Path:
    """A tiny random SDXL depth T2I-Adapter (diffusers' own test shapes: 32/64 channels,
    downscale 4) saved as ``t2i-adapter/``."""
    from diffusers import T2IAdapter

    torch = _torch()
    torch.manual_seed(seed + 5)
    adapter = T2IAdapter(
        in_channels=3,
        channels=[32, 64],
        num_res_blocks=2,
        downscale_factor=4,
        adapter_type="full_adapter_xl",
    )
    adapter.save_pretrained(Path(folder) / ADAPTER_DIR)
    return Path(folder)
