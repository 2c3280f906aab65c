"""Writes for sessions, scans and render jobs. Each pipeline stage is a pure function in
``render.pipeline``; these services load its inputs, call it, and store what it returns."""

from __future__ import annotations

import base64
import hashlib
import io
import math
import os
import random
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image

from billing.selectors import studio_may_render
from branding.selectors import brand_kit_get, reference_portrait_arrays
from branding.services import portrait_finish
from render import engine_choice
from render.cue_store import anchors_from_json, anchors_to_json, cues_from_bytes, cues_to_bytes
from render.models import Candidate, ParentSession, RenderJob, Scan
from render.pipeline import conditioning, ingest, scoring, vision
from render.pipeline.engines import candidate_seeds, get_engine
from render.pipeline.house_look import house_look_candidates
from render.pipeline.report import report_image
from render.pipeline.types import (
    ANCHOR_NAMES,
    Box,
    CancelFn,
    Conditioning,
    Engine,
    IngestedScan,
    IngestLimits,
    ProgressFn,
    RenderCancelled,
    RenderedCandidate,
    ScanRejected,
    StructuralCues,
)
from render.print_size import candidate_print_enqueue
from render.selectors import job_event_payload
from studio_portal.accounts.models import User
from studio_portal.api.services import webhooks_emit
from studio_portal.outbox import outbox_due, outbox_resend_due, outbox_send_on_commit
from studio_portal.phone_numbers import normalize_phone
from studio_portal.tenants.selectors import current_studio


def _lease() -> timedelta:
    """How long a worker holds a job without news before another worker may take it over."""
    return timedelta(seconds=settings.RENDER_JOB_LEASE_SECONDS)


class JobBusy(Exception):
    """Another worker holds a live lease on the job: a transient condition, retried later."""


class RenderNotAllowed(Exception):
    """The studio may not start renders now (plan lapsed or unpaid); message is for the user."""


# Sessions ------------------------------------------------------------------------------------


@transaction.atomic
def parent_session_create(
    *,
    parent_name: str,
    email: str = "",
    phone: str = "",
    consent_given: bool,
    skin_swatches: list[str],
    style: str = "classic",
    created_by: User | None = None,
) -> ParentSession:
    if not parent_name.strip():
        raise ValidationError("Please enter the parent's name.")
    if not consent_given:
        raise ValidationError(
            "The parent's consent is needed before a scan can be uploaded. Read the consent text "
            "with her and tick the box."
        )
    if not skin_swatches:
        raise ValidationError("Choose at least one skin tone (one per parent, up to two).")
    try:
        tone = conditioning.blend_tone(skin_swatches)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    if style not in conditioning.STYLES:
        raise ValidationError(
            f"Unknown style {style!r}. Choose one of: {', '.join(conditioning.STYLES)}."
        )
    return ParentSession.objects.create(
        parent_name=parent_name.strip(),
        email=email.strip(),
        phone=normalize_phone(phone),
        consent_at=timezone.now(),
        # The text she accepted: it names the hosted provider where the studio chose one.
        consent_text_version=engine_choice.consent_version(current_studio()),
        skin_swatches=[str(s) for s in skin_swatches],
        target_tone_hex=tone.hex,
        style=style,
        created_by=created_by,
    )


# Upload --------------------------------------------------------------------------------------


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png(array: np.ndarray, *, compress: bool) -> bytes:
    """An H×W×3 uint8 image as an 8-bit RGB PNG, written here rather than by Pillow, whose
    per-row choice among five filters costs more than the deflate itself.

    ``compress``: each row as its difference from the row above (PNG's "up" filter) deflated at
    level 1 with run-length matching: a scan or report the size Pillow's level 1 makes, in
    about a third of its time. Otherwise the rows are stored as they are (no filter, deflate
    blocks stored): larger, and written in a few milliseconds.
    """
    height, width = array.shape[:2]
    pixels = np.ascontiguousarray(array, dtype=np.uint8).reshape(height, width * 3)
    rows = np.empty((height, width * 3 + 1), np.uint8)
    if compress:
        rows[:, 0] = 2  # up
        rows[0, 1:] = pixels[0]
        np.subtract(pixels[1:], pixels[:-1], out=rows[1:, 1:])  # modulo 256, as PNG wants
        deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
        data = deflate.compress(rows.tobytes()) + deflate.flush()
    else:
        rows[:, 0] = 0  # none
        rows[:, 1:] = pixels
        data = zlib.compress(rows.tobytes(), 0)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", data),
            _png_chunk(b"IEND", b""),
        )
    )


def png_compressed(array: np.ndarray) -> bytes:
    """A lossless PNG, compressed fast (the de-identified scan, the report, the vision maps)."""
    return _png(array, compress=True)


def png_stored(array: np.ndarray) -> bytes:
    """A lossless PNG whose pixels are stored, not compressed: the raw candidate, written while
    the parent waits for her portraits. A render's skin grain makes deflate slow and gains
    little: ``bench pipeline`` prints what each form costs (``raw_png``; on a 1024 px candidate
    about 5 ms and 2.9 MB stored, against 60-70 ms and 1.1 MB compressed)."""
    return _png(array, compress=False)


# The vision maps (depth, normals, mask) are there to be looked at, not computed on: stored
# at most this long a side.
DISPLAY_MAP_LONG_SIDE = 512


def _display_png(array: np.ndarray) -> bytes:
    height, width = array.shape[:2]
    scale = DISPLAY_MAP_LONG_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return png_compressed(array)


