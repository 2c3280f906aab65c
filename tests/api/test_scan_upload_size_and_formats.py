"""What the upload API says about sizes and formats is what it does."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from render.apis import ScanUploadApi
from render.pipeline.ingest import sniff_kind
from render.pipeline.types import ScanRejected


def _session(api_a) -> str:
    response = api_a.post(
        "/api/sessions/",
        {"parent_name": "Size Test", "consent_given": True, "skin_swatches": ["#a07e56"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["uid"]


def test_an_oversized_upload_gets_413_with_one_unit_and_two_different_figures(
    api_a, settings
) -> None:
    settings.SCAN_MAX_BYTES = 2 * 1024 * 1024  # 2 MiB: "2 MB" either way before
    data = b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024 + 1000)
    response = api_a.post(
        f"/api/sessions/{_session(api_a)}/scans/",
        {"scan": SimpleUploadedFile("big.jpg", data)},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too-large"
    assert response.json()["detail"].startswith("The file is 2.1 MB; Cradle accepts up to 2 MB.")


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def test_the_upload_help_names_only_formats_the_pipeline_reads() -> None:
    help_text = str(ScanUploadApi.InputSerializer().fields["scan"].help_text)
    promised = help_text.split("Other formats")[0]
    for name, kind in (("JPEG", "jpeg"), ("PNG", "png"), ("WebP", "webp")):
        assert name in promised and sniff_kind(_encoded(name.upper())) == kind
    assert "DICOM" in promised and "MP4/MOV" in promised
    for refused in ("TIFF", "BMP"):  # promised before, and refused
        assert refused not in promised
        with pytest.raises(ScanRejected):
            sniff_kind(_encoded(refused))
