"""The diffusers engine: SD 1.5 or SDXL + ControlNet-depth inpainting from a local weights folder.

Folder layout (what ``manage.py fetch_render_model [--family sdxl]`` writes, and what
:func:`save_tiny_pipeline` writes for tests)::

    <model_dir>/model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/
    <model_dir>/text_encoder_2/, tokenizer_2/   SDXL only (OpenCLIP ViT-bigG and its tokenizer)
    <model_dir>/controlnet/          ControlNet depth for the same family (e.g.
                                     control_v11f1p_sd15_depth, controlnet-depth-sdxl-1.0)
    <model_dir>/lcm-lora/            optional, LCM-LoRA for few-step sampling (lcm-lora-sdv1-5,
                                     lcm-lora-sdxl)

The family is read from the folder itself (:func:`model_family`), so ``RENDER_MODEL_DIR`` is the
only setting: point it at an SDXL folder and the same engine renders with SDXL at 1024 px.

Nothing is ever downloaded here (``local_files_only=True``). The pipeline is loaded lazily, once
per process and folder, and shared by every render in that worker.

The init image handed to the inpainting pipeline is the relight engine's render of the same
seed: the brand backdrop and the softened low-confidence regions are already right there, and
they are composited back untouched, so diffusion only ever paints the confident face.
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

_PIPELINES: dict[tuple[str, str, str, str, bool], Any] = {}
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
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    if not isinstance(index, dict):
        index = {}
    if str(index.get("_class_name", "")).startswith("StableDiffusionXL"):
        return SDXL
    if "text_encoder_2" in index:
        return SDXL
    if (folder / "text_encoder_2").is_dir() and (folder / "tokenizer_2").is_dir():
        return SDXL
    return SD15


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _check_controlnet_fits(folder: Path, family: str) -> None:
    """Fail with a plain message when the ControlNet was trained for the other family.

    An SD 1.5 ControlNet (768-wide text attention) in an SDXL folder (2048) would otherwise
    surface as a matrix-shape error deep inside the first denoising step.
    """
    unet_width = _read_config(folder / "unet" / "config.json").get("cross_attention_dim")
    control_width = _read_config(folder / "controlnet" / "config.json").get("cross_attention_dim")
    if unet_width is not None and control_width is not None and unet_width != control_width:
        label = {SD15: "SD 1.5", SDXL: "SDXL"}[family]
        raise ValueError(
            f"the ControlNet in {folder / 'controlnet'} does not fit this {label} model "
            f"(text attention width {control_width}, the model's is {unet_width}): fetch the "
            f"depth ControlNet made for {label}, e.g. "
            f"`python manage.py fetch_render_model --family {family}`"
        )


def load_pipeline(model_dir: str | Path, device: str, *, lcm: bool = False) -> Any:
    """The ControlNet inpainting pipeline from ``model_dir``, loaded once per process.

    SD 1.5 folders load ``StableDiffusionControlNetInpaintPipeline``, SDXL folders
    ``StableDiffusionXLControlNetInpaintPipeline`` (see :func:`model_family`); both are cached
    side by side, keyed by folder, family, device, dtype and LCM.
    """
    torch = _torch()
    from diffusers import (
        ControlNetModel,
        LCMScheduler,
        StableDiffusionControlNetInpaintPipeline,
        StableDiffusionXLControlNetInpaintPipeline,
    )

    folder = Path(model_dir)
    # fp16 halves memory and doubles speed on a GPU; CPU kernels for fp16 are slow or missing.
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    family = model_family(folder)
    key = (str(folder.resolve()), family, device, str(dtype), lcm)
    with _PIPELINES_LOCK:
        if key in _PIPELINES:
            return _PIPELINES[key]
        if not (folder / "model_index.json").is_file():
            raise FileNotFoundError(
                f"no diffusion model in {folder}: run `python manage.py fetch_render_model` "
                f"or point {MODEL_DIR_ENV} at a saved pipeline"
            )
        if not (folder / "controlnet" / "config.json").is_file():
            raise FileNotFoundError(f"no ControlNet in {folder / 'controlnet'}")
        _check_controlnet_fits(folder, family)
        lora = folder / "lcm-lora"
        if lcm and not lora.is_dir():
            raise FileNotFoundError(f"lcm=True needs LCM-LoRA weights in {lora}")
        controlnet = ControlNetModel.from_pretrained(
            folder / "controlnet", torch_dtype=dtype, local_files_only=True
        )
        if family == SDXL:
            # SDXL has no safety checker; its VAE config asks to be upcast for decoding in
            # fp16 (force_upcast), which the pipeline does by itself.
            pipe = StableDiffusionXLControlNetInpaintPipeline.from_pretrained(
                folder,
                controlnet=controlnet,
                torch_dtype=dtype,
                local_files_only=True,
                feature_extractor=None,
                image_encoder=None,
            )
        else:
            pipe = StableDiffusionControlNetInpaintPipeline.from_pretrained(
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
        if lcm:
            pipe.load_lora_weights(str(lora))
            pipe.fuse_lora()
            pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        _PIPELINES[key] = pipe
        return pipe


def _working_size(height: int, width: int, long_side: int, multiple: int) -> tuple[int, int]:
    scale = long_side / max(height, width)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


class DiffusersEngine:
    """ControlNet-depth inpainting; one call per candidate so each seed is reproducible alone."""

    name = "diffusers"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: str | None = None,
        lcm: bool = False,
        steps: int | None = None,
        resolution: int | None = None,
        output_long_side: int = 1024,
        guidance_scale: float | None = None,
        controlnet_scale: float = 0.8,
    ) -> None:
        model_dir = model_dir or os.environ.get(MODEL_DIR_ENV)
        if not model_dir:
            raise ValueError(f"the diffusers engine needs model_dir or {MODEL_DIR_ENV}")
        self.model_dir = Path(model_dir)
        self.device = device
        self.lcm = lcm
        # LCM distils sampling to a handful of steps and wants almost no classifier-free guidance.
        self.steps = steps if steps is not None else (6 if lcm else 25)
        self.guidance_scale = (
            guidance_scale if guidance_scale is not None else (1.2 if lcm else 6.0)
        )
        # None: the family's native size (512 px for SD 1.5, 1024 px for SDXL), decided once the
        # folder is loaded.
        self.resolution = resolution
        self.output_long_side = output_long_side
        self.controlnet_scale = controlnet_scale
        self._base_plate = RelightEngine(output_long_side=output_long_side)

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
        pipe = load_pipeline(self.model_dir, device, lcm=self.lcm)
        multiple = 8 * pipe.vae_scale_factor
        height, width = conditioning.cues.depth.shape
        resolution = self.resolution or NATIVE_RESOLUTION[model_family(self.model_dir)]
        work_w, work_h = _working_size(height, width, resolution, multiple)
        plates = self._base_plate.render(conditioning, seeds)
        out_h, out_w = plates[0].image.shape[:2]

        mask_full = cv2.resize(
            conditioning.inpaint_mask, (out_w, out_h), interpolation=cv2.INTER_LINEAR
        )
        mask_full = np.clip(mask_full, 0.0, 1.0)[..., None]
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
        total = len(seeds)
        cancelled = False

        candidates: list[RenderedCandidate] = []
        for index, (seed, plate) in enumerate(zip(seeds, plates, strict=True)):
            if cancel is not None and cancel():
                raise RenderCancelled(f"render cancelled after {index} of {total} candidates")

            def on_step_end(
                pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any], index: int = index
            ) -> dict[str, Any]:
                nonlocal cancelled
                if progress is not None and step + 1 < self.steps:  # the last is reported below
                    progress((index + (step + 1) / self.steps) / total)
                if cancel is not None and cancel():
                    cancelled = True
                    # The pipeline checks this flag at the top of every remaining step.
                    pipeline._interrupt = True
                return tensors

            # Each candidate's noise comes from its own CPU generator, so a seed renders the
            # same image on any device and whatever other candidates share the job.
            latents = torch.randn(
                latent_shape,
                generator=torch.Generator("cpu").manual_seed(seed),
                dtype=torch.float32,
            ).to(device=device, dtype=dtype)
            init = Image.fromarray(
                cv2.resize(plate.image, (work_w, work_h), interpolation=cv2.INTER_AREA)
            )
            # SDXL: the prompts go to both text encoders (CLIP's 77 tokens each, which the
            # conditioning already respects), and its size conditioning (original_size,
            # target_size) defaults to the working size with no crop: a whole, centred picture.
            with torch.inference_mode():
                result = pipe(
                    prompt=conditioning.prompt,
                    negative_prompt=conditioning.negative_prompt,
                    image=init,
                    mask_image=mask_image,
                    control_image=control_image,
                    height=work_h,
                    width=work_w,
                    strength=1.0,  # with explicit latents the pipeline starts from them as noise
                    num_inference_steps=self.steps,
                    guidance_scale=self.guidance_scale,
                    controlnet_conditioning_scale=control_scale,
                    latents=latents,
                    generator=torch.Generator("cpu").manual_seed(seed),
                    output_type="np",
                    callback_on_step_end=on_step_end,
                )
            if cancelled:
                raise RenderCancelled(f"render cancelled during candidate {index + 1} of {total}")
            painted = (np.clip(result.images[0], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            painted = cv2.resize(painted, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
            # Composite: the kept region is the base plate's pixels exactly.
            image = painted.astype(np.float32) * mask_full + plate.image.astype(np.float32) * (
                1.0 - mask_full
            )
            # The plate's props (its wrap) where they survive the composite: where diffusion
            # painted, the pixels are the model's and scoring judges them as the face.
            props = None
            if plate.props is not None:
                props = (plate.props * (1.0 - mask_full[..., 0])).astype(np.float32)
            candidates.append(
                RenderedCandidate(
                    seed=seed,
                    image=(image + 0.5).astype(np.uint8),
                    engine=self.name,
                    props=props,
                )
            )
            if progress is not None:
                progress((index + 1) / total)
        return candidates


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