@dataclass(frozen=True)
class VisionFiles:
    """What the vision stage stores for one scan, encoded."""

    cues: StructuralCues
    cues_npz: bytes
    depth_png: bytes
    normals_png: bytes
    mask_png: bytes
    report_png: bytes


def vision_files(
    ingested: IngestedScan, placed: dict[str, tuple[float, float]] | None = None
) -> VisionFiles:
    """The vision stage's work on a de-identified scan: analysis (from the sonographer's
    ``placed`` points when she placed them), the display maps and the report, the cues to
    store. Raises ScanRejected. (``bench vision`` times exactly this.)"""
    cues = vision.analyze(ingested, placed)
    maps = vision.maps_as_images(cues)
    report = report_image(ingested, cues)  # anchors: drawn by the job page
    return VisionFiles(
        cues=cues,
        cues_npz=cues_to_bytes(cues),
        depth_png=_display_png(maps["depth"]),
        normals_png=_display_png(maps["normals"]),
        mask_png=_display_png(maps["mask"]),
        report_png=png_compressed(report),
    )


def ingested_from_png(data: bytes, scan: Scan) -> IngestedScan:
    """The de-identified frame as vision reads it back from its stored PNG."""
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return IngestedScan(
        kind=scan.detected_type,
        mime="",
        sha256=scan.sha256,
        image=image,
        render_box=Box(*scan.render_box),
        text_boxes=tuple(Box(*box) for box in scan.text_boxes),
        frame_index=scan.frame_index,
    )


# Scans at rest: AES-256-GCM under a key derived from SCAN_ENCRYPTION_KEY, after this marker and
# a random 96-bit nonce. Fernet's token (CBC, HMAC, then base64 of it all) took 140-240 ms and
# four copies of a 10 MB upload inside the request; this takes a few ms and one copy. Scans
# stored before are Fernet tokens (they start "gAAAAA") and still decrypt.
_SCAN_FORMAT = b"CRS2"
_SCAN_NONCE_BYTES = 12


def _scan_cipher() -> AESGCM:
    # Its own key, derived: the same secret's Fernet use (gallery PINs) never shares one.
    secret = base64.urlsafe_b64decode(settings.SCAN_ENCRYPTION_KEY)
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"cradle scans at rest, aes-gcm"
    ).derive(secret)
    return AESGCM(key)


def scan_encrypt(data: bytes) -> bytes:
    nonce = os.urandom(_SCAN_NONCE_BYTES)
    return _SCAN_FORMAT + nonce + _scan_cipher().encrypt(nonce, data, _SCAN_FORMAT)


def scan_decrypt(data: bytes) -> bytes:
    """The original bytes; raises (InvalidTag, InvalidToken) for a file altered or sealed
    under another key."""
    if data.startswith(_SCAN_FORMAT):
        body = memoryview(data)[len(_SCAN_FORMAT) :]
        nonce, sealed = body[:_SCAN_NONCE_BYTES], body[_SCAN_NONCE_BYTES:]
        return _scan_cipher().decrypt(bytes(nonce), sealed, _SCAN_FORMAT)
    return Fernet(settings.SCAN_ENCRYPTION_KEY.encode()).decrypt(data)


# The same file uploaded again for the same parent within this window is the same render (a
# double click, a retrying client, four tabs): the upload answers with the job already made.
REPEAT_UPLOAD_WINDOW = timedelta(minutes=10)


def _repeat_upload_job(session: ParentSession, sha256: str) -> RenderJob | None:
    """The job of this very file uploaded for ``session`` moments ago, unless it failed or was
    cancelled (uploading again is then how a sonographer tries again)."""
    return (
        RenderJob.objects.filter(
            session=session,
            scan__sha256=sha256,
            parent_job__isnull=True,
            created_at__gte=timezone.now() - REPEAT_UPLOAD_WINDOW,
        )
        .exclude(state__in=(RenderJob.State.FAILED, RenderJob.State.CANCELLED))
        .order_by("created_at")
        .first()
    )


def _ingest_limits() -> IngestLimits:
    return IngestLimits(
        max_bytes=settings.SCAN_MAX_BYTES,
        max_pixels=settings.SCAN_MAX_PIXELS,
        max_decode_bytes=settings.RENDER_DECODE_MEMORY_MB * 1_000_000,
    )


def scan_upload(
    *, session: ParentSession, data: bytes, uploaded_by: User | None = None, enqueue: bool = True
) -> RenderJob:
    """Check the upload from its headers (a bad file is refused before anything is stored),
    keep the encrypted original and queue its check: the decode, the frame choice,
    de-identification and screening run in the worker (:func:`render_job_check_run`) while the
    job is "checking", never in the request.

    ``enqueue=False`` sends nothing: the caller runs the stages itself (tests, ``render_scan``,
    the benchmarks), so the check runs here before the job is returned, "queued" for vision or
    "rejected" with the reason and nothing of the scan kept.

    The same file uploaded again for the session within REPEAT_UPLOAD_WINDOW returns the job
    the first upload made (nothing new is stored or rendered), even when the uploads race.
    """
    job, _ = scan_upload_or_repeat(
        session=session, data=data, uploaded_by=uploaded_by, enqueue=enqueue
    )
    return job


