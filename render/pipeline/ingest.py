"""Ingest: uploaded bytes → one decoded, oriented, metadata-free, de-identified frame.

The type is sniffed from the bytes only (a JPEG named ``.png`` is common and a ZIP named ``.jpg``
is hostile). Sizes are checked from headers before anything is decoded, so a decompression bomb
never reaches the decoder. Burned-in patient text is blanked here, before any later stage or
stored derivative can see it.

Two halves: :func:`inspect` reads only headers (type, size, dimensions, frame count, polyglots,
what decoding will cost in memory) and is all the upload request runs; :func:`ingest` decodes,
in the worker, within ``IngestLimits.max_decode_bytes``.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np
from PIL import Image, ImageOps

from render.pipeline.phi import blank_text, find_text_boxes
from render.pipeline.types import Box, IngestedScan, IngestLimits, ScanRejected

_MIMES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "dicom": "application/dicom",
}

# Signatures of formats that must never ride along inside an accepted image (polyglots).
_FOREIGN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"%PDF-", "a PDF document"),
    (b"<script", "a web page"),
    (b"<html", "a web page"),
    (b"<?php", "a script"),
    (b"\x7fELF", "a program"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)

# HEIF stills share MP4's box layout ("ftyp" + brand): without this they read as a damaged clip.
_HEIF_BRANDS = {
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"), "HEIC"),
    **dict.fromkeys((b"mif1", b"msf1"), "HEIF"),
    **dict.fromkeys((b"avif", b"avis"), "AVIF"),
}

_MSG_EXPORT = "Please export the scan again from the scanner as a JPEG, PNG, MP4 or DICOM file."


def sniff_kind(data: bytes) -> str:
    """The real container type from magic bytes; raises ScanRejected for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) > 132 and data[128:132] == b"DICM":
        return "dicom"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _HEIF_BRANDS:
            raise ScanRejected(
                "unsupported-type",
                f"This photo is in {_HEIF_BRANDS[brand]} format, which Cradle does not read. "
                "Export it as a JPEG and upload that (on an iPhone: Settings → Camera → "
                "Formats → Most Compatible takes JPEGs from then on).",
            )
        return "mov" if brand == b"qt  " else "mp4"
    if data[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"  # old QuickTime files start with an atom other than ftyp
    for signature, what in _FOREIGN_SIGNATURES:
        if data.startswith(signature):
            raise ScanRejected(
                "unsupported-type", f"This file is {what}, not a scan image or clip. {_MSG_EXPORT}"
            )
    raise ScanRejected(
        "unsupported-type", f"This file is not a format Cradle can read. {_MSG_EXPORT}"
    )


_STUFFED_OR_RESTART = frozenset((0x00, *range(0xD0, 0xD8)))


def _jpeg_end(data: bytes) -> int | None:
    """Offset just past the JPEG's EOI marker, walking segments and entropy-coded data."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker in (0x01, *range(0xD0, 0xD8)) or marker == 0xFF:
            pos += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker == 0xDA:  # start of scan: skip entropy-coded data to the next real marker
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return None
                if data[pos + 1] not in _STUFFED_OR_RESTART:
                    break
                pos += 2
    return None


def _png_end(data: bytes) -> int | None:
    pos, n = 8, len(data)
    while pos + 12 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos
    return None


def _reject_polyglot(data: bytes, kind: str) -> None:
    """A file that is an image *and* something else is refused whole, never half-read."""
    end: int | None = None
    if kind == "jpeg":
        end = _jpeg_end(data)
    elif kind == "png":
        end = _png_end(data)
    elif kind == "webp":
        end = 8 + int.from_bytes(data[4:8], "little")
    trailer = data[end:] if end is not None else b""
    # A ZIP's end-of-central-directory record sits in its last 64 KiB: that is how ZIP polyglots
    # work, so look there as well as in whatever trails the image.
    tail = data[-(65536 + 22) :]
    for signature, what in _FOREIGN_SIGNATURES:
        if signature in trailer or (signature == b"PK\x05\x06" and signature in tail):
            raise ScanRejected(
                "unsupported-type",
                f"This file is an image with {what} hidden inside it, so Cradle will not open "
                f"it. {_MSG_EXPORT}",
            )
        if signature.startswith(b"<") and signature in data[:4096].lower():
            raise ScanRejected(
                "unsupported-type",
                f"This file mixes an image with {what}, so Cradle will not open it. {_MSG_EXPORT}",
            )


def header_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) read from the still image's header, before any decoder runs."""
    if kind == "png" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if kind == "webp":
        chunk = data[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(
                data[27:30], "little"
            )
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if chunk == b"VP8 ":
            return (
                int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF,
            )
    if kind == "jpeg":
        pos = 2
        while pos + 9 < len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            if marker == 0xFF:
                pos += 1
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return (
                    int.from_bytes(data[pos + 7 : pos + 9], "big"),
                    int.from_bytes(data[pos + 5 : pos + 7], "big"),
                )
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


# A face needs room: below this, or stretched past _MAX_ASPECT, nothing downstream can find one
# (and thin strips break the panel search), so the upload is refused up front. A scanner's
# smallest export holding a face (a 240×180 thumbnail) passes; a 128 px preview icon does not:
# its face is a few dozen pixels, far too little for a portrait.
_MIN_SIDE = 160
_MAX_ASPECT = 8.0


def _check_pixels(width: int, height: int, frames: int, limits: IngestLimits) -> None:
    if width <= 0 or height <= 0:
        raise ScanRejected("unreadable", f"The image has no pixels. {_MSG_EXPORT}")
    if min(width, height) < _MIN_SIDE or max(width, height) / min(width, height) > _MAX_ASPECT:
        raise ScanRejected(
            "too-small",
            f"The image is {width}×{height} pixels: too small or too narrow to hold a face. "
            "Upload the full screen capture of the 3D render (at least "
            f"{_MIN_SIDE}×{_MIN_SIDE} pixels).",
        )
    if width * height > limits.max_pixels:
        raise ScanRejected(
            "too-many-pixels",
            f"The image is {width}×{height} pixels, more than Cradle accepts "
            f"({limits.max_pixels // 1_000_000} megapixels). Export a screen capture of the render "
            "instead of the full-resolution volume.",
        )
    del frames  # every frame of a clip is bounded by the same per-frame limit


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / max(hi - lo, 1e-6) * 255
        return np.repeat(arr.astype(np.uint8)[..., None], 3, axis=2)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image, dtype=np.uint8)


_EXIF_ORIENTATION = 0x0112


def _still_refusal(exc: Exception) -> ScanRejected:
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ScanRejected(
            "too-many-pixels",
            "The image would expand to far more pixels than Cradle accepts. " + _MSG_EXPORT,
        )
    truncated = "truncated" in str(exc).lower()
    return ScanRejected(
        "unreadable",
        (
            "The image file is incomplete (it may have been cut off while uploading). "
            if truncated
            else "The image could not be decoded; the file looks damaged. "
        )
        + "Please upload it again.",
    )


_STILL_ERRORS = (
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    OSError,
    SyntaxError,
    ValueError,
)


def _open_still(data: bytes, kind: str, limits: IngestLimits) -> Image.Image:
    """The still opened lazily (Pillow has read its headers, not its pixels), its size
    checked from our own header reading first, so a bomb never reaches Pillow's parser."""
    size = header_size(data, kind)
    if size is not None:
        _check_pixels(*size, 1, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind.upper()])
    except _STILL_ERRORS as exc:
        raise _still_refusal(exc) from None
    _check_pixels(image.width, image.height, 1, limits)
    return image


