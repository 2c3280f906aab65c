"""The invisible watermark in every delivered raster: a 40-bit mark id hidden in the luminance.

Pure (numpy and OpenCV, no Django). Metadata — EXIF, XMP, the C2PA manifest — is stripped by
messaging apps and social networks; this mark lives in the pixels, so a portrait shared that way
can still be traced to the studio that made it (``verification``'s public check page looks the
id up). Not a secret: anyone with this code can read the id, which says only "Cradle made this,
look it up"; the registry and the signed manifest are what vouch for it.

The method is classic spread-spectrum with a self-referencing periodic tile (Kutter, "Watermarking
resisting to translation, rotation, and scaling", SPIE 1998; Cox et al., *Digital Watermarking
and Steganography*, ch. 5 and 9), with a convolutional code and a CRC:

* **Payload** — the 40-bit id, a 24-bit CRC (OpenPGP's CRC-24, RFC 4880 §6.1) and 6 zero tail
  bits, coded by the rate-1/2, constraint-length-7 convolutional code (generators 171/133 octal,
  the CCSDS / Voyager code) into 140 bits, decoded with soft-decision Viterbi.
* **Tile** — 32 × 32 "chips" of ±1: 256 carry a fixed pseudo-random sync pattern, 768 carry the
  coded bits (each bit on 5–6 chips scattered over the tile, scrambled by a fixed sign sequence).
  The tile is drawn with bilinear chips (little energy above the chip rate, which JPEG and
  downscaling remove anyway) and repeated over the whole picture, about six tiles across its
  short side (a chip is a whole number of pixels) — so the mark scales with the picture: a print
  file resized for sharing reads like the web file.
* **Embedding** — the same delta is added to R, G and B (luminance only, no colour shift),
  stronger where the picture has texture to hide it, faint on colour drawn flat (a frame, a
  plain backdrop), never inside the boxes the caller keeps clear (the visible tag), scaled so
  the marked picture is ``TARGET_PSNR_DB`` (47 dB) from the unmarked one — ``DRAWN_PSNR_DB``
  (44 dB) for a picture that is mostly drawn colour, the brand-only share card, where a fainter
  mark does not survive JPEG at quality 70.
* **Detection** — the picture is brought to a 768 px short side and band-passed; the tile's
  period shows as peaks in the residual's autocorrelation (which survive resizing and give the
  scale; the peaks at a half and a third of each are tried too, since a multiple of the
  period can outscore it); the residual is folded modulo that period into one tile (averaging
  every copy, so a crop or any part of the picture will do); the sync pattern's cyclic
  cross-correlation gives the offset (so a crop, which shifts the grid, does not matter); each
  coded bit's chips are summed and Viterbi-decoded. A mark is reported only when the CRC holds,
  so an unmarked picture reads as unmarked (a random 64-bit word passes CRC-24 with
  probability 2⁻²⁴ per try).

It survives JPEG at quality 70, a resize to 50 %, a 10 % crop, a PNG round trip and a phone
screenshot (``bench provenance`` measures all five on generated portraits); it does not survive
rotation or heavy cropping to a small piece, and nobody should rely on it as proof against a
determined forger.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

ALGORITHM = "com.cradle.watermark.1"  # the C2PA soft-binding `alg` naming this method
MARK_ID_BITS = 40
MAX_MARK_ID = (1 << MARK_ID_BITS) - 1
TARGET_PSNR_DB = 47.0
DRAWN_PSNR_DB = 44.0
MIN_SIDE = 64  # a picture smaller than this on either side cannot carry a mark

TILE_CHIPS = 32
TILES_PER_SHORT_SIDE = 6
MIN_CHIP_PX = 4
_FLAT_SPREAD = 0.25  # grey levels: below it, a chip is drawn colour, not a photo
_FLAT_STRENGTH = 0.2
_MIN_PHOTO_SHARE = 0.25  # of the chips: less, and the picture is drawn colour (a card)
SYNC_CHIPS = 256
_CRC_BITS = 24
_PAYLOAD_BITS = MARK_ID_BITS + _CRC_BITS  # 64
_CONSTRAINT = 7
_GENERATORS = (0o171, 0o133)
_CODED_BITS = 2 * (_PAYLOAD_BITS + _CONSTRAINT - 1)  # 140

# Detection works on the picture brought to this short side, where a chip is about 4 px.
_DETECT_SHORT_SIDE = 768
_CANONICAL_PERIOD = 128  # px per tile in the folded tile (4 px per chip)
_MIN_PERIOD, _MAX_PERIOD = 48, 400  # tile periods searched, at the detection size
_PERIOD_CANDIDATES = 3
_SCALE_STEPS = (-0.004, -0.002, 0.0, 0.002, 0.004)
_SYNC_MIN_SCORE = 6.0  # the sync peak over the correlation's spread: noise alone peaks near 4

# The fixed layout: which chips are sync, their signs, and which coded bit each data chip carries.
_layout_rng = np.random.default_rng(0x0C7AD1E)
_order = _layout_rng.permutation(TILE_CHIPS * TILE_CHIPS)
_SYNC_CELLS = np.sort(_order[:SYNC_CHIPS])
_DATA_CELLS = _order[SYNC_CHIPS:]  # scattered: neighbouring cells carry different bits
_SYNC_SIGNS = _layout_rng.choice((-1.0, 1.0), size=SYNC_CHIPS)
_DATA_SIGNS = _layout_rng.choice((-1.0, 1.0), size=_DATA_CELLS.size)
_DATA_BIT = np.arange(_DATA_CELLS.size) % _CODED_BITS


class WatermarkError(ValueError):
    pass


@dataclass(frozen=True)
class Detection:
    """What the pixels say: a mark id (None when no mark was found) and how sure the reader is.

    ``sync_score`` is the sync correlation peak over its spread (≥ 4 to be tried at all);
    ``bit_agreement`` the share of coded bits the decoded word explains (1.0 = every chip
    agrees; a CRC-valid word from noise would sit near 0.5); ``period_px`` the tile period found
    at the detection size (≈ 128 for an uncropped picture at its delivered aspect)."""

    mark_id: int | None
    sync_score: float = 0.0
    bit_agreement: float = 0.0
    period_px: float = 0.0

    @property
    def found(self) -> bool:
        return self.mark_id is not None


# --------------------------------------------------------------------------------------------
# Payload coding
# --------------------------------------------------------------------------------------------


def crc24(data: bytes) -> int:
    """OpenPGP's CRC-24 (RFC 4880 §6.1)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _payload_bits(mark_id: int) -> np.ndarray:
    if not 0 < mark_id <= MAX_MARK_ID:
        raise WatermarkError(f"A mark id is 1..2^{MARK_ID_BITS}-1, got {mark_id}")
    word = (mark_id << _CRC_BITS) | crc24(mark_id.to_bytes(5, "big"))
    return np.array([(word >> (63 - i)) & 1 for i in range(_PAYLOAD_BITS)], dtype=np.uint8)