def scan_upload_or_repeat(
    *, session: ParentSession, data: bytes, uploaded_by: User | None = None, enqueue: bool = True
) -> tuple[RenderJob, bool]:
    """:func:`scan_upload`, also saying whether this upload made the job (False: a repeat)."""
    permission = studio_may_render(current_studio())
    if not permission.allowed:
        raise RenderNotAllowed(permission.reason)
    sha256 = hashlib.sha256(data).hexdigest()
    repeat = _repeat_upload_job(session, sha256)
    if repeat is not None:
        return repeat, False
    started = time.perf_counter()
    # Headers only: a decode (seconds and gigabytes for a long DICOM loop) never runs here.
    header = ingest.inspect(data, _ingest_limits())
    encrypted = scan_encrypt(data)
    upload_ms = (time.perf_counter() - started) * 1000
    with transaction.atomic():
        # Uploads for one parent take turns here, so of two copies of a file racing in, the
        # second finds the first's job instead of making its own.
        ParentSession.objects.select_for_update().filter(pk=session.pk).first()
        repeat = _repeat_upload_job(session, sha256)
        if repeat is not None:
            return repeat, False
        scan = Scan(
            session=session,
            sha256=sha256,
            detected_type=header.kind,
            size_bytes=len(data),
            width=header.width,  # the decoded frame's, once the check has turned it upright
            height=header.height,
            uploaded_by=uploaded_by,
        )
        scan.original_encrypted.save("original.bin.enc", ContentFile(encrypted), save=False)
        scan.save()
        job = RenderJob.objects.create(
            scan=scan,
            session=session,
            state=RenderJob.State.CHECKING,
            engine=engine_choice.engine_for_session(session, current_studio()),
            style=session.style,
            base_seed=random.SystemRandom().randrange(1, 2**31),
            # Running until the worker's check records its time; the request's own share apart.
            stage_log={
                "ingest": {
                    "started_at": timezone.now().isoformat(),
                    "upload_ms": round(upload_ms, 1),
                }
            },
            created_by=uploaded_by,
        )
        if enqueue:
            _on_commit_enqueue_check(job)
    if not enqueue:
        render_job_check_run(job_id=job.pk, enqueue=False)
        job.refresh_from_db()
    return job, True


def _on_commit_enqueue_check(job: RenderJob) -> None:
    from render.tasks import render_job_check  # lazy: render.tasks imports this module

    outbox_send_on_commit(render_job_check, RenderJob, job.pk)


def _on_commit_enqueue_vision(job: RenderJob) -> None:
    from render.tasks import render_job_vision  # lazy: render.tasks imports this module

    outbox_send_on_commit(render_job_vision, RenderJob, job.pk)


def _on_commit_enqueue_render(job: RenderJob) -> None:
    from render.tasks import render_job_render  # lazy: render.tasks imports this module

    outbox_send_on_commit(render_job_render, RenderJob, job.pk)


# The job state machine -----------------------------------------------------------------------


def _claim(job_id: int, *, waiting: RenderJob.State, running: tuple[str, ...]) -> RenderJob | None:
    """Take the job with a conditional UPDATE so two workers never run the same stage.

    Returns None when there is nothing to do (finished, or owned by a later stage). Raises
    JobBusy when another worker holds a live lease: the actor retries later, which is how a
    job whose worker died is picked up again once its lease runs out.
    """
    now = timezone.now()
    claimable = Q(state=waiting, lease_expires_at__isnull=True) | Q(
        state__in=(waiting, *running), lease_expires_at__lt=now
    )
    claimed = (
        RenderJob.objects.filter(pk=job_id, cancel_requested=False)
        .filter(claimable)
        .update(lease_expires_at=now + _lease(), attempts=F("attempts") + 1)
    )
    if claimed:
        return RenderJob.objects.select_related("scan", "session").get(pk=job_id)
    job = RenderJob.objects.filter(pk=job_id).first()
    if job is None:
        return None
    if job.cancel_requested and not job.is_finished:
        _finish(job, RenderJob.State.CANCELLED, "Cancelled by the studio.")
        return None
    if job.state in (waiting, *running) and job.lease_expires_at and job.lease_expires_at >= now:
        raise JobBusy(f"job {job_id} is held by another worker until {job.lease_expires_at}")
    return None


@transaction.atomic
def _finish(job: RenderJob, state: str, reason: str = "") -> None:
    RenderJob.objects.filter(pk=job.pk).update(
        state=state, reason=reason, lease_expires_at=None, updated_at=timezone.now()
    )
    job.state, job.reason = state, reason
    if state in (RenderJob.State.FAILED, RenderJob.State.REJECTED):
        _emit_job_event("job.failed", job.pk)


def _emit_job_event(event: str, job_id: int) -> None:
    """Tell the studio's own systems (its outgoing webhooks); sent after the commit."""
    webhooks_emit(event, job_event_payload(job_id))


