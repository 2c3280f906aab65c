"""Every delivered file carries the tag in EXIF, XMP, PNG text (PNG) and a signed C2PA manifest."""

import io

import numpy as np
import pytest
from PIL import Image

from branding.overlay import BrandSpec, compose, draw_tag, overlay_layout
from branding.provenance import (
    TAG_TEXT,
    TRAINED_ALGORITHMIC_MEDIA,
    ProvenanceError,
    ensure_dev_signing_material,
    read_provenance,
    tag_image,
)


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return ensure_dev_signing_material(tmp_path_factory.mktemp("c2pa-dev"))


@pytest.fixture(scope="module")
def portrait():
    rng = np.random.default_rng(11)
    coarse = Image.fromarray(rng.integers(120, 230, (12, 10, 3), dtype=np.uint8))
    photo = np.asarray(coarse.resize((819, 1024), Image.Resampling.BICUBIC))
    spec = BrandSpec("Bloom", "#7a2e4d", "#f3e6da", "serif", "polaroid", "Hello", None, True)
    return compose(photo, spec)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_signed_delivery_carries_the_tag_in_every_place(portrait, signer, fmt):
    data = tag_image(portrait, fmt=fmt, signer=signer, artist="Bloom 4D <Studio> & Co")

    report = read_provenance(data)

    assert report.format == fmt
    assert report.exif_has_tag
    assert report.exif_software == "Cradle"
    assert report.xmp_description == TAG_TEXT
    assert report.xmp_digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.c2pa_present
    assert report.c2pa_actions[0] == "c2pa.created"
    assert report.c2pa_digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.c2pa_validation_state == "Valid"
    # The development CA is on no trust list: expected in dev, and reported as such.
    assert report.c2pa_signer_untrusted
    if fmt == "PNG":
        assert report.png_text["Description"] == TAG_TEXT
        assert report.png_text["Disclaimer"] == TAG_TEXT
    assert report.carries_tag_everywhere


def test_the_delivered_jpeg_still_shows_the_tag_in_its_pixels(portrait, signer):
    decoded = Image.open(io.BytesIO(tag_image(portrait, fmt="JPEG", signer=signer)))
    layout = overlay_layout((819, 1024), "polaroid")
    reference = Image.new("RGB", layout.canvas_size)
    draw_tag(reference, layout)

    def glyphs(image):
        return np.asarray(image.crop(layout.tag_box).convert("L")) > 170

    found, expected = glyphs(decoded.convert("RGB")), glyphs(reference)
    assert (found & expected).sum() / (found | expected).sum() > 0.75


def test_a_preview_without_a_signer_has_no_manifest_and_is_not_called_complete(portrait):
    report = read_provenance(tag_image(portrait, fmt="JPEG", signer=None))
    assert report.exif_has_tag and report.xmp_description == TAG_TEXT
    assert not report.c2pa_present
    assert not report.carries_tag_everywhere


def test_a_file_altered_after_signing_fails_c2pa_validation(portrait, signer):
    data = bytearray(tag_image(portrait, fmt="JPEG", signer=signer))
    data[-200] ^= 0xFF  # one flipped byte in the entropy-coded image data
    report = read_provenance(bytes(data))
    assert report.c2pa_validation_state == "Invalid"
    assert "assertion.dataHash.mismatch" in report.c2pa_failure_codes
    assert not report.carries_tag_everywhere


def test_a_plain_file_reports_no_tag_anywhere(portrait):
    out = io.BytesIO()
    portrait.save(out, "PNG")
    report = read_provenance(out.getvalue())
    assert report.exif_description is None and report.xmp_description is None
    assert report.png_text == {} and not report.c2pa_present
    assert not report.carries_tag_everywhere


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_the_exif_description_is_ascii_and_the_user_comment_keeps_the_middle_dot(portrait, fmt):
    with Image.open(io.BytesIO(tag_image(portrait, fmt=fmt, signer=None))) as image:
        exif = image.getexif()
    description = exif[0x010E]  # ImageDescription, as Pillow (like most readers) decodes it
    assert description == "Artistic interpretation - Not a medical prediction"
    assert description.isascii() and "Â" not in description
    comment = exif.get_ifd(0x8769)[0x9286]  # UserComment: charset header, then UCS-2
    assert comment[:8] == b"UNICODE\x00"
    order = "utf-16-le" if exif.endian == "<" else "utf-16-be"
    assert comment[8:].decode(order) == "Artistic interpretation · Not a medical prediction"


def test_the_xmp_packet_is_found_without_pillow(portrait, signer):
    """Independent of the reader: the raw bytes hold one XMP packet with both properties."""
    data = tag_image(portrait, fmt="JPEG", signer=signer)
    assert data.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1
    assert TAG_TEXT.encode("utf-8") in data
    assert TRAINED_ALGORITHMIC_MEDIA.encode() in data


def test_an_unknown_format_is_refused(portrait):
    with pytest.raises(Exception, match="format"):
        tag_image(portrait, fmt="TIFF", signer=None)


def test_reading_provenance_from_a_non_image_says_so():
    with pytest.raises(ProvenanceError):
        read_provenance(b"<html>not an image</html>")
