"""The diffusers engine: SD 1.5 + ControlNet-depth inpainting from a local weights folder.

Folder layout (what ``manage.py fetch_render_model`` writes, and what
:func:`save_tiny_pipeline` writes for tests)::

    <model_dir>/model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/
    <model_dir>/controlnet/          ControlNet depth (e.g. control_v11f1p_sd15_depth)
    <model_dir>/lcm-lora/            optional, LCM-LoRA for few-step sampling

Nothing is ever downloaded here (``local_files_only=True``). The pipeline is loaded lazily, once
per process, and shared by every render in that worker.

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

_PIPELINES: dict[tuple[str, str, str, bool], Any] = {}
_PIPELINES_LOCK = threading.Lock()


def _torch() -> Any:
    import torch  # deferred: importing torch costs seconds a worker using relight never pays

    return torch


def _pick_device(device: str | None) -> str:
    if device:
        return device
    return "cuda" if _torch().cuda.is_available() else "cpu"


def load_pipeline(model_dir: str | Path, device: str, *, lcm: bool = False) -> Any:
    """The ControlNet inpainting pipeline from ``model_dir``, loaded once per process."""
    torch = _torch()
    from diffusers import (
        ControlNetModel,
        LCMScheduler,
        StableDiffusionControlNetInpaintPipeline,
    )

    folder = Path(model_dir)
    # fp16 halves memory and doubles speed on a GPU; CPU kernels for fp16 are slow or missing.
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    key = (str(folder.resolve()), device, str(dtype), lcm)
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
        lora = folder / "lcm-lora"
        if lcm and not lora.is_dir():
            raise FileNotFoundError(f"lcm=True needs LCM-LoRA weights in {lora}")
        controlnet = ControlNetModel.from_pretrained(
            folder / "controlnet", torch_dtype=dtype, local_files_only=True
        )
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
        resolution: int = 512,
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
        work_w, work_h = _working_size(height, width, self.resolution, multiple)
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
            candidates.append(
                RenderedCandidate(seed=seed, image=(image + 0.5).astype(np.uint8), engine=self.name)
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


def save_tiny_pipeline(folder: str | Path, *, seed: int = 0) -> Path:
    """Build a tiny random-weight ControlNet inpainting pipeline from configs and save it.

    Shapes follow diffusers' own pipeline tests (32/64-channel blocks, 32-wide CLIP): a real
    code path in seconds on a CPU, producing noise, not portraits.
    """
    torch = _torch()
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionControlNetInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

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
    # A random ControlNet initialises its output convolutions to zero; give them weights so the
    # control image actually reaches the UNet in tests.
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        # diffusers' re-exported ControlNetModel hides these attributes from type checkers.
        blocks = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]  # type: ignore[attr-defined]
        for block in blocks:
            block.weight.normal_(0.0, 0.02)
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
    )
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = _write_tiny_tokenizer(Path(scratch))
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            pad_token_id=1,
            vocab_size=len(tokenizer),
        )
    )
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