# The frame Cradle works on (de-identifies, stores, analyses and renders from) is at most this
# long a side: a 4K capture of the same render holds no more face than a 1920 px one, and every
# stage's cost grows with its pixels. The encrypted original keeps the upload as it came.
WORKING_LONG_SIDE = 1920


def _bounded(rgb: np.ndarray, long_side: int = WORKING_LONG_SIDE) -> np.ndarray:
    """``rgb`` shrunk (area-averaged) to at most ``long_side`` a side; as it is when smaller."""
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _decode_still(data: bytes, kind: str, limits: IngestLimits) -> np.ndarray:
    image = _open_still(data, kind, limits)
    long_side = max(image.size)
    if kind == "jpeg" and long_side >= 2 * WORKING_LONG_SIDE:
        # The JPEG's own DCT scaling decodes a half, quarter or eighth size picture, never
        # smaller than the working size, in a fraction of the full decode's time and memory.
        scale = WORKING_LONG_SIDE / long_side
        image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except _STILL_ERRORS as exc:
        raise _still_refusal(exc) from None
    # Orientation is applied, then only pixels survive: the array carries no EXIF/XMP/ICC.
    # (exif_transpose copies the whole frame even when there is nothing to turn.)
    if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    return _to_rgb(image)


def _sharpness(rgb: np.ndarray) -> float:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    scale = 320 / max(grey.shape)
    if scale < 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def _choose_frame(
    frames: list[tuple[int, np.ndarray]], face_score: Callable[[np.ndarray], float]
) -> tuple[int, np.ndarray]:
    """The frame with the best sharpness × face score."""
    if len(frames) == 1:
        return frames[0]
    sharp = np.array([_sharpness(f) for _, f in frames])
    sharp = sharp / max(float(sharp.max()), 1e-6)
    faces = np.array([face_score(f) for _, f in frames])
    # Without any face the sharpest frame is still the best guess for the sonographer to see.
    score = sharp * faces if faces.max() > 0 else sharp
    return frames[int(np.argmax(score))]


