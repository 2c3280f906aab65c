"""Reads for sessions, scans, jobs and their stored files. Every query runs inside the request's
studio schema, so a foreign studio's ids simply match nothing (404)."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from django.core.files import File
from django.core.files.base import ContentFile
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile
from django.shortcuts import get_object_or_404
from django.utils import timezone

from branding.services import full_render_deliver
from render.models import Candidate, ParentSession, RenderJob, Scan
from studio_portal.queue_peek import queue_peek
from studio_portal.tenants.selectors import current_studio


def parent_session_list(*, search: str = "") -> QuerySet[ParentSession]:
    sessions = ParentSession.objects.all()
    if search:
        sessions = sessions.filter(parent_name__icontains=search)
    return sessions


def parent_session_get(uid: object) -> ParentSession:
    return get_object_or_404(ParentSession, uid=uid)


def render_job_get(uid: object) -> RenderJob:
    return get_object_or_404(
        RenderJob.objects.select_related("scan", "session").prefetch_related("candidates"), uid=uid
    )


def candidate_get(pk: int) -> Candidate:
    return get_object_or_404(Candidate.objects.select_related("job"), pk=pk)


def render_job_stage_rows(job: RenderJob) -> list[dict[str, object]]:
    """One row per pipeline stage for the progress display: name, status, milliseconds."""
    labels = {
        "ingest": "Scan checked",
        "vision": "Face structure",
        "conditioning": "Preparing",
        "render": "Painting",
        "score": "Ranking",
        "overlay": "Branding",
        "deliver": "Sent",
    }
    rows = []
    for name in RenderJob.STAGES:
        entry = job.stage_log.get(name, {})
        if "ms" in entry:
            status = "done"
        elif entry:
            status = "running"
        else:
            status = "waiting"
        rows.append({"name": name, "label": labels[name], "status": status, "ms": entry.get("ms")})
    return rows


def render_job_notes(job: RenderJob) -> list[str]:
    """What conditioning did to the scan that the studio should know, in plain sentences."""
    notes = job.stage_log.get("conditioning", {}).get("notes", [])
    return [str(note) for note in notes] if isinstance(notes, list) else []


# Where a waiting job is in line ----------------------------------------------------------------

# The actor whose message moves a job waiting in each state, and the queue it waits on.
_WAITING_FOR = {
    RenderJob.State.CHECKING: ("vision", "render_job_check"),
    RenderJob.State.QUEUED: ("vision", "render_job_vision"),
    RenderJob.State.CONDITIONING: ("render", "render_job_render"),
}
# What each actor's message is, in the words of the job page.
_QUEUE_WORK = {
    "render_job_check": ("scan check", "scan checks"),
    "render_job_vision": ("face reading", "face readings"),
    "render_job_render": ("portrait set", "portrait sets"),
    "candidate_print_make_task": ("print file", "print files"),
}


@dataclass(frozen=True)
class QueuePlace:
    """A job no worker has yet, and what is ahead of it on its queue."""

    queue: str  # "vision" or "render"
    ahead: int | None  # messages before it (None: the broker cannot be read)
    ahead_taken: int  # of those, the ones workers hold now
    ahead_kinds: dict[str, int]  # actor name → how many of the ones ahead
    sent: bool  # the broker has the job's own message (False: it waits for the outbox sweep)

    @property
    def words(self) -> str:
        worker = "a renderer" if self.queue == "render" else "the face reader"
        if not self.sent:
            return (
                f"Waiting for {worker}: the job queue is not reachable just now; it is sent "
                "again automatically within a minute or two."
            )
        if self.ahead is None:
            return f"Waiting for {worker}."
        if self.ahead == 0:
            return f"Next in line for {worker}."
        parts = []
        for actor, count in sorted(self.ahead_kinds.items(), key=lambda item: -item[1]):
            one, many = _QUEUE_WORK.get(actor, ("task", "tasks"))
            parts.append(f"{count} {one if count == 1 else many}")
        busy = f", {self.ahead_taken} being made now" if self.ahead_taken else ""
        return f"Waiting for {worker}: {self.ahead} ahead of it ({', '.join(parts)}{busy})."


def render_job_queue_place(job: RenderJob, *, now: datetime | None = None) -> QueuePlace | None:
    """Where ``job`` is in its queue, while it waits for a worker to take it; None once a
    worker holds it (or it is not waiting at all)."""
    if job.state not in _WAITING_FOR:
        return None
    now = now or timezone.now()
    if job.lease_expires_at is not None and job.lease_expires_at >= now:
        return None  # a worker has it: the stage rows say what it does
    queue, actor = _WAITING_FOR[job.state]
    if job.enqueued_at is None:
        return QueuePlace(queue, None, 0, {}, sent=False)
    waiting = queue_peek(queue)
    if waiting is None:
        return QueuePlace(queue, None, 0, {}, sent=True)
    mine = (current_studio().schema_name, job.pk)
    position = next(
        (i for i, m in enumerate(waiting) if m.actor == actor and tuple(m.args) == mine),
        len(waiting),  # not seen: taken between the job read and the peek, or lost
    )
    ahead = [m for m in waiting[:position] if not (m.actor == actor and tuple(m.args) == mine)]
    kinds: dict[str, int] = {}
    for message in ahead:
        kinds[message.actor] = kinds.get(message.actor, 0) + 1
    taken = sum(1 for message in ahead if message.taken)
    return QueuePlace(queue, len(ahead), taken, kinds, sent=True)


# Stored files -----------------------------------------------------------------------------------


class FileUnavailable(Exception):
    """A stored file that cannot be served; the message says why in words a sonographer acts on.

    Subclasses say which: the page views answer all of them with a plain 404, the API with the
    matching status (404 missing, 409 not made yet, 410 deleted).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FileMissing(FileUnavailable):
    pass