@contextmanager
def _stage(job: RenderJob, name: str, state: str | None = None) -> Iterator[None]:
    """Record a stage's start and duration on the job, and renew the worker's lease.

    Beside the wall time (``ms``), ``cpu_ms`` is this process's CPU time over the stage: on a
    shared or busy machine the work itself, whatever the wait for a core (in a worker running
    other jobs' threads at once it counts theirs too)."""
    started_at = timezone.now()
    started = time.perf_counter()
    cpu_started = time.process_time()
    job.stage_log[name] = {"started_at": started_at.isoformat()}
    fields = {"stage_log": job.stage_log, "lease_expires_at": started_at + _lease()}
    if state:
        fields["state"] = state
        job.state = state
    RenderJob.objects.filter(pk=job.pk).update(**fields)
    yield
    job.stage_log[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    job.stage_log[name]["cpu_ms"] = round((time.process_time() - cpu_started) * 1000, 1)
    RenderJob.objects.filter(pk=job.pk).update(stage_log=job.stage_log)


def render_job_check_run(*, job_id: int, enqueue: bool = True) -> RenderJob | None:
    """Stage 1, in a worker on the vision queue: decode the stored original within
    RENDER_DECODE_MEMORY_MB, choose a clip's frame, blank burned-in text, find the render area
    and screen out 2D scans; keep the de-identified frame and queue vision.

    A scan refused here ends its job "rejected" with the reason (the words the upload itself
    gave before the decode left the request), and nothing of the scan stays stored.
    """
    job = _claim(job_id, waiting=RenderJob.State.CHECKING, running=())
    if job is None:
        return None
    scan = job.scan
    if scan is None or scan.purged_at or not scan.original_encrypted:
        _finish(job, RenderJob.State.FAILED, "The scan was deleted before it could be checked.")
        return job
    upload_ms = job.stage_log.get("ingest", {}).get("upload_ms")
    try:
        with _stage(job, "ingest"):
            with scan.original_encrypted.open("rb") as handle:
                data = scan_decrypt(handle.read())
            scanned = ingest.ingest(data, _ingest_limits())
            del data
            vision.screen(scanned)  # a 2D scan is refused before its frame is stored
            deidentified = png_compressed(scanned.image)
    except ScanRejected as exc:
        _scan_refuse(job, scan, exc.message)
        return job
    if upload_ms is not None:
        job.stage_log["ingest"]["upload_ms"] = upload_ms
    scan.deidentified.save("deidentified.png", ContentFile(deidentified), save=False)
    scan.width, scan.height = scanned.size
    scan.frame_index = scanned.frame_index
    scan.render_box = scanned.render_box.as_list()
    scan.text_boxes = [box.as_list() for box in scanned.text_boxes]
    with transaction.atomic():
        scan.save(
            update_fields=[
                "deidentified",
                "width",
                "height",
                "frame_index",
                "render_box",
                "text_boxes",
            ]
        )
        # Vision's message is not sent yet: an empty stamp until the broker takes it.
        RenderJob.objects.filter(pk=job.pk).update(
            state=RenderJob.State.QUEUED,
            stage_log=job.stage_log,
            lease_expires_at=None,
            enqueued_at=None,
            updated_at=timezone.now(),
        )
        job.state = RenderJob.State.QUEUED
        if enqueue:
            _on_commit_enqueue_vision(job)
    return job


def _files_delete(stored: list[tuple[Storage, str | None]]) -> None:
    for storage, name in stored:
        if name:
            storage.delete(name)


def _scan_refuse(job: RenderJob, scan: Scan, reason: str) -> None:
    """The check refused the scan: the job ends "rejected" with the reason; the scan's row and
    its stored original go too (the files once that commits), as a refusal at the upload keeps
    nothing."""
    stored = [(field.storage, field.name) for field in scan.derivative_fields() if field]
    with transaction.atomic():
        scan.delete()  # the job keeps its reason, its scan becomes None
        _finish(job, RenderJob.State.REJECTED, reason)
        transaction.on_commit(lambda: _files_delete(stored))
    job.scan = None


def _ingested_scan(scan: Scan) -> IngestedScan:
    with scan.deidentified.open("rb") as handle:
        return ingested_from_png(handle.read(), scan)


def render_job_vision_run(*, job_id: int, enqueue: bool = True) -> RenderJob | None:
    """Stage 2: find and verify the face's structure; reject scans that are not 3D renders."""
    job = _claim(job_id, waiting=RenderJob.State.QUEUED, running=(RenderJob.State.VISION,))
    if job is None:
        return None
    scan = job.scan
    if scan is None or scan.purged_at:
        _finish(job, RenderJob.State.FAILED, "The scan was deleted before it could be rendered.")
        return job
    try:
        with _stage(job, "vision", RenderJob.State.VISION):
            placed = None
            if scan.anchors_placed:
                placed = {
                    name: (p["x"], p["y"])
                    for name, p in scan.anchors.items()
                    if name in vision.PLACED_NAMES
                }
            files = vision_files(_ingested_scan(scan), placed)
            scan.cues_file.save("cues.npz", ContentFile(files.cues_npz), save=False)
            scan.depth_map.save("depth.png", ContentFile(files.depth_png), save=False)
            scan.normals_map.save("normals.png", ContentFile(files.normals_png), save=False)
            scan.mask_map.save("mask.png", ContentFile(files.mask_png), save=False)
            scan.report_image.save("report.png", ContentFile(files.report_png), save=False)
            scan.anchors = anchors_to_json(files.cues.anchors)
            scan.dropped_anchors = [list(pair) for pair in files.cues.dropped_anchors]
            scan.save()
    except ScanRejected as exc:
        _finish(job, RenderJob.State.REJECTED, exc.message)
        return job
    with transaction.atomic():
        # The next stage's message is not sent yet: an empty stamp until the broker takes it.
        RenderJob.objects.filter(pk=job.pk).update(
            state=RenderJob.State.CONDITIONING,
            lease_expires_at=None,
            enqueued_at=None,
            updated_at=timezone.now(),
        )
        job.state = RenderJob.State.CONDITIONING
        if enqueue:
            _on_commit_enqueue_render(job)
    return job


def render_job_render_run(*, job_id: int) -> RenderJob | None:
    """Stages 3-6: conditioning, the engine's candidates, ranking, brand + tag on each."""
    running = (RenderJob.State.RENDER, RenderJob.State.SCORE, RenderJob.State.OVERLAY)
    job = _claim(job_id, waiting=RenderJob.State.CONDITIONING, running=running)
    if job is None:
        return None
    scan, session = job.scan, job.session
    if scan is None or scan.purged_at or not scan.cues_file:
        _finish(job, RenderJob.State.FAILED, "The scan was deleted before it could be rendered.")
        return job
    with _stage(job, "conditioning", RenderJob.State.CONDITIONING):
        with scan.cues_file.open("rb") as handle:
            cues = cues_from_bytes(handle.read(), scan.anchors)
        brand = _brand_tokens()
        references = reference_portrait_arrays()
        cond = conditioning.build(
            cues,
            conditioning.blend_tone(session.skin_swatches),
            style=job.style,
            brand_tokens=brand["tokens"],
            background_hex=brand["background_hex"],
            correction_strength=job.correction_strength,
            reference_portraits=references,
            # Every engine's candidates take the house look after rendering (house_look).
            engine_supports_references=True,
        )
        # What conditioning did that the studio should know (turned upright, Fix Anatomy and
        # what it found to remove), kept for the job page and the API.
        job.stage_log["conditioning"]["notes"] = list(cond.notes)
    seeds = candidate_seeds(job.base_seed, settings.RENDER_CANDIDATES)
    try:
        with _stage(job, "render", RenderJob.State.RENDER):
            engine = get_engine(job.engine, **engine_choice.engine_options(job))
            rendered = render_candidates(
                engine, cond, seeds, progress=_progress_saver(job), cancel=_cancel_checker(job)
            )
            rendered = house_look_candidates(cond, rendered)
    except RenderCancelled:
        _finish(job, RenderJob.State.CANCELLED, "Cancelled by the studio.")
        return job
    with _stage(job, "score", RenderJob.State.SCORE):
        ranked = scoring.rank(cond, rendered)
        # Under the studio's bar the set is not sent as it is: a person looks first.
        review = scoring.review_reason(ranked, settings.RENDER_REVIEW_THRESHOLD, cond.cues)
    state = RenderJob.State.NEEDS_REVIEW if review else RenderJob.State.READY
    with _stage(job, "overlay", RenderJob.State.OVERLAY):
        finished = [
            (item, png_stored(item.candidate.image), portrait_finish(item.candidate.image))
            for item in ranked
        ]
    primary_index = next((i for i, item in enumerate(ranked) if not item.rejected_reason), 0)
    with transaction.atomic():
        # All candidate rows land together, so a retried job never sees half a set.
        job.candidates.all().delete()
        for rank, (item, raw_png, web_jpeg) in enumerate(finished):
            candidate = Candidate(
                job=job,
                seed=item.candidate.seed,
                rank=rank,
                score=round(item.total, scoring.SCORE_DIGITS),
                score_terms={k: round(v, scoring.SCORE_DIGITS) for k, v in item.terms.items()},
                rejected_reason=item.rejected_reason,
                is_primary=rank == primary_index,
                shared_with_parent=rank == primary_index,
            )
            candidate.image.save(f"{item.candidate.seed}.png", ContentFile(raw_png), save=False)
            candidate.web_image.save(
                f"{item.candidate.seed}-web.jpg", ContentFile(web_jpeg), save=False
            )
            candidate.save()
            # A primary under review may well be replaced: its print file waits for a choice.
            if candidate.is_primary and settings.PRINT_FILES_AUTOMATIC and not review:
                candidate_print_enqueue(candidate=candidate)
        RenderJob.objects.filter(pk=job.pk).update(
            state=state, reason=review, progress=1.0, lease_expires_at=None
        )
        job.state, job.reason = state, review
        # One event for both: its payload carries the state and, under review, the reason.
        _emit_job_event("job.ready", job.pk)
    return job


# The relight engine paints each candidate from the prepared surface and its seed alone, so
# halves of the seeds can be painted side by side, one thread a core (NumPy and OpenCV let go of
# the GIL), each half preparing the surface itself. Pixels are the same either way. It pays only
# with a core to spare: the second half's surface costs a third more CPU (1280×872 phantom: 780
# ms of CPU for five candidates in one thread, 1030 ms in two), so on a machine already busy
# (its load average above its cores less one) the candidates are painted in one thread.
RENDER_THREADS = min(2, os.cpu_count() or 1)


def _render_threads() -> int:
    cores = os.cpu_count() or 1
    if RENDER_THREADS < 2 or os.getloadavg()[0] > cores - 1:
        return 1
    return RENDER_THREADS


def render_candidates(
    engine: Engine,
    cond: Conditioning,
    seeds: list[int],
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    threads: int | None = None,
) -> list[RenderedCandidate]:
    """``engine.render(cond, seeds)``, the relight engine's candidates painted ``threads`` at a
    time (by default RENDER_THREADS when a core is spare, else one); in the order of ``seeds``
    whatever finishes first.

    ``progress`` and ``cancel`` are called from this thread only (they use the database): the
    painting threads report to it and stop at their next candidate once ``cancel`` says so,
    which raises RenderCancelled here as a single render would.
    """
    threads = _render_threads() if threads is None else threads
    if threads < 2 or len(seeds) < 2 or engine.name != "relight":
        return engine.render(cond, seeds, progress=progress, cancel=cancel)
    if cancel is not None and cancel():
        raise RenderCancelled("render cancelled before it started")
    parts = [seeds[i::threads] for i in range(threads) if seeds[i::threads]]
    painted = [0.0] * len(parts)
    stop = threading.Event()

    def part_progress(index: int) -> ProgressFn:
        def report(fraction: float) -> None:
            painted[index] = fraction * len(parts[index])

        return report

    with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="render") as pool:
        futures = [
            pool.submit(engine.render, cond, part, part_progress(i), stop.is_set)
            for i, part in enumerate(parts)
        ]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.25)
            if cancel is not None and not stop.is_set() and cancel():
                stop.set()
            if progress is not None and pending:
                progress(sum(painted) / len(seeds))
    by_seed = {c.seed: c for future in futures for c in future.result()}
    if progress is not None:
        progress(1.0)
    return [by_seed[seed] for seed in seeds]


