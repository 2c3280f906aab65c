"""Studio pages for sessions, uploads and jobs (server-rendered; a tiny poller for live parts).

Every write goes through ``render.services``; these views only turn
form posts into service calls and service errors into messages a sonographer can act on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from render import engine_choice, selectors, services
from render.forms import (
    ParentSessionForm,
    RerunForm,
    ScanUploadForm,
    SessionSearchForm,
    style_choices,
)
from render.models import ParentSession, RenderJob, Scan
from render.pipeline.conditioning import MONK_SKIN_TONES, engine_look, style_label
from render.pipeline.types import ANCHOR_NAMES, ScanRejected
from studio_portal.accounts.views import OWNER_ONLY, settings_page
from studio_portal.permissions import owner_required
from studio_portal.tenants.models import Studio
from studio_portal.tenants.selectors import current_studio, studio_retention_days

# What a sonographer can do about each kind of rejected scan, shown under the pipeline's reason.
REJECTED_NEXT_STEP = (
    "Export a 3D/4D surface render from the machine (not a 2D B-mode frame) where the face is "
    "turned toward the probe and not hidden by a hand, cord or placenta, then upload it here."
)

# Short, because they sit beside points a few pixels apart; left/right as seen in the image.
ANCHOR_LABELS = {
    "nose_tip": "Nose",
    "eye_left": "Eye L",
    "eye_right": "Eye R",
    "mouth": "Mouth",
    "chin": "Chin",
    "cheek_left": "Cheek L",
    "cheek_right": "Cheek R",
}

SCORE_TERM_LABELS = {
    "structure": "Structure kept",
    "anchors": "Face points",
    "tone": "Skin tone",
    "neonatal": "Newborn look",
    "subject": "Baby alone",
    "features": "Features in place",
    "legibility": "Features legible",
}
# Reported beside the bars, not as one, each with how it reads: smaller is better for all but
# the contrast.
SCORE_TERM_DISTANCES = {
    "delta_e": ("Tone ΔE", "{:.1f}"),
    "leak": ("Painted outside the baby", "{:.0%}"),
    "stray": ("Lines off the features", "{:.0%}"),
    "contrast": ("Feature contrast (L*)", "{:.1f}"),
}
# What the sonographer can do about a set under review, shown under the scoring's reason.
REVIEW_NEXT_STEP = (
    "Look at every portrait before anything is sent. If one is right, make it the primary and "
    "send the gallery as usual; otherwise correct the face points, paint again in another "
    "style or try Fix Anatomy."
)


def _sessions_with_latest_state(search: str, status: str) -> QuerySet[ParentSession]:
    latest = RenderJob.objects.filter(session=OuterRef("pk")).order_by("-created_at")
    sessions = selectors.parent_session_list(search=search).annotate(
        latest_state=Subquery(latest.values("state")[:1]),
        latest_job_uid=Subquery(latest.values("uid")[:1]),
    )
    if status == "none":
        sessions = sessions.filter(latest_state__isnull=True)
    elif status:
        sessions = sessions.filter(latest_state=status)
    return sessions.order_by("-created_at")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    form = SessionSearchForm(request.GET or None)
    search = status = ""
    if form.is_valid():
        search = form.cleaned_data["q"].strip()
        status = form.cleaned_data["status"]
    sessions = list(_sessions_with_latest_state(search, status)[:50])
    state_labels = dict(RenderJob.State.choices)
    for session in sessions:
        session.latest_state_label = state_labels.get(session.latest_state or "", "No scan yet")
    return render(
        request,
        "render/dashboard.html",
        {
            "sessions": sessions,
            "search": search,
            "status": status,
            "form": form,
            "filtered": bool(search or status),
        },
    )


def _session_form_context(form: ParentSessionForm) -> dict[str, object]:
    studio = current_studio()
    return {
        "form": form,
        "monk_tones": list(MONK_SKIN_TONES.items()),
        # What the studio's engine can really make: "Studio light" on the CPU engine,
        # photoreal only where a diffusion engine paints.
        "look": engine_look(engine_choice.studio_engine(studio)),
        "consent_version": engine_choice.consent_version(studio),
        # Where the studio opted in to a hosted engine, the consent names the provider.
        "hosted_consent": (
            engine_choice.HOSTED_CONSENT_TEXT
            if engine_choice.studio_engine(studio) == engine_choice.HOSTED
            else ""
        ),
    }


@login_required
def session_create(request: HttpRequest) -> HttpResponse:
    form = ParentSessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            session = services.parent_session_create(
                parent_name=data["parent_name"],
                email=data["email"],
                phone=data["phone"],
                consent_given=data["consent_given"],
                skin_swatches=form.skin_swatches(),
                style=data["style"],
                created_by=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("session-detail", uid=session.uid)
    return render(
        request,
        "render/session_form.html",
        _session_form_context(form),
        status=400 if form.errors else 200,
    )


def session_page_context(session: ParentSession, form: ScanUploadForm, error: str = "") -> dict:
    """What the session page shows (galleries' erase view shows it again with its refusal)."""
    retention_days = studio_retention_days(current_studio())
    first_kept = session.scans.filter(purged_at__isnull=True).order_by("created_at").first()
    return {
        "session": session,
        "jobs": session.jobs.all(),
        "form": form,
        "upload_error": error,
        # Named for the engine her next upload renders on (the studio's, as she consented).
        "style_label": style_label(
            engine_choice.engine_for_session(session, current_studio()), session.style
        ),
        # The day retention deletes her first scan still kept: export before it, if wanted.
        "retention_days": retention_days,
        "scan_deleted_on": (
            first_kept.created_at + timedelta(days=retention_days) if first_kept else None
        ),
    }


@login_required
def session_detail(request: HttpRequest, uid: str) -> HttpResponse:
    session = selectors.parent_session_get(uid)
    return render(
        request, "render/session_detail.html", session_page_context(session, ScanUploadForm())
    )


@login_required
@require_POST
def scan_upload(request: HttpRequest, uid: str) -> HttpResponse:
    """Plain form post, or the page's XHR upload (JSON back, so the progress bar can finish)."""
    session = selectors.parent_session_get(uid)
    form = ScanUploadForm(request.POST, request.FILES)
    wants_json = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    error = ""
    if form.is_valid():
        try:
            job = services.scan_upload(
                session=session, data=form.cleaned_data["scan"].read(), uploaded_by=request.user
            )
        except ScanRejected as exc:
            error = exc.message
        except services.RenderNotAllowed as exc:
            error = str(exc)
        else:
            url = reverse("job-detail", kwargs={"uid": job.uid})
            return JsonResponse({"redirect": url}) if wants_json else redirect(url)
    else:
        error = "Choose a scan file to upload."
    if wants_json:
        return JsonResponse({"error": error}, status=400)
    return render(
        request,
        "render/session_detail.html",
        session_page_context(session, form, error),
        status=400,
    )


def _seconds_text(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _stage_rows(job: RenderJob) -> list[dict[str, object]]:
    """The selector's rows plus a readable time: finished stages their duration, the running
    one the time since it started (so the page shows the clock moving)."""
    rows = selectors.render_job_stage_rows(job)
    now = timezone.now()
    for row in rows:
        row["time"] = ""
        if row["ms"] is not None:
            row["time"] = _seconds_text(float(row["ms"]))
        elif row["status"] == "running":
            started = job.stage_log.get(row["name"], {}).get("started_at")
            if started:
                # A stopped job's clock stopped when its state last changed.
                end = now if job.is_live else job.updated_at
                elapsed = (end - datetime.fromisoformat(started)).total_seconds() * 1000
                suffix = " so far" if job.is_live else ""
                row["time"] = _seconds_text(max(elapsed, 0.0)) + suffix
    deliver = rows[-1]
    if deliver["status"] == "waiting" and job.state == RenderJob.State.DELIVERED:
        deliver["status"] = "done"
    elif deliver["status"] == "waiting" and job.state == RenderJob.State.DELIVERING:
        deliver["status"] = "running"
    if not job.is_live:
        # A stage that never finished on a stopped job was interrupted, not still running.
        for row in rows:
            if row["status"] == "running":
                row["status"] = "stopped"
    return rows


def _total_ms(job: RenderJob) -> float:
    return sum(job.stage_ms().values())


def _handle(scan: Scan, name: str, x: float, y: float) -> dict[str, object]:
    """A draggable point over the scan: its name, label, pixels and place in per cent."""
    return {
        "name": name,
        "label": ANCHOR_LABELS.get(name, name),
        "x": x,
        "y": y,
        "left_pct": round(100 * x / scan.width, 3),
        "top_pct": round(100 * y / scan.height, 3),
    }


def _anchor_points(scan: Scan | None) -> list[dict[str, object]]:
    if scan is None or not scan.anchors or not scan.width:
        return []
    return [
        {
            **_handle(scan, name, point["x"], point["y"]),
            "confidence": point.get("confidence", 0),
        }
        for name in ANCHOR_NAMES
        if (point := scan.anchors.get(name)) is not None
    ]


# Where the points to place start, in a face's layout about the render's middle (share of its
# shorter side), spread out so that on a phone no point or label hides another: the
# sonographer drags each onto the face.
_PLACE_START = {
    "eye_left": (-0.2, -0.14),
    "eye_right": (0.2, -0.14),
    "nose_tip": (0.0, 0.0),
    "mouth": (0.0, 0.14),
    "chin": (0.0, 0.28),
}


def _place_points(job: RenderJob) -> list[dict[str, object]]:
    """On a scan vision found no face in: the face points for the sonographer to place
    (``services.scan_anchors_place``), at their starting spots; [] elsewhere."""
    scan = job.scan
    if scan is None or not scan.width or not services.anchors_placeable(job):
        return []
    x0, y0, x1, y1 = scan.render_box or (0, 0, scan.width, scan.height)
    side = min(x1 - x0, y1 - y0)
    return [
        {
            **_handle(
                scan,
                name,
                round((x0 + x1) / 2 + dx * side, 1),
                round((y0 + y1) / 2 + dy * side, 1),
            ),
            "optional": name in ("mouth", "chin"),
        }
        for name, (dx, dy) in _PLACE_START.items()
    ]


def _candidate_rows(job: RenderJob) -> list[dict[str, object]]:
    rows = []
    for number, candidate in enumerate(job.candidates.all(), start=1):
        terms = candidate.score_terms
        rows.append(
            {
                "candidate": candidate,
                "number": number,
                "terms": [
                    {
                        "key": key,
                        "label": SCORE_TERM_LABELS.get(key, key.replace("_", " ").capitalize()),
                        "value": value,
                        "pct": max(0, min(100, round(float(value) * 100))),
                    }
                    for key, value in terms.items()
                    if key not in SCORE_TERM_DISTANCES
                ],
                "distances": [
                    {"label": label, "text": shown.format(float(terms[key]))}
                    for key, (label, shown) in SCORE_TERM_DISTANCES.items()
                    if key in terms
                ],
            }
        )
    return rows


# The job page also shows what galleries sent and offers its send form (the messages so far, the
# closing day it proposes). Galleries sits above render: it hands that part of the page in when
# Django starts (GalleriesConfig.ready), so render never imports it.
JobPagePart = Callable[[RenderJob], dict[str, object]]
_job_page_parts: list[JobPagePart] = []


def job_page_part_add(part: JobPagePart) -> None:
    _job_page_parts.append(part)


def _job_context(job: RenderJob) -> dict[str, object]:
    scan = job.scan
    context: dict[str, object] = {
        "job": job,
        "stages": _stage_rows(job),
        "render_notes": selectors.render_job_notes(job),
        # Waiting for a worker: where it is in line (None once a worker holds it).
        "queue": selectors.render_job_queue_place(job) if job.is_live else None,
        "total_time": _seconds_text(_total_ms(job)),
        "candidates": _candidate_rows(job),
        "anchors": _anchor_points(scan),
        "anchors_json": json.dumps(scan.anchors if scan else {}),
        "place_points": _place_points(job),
        "scan": scan,
        "styles": style_choices(job.engine),
        "look": engine_look(job.engine),
        "style_label": style_label(job.engine, job.style),
        "rerun": job.reruns.order_by("-created_at").first(),
        "can_cancel": job.state
        in (RenderJob.State.QUEUED, *RenderJob.RUNNING, RenderJob.State.DELIVERING),
        "can_retry": job.state in (RenderJob.State.FAILED, RenderJob.State.CANCELLED),
        "can_send": job.state in RenderJob.REVIEWABLE,
        "can_rerun": bool(
            scan
            and scan.cues_file
            and not scan.purged_at
            and job.state
            in (*RenderJob.REVIEWABLE, RenderJob.State.DELIVERING, RenderJob.State.DELIVERED)
        ),
        "rejected_next_step": REJECTED_NEXT_STEP,
        "review_next_step": REVIEW_NEXT_STEP,
    }
    for part in _job_page_parts:
        context.update(part(job))
    return context


@login_required
def job_detail(request: HttpRequest, uid: str) -> HttpResponse:
    job = selectors.render_job_get(uid)
    partial = bool(request.headers.get("X-Partial"))
    template = "render/_job_progress.html" if partial else "render/job_detail.html"
    return render(request, template, _job_context(job))


@login_required
@require_POST
def job_cancel(request: HttpRequest, uid: str) -> HttpResponse:
    job = selectors.render_job_get(uid)
    sending = job.state == RenderJob.State.DELIVERING
    try:
        job = services.render_job_cancel(job=job)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if sending:
            messages.success(request, "The messages not sent yet are cancelled.")
        elif job.state == RenderJob.State.CANCELLED:
            messages.success(request, "The render is cancelled.")
        else:
            messages.success(request, "Cancelling: the render stops at its next checkpoint.")
    return redirect("job-detail", uid=job.uid)


def _to_new_job(request: HttpRequest, job: RenderJob, call, success: str) -> HttpResponse:
    try:
        new_job = call()
    except (ValidationError, services.RenderNotAllowed) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, text)
        return redirect("job-detail", uid=job.uid)
    messages.success(request, success)
    return redirect("job-detail", uid=new_job.uid)


@login_required
@require_POST
def job_rerun(request: HttpRequest, uid: str) -> HttpResponse:
    """ "Regenerate with a new style" and "Fix Anatomy": same structure and seeds, new pass."""
    job = selectors.render_job_get(uid)
    form = RerunForm(request.POST, engine=job.engine)
    if not form.is_valid():
        messages.error(request, "Choose one of the styles offered.")
        return redirect("job-detail", uid=job.uid)
    fix = form.cleaned_data["fix_anatomy"]
    style = form.cleaned_data["style"] or None
    success = (
        "Fixing anatomy: a new set is being painted with stronger newborn proportions."
        if fix
        else "Regenerating in the new style."
    )
    return _to_new_job(
        request,
        job,
        lambda: services.render_job_rerun(
            job=job, style=style, fix_anatomy=fix, created_by=request.user
        ),
        success,
    )


@login_required
@require_POST
def job_retry(request: HttpRequest, uid: str) -> HttpResponse:
    job = selectors.render_job_get(uid)
    return _to_new_job(
        request,
        job,
        lambda: services.render_job_retry(job=job, created_by=request.user),
        "Retrying the render.",
    )


@login_required
@require_POST
def job_anchors_save(request: HttpRequest, uid: str) -> HttpResponse:
    """The sonographer's corrected anchors (original pixels) → a re-run from conditioning;
    on a scan where no face was found, the points she placed → a re-run from vision."""
    job = selectors.render_job_get(uid)
    try:
        anchors = json.loads(request.POST.get("anchors", ""))
        if not isinstance(anchors, dict) or not all(
            isinstance(point, dict) and {"x", "y"} <= point.keys() for point in anchors.values()
        ):
            raise ValueError
    except ValueError:
        messages.error(request, "The anchor positions did not arrive. Drag a point and save again.")
        return redirect("job-detail", uid=job.uid)
    placing = services.anchors_placeable(job)
    return _to_new_job(
        request,
        job,
        lambda: services.scan_anchors_correct(job=job, anchors=anchors, created_by=request.user),
        "Points placed. Cradle is reading the scan from them, then paints the portraits."
        if placing
        else "Anchors saved. Painting again with the corrected face structure.",
    )


@login_required
@require_POST
def candidate_make_primary(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = selectors.candidate_get(pk)
    services.candidate_choose_primary(candidate=candidate)
    messages.success(request, f"Portrait {candidate.rank + 1} is now the primary.")
    return redirect(reverse("job-detail", kwargs={"uid": candidate.job.uid}) + "#candidates")


@login_required
@require_POST
def candidate_share(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = selectors.candidate_get(pk)
    shared = request.POST.get("shared") == "1"
    try:
        services.candidate_set_shared(candidate=candidate, shared=shared)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(reverse("job-detail", kwargs={"uid": candidate.job.uid}) + "#candidates")


# The kinds in the file URLs: the scan's derivatives, and the portrait sizes the page shows.
SCAN_FILES = selectors.SCAN_FILE_FIELDS
CANDIDATE_FILES = {"raw": "full", "web": "web", "print": "print"}


@login_required
def scan_file(request: HttpRequest, uid: str, kind: str) -> FileResponse:
    """Scan derivatives are served only here, to signed-in staff of the scan's own studio."""
    if kind not in SCAN_FILES:
        raise Http404
    scan = get_object_or_404(Scan, uid=uid)
    try:
        stored = selectors.scan_file_open(scan, kind)
    except selectors.FileUnavailable:
        raise Http404 from None
    return FileResponse(stored.handle, content_type=stored.content_type)


@login_required
def candidate_file(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    if kind not in CANDIDATE_FILES:
        raise Http404
    candidate = selectors.candidate_get(pk)
    try:
        stored = selectors.candidate_file_open(candidate, CANDIDATE_FILES[kind])
    except selectors.FileUnavailable:
        raise Http404 from None
    # ``?download=1``: saved under a readable name (the studio prints or archives it).
    return FileResponse(
        stored.handle,
        content_type=stored.content_type,
        as_attachment=bool(request.GET.get("download")),
        filename=stored.filename,
    )


def settings_engine_part(studio: Studio, error: str) -> dict[str, object]:
    """The settings page's engine card (studio_portal.accounts' page, filled in by RenderConfig)."""
    return {
        "engine_choices": engine_choice.engine_choices(),
        "engine_now": engine_choice.studio_engine(studio),
        "hosted_consent": engine_choice.HOSTED_CONSENT_TEXT,
        "hosted_offered": engine_choice.HOSTED in engine_choice.configured_engines(),
        "engine_error": error,
    }


@owner_required(message=OWNER_ONLY)
@require_POST
def studio_engine(request: HttpRequest) -> HttpResponse:
    """The portrait engine (the settings page's engine card): choosing "hosted" is the studio's
    opt-in to the hosted provider, which new sessions' consent then names."""
    try:
        studio = engine_choice.studio_render_engine_set(
            studio=current_studio(),
            engine=request.POST.get("render_engine", ""),
            changed_by=request.user,
        )
    except ValidationError as exc:
        return settings_page(request, engine_error=" ".join(exc.messages))
    label = dict(engine_choice.engine_choices()).get(studio.render_engine, "")
    messages.success(request, f"New sessions now render with: {label}.")
    return redirect("studio-settings")
