"""The job page's vision report carries one set of anchor labels: the page's draggable handles.
The stored report image has the boxes and unsure regions but no anchor dots or names of its own
to collide with them (issue 17 item 6)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.test import Client
from django_tenants.utils import schema_context
from PIL import Image

from render import services
from studio_portal.tenants.models import Studio

pytestmark = pytest.mark.django_db


def test_the_report_image_has_no_anchor_marks_and_the_page_one_label_per_anchor(
    studio: Studio, client_a: Client, phantom_jpeg: bytes
) -> None:
    with schema_context("alpha"):
        session = services.parent_session_create(
            parent_name="Maya", consent_given=True, skin_swatches=["#a07e56"]
        )
        job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        services.render_job_vision_run(job_id=job.pk, enqueue=False)
        job.refresh_from_db()
        scan = job.scan
        anchors = dict(scan.anchors)
        with scan.deidentified.open("rb") as handle:
            deidentified = np.asarray(Image.open(handle).convert("RGB")).astype(int)
    assert len(anchors) >= 4

    page = client_a.get(f"/jobs/{job.uid}/").content.decode()
    assert page.count('class="anchor-label"') == len(anchors)
    response = client_a.get(f"/files/scans/{scan.uid}/report/")
    assert response.status_code == 200
    data = b"".join(response.streaming_content) if response.streaming else response.content
    report = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert report.shape == deidentified.shape

    white = np.all(report == 255, axis=-1)
    for name, point in anchors.items():
        x, y = int(round(point["x"])), int(round(point["y"]))
        # No dot at the anchor and no name written to its right: only the scan (maybe tinted
        # where vision is unsure) is there, never new white ink.
        label_zone = (slice(max(0, y - 30), y + 8), slice(max(0, x - 8), x + 160))
        new_white = white[label_zone] & ~np.all(deidentified[label_zone] == 255, axis=-1)
        assert not new_white.any(), f"{name}: the report draws its own mark or label"