def _mark_id_from_bits(bits: np.ndarray) -> int | None:
    word = 0
    for bit in bits[:_PAYLOAD_BITS]:
        word = (word << 1) | int(bit)
    mark_id, crc = word >> _CRC_BITS, word & 0xFFFFFF
    if mark_id == 0 or crc24(mark_id.to_bytes(5, "big")) != crc:
        return None
    return mark_id


def _parity(value: int) -> int:
    return bin(value).count("1") & 1


# state = the last 6 input bits, newest in the high bit; output pair for (state, input).
_STATES = 1 << (_CONSTRAINT - 1)
_OUTPUTS = np.array(
    [
        [[_parity(((bit << (_CONSTRAINT - 1)) | state) & g) for g in _GENERATORS] for bit in (0, 1)]
        for state in range(_STATES)
    ],
    dtype=np.int8,
)  # [state, input, 2]
_NEXT = np.array([[((bit << 5) | (state >> 1)) for bit in (0, 1)] for state in range(_STATES)])


def conv_encode(bits: np.ndarray) -> np.ndarray:
    """Rate-1/2 K=7 convolutional code with a zero tail (the encoder ends in state 0)."""
    state, out = 0, []
    for bit in list(bits) + [0] * (_CONSTRAINT - 1):
        out.extend(_OUTPUTS[state, int(bit)])
        state = int(_NEXT[state, int(bit)])
    return np.array(out, dtype=np.uint8)


# For Viterbi: each next state has two predecessors (state with its low bit 0 or 1).
_PREV = np.array([[((n << 1) & (_STATES - 1)) | low for low in (0, 1)] for n in range(_STATES)])
_PREV_INPUT = np.array([n >> 5 for n in range(_STATES)])
_PREV_SIGNS = np.stack(
    [1.0 - 2.0 * _OUTPUTS[_PREV[:, k], _PREV_INPUT] for k in (0, 1)], axis=1
)  # [next, which predecessor, 2]: +1 for a 0 bit, -1 for a 1 bit


