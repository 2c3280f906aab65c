"""WCAG contrast for brand colours, and a BrandSpec that refuses what it cannot draw."""

import pytest

from branding.overlay import BrandingError, BrandSpec, contrast_ratio, validate_brand_colours


def test_white_on_black_is_the_maximum_contrast_of_21():
    assert contrast_ratio("#ffffff", "#000000") == 21


def test_a_colour_on_itself_has_no_contrast():
    assert contrast_ratio("#7a2e4d", "#7a2e4d") == 1


def test_contrast_is_symmetric_and_matches_wcag_reference_values():
    # #767676 is the lightest grey that passes AA (4.5:1) on white; #777777 just fails.
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#ffffff", "#777777") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#f00", "#ffffff") == pytest.approx(4.0, abs=0.01)


@pytest.mark.parametrize(
    "field, value",
    [("primary_hex", "red"), ("accent_hex", "#12345"), ("frame", "neon"), ("font", "comic")],
)
def test_a_brand_spec_with_an_unknown_value_is_refused(field, value):
    fields = dict(
        studio_name="Bloom",
        primary_hex="#7a2e4d",
        accent_hex="#f3e6da",
        font="sans",
        frame="thin",
        caption="",
        logo_png=None,
        cobranded=True,
    )
    fields[field] = value
    with pytest.raises(BrandingError) as error:
        BrandSpec(**fields)
    assert error.value.message


def test_a_colour_pair_with_unreadable_contrast_is_refused_with_the_ratio():
    with pytest.raises(BrandingError, match=r"1\.\d:1"):
        validate_brand_colours("#f3e6da", "#ffffff")


def test_a_readable_colour_pair_passes():
    validate_brand_colours("#7a2e4d", "#f3e6da")  # 7.9:1
    assert contrast_ratio("#7a2e4d", "#f3e6da") > 3
