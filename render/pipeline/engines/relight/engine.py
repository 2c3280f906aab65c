"""``RelightEngine``: prepares the surface once, then lights, composites and finishes one
candidate per seed."""

from __future__ import annotations

import cv2
import numpy as np

from render.pipeline.conditioning import STYLES
from render.pipeline.engines.relight.colour import (
    flush_shift,
    hex_to_linear,
    linear_to_srgb_u8,
    skin_look,
)
from render.pipeline.engines.relight.face import nose_side
from render.pipeline.engines.relight.features import apply_finish, drawn, finish
from render.pipeline.engines.relight.light import (
    composite,
    lighting_for_seed,
    shade,
    skin_grain,
    soften_unconfident,
    studio_set_for_seed,
)
from render.pipeline.engines.relight.props import apply_wrap, hat_layer, wrap_guard, wrap_layer
from render.pipeline.engines.relight.raster import output_size
from render.pipeline.engines.relight.surface import prepare
from render.pipeline.types import (
    CancelFn,
    Conditioning,
    ProgressFn,
    RenderCancelled,
    RenderedCandidate,
)


class RelightEngine:
    """CPU relighting of the scan's geometry; no model weights.

    Shading happens at ``shading_long_side`` and the finished 8-bit image is resized to
    ``output_long_side``: every term is smooth at that scale (the denoised scan's finest detail
    is ~0.4% of the long side), so shading the extra pixels would only cost time.
    """

    name = "relight"  # offered as "Studio light": see conditioning.engine_look

    def __init__(
        self,
        *,
        output_long_side: int = 1024,
        shading_long_side: int = 768,
        wrap: bool = True,
        hat: bool = True,
        features: bool = True,
    ) -> None:
        if output_long_side < 64:
            raise ValueError("output_long_side must be at least 64 px")
        self.output_long_side = output_long_side
        self.shading_long_side = min(shading_long_side, output_long_side)
        # A soft wrap rising round the cheeks and chin, part of the set like the paper. Each
        # candidate says where it lies (``RenderedCandidate.props``): scoring leaves it out and
        # the house look grades it with the backdrop.
        self.wrap = wrap
        # A knit hat over the crown on some candidates (its own seeded draw), a prop like it.
        self.hat = hat
        # Off only to measure what the features add (their lines, lips, flush and sheen).
        self.features = features

    def render(
        self,
        conditioning: Conditioning,
        seeds: list[int],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> list[RenderedCandidate]:
        if cancel is not None and cancel():
            raise RenderCancelled("render cancelled before it started")
        style = conditioning.look or STYLES[conditioning.style]
        surface = prepare(conditioning, self.shading_long_side, features=self.features)
        size = output_size(conditioning.cues, self.output_long_side)
        albedo = hex_to_linear(conditioning.tone.hex)
        rosy = flush_shift(conditioning.tone.hex)
        look = skin_look(conditioning.tone.hex)
        facing = nose_side(conditioning.cues.pose)
        grain = skin_grain(surface, look)
        marks = finish(surface, conditioning.tone.hex, look, size, style.monochrome)
        features_drawn = drawn(surface.features)
        guard = None
        if self.wrap and surface.wrap_base is not None:
            guard = wrap_guard(surface.wrap_base, size)
        palette = (conditioning.background_hex, conditioning.tone.hex)
        candidates: list[RenderedCandidate] = []
        for index, seed in enumerate(seeds):
            if cancel is not None and cancel():
                raise RenderCancelled(f"render cancelled after {index} of {len(seeds)} candidates")
            light = lighting_for_seed(style, seed, facing)
            studio = studio_set_for_seed(conditioning.background_hex, seed, float(light.key_dir[0]))
            skin = shade(surface, albedo, rosy, style, light, look, grain)
            skin = soften_unconfident(skin, surface, self.shading_long_side)
            linear = composite(skin, surface, light, studio, style)
            image = linear_to_srgb_u8(linear)
            if (image.shape[1], image.shape[0]) != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
            image = apply_finish(image, marks)
            props = None
            if guard is not None:
                assert surface.wrap_base is not None  # a guard is made only with one
                layer = wrap_layer(
                    surface.wrap_base, surface, light, studio, palette, seed, style.monochrome
                )
                image, props = apply_wrap(image, layer, *guard)
                if self.hat and surface.hat_base is not None:
                    hat = hat_layer(
                        surface.hat_base, surface, light, studio, palette, seed, style.monochrome
                    )
                    if hat is not None:
                        everywhere = np.ones(image.shape[:2], np.float32)
                        image, on_hat = apply_wrap(image, hat, everywhere, 0)
                        props = np.maximum(props, on_hat)
            candidates.append(
                RenderedCandidate(
                    seed=seed, image=image, engine=self.name, props=props, drawn=features_drawn
                )
            )
            if progress is not None:
                progress((index + 1) / len(seeds))
        return candidates
