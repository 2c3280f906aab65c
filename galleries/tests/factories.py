"""Galleries with real portrait files, and scans with every derivative file, for the tests."""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from render.models import Candidate, ParentSession, RenderJob, Scan


def jpeg_bytes(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def parent_session(
    *, parent_name: str = "Maya Okafor", phone: str = "+14155550123"
) -> ParentSession:
    return ParentSession.objects.create(
        parent_name=parent_name,
        email="maya@example.com",
        phone=phone,
        consent_at=timezone.now(),
        consent_text_version="test",
        skin_swatches=["#a07e56"],
        target_tone_hex="#a07e56",
    )


def scan_with_files(session: ParentSession, *, age_days: float = 0) -> Scan:
    """A scan with a file in every derivative field, uploaded ``age_days`` ago."""
    scan = Scan(
        session=session,
        sha256="0" * 64,
        detected_type="jpeg",
        size_bytes=10,
        width=64,
        height=64,
        anchors={"nose_tip": {"x": 1.0, "y": 2.0, "confidence": 0.9}},
        text_boxes=[[0, 0, 5, 5]],
    )
    for field_file in scan.derivative_fields():
        field_file.save(f"{field_file.field.name}.bin", ContentFile(b"scan-bytes"), save=False)
    scan.save()
    Scan.objects.filter(pk=scan.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    scan.refresh_from_db()
    return scan


def ready_job_with_portraits(
    *, shared: int = 2, unshared: int = 1, with_print: bool = True, scan: Scan | None = None
) -> RenderJob:
    """A READY job: a primary, ``shared - 1`` shared alternates and ``unshared`` kept back."""
    session = scan.session if scan else parent_session()
    job = RenderJob.objects.create(
        session=session, scan=scan, base_seed=7, state=RenderJob.State.READY
    )
    for rank in range(shared + unshared):
        candidate = Candidate(
            job=job,
            seed=100 + rank,
            rank=rank,
            score=1.0 - rank / 10,
            is_primary=rank == 0,
            shared_with_parent=rank < shared,
        )
        colour = (200, 150 + rank * 10, 120)
        candidate.image.save(
            f"full-{rank}.jpg", ContentFile(jpeg_bytes((96, 96), colour)), save=False
        )
        candidate.web_image.save(
            f"web-{rank}.jpg", ContentFile(jpeg_bytes((48, 48), colour)), save=False
        )
        if with_print:
            candidate.print_image.save(
                f"print-{rank}.jpg", ContentFile(jpeg_bytes((160, 160), colour)), save=False
            )
        candidate.save()
    return job
