"""Every upload format decodes to the same kind of frame, whatever the file is called."""

from __future__ import annotations

import io
from pathlib import Path

import av
import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from render.pipeline.ingest import ingest
from render.pipeline.phantom import make_phantom

PHANTOM = make_phantom(640, 436, seed=3)


def encode(rgb: np.ndarray, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def mp4_of(frames: list[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def dicom_of(frames: np.ndarray, photometric: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "123456"
    ds.Modality = "US"
    ds.Rows, ds.Columns = frames.shape[1:3]
    ds.NumberOfFrames = frames.shape[0]
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def no_face(_: np.ndarray) -> float:
    return 0.0


@pytest.mark.parametrize(
    ("fmt", "kind", "mime", "tolerance"),
    [
        ("JPEG", "jpeg", "image/jpeg", 12),
        ("PNG", "png", "image/png", 0),
        ("WEBP", "webp", "image/webp", 12),
    ],
)
def test_it_decodes_each_still_format_to_the_same_picture(fmt, kind, mime, tolerance) -> None:
    data = encode(PHANTOM.image, fmt, quality=95)
    scan = ingest(data, face_score=no_face)
    assert (scan.kind, scan.mime) == (kind, mime)
    assert scan.image.shape == PHANTOM.image.shape and scan.image.dtype == np.uint8
    box = PHANTOM.face_box
    original = PHANTOM.image[box.y0 : box.y1, box.x0 : box.x1].astype(int)
    decoded = scan.image[box.y0 : box.y1, box.x0 : box.x1].astype(int)
    assert np.median(np.abs(original - decoded)) <= tolerance
    assert scan.frame_index is None


def test_it_sniffs_a_jpeg_named_png_from_its_bytes(tmp_path: Path) -> None:
    misnamed = tmp_path / "scan.png"
    misnamed.write_bytes(encode(PHANTOM.image, "JPEG", quality=90))
    scan = ingest(misnamed.read_bytes(), face_score=no_face)
    assert scan.kind == "jpeg" and scan.mime == "image/jpeg"


def test_it_applies_exif_orientation_and_keeps_no_metadata() -> None:
    # A phone photo stored sideways with "rotate 90° CW to view" (orientation 6) and a GPS tag.
    upright = PHANTOM.image
    stored = np.ascontiguousarray(np.rot90(upright, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    scan = ingest(data, face_score=no_face)
    assert scan.image.shape == upright.shape
    assert np.median(np.abs(scan.image.astype(int) - upright.astype(int))) <= 6
    assert isinstance(scan.image, np.ndarray) and not hasattr(scan.image, "info")


def test_it_hashes_the_uploaded_bytes() -> None:
    import hashlib

    data = encode(PHANTOM.image, "PNG")
    assert ingest(data, face_score=no_face).sha256 == hashlib.sha256(data).hexdigest()


def test_it_picks_the_sharpest_frame_of_a_clip_and_records_its_index() -> None:
    sharp = PHANTOM.image
    blurred = cv2.GaussianBlur(sharp, (0, 0), 5)
    frames = [blurred] * 3 + [sharp] + [blurred] * 4
    scan = ingest(mp4_of(frames), face_score=lambda rgb: 0.8)
    assert scan.kind == "mp4" and scan.mime == "video/mp4"
    assert scan.frame_index == 3
    assert scan.image.shape == sharp.shape
    assert cv2.Laplacian(cv2.cvtColor(scan.image, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var() > (
        2 * cv2.Laplacian(cv2.cvtColor(blurred, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var()
    )


def test_it_prefers_a_frame_with_a_face_over_a_sharper_frame_without() -> None:
    face = cv2.GaussianBlur(PHANTOM.image, (0, 0), 1.5)
    ys, xs = np.mgrid[0 : face.shape[0], 0 : face.shape[1]]
    checks = np.where(((ys // 8 + xs // 8) % 2)[..., None] == 1, 230, 20).astype(np.uint8)
    checks = np.ascontiguousarray(np.broadcast_to(checks, face.shape))
    frames = [checks, checks, face, checks]

    def score(rgb: np.ndarray) -> float:
        return 0.9 if rgb.mean() < 90 else 0.0  # the bright checkerboards are not faces

    assert ingest(mp4_of(frames), face_score=score).frame_index == 2


def test_it_reads_a_single_frame_rgb_dicom() -> None:
    scan = ingest(dicom_of(PHANTOM.image[None], "RGB"), face_score=no_face)
    assert scan.kind == "dicom" and scan.mime == "application/dicom"
    assert np.array_equal(scan.image[200:300, 200:300], PHANTOM.image[200:300, 200:300])


def test_it_reads_a_multi_frame_dicom_and_records_the_chosen_frame() -> None:
    grey = cv2.cvtColor(PHANTOM.image, cv2.COLOR_RGB2GRAY)
    soft = cv2.GaussianBlur(grey, (0, 0), 5)
    scan = ingest(
        dicom_of(np.stack([soft, soft, grey, soft]), "MONOCHROME2"), face_score=lambda rgb: 0.5
    )
    assert scan.kind == "dicom"
    assert scan.frame_index == 2
    assert scan.image.shape == (*grey.shape, 3)
    assert np.array_equal(scan.image[200:300, 200:300, 0], grey[200:300, 200:300])


def colour_dicom_of(rgb: np.ndarray, transfer_syntax: str, photometric: str) -> bytes:
    """One colour frame as a scanner might write it: the pixels stored in ``photometric`` and
    encoded with ``transfer_syntax`` (JPEG Baseline through Pillow, RLE through pydicom)."""
    from pydicom.encaps import encapsulate
    from pydicom.pixels import convert_color_space
    from pydicom.uid import JPEGBaseline8Bit, RLELossless

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    if transfer_syntax == JPEGBaseline8Bit:
        # Pillow stores YCbCr with 4:2:2 chroma, which is what YBR_FULL_422 declares.
        jpeg = io.BytesIO()
        Image.fromarray(rgb).save(jpeg, "JPEG", quality=95, subsampling=1)
        meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PixelData = encapsulate([jpeg.getvalue()])
        ds["PixelData"].VR = "OB"
    else:
        stored = rgb if photometric == "RGB" else convert_color_space(rgb, "RGB", photometric)
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
        if transfer_syntax == RLELossless:
            ds.compress(RLELossless)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("transfer_syntax", "photometric", "tolerance"),
    [
        ("1.2.840.10008.1.2.1", "RGB", 0),  # Explicit VR Little Endian
        ("1.2.840.10008.1.2.1", "YBR_FULL", 1),  # uncompressed YCbCr (rounding only)
        ("1.2.840.10008.1.2.5", "RGB", 0),  # RLE Lossless
        ("1.2.840.10008.1.2.5", "YBR_FULL", 1),
        ("1.2.840.10008.1.2.4.50", "YBR_FULL_422", 4),  # JPEG Baseline, as scanners export
    ],
    ids=["explicit-rgb", "explicit-ybr-full", "rle-rgb", "rle-ybr-full", "jpeg-baseline-ybr-422"],
)
def test_it_converts_a_colour_dicom_to_rgb_once_whatever_its_encoding(
    transfer_syntax: str, photometric: str, tolerance: int
) -> None:
    scan = ingest(colour_dicom_of(PHANTOM.image, transfer_syntax, photometric), face_score=no_face)
    box = PHANTOM.face_box
    original = PHANTOM.image[box.y0 : box.y1, box.x0 : box.x1].astype(int)
    decoded = scan.image[box.y0 : box.y1, box.x0 : box.x1].astype(int)
    # Converting YCbCr twice shifts every skin pixel by ~20 levels and tints the face green.
    assert np.median(np.abs(original - decoded)) <= tolerance
    mean_shift = np.abs(original.reshape(-1, 3).mean(0) - decoded.reshape(-1, 3).mean(0))
    assert mean_shift.max() <= max(tolerance, 1.5), mean_shift


def test_it_reads_a_palette_colour_dicom_through_its_lookup_table() -> None:
    grey = cv2.cvtColor(PHANTOM.image, cv2.COLOR_RGB2GRAY)
    lut = np.stack([np.arange(256) * 257, (255 - np.arange(256)) * 257, np.full(256, 128 * 257)])
    ds = pydicom.dcmread(io.BytesIO(dicom_of(grey[None], "MONOCHROME2")))
    ds.PhotometricInterpretation = "PALETTE COLOR"
    for channel, name in enumerate(("Red", "Green", "Blue")):
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [256, 0, 16])
        ds[f"{name}PaletteColorLookupTableDescriptor"].VR = "US"
        setattr(ds, f"{name}PaletteColorLookupTableData", lut[channel].astype("<u2").tobytes())
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    scan = ingest(buffer.getvalue(), face_score=no_face)
    patch = grey[200:300, 200:300].astype(int)
    expected = np.stack([patch, 255 - patch, np.full_like(patch, 128)], axis=-1)
    assert np.abs(scan.image[200:300, 200:300].astype(int) - expected).max() <= 1
