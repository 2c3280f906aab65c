import numpy as np
import pytest
from coloraide import Color

from render.pipeline.conditioning import MONK_SKIN_TONES, STYLES, blend_tone, build
from render.tests.pipeline.synthetic_cues import synthetic_cues


def _srgb_average(first: str, second: str) -> str:
    a, b = Color(first).coords(), Color(second).coords()
    return Color("srgb", [(x + y) / 2 for x, y in zip(a, b, strict=True)]).to_string(
        hex=True, compress=False
    )


def test_a_single_monk_step_is_its_published_colour():
    tone = blend_tone([6])
    assert tone.hex == "#a07e56"
    assert tone.swatches == ("#a07e56",)


def test_monk_1_and_monk_10_blend_in_oklab_not_as_an_srgb_average():
    tone = blend_tone([1, 10])
    srgb_mean = _srgb_average(MONK_SKIN_TONES[1], MONK_SKIN_TONES[10])
    assert tone.hex != srgb_mean
    # The OKLab midpoint sits halfway in perceived lightness, darker than the gamma-space mean.
    lightness = Color(tone.hex).convert("oklab").coords()[0]
    ends = [Color(MONK_SKIN_TONES[s]).convert("oklab").coords()[0] for s in (1, 10)]
    assert lightness == pytest.approx(sum(ends) / 2, abs=0.01)
    assert lightness < Color(srgb_mean).convert("oklab").coords()[0] - 0.01


def test_hex_and_monk_step_can_be_mixed_and_order_does_not_matter():
    assert blend_tone(["#D7BD96", 8]).hex == blend_tone([8, "#d7bd96"]).hex
    assert blend_tone(["#D7BD96", 8]).swatches == ("#d7bd96", "#604134")


def test_tone_words_follow_lightness():
    assert "fair" in blend_tone([1]).words
    assert "deep" in blend_tone([10]).words


@pytest.mark.parametrize(
    ("swatches", "message"),
    [
        (["#12345"], "not a hex colour"),
        (["red"], "not a hex colour"),
        ([0], "1..10"),
        ([11], "1..10"),
        ([], "one or two"),
        ([1, 2, 3], "one or two"),
        ([True], "neither"),
    ],
)
def test_bad_swatches_are_refused_with_a_clear_message(swatches, message):
    with pytest.raises(ValueError, match=message):
        blend_tone(swatches)


def test_the_prompt_carries_tone_words_hex_neonatal_terms_and_brand_tokens():
    tone = blend_tone([5])
    conditioning = build(synthetic_cues(96), tone, style="warm-studio", brand_tokens=["Bloom"])
    assert tone.hex in conditioning.prompt
    assert tone.words in conditioning.prompt
    assert "newborn" in conditioning.prompt and "Bloom" in conditioning.prompt
    assert STYLES["warm-studio"].prompt_words in conditioning.prompt
    for negative in ("adult features", "teeth", "text", "watermark", "extra fingers"):
        assert negative in conditioning.negative_prompt
    assert conditioning.neonatal_terms and conditioning.brand_tokens == ("Bloom",)


def test_the_prompt_fits_clips_77_tokens_with_tone_and_neonatal_terms_up_front():
    from transformers.models.clip.tokenization_clip import BasicTokenizer

    tone = blend_tone([7, "#c8a27e"])
    for style in STYLES:
        prompt = build(synthetic_cues(64), tone, style=style, brand_tokens=["Bloom"]).prompt
        # A word-and-punctuation count plus the hex's extra pieces bounds CLIP's BPE count.
        words = BasicTokenizer(do_lower_case=True).tokenize(prompt)
        assert len(words) + 6 < 77, style
        assert prompt.index(tone.hex) < prompt.index("backdrop")
        assert prompt.index("button nose") < prompt.index(STYLES[style].prompt_words)


def test_the_depth_control_image_is_the_depth_in_grey():
    cues = synthetic_cues(96)
    control = build(cues, blend_tone([3])).depth_control
    assert control.shape == (96, 96, 3) and control.dtype == np.uint8
    assert np.array_equal(control[..., 0], control[..., 2])
    nearest = np.unravel_index(np.argmax(cues.depth), cues.depth.shape)
    assert control[nearest][0] == 255 and control[0, 0, 0] == 0


def test_the_inpaint_mask_paints_the_confident_subject_and_keeps_the_rest():
    cues = synthetic_cues(128, occluded=True)
    mask = build(cues, blend_tone([3])).inpaint_mask
    assert mask.dtype == np.float32 and mask.shape == (128, 128)
    assert mask[0, 0] == pytest.approx(0.0, abs=1e-3)  # background kept
    assert mask[int(0.45 * 128), int(0.5 * 128)] > 0.99  # forehead painted
    occluded = cues.low_confidence > 0.95
    assert mask[occluded].max() < 0.2  # the hand over the cheek is kept


def test_reference_portraits_are_noted_as_ignored_when_the_engine_cannot_use_them():
    portrait = np.zeros((8, 8, 3), np.uint8)
    conditioning = build(synthetic_cues(64), blend_tone([2]), reference_portraits=[portrait])
    assert any("ignored" in note for note in conditioning.notes)
    assert len(conditioning.reference_portraits) == 1


def test_unknown_style_and_bad_background_are_refused():
    with pytest.raises(ValueError, match="unknown style"):
        build(synthetic_cues(64), blend_tone([2]), style="neon")
    with pytest.raises(ValueError, match="background colour"):
        build(synthetic_cues(64), blend_tone([2]), background_hex="beige")


def test_fix_anatomy_says_when_it_found_nothing_over_the_face_to_take_away():
    def notes(occluded: bool, strength: float) -> list[str]:
        cues = synthetic_cues(128, occluded=occluded)
        return list(build(cues, blend_tone([4]), correction_strength=strength).notes)

    bare = notes(False, 0.8)
    assert "Fix Anatomy pass, correction strength 0.80" in bare
    assert any(note.startswith("Fix Anatomy found nothing over the face") for note in bare)
    # Over a hand it has something to take away; and without the pass it says nothing at all.
    assert not any("found nothing" in note for note in notes(True, 0.8))
    assert not any("Fix Anatomy" in note for note in notes(False, 0.0))
