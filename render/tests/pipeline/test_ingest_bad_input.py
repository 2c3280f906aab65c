"""Every bad upload is refused with a code and a sentence a sonographer can act on."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import av
import numpy as np
import pytest
from PIL import Image

from render.pipeline.ingest import check_size, ingest
from render.pipeline.phantom import make_phantom
from render.pipeline.types import IngestLimits, ScanRejected


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(480, 328, seed=5).image).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "not a scan " * 100)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int, bit_depth: int = 8, colour: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)


def decompression_bomb(width: int, height: int) -> bytes:
    """A real 1-bit PNG that is a few KB on disk and width×height pixels once decoded."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        png_header_only(width, height, bit_depth=1, colour=0)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def audio_only_mp4() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), np.float32)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def rejection(data: bytes, limits: IngestLimits | None = None) -> ScanRejected:
    with pytest.raises(ScanRejected) as caught:
        ingest(data, limits or IngestLimits(), face_score=lambda rgb: 0.0)
    assert len(caught.value.message) > 30  # a sentence, not a bare code
    return caught.value


def test_it_rejects_an_empty_file() -> None:
    error = rejection(b"")
    assert error.code == "empty" and "0 bytes" in error.message


def test_it_rejects_a_truncated_jpeg() -> None:
    data = jpeg_bytes()
    error = rejection(data[: len(data) // 2])
    assert error.code == "unreadable" and "incomplete" in error.message


def test_it_rejects_a_zip_named_jpg() -> None:
    error = rejection(zip_bytes())
    assert error.code == "unsupported-type" and "ZIP" in error.message


def test_it_rejects_a_jpeg_with_a_zip_appended_as_a_polyglot() -> None:
    error = rejection(jpeg_bytes() + zip_bytes())
    assert error.code == "unsupported-type" and "hidden inside" in error.message


def test_it_rejects_a_png_with_a_web_page_after_its_end() -> None:
    buffer = io.BytesIO()
    Image.fromarray(make_phantom(320, 218).image).save(buffer, "PNG")
    error = rejection(buffer.getvalue() + b"<html><script>alert(1)</script></html>")
    assert error.code == "unsupported-type"


def test_it_accepts_harmless_bytes_after_a_jpeg_end_marker() -> None:
    # Phone cameras append their own trailers; only foreign formats make a polyglot.
    scan = ingest(jpeg_bytes() + b"\x00" * 64 + b"SEFT-trailer", face_score=lambda rgb: 0.0)
    assert scan.kind == "jpeg"


def test_it_rejects_a_decompression_bomb_before_decoding_it() -> None:
    data = decompression_bomb(9000, 9000)
    assert len(data) < 200_000
    error = rejection(data)
    assert error.code == "too-many-pixels" and "9000×9000" in error.message


def test_it_rejects_thirty_thousand_pixels_square_from_the_header_alone() -> None:
    error = rejection(png_header_only(30000, 30000) + png_chunk(b"IEND", b""))
    assert error.code == "too-many-pixels" and "30000×30000" in error.message


def test_it_rejects_an_mp4_with_no_video_stream() -> None:
    error = rejection(audio_only_mp4())
    assert error.code == "no-video" and "no video" in error.message


def test_it_rejects_a_file_over_the_byte_limit() -> None:
    error = rejection(jpeg_bytes(), IngestLimits(max_bytes=1000))
    assert error.code == "too-large" and "MB" in error.message


def test_the_size_refusal_speaks_one_unit_and_never_gives_the_limit_as_the_files_size() -> None:
    # 200 MiB and a little: in MB both used to round to "210".
    with pytest.raises(ScanRejected) as raised:
        check_size(200 * 1024 * 1024 + 50_000, IngestLimits(max_bytes=200 * 1024 * 1024))
    assert raised.value.code == "too-large"
    assert "The file is 209.8 MB; Cradle accepts up to 209 MB." in raised.value.message
    with pytest.raises(ScanRejected) as raised:
        check_size(200_000_001)
    assert "The file is 200.1 MB; Cradle accepts up to 200 MB." in raised.value.message


def test_it_says_a_heic_photo_is_not_supported_rather_than_a_damaged_clip() -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    error = rejection(heic)
    assert error.code == "unsupported-type"
    assert "HEIC" in error.message and "JPEG" in error.message
    assert "damaged" not in error.message and "clip" not in error.message


def test_it_rejects_bytes_of_no_known_format() -> None:
    error = rejection(b"hello, this is a text file pretending to be a scan\n" * 20)
    assert error.code == "unsupported-type"


def test_it_rejects_a_damaged_clip() -> None:
    header = b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2mp41"
    error = rejection(header + b"\x00garbage" * 50)
    assert error.code == "unreadable"


def test_it_rejects_a_dicom_without_pixels() -> None:
    error = rejection(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00abcd" * 3)
    assert error.code == "unreadable"
