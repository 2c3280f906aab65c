"""Render engines behind one interface (``render.pipeline.types.Engine``).

``relight`` is the default: CPU only, no weights. ``diffusers`` needs a local model folder (a
GPU worker's) and is imported lazily so a worker without torch weights never pays for
importing it. ``hosted`` sends the de-identified subject crop, depth and mask to a hosted
provider (Replicate) for studios without a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from render.pipeline.types import Engine

ENGINE_NAMES: tuple[str, ...] = ("relight", "diffusers", "hosted")


def get_engine(name: str = "relight", **options: Any) -> Engine:
    """The engine called ``name``, built with ``options`` (e.g. ``model_dir`` for diffusers).

    Each engine's module is imported only when asked for: the diffusion engine's loads torch
    and diffusers (seconds and a GB), which a web process or a CPU worker never needs."""
    if name == "relight":
        from render.pipeline.engines.relight import RelightEngine

        return RelightEngine(**options)
    if name == "diffusers":
        from render.pipeline.engines.diffusion import DiffusersEngine

        return DiffusersEngine(**options)
    if name == "hosted":
        from render.pipeline.engines.hosted import HostedEngine

        return HostedEngine(**options)
    raise ValueError(f"unknown render engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")


def candidate_seeds(base_seed: int, n: int = 5) -> list[int]:
    """``n`` distinct, reproducible seeds derived from one session seed.

    SeedSequence spreads neighbouring base seeds far apart, so sessions seeded 1 and 2 do not
    share four of their five candidates. Seeds fit a signed 32-bit column.
    """
    if n < 1:
        raise ValueError(f"need at least one candidate, got n={n}")
    if base_seed < 0:
        raise ValueError(f"base_seed must be non-negative, got {base_seed}")
    state = np.random.SeedSequence(base_seed).generate_state(n * 2, dtype=np.uint32)
    seeds: list[int] = []
    for value in state:
        seed = int(value) & 0x7FFFFFFF
        if seed not in seeds:
            seeds.append(seed)
        if len(seeds) == n:
            return seeds
    raise RuntimeError("could not derive distinct seeds")  # 2n draws of 31 bits: practically never