class FileNotReady(FileUnavailable):
    pass


class FileGone(FileUnavailable):
    pass


@dataclass(frozen=True)
class StoredFile:
    """One stored image ready to stream: the opened file, its type and a download name."""

    handle: File
    content_type: str
    filename: str


# The portrait sizes by the name clients ask for. ``full`` is the render as painted (no brand
# frame, no visible tag); ``web`` and ``print`` are the finished, branded JPEGs.
CANDIDATE_FILE_FIELDS = {"full": "image", "web": "web_image", "print": "print_image"}
# The scan's derivatives by the name in the page's URLs; the vision maps are PNGs.
SCAN_FILE_FIELDS = {
    "deidentified": "deidentified",
    "depth": "depth_map",
    "normals": "normals_map",
    "mask": "mask_map",
    "report": "report_image",
}
PRINT_NOT_READY = (
    "The print-size file is still being made (it takes about a minute after a portrait "
    "becomes the primary); try again in a minute. If it is still missing after a few "
    "minutes, choose this portrait as the primary again to have it made afresh."
)
PRINT_NEEDS_PRIMARY = (
    "A print-size file is made only for the primary portrait. Choose this portrait as the "
    "primary, then try again in a minute."
)
PRINT_GIVEN_UP = (
    "Cradle could not make the print-size file after several tries ({error}). The parent's "
    "gallery gives the web-size file; choose this portrait as the primary again to try once more."
)
SCAN_PURGED = "This scan was deleted after the studio's retention window."


def _stored_file_open(field: FieldFile, *, default_type: str, stem: str) -> StoredFile:
    # The stored name's extension is the format the pipeline wrote (raw renders are PNG,
    # finished portraits JPEG); anything that is not an image type falls back to the default.
    guessed = mimetypes.guess_type(field.name)[0] or ""
    content_type = guessed if guessed.startswith("image/") else default_type
    extension = mimetypes.guess_extension(content_type) or ""
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise FileMissing("The file is missing from storage.") from None
    return StoredFile(handle=handle, content_type=content_type, filename=f"{stem}{extension}")