def _default_face_score(rgb: np.ndarray) -> float:
    from render.pipeline.vision import face_score  # lazy: vision loads MediaPipe

    return face_score(rgb)


def _sample_indices(total: int, wanted: int) -> set[int]:
    if total <= wanted:
        return set(range(total))
    return {int(round(i)) for i in np.linspace(0, total - 1, wanted)}


def _open_video(data: bytes, limits: IngestLimits):
    """The clip's container (its headers read, no frame decoded) with a video stream whose
    frame size is within the limits."""
    import av

    try:
        container = av.open(io.BytesIO(data))
    except (av.error.FFmpegError, ValueError, OSError):
        raise ScanRejected(
            "unreadable", "The clip could not be opened; the file looks damaged. " + _MSG_EXPORT
        ) from None
    if not container.streams.video:
        container.close()
        raise ScanRejected(
            "no-video",
            "This clip has no video in it (sound or data only). Export the 4D clip again "
            "with the picture included.",
        )
    stream = container.streams.video[0]
    try:
        _check_pixels(stream.codec_context.width, stream.codec_context.height, 1, limits)
    except ScanRejected:
        container.close()
        raise
    return container


# A clip with at least this many keyframes is sampled from its keyframes alone (each decodes
# on its own, the frames between them are skipped).
_KEYFRAME_SAMPLE_MIN = 8
# A clip with fewer (libx264 puts one keyframe in 250 frames: a 10 s clip has one) decodes only
# forward from a keyframe, each frame from the ones before it, so it is decoded for at most this
# many pixels (frames × width × height: a 4K clip is bounded as a 720p one is), shared evenly
# between its keyframes, the frames right after each one. Simple, and as much of the clip as a
# bounded decode can see: with 2-7 keyframes the sample comes from that many places along it,
# with one from its first seconds. 100 megapixels is 89 frames of a 1280×872 clip (3.6 s at 25
# fps), 108 of a 720p one, 48 of a 1080p one (twice the 24 kept), 12 of a 4K one. The sample
# of a 10 s 1280×872 x264 clip at 8 Mbit/s took 152 ms of CPU instead of 337 ("ultrafast"), 358
# instead of 1388 ("veryfast": B-frames, CABAC); of a 3 s 4K one 188 instead of 565 (2 cores).
_DECODE_PIXEL_BUDGET = 100_000_000


@dataclass(frozen=True)
class _Packets:
    """A clip's video packets in decode order, read from the container with nothing decoded:
    which are keyframes, and each one's place in the clip (from its timestamp)."""

    keyframes: tuple[int, ...]  # ordinals of the keyframe packets
    frame_numbers: tuple[int, ...]  # of every packet


def _packets(data: bytes) -> _Packets:
    """The clip's packets as far as they can be read (none from a file that cannot be opened:
    the decode below says what is wrong with it)."""
    import av

    keyframes: list[int] = []
    numbers: list[int] = []
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            for packet in container.demux(stream):
                if not packet.size:  # the empty packet that ends the stream
                    continue
                if packet.is_keyframe:
                    keyframes.append(len(numbers))
                seconds = packet.pts * stream.time_base if packet.pts is not None else None
                numbers.append(
                    int(round(seconds * rate)) if seconds is not None and rate else len(numbers)
                )
    except (av.error.FFmpegError, ValueError, TypeError, OSError, IndexError):
        pass  # what was read so far; the decode says what is wrong with the rest
    return _Packets(tuple(keyframes), tuple(numbers))


