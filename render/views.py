"""Studio pages for sessions, uploads and jobs (server-rendered; htmx for live parts)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from render import selectors, services
from render.forms import ParentSessionForm, ScanUploadForm
from render.models import Scan
from render.pipeline.types import ScanRejected


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    sessions = selectors.parent_session_list(search=search).prefetch_related("jobs")[:50]
    return render(request, "render/dashboard.html", {"sessions": sessions, "search": search})


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
                skin_swatches=[t for t in (data["tone_1"], data["tone_2"]) if t],
                style=data["style"],
                created_by=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("session-detail", uid=session.uid)
    return render(request, "render/session_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def session_detail(request: HttpRequest, uid: str) -> HttpResponse:
    session = selectors.parent_session_get(uid)
    return render(
        request,
        "render/session_detail.html",
        {"session": session, "jobs": session.jobs.all(), "form": ScanUploadForm()},
    )


@login_required
@require_POST
def scan_upload(request: HttpRequest, uid: str) -> HttpResponse:
    session = selectors.parent_session_get(uid)
    form = ScanUploadForm(request.POST, request.FILES)
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
            return redirect("job-detail", uid=job.uid)
    else:
        error = "Choose a scan file to upload."
    return render(
        request,
        "render/session_detail.html",
        {"session": session, "jobs": session.jobs.all(), "form": form, "upload_error": error},
        status=400,
    )


@login_required
def job_detail(request: HttpRequest, uid: str) -> HttpResponse:
    job = selectors.render_job_get(uid)
    template = "render/_job_progress.html" if request.headers.get("X-Partial") else "render/job_detail.html"
    return render(
        request,
        template,
        {"job": job, "stages": selectors.render_job_stage_rows(job), "candidates": job.candidates.all()},
    )


@login_required
@require_POST
def job_send(request: HttpRequest, uid: str) -> HttpResponse:
    from galleries.services import gallery_send

    job = selectors.render_job_get(uid)
    channels = request.POST.getlist("channel")
    try:
        gallery_send(job=job, channels=channels, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The gallery link is on its way to the parent.")
    return redirect("job-detail", uid=job.uid)


@login_required
@require_POST
def candidate_make_primary(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = selectors.candidate_get(pk)
    services.candidate_choose_primary(candidate=candidate)
    return redirect("job-detail", uid=candidate.job.uid)


SCAN_FILES = {
    "deidentified": "deidentified",
    "depth": "depth_map",
    "normals": "normals_map",
    "mask": "mask_map",
    "report": "report_image",
}


@login_required
def scan_file(request: HttpRequest, uid: str, kind: str) -> FileResponse:
    """Scan derivatives are served only here, to signed-in staff of the scan's own studio."""
    if kind not in SCAN_FILES:
        raise Http404
    scan = Scan.objects.filter(uid=uid, purged_at__isnull=True).first()
    if scan is None:
        raise Http404
    field = getattr(scan, SCAN_FILES[kind])
    if not field:
        raise Http404
    return FileResponse(field.open("rb"), content_type="image/png")


@login_required
def candidate_file(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    candidate = selectors.candidate_get(pk)
    field = {"raw": candidate.image, "web": candidate.web_image}.get(kind)
    if not field:
        raise Http404
    content_type = "image/png" if kind == "raw" else "image/jpeg"
    return FileResponse(field.open("rb"), content_type=content_type)

