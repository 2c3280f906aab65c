"""A corpus of hostile or wrong uploads, generated (nothing downloaded): truncated images,
decompression bombs, polyglots, wrong types, huge dimensions, scripts, clips without video,
archives with image names, and 2D B-mode scans. Each entry is (name, bytes)."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

from render.pipeline.phantom import make_bmode


def _encode(array: np.ndarray, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _small_jpeg() -> bytes:
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    return _encode(np.dstack([gradient] * 3), "JPEG", quality=90)


def _small_png() -> bytes:
    return _encode(np.full((240, 320, 3), 120, np.uint8), "PNG")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int, colour_type: int = 0) -> bytes:
    """A valid PNG whose zeros compress ~1000:1: tiny on disk, gigabytes when decoded."""
    channels = {0: 1, 2: 3}[colour_type]
    row = b"\0" + b"\0" * (width * channels)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(min(height, 4000)))
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_with_dimensions(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header claims other dimensions."""
    data = bytearray(_small_jpeg())
    index = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, index + 5, height, width)
    return bytes(data)


def gif_bomb() -> bytes:
    head = b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x80\x00\x00" + b"\x00\x00\x00" * 2
    descriptor = b"\x2c" + struct.pack("<HHHH", 0, 0, 65535, 65535) + b"\x00"
    return head + descriptor + b"\x08" + b"\x02\x4c\x01\x00" + b"\x3b"


def tiff_huge() -> bytes:
    # Little-endian TIFF with ImageWidth/ImageLength of 100000 and no real strips.
    entries = [(256, 4, 1, 100_000), (257, 4, 1, 100_000), (258, 3, 1, 8), (262, 3, 1, 1)]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


def bmp_huge() -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 54 + 16, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 60_000, 60_000, 1, 24, 0, 16, 2835, 2835, 0, 0)
    return header + info + b"\0" * 16


def zip_with(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("scan.jpg", b"\0" * 20_000_000)
    return buffer.getvalue()


def tar_with_image() -> bytes:
    buffer = io.BytesIO()
    payload = _small_jpeg()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("scan.jpg")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def audio_only_mp4() -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=22050)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for _ in range(8):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.rate = 22050
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def mp4_box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def empty_mp4() -> bytes:
    return (
        mp4_box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + mp4_box(b"moov") + mp4_box(b"mdat")
    )


def svg(script: str) -> bytes:
    return (
        f'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="800" height="600">'
        f'{script}<rect width="800" height="600" fill="#c8a070"/></svg>'
    ).encode()


def dicom_without_pixels() -> bytes:
    return b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00"


def bmode(fmt: str, **options: object) -> Callable[[], bytes]:
    return lambda: _encode(make_bmode(**options), fmt)