def _brand_tokens() -> dict[str, Any]:
    kit = brand_kit_get()
    return {"tokens": tuple(kit.style_tokens), "background_hex": kit.accent_hex}


def _progress_saver(job: RenderJob):
    last = {"at": 0.0}

    def save(fraction: float) -> None:
        # Throttled: the dashboard polls every second, the engine may call far more often.
        now = time.monotonic()
        if now - last["at"] < 0.5 and fraction < 1.0:
            return
        last["at"] = now
        RenderJob.objects.filter(pk=job.pk).update(
            progress=round(fraction, 3), lease_expires_at=timezone.now() + _lease()
        )

    return save


def _cancel_checker(job: RenderJob):
    def cancelled() -> bool:
        return RenderJob.objects.filter(pk=job.pk, cancel_requested=True).exists()

    return cancelled


def _unheld(now: datetime) -> Q:
    """No worker holds the job: never claimed, released, or its worker's lease ran out."""
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)


@transaction.atomic
def render_job_fail(*, job_id: int, reason: str, unless_held: bool = False) -> bool:
    """Called when a stage crashed or an actor ran out of retries: the job must not stay
    'running'. Only a job still waiting or running fails (one already ready stays ready);
    ``unless_held`` spares a job another worker is busy with now (a duplicate message's
    retries ran out while the job itself is fine). Returns whether the job failed."""
    jobs = RenderJob.objects.filter(
        pk=job_id, state__in=(RenderJob.State.QUEUED, *RenderJob.RUNNING)
    )
    if unless_held:
        jobs = jobs.filter(_unheld(timezone.now()))
    failed = jobs.update(
        state=RenderJob.State.FAILED,
        reason=reason,
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    if failed:
        _emit_job_event("job.failed", job_id)
    return bool(failed)


def _cancel_if_unheld(job_id: int, now: datetime) -> bool:
    return bool(
        RenderJob.objects.filter(pk=job_id, state__in=(RenderJob.State.QUEUED, *RenderJob.RUNNING))
        .filter(_unheld(now))
        .update(
            state=RenderJob.State.CANCELLED,
            reason="Cancelled by the studio.",
            lease_expires_at=None,
            updated_at=now,
        )
    )


# A job being sent is cancelled by cancelling its messages not yet handed to a provider, which
# galleries owns; galleries sits above render and hands this in when Django starts
# (GalleriesConfig.ready), so render never imports it.
DeliveriesCancel = Callable[[RenderJob], int]
_deliveries_cancel_unsent: DeliveriesCancel | None = None


def deliveries_canceller_set(cancel: DeliveriesCancel) -> None:
    global _deliveries_cancel_unsent
    _deliveries_cancel_unsent = cancel


# A parent's erasure reaches her galleries and message records too, which galleries owns: it
# hands the whole erasure in when Django starts (GalleriesConfig.ready), as above.
SessionErase = Callable[..., None]
_parent_session_erase: SessionErase | None = None


def parent_session_eraser_set(erase: SessionErase) -> None:
    global _parent_session_erase
    _parent_session_erase = erase


def parent_session_erase(*, session: ParentSession, actor: Any) -> None:
    """Delete everything held about a parent (galleries' erasure; ValidationError while a
    worker holds her render or message)."""
    if _parent_session_erase is None:
        raise ImproperlyConfigured("galleries is not installed: nothing can erase a session")
    _parent_session_erase(session=session, actor=actor)


@transaction.atomic
def render_job_cancel(*, job: RenderJob) -> RenderJob:
    """Stop a render, or the messages of a send not yet gone.

    A job no worker holds is cancelled at once, whatever its stage (a worker that died
    mid-stage holds nothing once its lease ran out). A job a worker holds stops at the worker's
    next checkpoint; should that worker die, the sweep cancels it once its lease runs out.
    """
    if job.state == RenderJob.State.DELIVERING:
        if _deliveries_cancel_unsent is None:
            raise ImproperlyConfigured("No delivery canceller: galleries is not an installed app.")
        _deliveries_cancel_unsent(job)
        job.refresh_from_db()
        return job
    if job.is_finished or job.state in RenderJob.REVIEWABLE:
        raise ValidationError("This job has already finished; there is nothing to cancel.")
    RenderJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    _cancel_if_unheld(job.pk, timezone.now())
    job.refresh_from_db()
    return job


@transaction.atomic
def render_job_rerun(
    *,
    job: RenderJob,
    style: str | None = None,
    fix_anatomy: bool = False,
    reseed: bool = True,
    created_by: User | None = None,
) -> RenderJob:
    """Regenerate (new seeds, in the chosen style) or a Fix Anatomy pass (the same seeds, so
    what changes is the correction). ``reseed=False`` keeps the seeds for a re-render whose
    change lies elsewhere (the sonographer's anchors)."""
    permission = studio_may_render(current_studio())
    if not permission.allowed:
        raise RenderNotAllowed(permission.reason)
    scan = job.scan
    if scan is None or scan.purged_at or not scan.cues_file:
        raise ValidationError("The scan behind this job is gone, so it cannot be rendered again.")
    if style is not None and style not in conditioning.STYLES:
        raise ValidationError(f"Unknown style {style!r}.")
    rerun = RenderJob.objects.create(
        scan=scan,
        session=job.session,
        engine=job.engine,
        style=style or job.style,
        base_seed=(
            random.SystemRandom().randrange(1, 2**31)
            if reseed and not fix_anatomy
            else job.base_seed
        ),
        correction_strength=0.8 if fix_anatomy else 0.0,
        parent_job=job,
        state=RenderJob.State.CONDITIONING,
        stage_log={k: v for k, v in job.stage_log.items() if k in ("ingest", "vision")},
        created_by=created_by,
    )
    _on_commit_enqueue_render(rerun)
    return rerun


@transaction.atomic
def scan_anchors_correct(
    *, job: RenderJob, anchors: dict[str, dict[str, float]], created_by: User | None = None
) -> RenderJob:
    """Replace the scan's anchors with the sonographer's and re-run from conditioning; or,
    on a scan where vision found no face, read the scan again from the points she placed
    (``scan_anchors_place``)."""
    scan = job.scan
    if scan is None or scan.purged_at:
        raise ValidationError("The scan behind this job is gone.")
    if job.state == RenderJob.State.REJECTED and not scan.cues_file:
        return scan_anchors_place(job=job, anchors=anchors, created_by=created_by)
    cleaned = _anchors_on_scan(scan, anchors)
    scan.anchors = anchors_to_json(anchors_from_json(cleaned))
    scan.save(update_fields=["anchors"])
    return render_job_rerun(job=job, reseed=False, created_by=created_by)


def anchors_placeable(job: RenderJob) -> bool:
    """Whether the sonographer may place the face's points on this job's scan: vision found
    no face in it, the de-identified scan is still held, and no points were placed from this
    job yet (its page, the API and the service ask this one question)."""
    scan = job.scan
    return bool(
        job.state == RenderJob.State.REJECTED
        and job.reason == vision.MSG_NO_FACE
        and scan is not None
        and not scan.purged_at
        and scan.deidentified
        and not scan.cues_file
        and not job.reruns.exists()
    )


# Two placed eyes nearer than this share of the render's shorter side are one point.
_PLACED_EYE_GAP = 0.02


@transaction.atomic
def scan_anchors_place(
    *, job: RenderJob, anchors: dict[str, dict[str, float]], created_by: User | None = None
) -> RenderJob:
    """A scan vision found no face in, read again from the face points the sonographer
    placed on it (the nose tip and the eyes she sees, both or a profile's near one; the mouth
    and chin where she sees them): a new job from the vision stage, as a retry is. Once per
    rejected job (a second post, a double click, is refused)."""
    job = RenderJob.objects.select_for_update().get(pk=job.pk)
    if not anchors_placeable(job):
        raise ValidationError(
            "Face points can be placed once, on a scan Cradle found no face in and still holds."
        )
    scan = job.scan
    assert scan is not None  # anchors_placeable
    cleaned = _anchors_on_scan(scan, anchors)
    if not vision.placeable(cleaned):
        raise ValidationError(
            "Place the nose tip and the eyes you can see: both on a face turned toward the "
            "probe, the near one on a profile (and the mouth and chin where they show, no other "
            "point)."
        )
    x0, y0, x1, y1 = scan.render_box or (0, 0, scan.width, scan.height)
    if not all(x0 <= p["x"] < x1 and y0 <= p["y"] < y1 for p in cleaned.values()):
        raise ValidationError("Place every point on the render itself, not on the screen round it.")
    if "eye_left" in cleaned and "eye_right" in cleaned:
        left, right = cleaned["eye_left"], cleaned["eye_right"]
        if math.hypot(right["x"] - left["x"], right["y"] - left["y"]) < _PLACED_EYE_GAP * min(
            x1 - x0, y1 - y0
        ):
            raise ValidationError("The two eyes are on one spot: place each on its own eye.")
    ordered = vision.placed_in_order({n: (p["x"], p["y"]) for n, p in cleaned.items()})
    cleaned = {n: {"x": x, "y": y, "confidence": 1.0} for n, (x, y) in ordered.items()}
    permission = studio_may_render(current_studio())
    if not permission.allowed:
        raise RenderNotAllowed(permission.reason)
    scan.anchors = anchors_to_json(anchors_from_json(cleaned))
    scan.anchors_placed = True
    scan.save(update_fields=["anchors", "anchors_placed"])
    placed = RenderJob.objects.create(
        scan=scan,
        session=job.session,
        state=RenderJob.State.QUEUED,
        engine=job.engine,
        style=job.style,
        base_seed=random.SystemRandom().randrange(1, 2**31),
        correction_strength=job.correction_strength,
        parent_job=job,
        stage_log={k: v for k, v in job.stage_log.items() if k == "ingest"},
        created_by=created_by,
    )
    _on_commit_enqueue_vision(placed)
    return placed


def _anchors_on_scan(
    scan: Scan, anchors: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """The sonographer's points, checked against the scan; each sure (a person placed it)."""
    cleaned: dict[str, dict[str, float]] = {}
    for name, point in anchors.items():
        if name not in ANCHOR_NAMES:
            raise ValidationError(f"Unknown anchor {name!r}. Known: {', '.join(ANCHOR_NAMES)}.")
        x, y = float(point["x"]), float(point["y"])
        if not (0 <= x < scan.width and 0 <= y < scan.height):
            raise ValidationError(
                f"Anchor {name} is outside the scan ({scan.width}×{scan.height})."
            )
        cleaned[name] = {"x": x, "y": y, "confidence": 1.0}  # a person placed it
    return cleaned


@transaction.atomic
def candidate_choose_primary(*, candidate: Candidate) -> Candidate:
    Candidate.objects.filter(job=candidate.job, is_primary=True).update(is_primary=False)
    candidate.is_primary = True
    candidate.shared_with_parent = True
    candidate.save(update_fields=["is_primary", "shared_with_parent"])
    if not candidate.print_image:
        candidate_print_enqueue(candidate=candidate)
    return candidate


def candidate_set_shared(*, candidate: Candidate, shared: bool) -> Candidate:
    if candidate.is_primary and not shared:
        raise ValidationError("The primary portrait is always in the parent's gallery.")
    candidate.shared_with_parent = shared
    candidate.save(update_fields=["shared_with_parent"])
    # Shared after the gallery went out: the parent's "Print size" waits for this file.
    sent = (RenderJob.State.DELIVERING, RenderJob.State.DELIVERED)
    if shared and candidate.job.state in sent and not candidate.print_image:
        if settings.PRINT_FILES_AUTOMATIC and candidate.print_requested_at is None:
            candidate_print_enqueue(candidate=candidate)
    return candidate


# A job's message the broker took longer ago than this, with no worker on the job, is lost:
# longer than any wait in a busy queue should be, so merely queued jobs are not sent twice.
JOB_MESSAGE_LEASE = timedelta(minutes=10)
# A job still not finished this long after it was made has failed (a render takes minutes).
JOB_GIVE_UP_AFTER = timedelta(hours=6)


@dataclass
class JobSweep:
    requeued: int = 0
    cancelled: int = 0
    failed: int = 0


def render_jobs_sweep_due(
    *,
    now: datetime | None = None,
    lease: timedelta = JOB_MESSAGE_LEASE,
    give_up_after: timedelta = JOB_GIVE_UP_AFTER,
) -> JobSweep:
    """Move every job no worker holds that has stopped moving; run every minute by the
    scheduler (render_jobs_sweep).

    A job whose message the broker never took (it was away) or lost is sent again; a job the
    studio cancelled while its worker died is cancelled; one that has not finished long after
    it was made fails with a reason. Jobs waiting in a queue with a fresh message are left
    alone (see studio_portal.outbox).
    """
    # Lazy: render.tasks imports this module.
    from render.tasks import render_job_check, render_job_render, render_job_vision

    now = now or timezone.now()
    report = JobSweep()
    unheld = RenderJob.objects.filter(
        _unheld(now), state__in=(RenderJob.State.QUEUED, *RenderJob.RUNNING)
    )
    for job_id in unheld.filter(cancel_requested=True).values_list("pk", flat=True):
        report.cancelled += _cancel_if_unheld(job_id, now)
    for job_id in unheld.filter(created_at__lt=now - give_up_after).values_list("pk", flat=True):
        report.failed += render_job_fail(
            job_id=job_id,
            reason="Cradle could not finish this render in time. Please retry it.",
            unless_held=True,
        )
    due = unheld.filter(cancel_requested=False).filter(
        outbox_due(now=now, waiting_since="updated_at", lease=lease)
    )
    schema: str = connection.schema_name  # type: ignore[attr-defined]  # django-tenants
    checking = RenderJob.State.CHECKING
    vision_states = (RenderJob.State.QUEUED, RenderJob.State.VISION)
    report.requeued += outbox_resend_due(
        render_job_check, due.filter(state=checking), schema_name=schema
    )
    report.requeued += outbox_resend_due(
        render_job_vision, due.filter(state__in=vision_states), schema_name=schema
    )
    report.requeued += outbox_resend_due(
        render_job_render,
        due.exclude(state__in=(checking, *vision_states)),
        schema_name=schema,
    )
    return report


@transaction.atomic
def render_job_retry(*, job: RenderJob, created_by: User | None = None) -> RenderJob:
    """A fresh job for a failed or cancelled one: from conditioning when vision's cues are kept,
    otherwise from vision on the same de-identified scan, or from the check on the stored
    original when the job stopped before it (the upload is never asked for again)."""
    if job.state not in (RenderJob.State.FAILED, RenderJob.State.CANCELLED):
        raise ValidationError("Only a failed or cancelled render can be retried.")
    scan = job.scan
    if scan is None or scan.purged_at or not (scan.deidentified or scan.original_encrypted):
        raise ValidationError(
            "The scan behind this render has been deleted. Upload the scan again to retry."
        )
    if scan.cues_file:
        return render_job_rerun(job=job, reseed=False, created_by=created_by)
    permission = studio_may_render(current_studio())
    if not permission.allowed:
        raise RenderNotAllowed(permission.reason)
    checked = bool(scan.deidentified)
    retry = RenderJob.objects.create(
        scan=scan,
        session=job.session,
        state=RenderJob.State.QUEUED if checked else RenderJob.State.CHECKING,
        engine=job.engine,
        style=job.style,
        base_seed=random.SystemRandom().randrange(1, 2**31),
        correction_strength=job.correction_strength,
        parent_job=job,
        stage_log=(
            {k: v for k, v in job.stage_log.items() if k == "ingest"}
            if checked
            else {"ingest": {"started_at": timezone.now().isoformat()}}
        ),
        created_by=created_by,
    )
    if checked:
        _on_commit_enqueue_vision(retry)
    else:
        _on_commit_enqueue_check(retry)
    return retry