def _decoded_packets(packets: _Packets, frame_pixels: int) -> list[int]:
    """The ordinals of the packets a clip with few keyframes decodes: the first frames from each
    keyframe on (from the first packet when none is marked), within ``_DECODE_PIXEL_BUDGET``."""
    starts = list(packets.keyframes) or [0]
    share = max(1, _DECODE_PIXEL_BUDGET // max(frame_pixels, 1) // len(starts))
    ends = [*starts[1:], len(packets.frame_numbers)]
    return [
        o
        for start, end in zip(starts, ends, strict=True)
        for o in range(start, min(end, start + share))
    ]


def _decode_video(data: bytes, limits: IngestLimits, keep: int) -> list[tuple[int, np.ndarray]]:
    """An even sample of at most ``keep`` frames, each at most WORKING_LONG_SIDE a side: of the
    keyframes when the clip has enough of them (``_KEYFRAME_SAMPLE_MIN``), otherwise of the
    frames decoded within ``_DECODE_PIXEL_BUDGET`` (see there). A frame's index is its place
    in the clip."""
    import av

    packets = _packets(data)
    with _open_video(data, limits) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        frames: list[tuple[int, np.ndarray]] = []
        try:
            if len(packets.keyframes) >= _KEYFRAME_SAMPLE_MIN:
                stream.codec_context.skip_frame = "NONKEY"
                wanted = _sample_indices(len(packets.keyframes), keep)
                last = max(wanted)
                for index, frame in enumerate(_decoded(container, stream)):
                    if index > last:
                        break
                    if index in wanted:
                        frames.append((_frame_number(frame, rate, index), _frame_rgb(frame)))
            else:
                # Frames no other frame needs (B-frames, mostly) are skipped: they are never
                # in the sample, and every other frame decodes to the same pixels without them.
                stream.codec_context.skip_frame = "NONREF"
                pixels = stream.codec_context.width * stream.codec_context.height
                fed: list[int] | None = None
                if packets.frame_numbers:
                    fed = _decoded_packets(packets, pixels)
                    covered = sorted(packets.frame_numbers[o] for o in fed) or [0]
                else:
                    # Its packets could not be read ahead: its first frames within the budget.
                    covered = list(range(max(1, _DECODE_PIXEL_BUDGET // max(pixels, 1))))
                # The first frame decoded at or after each of ``keep`` places spread evenly over
                # what is decoded: a skipped B-frame's place goes to the frame after it.
                targets = sorted(covered[i] for i in _sample_indices(len(covered), keep))
                pointer = 0
                for index, frame in enumerate(_decoded(container, stream, fed)):
                    if index >= len(covered):
                        break
                    fallback = covered[index]
                    number = _frame_number(frame, rate, fallback)
                    if pointer < len(targets) and number >= targets[pointer]:
                        frames.append((number, _frame_rgb(frame)))
                        while pointer < len(targets) and targets[pointer] <= number:
                            pointer += 1
        except (av.error.FFmpegError, ValueError, TypeError):
            if not frames:
                raise ScanRejected(
                    "unreadable", "The clip could not be decoded. " + _MSG_EXPORT
                ) from None
        if not frames:
            raise ScanRejected("no-video", "The clip has no frames to show. " + _MSG_EXPORT)
        return frames[:keep]


def _frame_rgb(frame: object) -> np.ndarray:
    """A decoded frame as RGB, at most WORKING_LONG_SIDE a side (scaled by the decoder)."""
    width, height = frame.width, frame.height  # type: ignore[attr-defined]
    scale = WORKING_LONG_SIDE / max(width, height)
    if scale < 1:
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
        return frame.to_ndarray(  # type: ignore[attr-defined]
            width=width, height=height, format="rgb24", interpolation="AREA"
        )
    return frame.to_ndarray(format="rgb24")  # type: ignore[attr-defined]


def _frame_number(frame: object, rate: Fraction | None, fallback: int) -> int:
    """The frame's place in the clip from its timestamp (a keyframe's decode order is not)."""
    seconds = frame.time  # type: ignore[attr-defined]
    if seconds is None or not math.isfinite(seconds) or not rate:
        return fallback
    return int(round(seconds * float(rate)))


def _decoded(
    container: object, stream: object, packets: Sequence[int] | None = None
) -> Iterator[object]:
    """The frames the decoder gives, every one or only those of ``packets`` (ordinals of the
    stream's packets in decode order; the rest never reach the decoder)."""
    if packets is None:
        yield from container.decode(stream)  # type: ignore[attr-defined]
        return
    chosen, last = set(packets), max(packets, default=-1)
    ordinal = 0
    for packet in container.demux(stream):  # type: ignore[attr-defined]
        if not packet.size:
            continue
        if ordinal > last:
            break
        if ordinal in chosen:
            yield from packet.decode()
        ordinal += 1
    for frame in stream.decode(None):  # type: ignore[attr-defined]  # the frames it still holds
        frame.time_base = stream.time_base  # type: ignore[attr-defined]  # (flushed without one)
        yield frame


def _dicom_header(data: bytes, limits: IngestLimits):
    """The DICOM's elements up to its pixel data (palette tables included), not the pixels."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        rows, cols = int(dataset.Rows), int(dataset.Columns)
        count = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    except (InvalidDicomError, AttributeError, ValueError, TypeError, OSError, KeyError):
        raise ScanRejected(
            "unreadable", "The DICOM file has no readable image in it. " + _MSG_EXPORT
        ) from None
    _check_pixels(cols, rows, count, limits)
    if rows * cols * count > 8 * limits.max_pixels:
        raise ScanRejected(
            "too-many-pixels",
            f"The DICOM holds {count} frames of {cols}×{rows}, more than Cradle accepts. "
            "Export the 3D render view only.",
        )
    return dataset


def _decode_dicom(data: bytes, limits: IngestLimits, keep: int) -> list[tuple[int, np.ndarray]]:
    """An even sample of ``keep`` frames, and only those decoded: a 500-frame loop decoded
    whole took 4.4 GB and 18 s for the 24 frames the frame choice looks at."""
    from pydicom.pixels import iter_pixels

    dataset = _dicom_header(data, limits)
    count = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    indices = sorted(_sample_indices(count, keep))
    try:
        frames = list(iter_pixels(io.BytesIO(data), indices=indices))
        pixels = _dicom_rgb_frames(dataset, frames)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - pydicom raises many types for bad pixel data
        raise ScanRejected(
            "unreadable", "The DICOM image data could not be decoded. " + _MSG_EXPORT
        ) from None
    return list(zip(indices, pixels, strict=True))


def _dicom_rgb_frames(dataset: object, frames: list[np.ndarray]) -> list[np.ndarray]:
    """Each decoded frame as 8-bit RGB (rows, cols, 3), with colour converted exactly once.

    Which conversion a photometric interpretation needs depends on the transfer syntax, and
    pydicom's decoder is the one place that knows it: its pixel arrays (pydicom ≥ 3, ``as_rgb``
    on) already hand back RGB for YBR_FULL / YBR_FULL_422, whether the bytes are native (it
    converts them) or JPEG Baseline (Pillow's JPEG decoder converts them), and JPEG 2000's
    YBR_ICT / YBR_RCT come out of their decoders as RGB. Converting again here shifted every
    colour of a scanner's JPEG Baseline YBR_FULL_422 file (~20 levels) and the face was
    refused. What is left to do here is what no decoder does: a palette's lookup table,
    MONOCHROME1's inversion and scaling deeper pixels to 8 bits — over the range of the frames
    decoded, one frame in floating point at a time.
    """
    from pydicom.pixels import apply_color_lut

    photometric = str(getattr(dataset, "PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR":
        coloured = []
        for frame in frames:
            rgb = apply_color_lut(frame, dataset)[..., :3]  # RGB(A) of 8 or 16 bits per sample
            if rgb.dtype != np.uint8:
                rgb = rgb / 257.0  # a 16-bit entry's full range onto 0..255
            coloured.append(np.clip(rgb, 0, 255).astype(np.uint8))
        return coloured
    lo = min(float(frame.min()) for frame in frames)
    hi = max(float(frame.max()) for frame in frames)
    top = hi
    if photometric == "MONOCHROME1":  # inverted: 0 is white
        lo, hi = top - hi, top - lo
    stretch = hi > 255 or lo < 0  # 12- or 16-bit (or signed) values: their range onto 8 bits
    converted = []
    for frame in frames:
        pixels = frame.astype(np.float32)
        if photometric == "MONOCHROME1":
            pixels = top - pixels
        if stretch:
            pixels = (pixels - lo) / max(hi - lo, 1e-6) * 255
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
        if pixels.ndim == 2:  # one sample per pixel: grey
            pixels = np.repeat(pixels[..., None], 3, axis=-1)
        converted.append(np.ascontiguousarray(pixels))
    return converted


# ---- render area ----------------------------------------------------------


def _panel_candidates(grey: np.ndarray) -> list[Box]:
    """Large blobs of picture content (text, thin scales and lines removed), biggest first."""
    scale = 400 / max(grey.shape)
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    content = (cv2.GaussianBlur(small, (0, 0), 1.0) > 24).astype(np.uint8)
    content = cv2.morphologyEx(content, cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(content, connectivity=8)
    sh, sw = small.shape
    big = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 0.05 * small.size]
    boxes = []
    for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1:
        x, y, bw, bh, area = stats[i]
        if area < 0.01 * small.size:
            break
        if _frames_another(stats, i, big, sw, sh):
            continue
        boxes.append(
            Box(int(x / scale), int(y / scale), int((x + bw) / scale), int((y + bh) / scale))
        )
    return boxes


def _frames_another(stats: np.ndarray, i: int, big: list[int], width: int, height: int) -> bool:
    """Whether component ``i`` is a frame round the picture, not picture: a lit wall or desk
    round a photographed screen is as bright as a render, but it reaches three or more edges
    of the photo and holds a large component (the screen's picture) in its hole."""
    x, y, bw, bh = stats[i, :4]
    if sum(map(bool, (x == 0, y == 0, x + bw >= width, y + bh >= height))) < 3:
        return False
    for j in big:
        jx, jy, jw, jh = stats[j, :4]
        if j != i and x <= jx and y <= jy and jx + jw <= x + bw and jy + jh <= y + bh:
            return True
    return False


def _speckle(grey: np.ndarray) -> float:
    """Median fine-scale variation over brightness of the lit pixels: a 2D B-mode slice is
    speckle all over (≈ 0.1 and up), a surface render smooth shading (≈ 0.05)."""
    small, _ = _shrink(grey, 200)
    g = small.astype(np.float32)
    base = cv2.GaussianBlur(g, (0, 0), 3.0)
    residual = g - base
    energy = np.sqrt(cv2.GaussianBlur(residual * residual, (0, 0), 3.0))
    lit = base > 40
    return float(np.median((energy / (base + 12.0))[lit])) if lit.sum() > 50 else 1.0


def _shrink(grey: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, side / max(grey.shape[:2]))
    if scale < 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return grey, scale


def find_render_box(
    rgb: np.ndarray,
    face_score: Callable[[np.ndarray], float] | None = None,
    *,
    grey: np.ndarray | None = None,
) -> Box:
    """The scan picture inside the screen capture, with header bars, scales and panels dropped.

    On a multi-panel screen the candidate with the best face score wins (then the largest);
    the box is padded so the render's own dark surround is kept around the subject. ``grey``
    is ``rgb`` in grey when the caller already has it.
    """
    h, w = rgb.shape[:2]
    candidates = _panel_candidates(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if grey is None else grey)
    if not candidates:
        return Box(0, 0, w, h)
    chosen = candidates[0]
    if face_score is not None and len(candidates) > 1:
        scored = [
            (face_score(rgb[b.y0 : b.y1, b.x0 : b.x1]), b.width * b.height, b)
            for b in candidates[:4]
        ]
        best = max(scored, key=lambda s: (round(s[0], 1), s[1]))
        if best[0] > 0:
            chosen = best[2]
        else:
            # No panel shows a face the detector is sure of (a hand over the mouth, a profile):
            # the render is the panel that looks like a lit surface, not a 2D slice's speckle.
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if grey is None else grey
            chosen = min(
                candidates[:4],
                key=lambda b: (round(_speckle(grey[b.y0 : b.y1, b.x0 : b.x1]), 2), -b.width),
            )
    pad_x, pad_y = int(0.08 * chosen.width), int(0.08 * chosen.height)
    box = Box(
        max(0, chosen.x0 - pad_x),
        max(0, chosen.y0 - pad_y),
        min(w, chosen.x1 + pad_x),
        min(h, chosen.y1 + pad_y),
    )
    # Never let the padding swallow another panel's content.
    for other in candidates:
        if other is chosen:
            continue
        if other.x0 >= chosen.x1 and other.x0 < box.x1 and _overlaps_y(other, box):
            box = Box(box.x0, box.y0, max(chosen.x1, other.x0 - 1), box.y1)
        if other.x1 <= chosen.x0 and other.x1 > box.x0 and _overlaps_y(other, box):
            box = Box(min(chosen.x0, other.x1 + 1), box.y0, box.x1, box.y1)
        if other.y0 >= chosen.y1 and other.y0 < box.y1 and _overlaps_x(other, box):
            box = Box(box.x0, box.y0, box.x1, max(chosen.y1, other.y0 - 1))
        if other.y1 <= chosen.y0 and other.y1 > box.y0 and _overlaps_x(other, box):
            box = Box(box.x0, min(chosen.y0, other.y1 + 1), box.x1, box.y1)
    return box


def _overlaps_y(a: Box, b: Box) -> bool:
    return a.y0 < b.y1 and b.y0 < a.y1


def _overlaps_x(a: Box, b: Box) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1


# ---- entry point -----------------------------------------------------------------------------


DEFAULT_LIMITS = IngestLimits()


def check_size(size: int, limits: IngestLimits = DEFAULT_LIMITS) -> None:
    """Refuse an empty or oversized file from its size alone, before it is read into memory."""
    if size == 0:
        raise ScanRejected("empty", "The file is empty (0 bytes). Please upload the scan again.")
    if size > limits.max_bytes:
        # One unit (MB, a million bytes), the file rounded up to a tenth and the limit down:
        # the two figures never read the same ("210 MB; accepts up to 210 MB" mixed MB and MiB).
        raise ScanRejected(
            "too-large",
            f"The file is {math.ceil(size / 100_000) / 10:.1f} MB; Cradle accepts up to "
            f"{limits.max_bytes // 1_000_000} MB. Export a shorter clip or a still image.",
        )


@dataclass(frozen=True)
class ScanHeader:
    """What an upload's headers say, read without decoding a pixel: enough to refuse it at
    once, to record it, and to know what decoding it will cost."""

    kind: str  # as IngestedScan.kind
    mime: str
    width: int  # of a frame, as stored (a still's EXIF orientation is applied on decoding)
    height: int
    frames: int  # in the file: 1 for a still, 0 for a clip whose container does not say
    frames_to_decode: int  # kept for the frame choice: the sample, fewer if memory says so
    decode_bytes: int  # the most memory decoding it takes, by the estimate below


_STILLS = ("jpeg", "png", "webp")
# Memory at a decode's peak, per pixel of a frame (measured with ru_maxrss on 8- and
# 36-megapixel stills, a 4K clip and a 500-frame DICOM, and rounded up). A still: Pillow's own
# frame (4 bytes a pixel for every 8-bit mode), the bytes it hands NumPy and NumPy's copy (3 +
# 3), then the de-identified copy, its grey and the text search (under 10 together); a
# transparent still is composited over black first (three RGBA frames), a 16-bit one passes
# through float32.
_STILL_BYTES_PER_PIXEL = 12
_TRANSPARENT_BYTES_PER_PIXEL = 24
_DEEP_BYTES_PER_PIXEL = 20
# Once frames are chosen, the chosen one goes through the same de-identification as a still.
_FRAME_PIPELINE_BYTES_PER_PIXEL = 12
# A video decoder's reference frames (up to 16 in H.264, 1.5 bytes a pixel in 4:2:0).
_VIDEO_DECODER_BYTES_PER_PIXEL = 24


def _mb(size: int) -> str:
    return f"{math.ceil(size / 1_000_000):,} MB"


def _over_budget(what: str, needed: int, limits: IngestLimits) -> ScanRejected:
    return ScanRejected(
        "too-many-pixels",
        f"Decoding this {what} would take about {_mb(needed)} of memory, more than Cradle "
        f"allows for one scan ({limits.max_decode_bytes // 1_000_000:,} MB). Export a smaller "
        "screen capture of the render, or a shorter clip.",
    )


def _frames_within_budget(
    *, what: str, fixed: int, per_frame: int, wanted: int, limits: IngestLimits
) -> int:
    """How many frames to keep for the frame choice: ``wanted``, or as many as the budget
    leaves room for after ``fixed``; refused when not even one fits."""
    room = (limits.max_decode_bytes - fixed) // max(per_frame, 1)
    if room < 1:
        raise _over_budget(what, fixed + per_frame, limits)
    return int(min(wanted, room))


def inspect(data: bytes, limits: IngestLimits = DEFAULT_LIMITS) -> ScanHeader:
    """The cheap half of ingest, and all of it the upload request runs: the size, the type from
    the bytes, no foreign file riding along, the dimensions and frame count from the headers,
    and what decoding will cost in memory against ``limits.max_decode_bytes`` (a clip keeps
    fewer frames to fit). No pixel is decoded. Raises :class:`ScanRejected`."""
    check_size(len(data), limits)
    kind = sniff_kind(data)
    if kind in _STILLS:
        _reject_polyglot(data, kind)
        image = _open_still(data, kind, limits)
        width, height, mode = image.width, image.height, image.mode
        transparent = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
        image.close()
        per_pixel = (
            _TRANSPARENT_BYTES_PER_PIXEL
            if transparent
            else _DEEP_BYTES_PER_PIXEL
            if mode in ("I;16", "I;16B", "I;16L", "I", "F")
            else _STILL_BYTES_PER_PIXEL
        )
        needed = width * height * per_pixel + len(data)
        if needed > limits.max_decode_bytes:
            raise _over_budget(f"image of {width}×{height} pixels", needed, limits)
        return ScanHeader(kind, _MIMES[kind], width, height, 1, 1, needed)
    if kind == "dicom":
        dataset = _dicom_header(data, limits)
        height, width = int(dataset.Rows), int(dataset.Columns)
        frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
        samples = int(getattr(dataset, "SamplesPerPixel", 1) or 1)
        bits = int(getattr(dataset, "BitsAllocated", 8) or 8)
        pixels = width * height
        # Each kept frame as decoded and as 8-bit RGB; one frame at a time in Pillow's JPEG
        # decoder, in float32 (or through a palette's 16-bit table); the file's bytes, which
        # pydicom reads frames from.
        per_frame = pixels * (samples * max(1, math.ceil(bits / 8)) + 3)
        fixed = pixels * (4 + 6 + 4 * samples + _FRAME_PIPELINE_BYTES_PER_PIXEL) + len(data)
        what = f"DICOM of {frames} frame{'s' if frames != 1 else ''} of {width}×{height}"
    else:
        with _open_video(data, limits) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            frames = stream.frames or 0
        pixels = width * height
        # Each kept frame as RGB (the sample is planned from the packets, whatever the
        # container says of the clip's length).
        per_frame = pixels * 3
        fixed = pixels * (_VIDEO_DECODER_BYTES_PER_PIXEL + _FRAME_PIPELINE_BYTES_PER_PIXEL)
        fixed += len(data)
        what = f"clip of {width}×{height}"
    wanted = min(frames, limits.max_clip_frames) if frames else limits.max_clip_frames
    keep = _frames_within_budget(
        what=what, fixed=fixed, per_frame=per_frame, wanted=wanted, limits=limits
    )
    return ScanHeader(kind, _MIMES[kind], width, height, frames, keep, fixed + keep * per_frame)


def ingest(
    data: bytes,
    limits: IngestLimits = DEFAULT_LIMITS,
    *,
    face_score: Callable[[np.ndarray], float] | None = None,
) -> IngestedScan:
    """Decode ``data`` into an :class:`IngestedScan`, or raise :class:`ScanRejected`.

    :func:`inspect` runs first, so nothing is decoded that its headers refuse or whose decode
    would pass ``limits.max_decode_bytes``; a decode that runs out of memory all the same is
    refused in the same words. ``face_score`` (image → 0..1) ranks clip frames and panels; by
    default the vision stage's MediaPipe detector, passed in tests to keep them independent of
    the model.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    header = inspect(data, limits)
    kind = header.kind
    score = face_score or _default_face_score
    frame_index: int | None = None
    try:
        if kind in _STILLS:
            rgb = _decode_still(data, kind, limits)
        else:
            keep = header.frames_to_decode
            frames = (
                _decode_video(data, limits, keep)
                if kind in ("mp4", "mov")
                else _decode_dicom(data, limits, keep)
            )
            if len(frames) > 1 or kind in ("mp4", "mov"):
                frame_index, rgb = _choose_frame(frames, score)
            else:
                rgb = frames[0][1]
            del frames
        rgb = _bounded(rgb)
    except MemoryError:
        raise _over_budget("scan", header.decode_bytes, limits) from None
    timings["decode"] = (time.perf_counter() - started) * 1000

    step = time.perf_counter()
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    text_boxes = find_text_boxes(rgb, grey)
    rgb = blank_text(rgb, text_boxes)
    for box in text_boxes:  # keep the grey copy in step with the blanked frame
        region = (slice(box.y0, box.y1), slice(box.x0, box.x1))
        grey[region] = cv2.cvtColor(rgb[region], cv2.COLOR_RGB2GRAY)
    timings["deidentify"] = (time.perf_counter() - step) * 1000

    step = time.perf_counter()
    render_box = find_render_box(rgb, score, grey=grey)
    timings["render_area"] = (time.perf_counter() - step) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    return IngestedScan(
        kind=kind,
        mime=header.mime,
        sha256=hashlib.sha256(data).hexdigest(),
        image=np.ascontiguousarray(rgb),
        render_box=render_box,
        text_boxes=tuple(text_boxes),
        frame_index=frame_index,
        timings_ms=timings,
    )