def _corpus_builders() -> list[tuple[str, Callable[[], bytes]]]:
    jpeg = _small_jpeg
    png = _small_png
    return [
        # Truncated and broken images
        ("empty.jpg", lambda: b""),
        ("one-byte.jpg", lambda: b"\xff"),
        ("jpeg-soi-only.jpg", lambda: b"\xff\xd8"),
        ("jpeg-header-only.jpg", lambda: jpeg()[:200]),
        ("jpeg-10pc.jpg", lambda: jpeg()[: len(jpeg()) // 10]),
        ("jpeg-50pc.jpg", lambda: jpeg()[: len(jpeg()) // 2]),
        ("jpeg-90pc.jpg", lambda: jpeg()[: len(jpeg()) * 9 // 10]),
        ("png-signature-only.png", lambda: b"\x89PNG\r\n\x1a\n"),
        ("png-ihdr-only.png", lambda: png()[:33]),
        ("png-half.png", lambda: png()[: len(png()) // 2]),
        ("png-bad-crc.png", lambda: png()[:29] + b"\0\0\0\0" + png()[33:]),
        ("jpeg-garbage-body.jpg", lambda: jpeg()[:300] + bytes(range(256)) * 20),
        ("random-bytes.jpg", lambda: np.random.default_rng(1).bytes(50_000)),
        ("zeros.png", lambda: b"\0" * 10_000),
        # Decompression bombs and huge dimensions
        ("png-bomb-grey-40k.png", lambda: png_bomb(40_000, 40_000)),
        ("png-bomb-rgb-20k.png", lambda: png_bomb(20_000, 20_000, colour_type=2)),
        ("png-bomb-wide.png", lambda: png_bomb(1_000_000, 100)),
        ("png-bomb-tall.png", lambda: png_bomb(100, 1_000_000)),
        ("jpeg-claims-65k.jpg", lambda: jpeg_with_dimensions(65_000, 65_000)),
        ("jpeg-claims-wide.jpg", lambda: jpeg_with_dimensions(65_000, 10)),
        ("jpeg-claims-zero.jpg", lambda: jpeg_with_dimensions(0, 0)),
        ("gif-bomb.gif", gif_bomb),
        ("tiff-100k.tif", tiff_huge),
        ("bmp-60k.bmp", bmp_huge),
        ("zip-bomb.jpg", zip_bomb),
        ("gzip-bomb.jpg", lambda: gzip.compress(b"\0" * 20_000_000)),
        # Polyglots
        ("jpeg-tail-zip.jpg", lambda: jpeg()[:400] + zip_with("x.html", b"<script>1</script>")),
        ("zip-then-jpeg.jpg", lambda: zip_with("a.txt", b"hi") + jpeg()),
        ("html-in-jpeg-name.jpg", lambda: b"<html><script>alert(1)</script></html>" + jpeg()),
        ("pdf-with-jpeg.jpg", lambda: b"%PDF-1.7\n1 0 obj\n<<>>\nstream\n" + jpeg() + b"endstream"),
        (
            "gifar.gif",
            lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;" + zip_with("A.class", b"\xca\xfe"),
        ),
        ("png-then-php.png", lambda: png()[:40] + b"<?php system($_GET['c']); ?>"),
        # Wrong types
        (
            "document.pdf",
            lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        ),
        ("archive-named.jpg", lambda: zip_with("scan.jpg", jpeg())),
        ("archive.zip", lambda: zip_with("scan.png", png())),
        ("tarball.jpg", tar_with_image),
        ("gzip.jpg", lambda: gzip.compress(jpeg())),
        ("elf.jpg", lambda: b"\x7fELF\x02\x01\x01" + b"\0" * 200),
        ("windows.exe", lambda: b"MZ\x90\x00" + b"\0" * 60 + b"PE\0\0" + b"\0" * 200),
        ("script.sh.jpg", lambda: b"#!/bin/sh\nrm -rf /\n"),
        ("page.html", lambda: b"<!doctype html><html><body onload=alert(1)></body></html>"),
        ("data.json", lambda: b'{"scan": "not really"}'),
        ("notes.txt", lambda: b"Parent: nobody\n" * 50),
        (
            "xml-entity-bomb.xml",
            lambda: (
                b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;">]><l>&b;</l>'
            ),
        ),
        ("svg-script.svg", lambda: svg("<script>alert(document.cookie)</script>")),
        ("svg-onload.jpg", lambda: svg('<image href="x" onerror="alert(1)"/>')),
        ("svg-external.svg", lambda: svg('<image href="http://169.254.169.254/latest"/>')),
        ("svg-gz.svgz", lambda: gzip.compress(svg("<script>1</script>"))),
        ("mp3-id3.jpg", lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" + b"\0" * 400),
        ("wav.jpg", lambda: b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\0" * 100),
        ("ogg.jpg", lambda: b"OggS\x00\x02" + b"\0" * 200),
        ("rar.jpg", lambda: b"Rar!\x1a\x07\x01\x00" + b"\0" * 100),
        ("sevenzip.jpg", lambda: b"7z\xbc\xaf\x27\x1c" + b"\0" * 100),
        ("icon.ico", lambda: _encode(np.zeros((16, 16, 3), np.uint8), "ICO")),
        (
            "heic-header.heic",
            lambda: mp4_box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic") + b"\0" * 64,
        ),
        # Clips with no video
        ("audio-only.mp4", audio_only_mp4),
        ("empty-boxes.mp4", empty_mp4),
        ("mp4-ftyp-only.mov", lambda: mp4_box(b"ftyp", b"qt  \x00\x00\x02\x00qt  ")),
        ("avi-garbage.avi", lambda: b"RIFF\x00\x10\x00\x00AVI LIST" + b"\0" * 300),
        ("webm-header.webm", lambda: b"\x1a\x45\xdf\xa3" + b"\0" * 200),
        # Medical formats without an image
        ("dicom-no-pixels.dcm", dicom_without_pixels),
        ("dicom-preamble-only.dcm", lambda: b"\0" * 128 + b"DICM"),
        # Images that are not a 3D render of a face: tiny, and 2D B-mode screens
        ("one-pixel.png", lambda: _encode(np.zeros((1, 1, 3), np.uint8), "PNG")),
        ("tiny-8px.jpg", lambda: _encode(np.full((8, 8, 3), 128, np.uint8), "JPEG")),
        ("sliver-4000x2.png", lambda: _encode(np.full((2, 4000, 3), 90, np.uint8), "PNG")),
        ("bmode-grey.jpg", bmode("JPEG")),
        ("bmode-grey.png", bmode("PNG")),
        ("bmode-gold.jpg", bmode("JPEG", tint="gold")),
        ("bmode-gold-seed7.png", bmode("PNG", tint="gold", seed=7)),
        ("bmode-small.jpg", bmode("JPEG", width=800, height=560, seed=3)),
    ]


def hostile_corpus() -> list[tuple[str, bytes]]:
    return [(name, build()) for name, build in _corpus_builders()]