def candidate_file_open(candidate: Candidate, size: str) -> StoredFile:
    """The portrait at ``size`` (a key of CANDIDATE_FILE_FIELDS), opened for streaming.

    Raises FileNotReady while the print file is not made (it is made in the background, only
    for the primary; see render/print_size.py) and FileMissing when the size has no file.
    """
    field = getattr(candidate, CANDIDATE_FILE_FIELDS[size])
    if not field:
        if size == "print" and candidate.is_primary and candidate.print_given_up:
            raise FileMissing(PRINT_GIVEN_UP.format(error=candidate.print_error or "no reason"))
        if size == "print":
            raise FileNotReady(PRINT_NOT_READY if candidate.is_primary else PRINT_NEEDS_PRIMARY)
        raise FileMissing(f"This portrait has no {size}-size file.")
    default_type = "image/png" if size == "full" else "image/jpeg"
    stem = portrait_file_stem(
        studio_name=current_studio().name,
        parent_name=candidate.job.session.parent_name,
        number=candidate.rank + 1,
        made_at=candidate.job.created_at,
        size=size,
    )
    stored = _stored_file_open(field, default_type=default_type, stem=stem)
    if size == "full":
        with stored.handle as handle:
            data = candidate_full_render_delivered(candidate, handle.read())
        return StoredFile(
            handle=ContentFile(data, name=stored.filename),
            content_type=stored.content_type,
            filename=stored.filename,
        )
    return stored


def candidate_full_render_delivered(candidate: Candidate, stored: bytes | None = None) -> bytes:
    """The render as painted, as it leaves Cradle (a download, the owner's export): marked and
    tagged by ``branding.services.full_render_deliver``, one watermark id per candidate however
    often it is fetched (recorded once, the only write here). The stored file stays as painted:
    it is the print file's source."""
    if stored is None:
        try:
            with candidate.image.open("rb") as handle:
                stored = handle.read()
        except FileNotFoundError:
            raise FileMissing("The file is missing from storage.") from None
    try:
        return full_render_deliver(stored, source=f"candidate:{candidate.pk}")
    except (OSError, SyntaxError, ValueError):  # not an image Pillow reads: nothing to mark
        return stored


def file_name_words(text: str) -> str:
    """``Zoë O'Neil`` → ``Zoe-O-Neil``: letters and digits a file name keeps on every system."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(re.findall(r"[A-Za-z0-9]+", ascii_text))


def portrait_file_stem(
    *, studio_name: str, number: int, made_at: datetime, size: str = "", parent_name: str = ""
) -> str:
    """A download name a person can read and sort: the studio, the parent (only on the studio's
    own copies: a parent's link may be shared), the portrait's number and the day it was made,
    then the size when it is not the plain web file. ``Moonbeam-Studio-portrait-2-2026-03-14``."""
    words = [file_name_words(studio_name) or "Portrait", file_name_words(parent_name)]
    parts = [w for w in words if w] + [
        f"portrait-{number}",
        f"{timezone.localdate(made_at):%Y-%m-%d}",
    ]
    if size:
        parts.append(size)
    return "-".join(parts)


def scan_file_open(scan: Scan, kind: str, *, stem: str = "") -> StoredFile:
    """The scan's derivative ``kind`` (a key of SCAN_FILE_FIELDS), opened for streaming and
    named ``stem`` + extension for a download.

    Raises FileGone once retention purged the scan, FileMissing when it has no such file.
    """
    if scan.purged_at:
        raise FileGone(SCAN_PURGED)
    field = getattr(scan, SCAN_FILE_FIELDS[kind])
    if not field:
        raise FileMissing(f"This scan has no {kind} image.")
    stem = stem or f"scan-{scan.uid}-{kind}"
    return _stored_file_open(field, default_type="image/png", stem=stem)


def render_job_report_open(job: RenderJob) -> StoredFile:
    """The vision report of the job's scan: the de-identified scan with the face outline and
    anchor points. Made in the vision stage, so a job still before it gets FileNotReady."""
    scan = job.scan
    if scan is None:
        raise FileMissing("This job has no scan, so it has no report.")
    if not scan.purged_at and not scan.report_image:
        if job.state in (RenderJob.State.CHECKING, RenderJob.State.QUEUED, RenderJob.State.VISION):
            raise FileNotReady(
                "The report is made while Cradle finds the face structure; "
                "try again in a few seconds."
            )
        raise FileMissing(
            "This scan has no report: it was rejected or stopped before Cradle found the "
            "face structure."
        )
    return scan_file_open(scan, "report", stem=f"report-{job.uid}")


def job_event_payload(job_id: int) -> dict[str, object]:
    """What a job event tells the studio: ids and outcome, never the parent's details (the
    studio's system already has them under the session id)."""
    job = RenderJob.objects.select_related("session").get(pk=job_id)
    return {
        "job": str(job.uid),
        "session": str(job.session.uid),
        "state": job.state,
        "reason": job.reason,
        "style": job.style,
        "stage_ms": job.stage_ms(),
    }