def viterbi_decode(soft: np.ndarray) -> np.ndarray:
    """Soft-decision Viterbi: ``soft`` > 0 means "probably 0", one value per coded bit."""
    steps = soft.size // 2
    pairs = soft[: steps * 2].reshape(steps, 2)
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choices = np.zeros((steps, _STATES), dtype=np.int8)
    for step in range(steps):
        branch = _PREV_SIGNS @ pairs[step]  # [next, predecessor]
        candidates = metric[_PREV] + branch
        pick = np.argmax(candidates, axis=1)
        choices[step] = pick
        metric = candidates[np.arange(_STATES), pick]
    state, bits = 0, []  # the tail brings the encoder back to state 0
    for step in range(steps - 1, -1, -1):
        bits.append(state >> 5)
        state = int(_PREV[state, choices[step, state]])
    return np.array(bits[::-1][: steps - (_CONSTRAINT - 1)], dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# The tile
# --------------------------------------------------------------------------------------------


def _chip_tile(mark_id: int | None) -> np.ndarray:
    """32×32 chips: sync everywhere it is placed; data only when ``mark_id`` is given."""
    chips = np.zeros(TILE_CHIPS * TILE_CHIPS, dtype=np.float32)
    chips[_SYNC_CELLS] = _SYNC_SIGNS
    if mark_id is not None:
        coded = conv_encode(_payload_bits(mark_id)).astype(np.float32)
        chips[_DATA_CELLS] = _DATA_SIGNS * (1.0 - 2.0 * coded[_DATA_BIT])
    return chips.reshape(TILE_CHIPS, TILE_CHIPS)


def _interpolation_matrix(period: int) -> np.ndarray:
    """[period × 32]: bilinear weights from the chips to ``period`` pixels, wrapping round."""
    position = (np.arange(period) + 0.5) * TILE_CHIPS / period - 0.5
    low = np.floor(position).astype(int)
    frac = (position - low).astype(np.float32)
    matrix = np.zeros((period, TILE_CHIPS), dtype=np.float32)
    rows = np.arange(period)
    np.add.at(matrix, (rows, low % TILE_CHIPS), 1.0 - frac)
    np.add.at(matrix, (rows, (low + 1) % TILE_CHIPS), frac)
    return matrix


def _pixel_tile(chips: np.ndarray, period: int) -> np.ndarray:
    matrix = _interpolation_matrix(period)
    return matrix @ chips @ matrix.T


def chip_size(width: int, height: int) -> int:
    """A chip's side in pixels for a picture of this size: about six tiles across its short
    side, a whole number of pixels so the pattern is the chip grid scaled up exactly.

    Never under ``MIN_CHIP_PX`` while three tiles still fit across: a 3 px chip (six tiles on
    the 630 px share card) is fine detail that JPEG at quality 70 flattens wherever the picture
    is flat, and the card is mostly flat colour (read back 17 of 18 times after JPEG 70 and
    never after a crop, a resize and JPEG 70 together, against 18 of 18 and 15 of 18 with
    4 px). Portraits (web, full, print) have chips of 4 px or more anyway."""
    short = min(width, height)
    chip = round(short / (TILES_PER_SHORT_SIDE * TILE_CHIPS))
    floor = min(MIN_CHIP_PX, short // (3 * TILE_CHIPS))
    return max(2, floor, chip)


def tile_period(width: int, height: int) -> int:
    """The tile's size in pixels for a picture of this size."""
    return TILE_CHIPS * chip_size(width, height)


# --------------------------------------------------------------------------------------------
# Embedding
# --------------------------------------------------------------------------------------------


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _strength_per_chip(
    rgb: np.ndarray, chip: int, grid: tuple[int, int]
) -> tuple[np.ndarray, bool]:
    """Relative strength per chip — 1 on smooth areas, up to 3 where texture masks the mark,
    down to 0.2 on colour drawn flat — and whether the picture is mostly drawn colour.

    Texture is the luminance's spread over 3 × 3 chips, each chip its mean (the mark cannot
    vary faster than its chips; finer detail is averaged away). The spread is then the least
    within two chips: a lone edge (the frame's border, a caption) is busy only along a line,
    where extra noise would show; real texture is busy all round."""
    grid_h, grid_w = grid
    height, width = rgb.shape[:2]
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    luma = cv2.copyMakeBorder(
        luma, 0, grid_h * chip - height, 0, grid_w * chip - width, cv2.BORDER_REPLICATE
    )
    small = cv2.resize(luma, (grid_w, grid_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    mean = cv2.blur(small, (3, 3))
    spread = np.sqrt(np.maximum(cv2.blur(small * small, (3, 3)) - mean * mean, 0.0))
    spread = cv2.erode(spread, np.ones((5, 5), np.uint8))
    strength = 1.0 + 2.0 * spread / (spread + 6.0)  # spread is in grey levels
    drawn = float(np.mean(spread < _FLAT_SPREAD)) > 1.0 - _MIN_PHOTO_SHARE
    if drawn:
        return strength, True
    # Colour drawn flat (a frame, a plate, a render's plain backdrop) has nothing to hide the
    # mark in: ±1-2 levels read there as a faint lace, and JPEG wipes them anyway. Under a
    # quarter of a grey level of spread (drawn colour is 0; a photo's smoothest skin 0.3 or
    # more) the mark fades to a fifth: the photo carries it.
    fade = np.clip(spread / _FLAT_SPREAD, 0.0, 1.0)
    faded = np.where(
        spread < _FLAT_SPREAD, _FLAT_STRENGTH + (1.0 - _FLAT_STRENGTH) * fade, strength
    )
    return faded, False


def embed(
    rgb: np.ndarray,
    mark_id: int,
    *,
    psnr_db: float | None = None,
    keep_clear: Sequence[tuple[int, int, int, int]] = (),
) -> np.ndarray:
    """``rgb`` (H×W×3 uint8) with ``mark_id`` in its luminance, ``psnr_db`` from the original:
    ``TARGET_PSNR_DB`` for a photo, ``DRAWN_PSNR_DB`` for a picture that is mostly colour drawn
    flat (the brand-only share card), where the mark has no texture to hide in and only a
    stronger one survives JPEG at quality 70.

    ``keep_clear`` boxes (left, top, right, bottom) are left exactly as they are: the visible
    tag's glyphs must stay as crisp as they were drawn.

    About 5 ms for a 1080 px web portrait: everything but the last two steps happens on the
    chip grid, a few dozen times smaller than the picture."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise WatermarkError("embed takes an H×W×3 uint8 picture")
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise WatermarkError("The picture is too small to carry a mark")
    rgb = np.ascontiguousarray(rgb)
    chip = chip_size(width, height)
    grid = (-(-height // chip), -(-width // chip))
    tiles = (-(-grid[0] // TILE_CHIPS), -(-grid[1] // TILE_CHIPS))
    chips = np.tile(_chip_tile(mark_id), tiles)[: grid[0], : grid[1]]
    strength, drawn = _strength_per_chip(rgb, chip, grid)
    weighted = chips * strength
    if psnr_db is None:
        psnr_db = DRAWN_PSNR_DB if drawn else TARGET_PSNR_DB
    # Scaled on the chip grid to the PSNR asked for: interpolation keeps ``_tent_energy(chip)``
    # of each axis' energy (the chips are independent ±1), so the picture's RMS is known here.
    target_rms = 255.0 / (10.0 ** (psnr_db / 20.0))
    grid_rms = float(np.sqrt(np.mean(weighted * weighted))) * _tent_energy(chip)
    weighted = (weighted * (target_rms / max(grid_rms, 1e-6))).astype(np.float32)
    # Linear interpolation by a whole factor draws each chip as a tent: little energy above the
    # chip rate, which JPEG and downscaling would remove anyway, and no blocky edges to see.
    size = (grid[1] * chip, grid[0] * chip)
    delta = cv2.resize(weighted, size, interpolation=cv2.INTER_LINEAR)[:height, :width]
    for left, top, right, bottom in keep_clear:
        delta[max(0, top) : max(0, bottom), max(0, left) : max(0, right)] = 0.0
    # The same delta on R, G and B: luminance moves, hue does not; rounded and saturated.
    return cv2.add(rgb, cv2.cvtColor(delta, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_8U)


def _tent_energy(chip: int) -> float:
    """The share of a unit-variance chip grid's variance, per axis, that OpenCV's linear
    upscaling by ``chip`` keeps (a pixel at fraction f between two chips has (1-f)² + f²)."""
    position = (np.arange(chip) + 0.5) / chip - 0.5
    fraction = position - np.floor(position)
    return float(np.mean((1.0 - fraction) ** 2 + fraction**2))


def psnr(original: np.ndarray, marked: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all channels (∞ for identical pictures)."""
    error = np.mean((original.astype(np.float64) - marked.astype(np.float64)) ** 2)
    return math.inf if error == 0 else 10.0 * math.log10(255.0**2 / error)


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def _band_pass(luma: np.ndarray) -> np.ndarray:
    """Keep the chips' band (periods of ~4-24 px at the detection size), flatten the rest."""
    fine = cv2.GaussianBlur(luma, (0, 0), 1.0)
    coarse = cv2.GaussianBlur(luma, (0, 0), 4.0)
    band = fine - coarse
    # Divided by the local spread: an edge or busy texture must not outvote the flat areas.
    spread = np.sqrt(np.maximum(cv2.blur(band * band, (17, 17)), 0.0)) + 1.0
    return np.clip(band / spread, -3.0, 3.0)


def _detection_residual(rgb: np.ndarray) -> np.ndarray:
    luma = _luminance(rgb)
    height, width = luma.shape
    scale = _DETECT_SHORT_SIDE / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return _band_pass(cv2.resize(luma, size, interpolation=interpolation))


def _periods(residual: np.ndarray) -> list[float]:
    """Candidate tile periods (px), strongest first, from the autocorrelation's axis peaks."""
    height, width = residual.shape
    # Circular (no zero padding): the wrapped overlap adds a little noise, not a false peak,
    # and the transform is four times smaller.
    shape = (cv2.getOptimalDFTSize(height), cv2.getOptimalDFTSize(width))
    padded = cv2.copyMakeBorder(
        residual.astype(np.float32),
        0,
        shape[0] - height,
        0,
        shape[1] - width,
        cv2.BORDER_CONSTANT,
        value=0.0,
    )
    spectrum = cv2.dft(padded, flags=cv2.DFT_COMPLEX_OUTPUT)
    power = cv2.mulSpectrums(spectrum, spectrum, 0, conjB=True)
    auto = cv2.idft(power, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    limit = min(_MAX_PERIOD, min(height, width) // 2)
    if limit <= _MIN_PERIOD + 8:
        return []
    lags = np.arange(limit + 30)
    # Normalise by the overlap, so long lags (fewer pixels in common) are not penalised. A
    # resize scales both axes alike, so the two axes' peaks add up at the same lag.
    profile = auto[0, : lags.size] / (width - lags) + auto[: lags.size, 0] / (height - lags)
    # A peak is ~±6 px wide (a chip, blurred): measure it against the profile 10-24 px away.
    windows = np.lib.stride_tricks.sliding_window_view(profile, 49)  # lag-24 .. lag+24
    rings = np.concatenate([windows[:, :15], windows[:, 34:]], axis=1)
    lifted = np.zeros_like(profile)
    lifted[24 : 24 + rings.shape[0]] = profile[24 : 24 + rings.shape[0]] - np.median(rings, axis=1)
    body = lifted[_MIN_PERIOD:limit]
    spread = float(np.median(np.abs(body - np.median(body)))) + 1e-9
    scores = []
    for lag in range(_MIN_PERIOD, limit):
        if lifted[lag] > 0 and lifted[lag] >= lifted[lag - 6 : lag + 7].max():
            scores.append((lifted[lag] / spread, lag))
    scores.sort(reverse=True)
    chosen: list[int] = []
    for _, lag in scores[:_PERIOD_CANDIDATES]:
        # The tile's period repeats at its multiples, and on a picture shown small inside a
        # screenshot's plain canvas a multiple can outscore it: the peak at a half or a third
        # of a candidate, where one stands out, is tried after it.
        for divisor in (1, 2, 3):
            sub = round(lag / divisor)
            if divisor > 1:
                sub = sub - 3 + int(np.argmax(lifted[sub - 3 : sub + 4]))
            if sub < _MIN_PERIOD or lifted[sub] <= 0:
                continue
            if all(abs(sub - other) > 3 for other in chosen):
                chosen.append(sub)
    return [_refined_period(profile, lag) for lag in chosen]


def _refined_period(profile: np.ndarray, lag: int) -> float:
    """Parabolic interpolation of the peak at ``lag``, refined on its harmonics where they fit."""
    estimates = []
    for harmonic in (1, 2, 3):
        centre = lag * harmonic
        if centre + 3 >= profile.size:
            break
        # The peak's own top: ``lag`` is where it stands highest over its surroundings
        # (``lifted``), which on a sloping profile is a sample or two down its side, where a
        # parabola through three samples put the period 13 px away.
        centre = centre - 2 + int(np.argmax(profile[centre - 2 : centre + 3]))
        left, mid, right = profile[centre - 1], profile[centre], profile[centre + 1]
        curvature = left - 2 * mid + right
        offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
        # Within half a lag of the highest sample, always (the window's edge may hold it).
        estimates.append((centre + float(np.clip(offset, -0.5, 0.5))) / harmonic)
    return float(estimates[-1])


def _fold(residual: np.ndarray, period: float) -> np.ndarray:
    """The residual averaged over every copy of the tile, at the canonical tile size."""
    height, width = residual.shape
    bins = _CANONICAL_PERIOD / period
    columns = (np.floor((np.arange(width) + 0.5) * bins).astype(np.int64)) % _CANONICAL_PERIOD
    rows = (np.floor((np.arange(height) + 0.5) * bins).astype(np.int64)) % _CANONICAL_PERIOD
    index = (rows[:, None] * _CANONICAL_PERIOD + columns[None, :]).ravel()
    size = _CANONICAL_PERIOD * _CANONICAL_PERIOD
    sums = np.bincount(index, weights=residual.ravel(), minlength=size)
    counts = np.bincount(index, minlength=size)
    folded = sums / np.maximum(counts, 1)
    return folded.reshape(_CANONICAL_PERIOD, _CANONICAL_PERIOD)


def _sync_template_spectrum() -> np.ndarray:
    tile = _pixel_tile(_chip_tile(None), _CANONICAL_PERIOD)
    # Band-passed as the residual is, on a 3×3 wrap so the filter sees the tile's neighbours.
    tiled = np.tile(tile, (3, 3))
    band = cv2.GaussianBlur(tiled, (0, 0), 1.0) - cv2.GaussianBlur(tiled, (0, 0), 4.0)
    p = _CANONICAL_PERIOD
    return np.conj(np.fft.rfft2(band[p : 2 * p, p : 2 * p]))


_SYNC_SPECTRUM = _sync_template_spectrum()


def _sync(folded: np.ndarray) -> tuple[float, int, int]:
    """The sync peak's score and where the tile starts in the folded residual."""
    correlation = np.fft.irfft2(np.fft.rfft2(folded) * _SYNC_SPECTRUM, s=folded.shape)
    peak = int(np.argmax(correlation))
    dy, dx = divmod(peak, folded.shape[1])
    spread = float(np.std(correlation)) + 1e-12
    return (float(correlation[dy, dx]) - float(np.mean(correlation))) / spread, dy, dx


def _read_payload(folded: np.ndarray, dy: int, dx: int) -> tuple[int | None, float]:
    aligned = np.roll(folded, (-dy, -dx), axis=(0, 1))
    chips = cv2.resize(
        aligned.astype(np.float32), (TILE_CHIPS, TILE_CHIPS), interpolation=cv2.INTER_AREA
    ).ravel()
    values = chips[_DATA_CELLS] * _DATA_SIGNS
    soft = np.bincount(_DATA_BIT, weights=values, minlength=_CODED_BITS)
    soft /= float(np.std(soft)) + 1e-12
    bits = viterbi_decode(soft)
    mark_id = _mark_id_from_bits(bits)
    if mark_id is None:
        return None, 0.0
    expected = 1.0 - 2.0 * conv_encode(bits).astype(np.float64)
    return mark_id, float(np.mean(np.sign(soft) == expected))


def detect(rgb: np.ndarray) -> Detection:
    """Look for a mark in ``rgb`` (H×W×3 uint8, any size, possibly resized or cropped)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 64:
        return Detection(mark_id=None)
    residual = _detection_residual(np.ascontiguousarray(rgb, dtype=np.uint8))
    best = Detection(mark_id=None)
    for period in _periods(residual):
        tries = []
        for step in _SCALE_STEPS:
            folded = _fold(residual, period * (1.0 + step))
            score, dy, dx = _sync(folded)
            tries.append((score, step, folded, dy, dx))
        score, step, folded, dy, dx = max(tries, key=lambda item: item[0])
        if score < _SYNC_MIN_SCORE:
            best = max(best, Detection(None, sync_score=score), key=lambda d: d.sync_score)
            continue
        mark_id, agreement = _read_payload(folded, dy, dx)
        found = Detection(mark_id, score, agreement, period * (1.0 + step))
        if mark_id is not None:
            return found
        best = max(best, found, key=lambda d: d.sync_score)
    return best
