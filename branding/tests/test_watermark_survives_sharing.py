"""The invisible watermark: the mark id read back after what sharing does to a portrait (JPEG at
quality 70, a 50 % resize, a 10 % crop, a PNG round trip), at a PSNR of at least 40 dB, and no
mark read from pictures that carry none."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import pytest
from PIL import Image

from bench.provenance import ATTACKS, generated_portraits
from branding.overlay import BrandSpec, compose, overlay_layout
from branding.provenance import encode_with_tag
from branding.sample_portrait import sample_portrait_render
from branding.watermark import (
    _CODED_BITS,
    _mark_id_from_bits,
    _payload_bits,
    conv_encode,
    detect,
    embed,
    psnr,
    viterbi_decode,
)
from render.pipeline.phantom import make_phantom

MARK_ID = 0x5A_C0FF_EE42


@lru_cache(maxsize=3)
def _portrait(frame: str = "polaroid", caption: str = "Welcome to the world") -> np.ndarray:
    """A real Cradle portrait of a generated phantom, framed at web size (1080 px)."""
    spec = BrandSpec(
        studio_name="Bloom 4D Studio",
        primary_hex="#6b4f4f",
        accent_hex="#f3ece4",
        font="serif",
        frame=frame,
        caption=caption,
        logo_png=None,
        cobranded=bool(caption),
    )
    return np.asarray(compose(sample_portrait_render(), spec, size="web"))


@lru_cache(maxsize=1)
def _bench_portrait() -> np.ndarray:
    return generated_portraits(4)[3]


def _delivered(pixels: np.ndarray) -> np.ndarray:
    """As the web file is delivered: JPEG at quality 90 with the tag in its metadata."""
    data = encode_with_tag(Image.fromarray(pixels), fmt="JPEG")
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_the_mark_cannot_be_seen(capsys) -> None:
    portrait = _portrait()
    marked = embed(portrait, MARK_ID)
    figure = psnr(portrait, marked)
    with capsys.disabled():
        print(
            f"\nwatermark PSNR on a {portrait.shape[1]}x{portrait.shape[0]} portrait: "
            f"{figure:.2f} dB"
        )
    assert figure >= 40.0
    # Luminance only: the same change on R, G and B, so no colour shifts anywhere.
    change = marked.astype(int) - portrait.astype(int)
    unclipped = (portrait > 3).all(axis=2) & (portrait < 252).all(axis=2)
    assert (change[unclipped, 0] == change[unclipped, 1]).all()
    assert (change[unclipped, 1] == change[unclipped, 2]).all()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("frame", ["polaroid", "thin"])
def test_the_mark_id_is_read_back_after_sharing(attack: str, frame: str) -> None:
    delivered = _delivered(embed(_portrait(frame), MARK_ID))
    attacked = ATTACKS[attack](delivered, 7)
    if attack == "resize50":
        assert attacked.shape[0] == round(delivered.shape[0] / 2)
    if attack == "crop10":
        assert attacked.shape[1] == round(delivered.shape[1] * 0.9)
    found = detect(attacked)
    assert found.mark_id == MARK_ID
    assert found.bit_agreement > 0.9


# Mark ids whose screenshot's strongest autocorrelation peaks were two and three tiles, not one:
# about one screenshot in twenty, before the peaks at a half and a third were tried as well.
@pytest.mark.parametrize("mark_id", [825034682628, 1057353266366, 901189108106])
def test_a_screenshot_is_read_where_the_tile_repeats_more_strongly_than_it_shows(
    mark_id: int,
) -> None:
    # A new studio's brand kit: the thin frame, no caption.
    marked = _delivered(embed(_portrait("thin", caption=""), mark_id))
    found = detect(ATTACKS["screenshot"](marked, 7))
    assert found.mark_id == mark_id


@pytest.mark.parametrize("mark_id", [683768241402, 405712230110])
def test_a_screenshot_is_read_where_the_tile_period_peaks_off_its_top(mark_id: int) -> None:
    # bench provenance's fourth portrait: the autocorrelation's peak at one tile stands out
    # most a sample down its side, and a parabola through three samples there put the period
    # 13 px past it (126.6 for 113.8), before the interpolation started from the peak's top.
    marked = _delivered(embed(_bench_portrait(), mark_id))
    assert detect(ATTACKS["screenshot"](marked, 7)).mark_id == mark_id


def test_a_print_size_file_resized_for_sharing_still_reads() -> None:
    # A print file is 4× the web size; the mark scales with the picture.
    big = np.asarray(Image.fromarray(_portrait()).resize((3480, 4320), Image.Resampling.BICUBIC))
    shared = np.asarray(Image.fromarray(embed(big, MARK_ID)).resize((870, 1080)))
    assert detect(_delivered(shared)).mark_id == MARK_ID


def test_pictures_without_a_mark_read_as_unmarked() -> None:
    noise = np.random.default_rng(3).integers(0, 256, (700, 900, 3), dtype=np.uint8)
    stripes = np.repeat((np.arange(900) // 9 % 2 * 255).astype(np.uint8)[None, :], 700, axis=0)
    for picture in (
        _delivered(_portrait()),
        make_phantom(seed=5).image,
        noise,
        np.stack([stripes] * 3, axis=-1),
        np.full((400, 400, 3), 128, np.uint8),
    ):
        assert detect(picture).mark_id is None


def test_two_marks_on_the_same_portrait_read_as_themselves() -> None:
    portrait = _portrait()
    assert detect(_delivered(embed(portrait, 1))).mark_id == 1
    assert detect(_delivered(embed(portrait, 2**40 - 1))).mark_id == 2**40 - 1


def test_the_code_corrects_flipped_bits_and_the_crc_refuses_a_wrong_word() -> None:
    coded = conv_encode(_payload_bits(MARK_ID))
    assert coded.size == _CODED_BITS
    soft = 1.0 - 2.0 * coded.astype(float)
    flipped = soft.copy()
    flipped[[3, 30, 61, 95, 128]] *= -1  # five scattered errors
    assert _mark_id_from_bits(viterbi_decode(flipped)) == MARK_ID
    bits = _payload_bits(MARK_ID)
    bits[5] ^= 1
    assert _mark_id_from_bits(bits) is None


def test_the_visible_tag_is_left_exactly_as_drawn() -> None:
    portrait = _portrait("polaroid")
    render = sample_portrait_render()
    layout = overlay_layout((render.shape[1], render.shape[0]), "polaroid", size="web")
    assert portrait.shape[:2] == (layout.canvas_size[1], layout.canvas_size[0])
    left, top, right, bottom = layout.tag_box
    marked = embed(portrait, MARK_ID, keep_clear=(layout.tag_box,))
    assert (marked[top:bottom, left:right] == portrait[top:bottom, left:right]).all()
    # Everywhere else the mark is there, and it still reads.
    assert (marked[:top] != portrait[:top]).any()
    assert detect(_delivered(marked)).mark_id == MARK_ID


def test_colour_drawn_flat_is_left_almost_untouched() -> None:
    # The polaroid frame is drawn flat: a mark there would show as a faint lace on it, so the
    # photo carries the mark and the frame stays as drawn, give or take a stray level.
    portrait = _portrait("polaroid")
    render = sample_portrait_render()
    left, top, right, bottom = overlay_layout(
        (render.shape[1], render.shape[0]), "polaroid", size="web"
    ).photo_box
    change = np.abs(embed(portrait, MARK_ID).astype(int) - portrait.astype(int))[..., 1]
    frame = np.ones(change.shape, bool)
    frame[top - 12 : bottom + 12, left - 12 : right + 12] = False
    frame[-120:] = False  # the caption and the tag
    photo = change[top + 12 : bottom - 12, left + 12 : right - 12]
    assert change[frame].mean() < 0.1 < photo.mean()
