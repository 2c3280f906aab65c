"""Render's part of the studio's REST API: sessions, scan uploads, jobs, candidates and their
files (galleries and deliveries are ``galleries/apis.py``'s, API keys and webhooks
``studio_portal/api/apis.py``'s, the engine choice ``engine_apis.py``'s; all under ``/api/``).
Every view reads and writes through the apps' selectors and services, inside the request's
studio schema; a foreign studio's ids match nothing (404).

Authentication: ``Authorization: Bearer crd_…`` (a member's API key) or the dashboard's session.
Errors: ``{"detail": "…"}`` with 400 (bad input), 401 (no/unknown key), 402 (plan does not
allow renders), 403 (not allowed for this role), 404 (not in this studio), 409 (a file not made
yet), 410 (a scan deleted by retention), 413, 429.

Files (portraits, the scan's vision report) come back as the bytes themselves, as attachments;
the job and candidate JSON carry absolute URLs to them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from render import engine_choice, selectors, services
from render.models import Candidate, ParentSession, RenderJob
from render.pipeline.conditioning import STYLES, engine_look, style_label
from render.pipeline.ingest import check_size
from render.pipeline.types import ANCHOR_NAMES, IngestLimits, ScanRejected
from studio_portal.api.responses import LIST_LIMIT, DetailSerializer, bad_request, filter_by_choice
from studio_portal.api.throttling import ScanUploadThrottle
from studio_portal.tenants.selectors import current_studio


def _api_url(context: dict, name: str, arg: object) -> str:
    """Absolute on the requesting studio's host when the serializer has the request."""
    return reverse(name, args=[arg], request=context.get("request"))


# Output shapes shared by several endpoints ---------------------------------------------------


class CandidateOutputSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    print_url = serializers.SerializerMethodField()

    class Meta:
        model = Candidate
        fields = [
            "id",
            "seed",
            "rank",
            "score",
            "score_terms",
            "rejected_reason",
            "is_primary",
            "shared_with_parent",
            "image_url",
            "print_url",
        ]

    @extend_schema_field(
        serializers.URLField(
            help_text="Download the web-size portrait; add ?size=full for the render before "
            "the brand frame."
        )
    )
    def get_image_url(self, candidate: Candidate) -> str:
        return _api_url(self.context, "api-candidate-image", candidate.pk)

    @extend_schema_field(
        serializers.URLField(
            allow_null=True,
            help_text="Download the print-size file; null until it is made (in the background, "
            "for the primary only).",
        )
    )
    def get_print_url(self, candidate: Candidate) -> str | None:
        if not candidate.print_image:
            return None
        return self.get_image_url(candidate) + "?size=print"


# The API's names for the work a queue holds.
QUEUE_KIND = {
    "render_job_check": "check",
    "render_job_render": "render",
    "render_job_vision": "vision",
    "candidate_print_make_task": "print",
}


class RenderJobOutputSerializer(serializers.ModelSerializer):
    session = serializers.UUIDField(source="session.uid", read_only=True)
    parent_job = serializers.UUIDField(source="parent_job.uid", read_only=True, allow_null=True)
    candidates = CandidateOutputSerializer(many=True, read_only=True)
    stage_ms = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()
    style_label = serializers.SerializerMethodField()
    queue = serializers.SerializerMethodField()
    provider = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()

    class Meta:
        model = RenderJob
        fields = [
            "uid",
            "session",
            "parent_job",
            "state",
            "reason",
            "queue",
            "progress",
            "style",
            "style_label",
            "engine",
            "correction_strength",
            "stage_ms",
            "notes",
            "provider",
            "candidates",
            "report_url",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "state": {
                "help_text": "needs_review: the best portrait scored under the studio's review "
                "threshold, or has no eye or no mouth drawn (the reason says which); the "
                "candidates can still be chosen and sent, or painted again."
            },
            "reason": {
                "help_text": "Why the scan was rejected or the job failed, or, in needs_review, "
                "what the scoring found and what to do about it."
            },
        }

    def get_style_label(self, job: RenderJob) -> str:
        """What the style is called on the job's engine: "Studio light …" on the CPU engine,
        "Photoreal …" on a diffusion engine."""
        return style_label(job.engine, job.style)

    @extend_schema_field(
        serializers.JSONField(
            allow_null=True,
            help_text="While the job waits for a worker (state queued or conditioning, no worker "
            "holding it): the queue it waits on (vision or render), how many messages are "
            "ahead of it (null when the broker cannot be read), how many of those workers "
            "hold now, what they are (render, vision, print), whether the broker has the "
            "job's own message, and a sentence saying all that. Null otherwise.",
        )
    )
    def get_queue(self, job: RenderJob) -> dict[str, object] | None:
        place = selectors.render_job_queue_place(job)
        if place is None:
            return None
        return {
            "name": place.queue,
            "ahead": place.ahead,
            "ahead_being_made": place.ahead_taken,
            "ahead_kinds": {
                QUEUE_KIND.get(actor, actor): count for actor, count in place.ahead_kinds.items()
            },
            "sent": place.sent,
            "words": place.words,
        }

    @extend_schema_field(
        serializers.JSONField(
            allow_null=True,
            help_text="On the hosted engine: the provider (replicate), its model, request id, "
            "status, run time (predict_time_s), cost_usd and attempts. Null on Cradle's own "
            "engines.",
        )
    )
    def get_provider(self, job: RenderJob) -> dict[str, object] | None:
        request = job.stage_log.get("hosted")
        return request if isinstance(request, dict) else None

    @extend_schema_field(
        serializers.ListField(
            child=serializers.CharField(),
            help_text="What conditioning did that the studio should know, in plain sentences: "
            "a face turned in the scan painted upright, a Fix Anatomy pass and what it found "
            "to remove. Empty until the set is painted.",
        )
    )
    def get_notes(self, job: RenderJob) -> list[str]:
        return selectors.render_job_notes(job)

    def get_stage_ms(self, job: RenderJob) -> dict[str, float]:
        """Milliseconds per finished stage: ingest, vision, conditioning, render, score, …"""
        return job.stage_ms()

    @extend_schema_field(
        serializers.URLField(
            allow_null=True,
            help_text="Download the scan's vision report (face outline and anchor points); "
            "null until it is made, when the scan was rejected before it, or once the "
            "studio's retention window deleted the scan.",
        )
    )
    def get_report_url(self, job: RenderJob) -> str | None:
        scan = job.scan
        if scan is None or scan.purged_at or not scan.report_image:
            return None
        return _api_url(self.context, "api-job-report", job.uid)


class ParentSessionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ParentSession
        fields = [
            "uid",
            "parent_name",
            "email",
            "phone",
            "consent_at",
            "skin_swatches",
            "target_tone_hex",
            "style",
            "created_at",
        ]


# Sessions -------------------------------------------------------------------------------------


class ParentSessionListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ParentSessionCreateInput"

        parent_name = serializers.CharField(max_length=120)
        email = serializers.EmailField(required=False, allow_blank=True, default="")
        phone = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
        consent_given = serializers.BooleanField(
            help_text="The parent read the consent text and agreed (required to be true)."
        )
        skin_swatches = serializers.ListField(
            child=serializers.CharField(max_length=16),
            min_length=1,
            max_length=2,
            help_text='One or two swatches: "#rrggbb" colours or Monk Skin Tone steps "1".."10".',
        )
        style = serializers.ChoiceField(choices=list(STYLES), required=False, default="classic")

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Part of the parent's name.")],
        responses=ParentSessionOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        search = request.query_params.get("q", "")[:120]
        sessions = selectors.parent_session_list(search=search)[:LIST_LIMIT]
        return Response(ParentSessionOutputSerializer(sessions, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: ParentSessionOutputSerializer, 400: DetailSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            session = services.parent_session_create(
                **serializer.validated_data, created_by=request.user
            )
        except ValidationError as exc:
            return bad_request(exc)
        return Response(ParentSessionOutputSerializer(session).data, status=status.HTTP_201_CREATED)


class ParentSessionDetailApi(APIView):
    class OutputSerializer(ParentSessionOutputSerializer):
        jobs = serializers.SlugRelatedField(
            slug_field="uid", many=True, read_only=True, help_text="The session's jobs' uids."
        )

        class Meta(ParentSessionOutputSerializer.Meta):
            fields = [*ParentSessionOutputSerializer.Meta.fields, "jobs"]

    @extend_schema(responses={200: OutputSerializer, 404: DetailSerializer})
    def get(self, request: Request, uid: str) -> Response:
        session = selectors.parent_session_get(uid)
        return Response(self.OutputSerializer(session).data)

    @extend_schema(
        description=(
            "Delete everything held about this parent (details, consent, scans, portraits, "
            "galleries, message records), at her request. Studio owner only; refused (409) "
            "only while a worker is rendering for her or handing a message for her to the "
            "provider at that moment (a minute or so). Renders and messages that wait are "
            "erased with the rest."
        ),
        responses={204: None, 403: DetailSerializer, 404: DetailSerializer, 409: DetailSerializer},
    )
    def delete(self, request: Request, uid: str) -> Response:
        session = selectors.parent_session_get(uid)
        try:
            services.parent_session_erase(session=session, actor=request.user)
        except ValidationError as exc:
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StyleOfferSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The value to send as a session's or rerun's style.")
    label = serializers.CharField()
    description = serializers.CharField()


class StyleListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StyleList"

        engine = serializers.CharField(
            help_text="The render engine new sessions use: the studio's choice among those the "
            "operator configured (relight, diffusers, hosted)."
        )
        look = serializers.CharField(help_text='"Studio light" or "Photoreal".')
        photoreal = serializers.BooleanField(
            help_text="True only where a diffusion engine is configured."
        )
        explanation = serializers.CharField(help_text="What the engine can make, in one line.")
        styles = StyleOfferSerializer(many=True)

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        """The styles new sessions can choose, named for what the configured engine makes."""
        engine = engine_choice.studio_engine(current_studio())
        look = engine_look(engine)
        data = {
            "engine": engine,
            "look": look.name,
            "photoreal": look.photoreal,
            "explanation": look.explanation,
            "styles": [
                {"key": o.key, "label": o.label, "description": o.description} for o in look.styles
            ],
        }
        return Response(self.OutputSerializer(data).data)


# Uploads and jobs -----------------------------------------------------------------------------


class ScanUploadApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = [ScanUploadThrottle]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ScanUploadInput"

        scan = serializers.FileField(
            help_text=(
                "A 3D/4D ultrasound still or clip: JPEG, PNG, WebP, DICOM, or a short MP4/MOV, "
                "up to SCAN_MAX_BYTES (200 MB by default). Other formats (TIFF, BMP, HEIC) are "
                "refused with 400: export the scan as one of these."
            )
        )

    @extend_schema(
        description=(
            "Upload a scan for the session and queue its render (201). Only its headers are "
            "read here (type, size, dimensions, frames; a refusal is a 400 with the reason); "
            'the job is "checking" while a worker decodes and screens it, then "queued", or '
            '"rejected" with the reason and nothing of the scan kept. The same file uploaded '
            "again for the session within ten minutes answers 200 with the job the first "
            "upload made: nothing is rendered twice."
        ),
        request={"multipart/form-data": InputSerializer},
        responses={
            200: RenderJobOutputSerializer,
            201: RenderJobOutputSerializer,
            400: DetailSerializer,
            402: DetailSerializer,
            404: DetailSerializer,
            413: DetailSerializer,
        },
    )
    def post(self, request: Request, uid: str) -> Response:
        session = selectors.parent_session_get(uid)
        upload = request.FILES.get("scan")
        if upload is None:
            return Response({"detail": "Attach the scan as the 'scan' file field."}, status=400)
        try:  # the size alone, before the file is read: the pipeline's own refusal and words
            check_size(upload.size, IngestLimits(max_bytes=settings.SCAN_MAX_BYTES))
        except ScanRejected as exc:
            too_large = exc.code == "too-large"
            return Response(
                {"detail": exc.message, "code": exc.code},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_large else 400,
            )
        try:
            job, made = services.scan_upload_or_repeat(
                session=session, data=upload.read(), uploaded_by=request.user
            )
        except ScanRejected as exc:
            return Response({"detail": exc.message, "code": exc.code}, status=400)
        except services.RenderNotAllowed as exc:
            return Response({"detail": str(exc), "code": "plan"}, status=402)
        data = RenderJobOutputSerializer(job, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED if made else status.HTTP_200_OK)


class RenderJobListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("session", str, description="Only this session's jobs (its uid)."),
            OpenApiParameter("state", str, enum=RenderJob.State.values),
        ],
        responses={200: RenderJobOutputSerializer(many=True), 400: DetailSerializer},
    )
    def get(self, request: Request) -> Response:
        jobs = (
            RenderJob.objects.select_related("session", "parent_job", "scan")
            .prefetch_related("candidates")
            .order_by("-created_at")
        )
        session_uid = request.query_params.get("session")
        if session_uid:
            field = serializers.UUIDField()
            try:
                jobs = jobs.filter(session__uid=field.to_internal_value(session_uid))
            except serializers.ValidationError:
                return Response({"detail": "session must be a session's uid."}, status=400)
        jobs, refusal = filter_by_choice(jobs, request, "state", RenderJob.State.values)
        if refusal:
            return refusal
        return Response(
            RenderJobOutputSerializer(
                jobs[:LIST_LIMIT], many=True, context={"request": request}
            ).data
        )


class RenderJobDetailApi(APIView):
    @extend_schema(responses={200: RenderJobOutputSerializer, 404: DetailSerializer})
    def get(self, request: Request, uid: str) -> Response:
        return Response(
            RenderJobOutputSerializer(
                selectors.render_job_get(uid), context={"request": request}
            ).data
        )


class RenderJobCancelApi(APIView):
    @extend_schema(
        description=(
            "Cancel a render: at once when no worker holds it, else at the worker's next "
            "checkpoint. On a job being sent, cancels the messages not yet handed to a "
            "provider (the job goes back to ready when none went). 400 when nothing is left "
            "to cancel."
        ),
        request=None,
        responses={200: RenderJobOutputSerializer, 400: DetailSerializer, 404: DetailSerializer},
    )
    def post(self, request: Request, uid: str) -> Response:
        job = selectors.render_job_get(uid)
        try:
            job = services.render_job_cancel(job=job)
        except ValidationError as exc:
            return bad_request(exc)
        return Response(RenderJobOutputSerializer(job, context={"request": request}).data)


class _NewJobMixin:
    def _new_job(self, call) -> Response:
        try:
            job = call()
        except ValidationError as exc:
            return bad_request(exc)
        except services.RenderNotAllowed as exc:
            return Response({"detail": str(exc), "code": "plan"}, status=402)
        data = RenderJobOutputSerializer(job, context={"request": self.request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class RenderJobRerunApi(_NewJobMixin, APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RenderJobRerunInput"

        style = serializers.ChoiceField(choices=list(STYLES), required=False)
        fix_anatomy = serializers.BooleanField(
            required=False, default=False, help_text="Re-render with anatomy correction."
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: RenderJobOutputSerializer,
            400: DetailSerializer,
            402: DetailSerializer,
            404: DetailSerializer,
        },
    )
    def post(self, request: Request, uid: str) -> Response:
        job = selectors.render_job_get(uid)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return self._new_job(
            lambda: services.render_job_rerun(
                job=job,
                style=data.get("style"),
                fix_anatomy=data["fix_anatomy"],
                created_by=request.user,
            )
        )


class RenderJobAnchorsApi(_NewJobMixin, APIView):
    """Corrected anchors: a re-run from conditioning. On a job rejected because no face was
    found, the points the sonographer placed (the nose tip and the eyes that show; mouth and
    chin optional): the scan is read again from them, from the vision stage."""

    class PointSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RenderJobAnchorsPoint"

        x = serializers.FloatField(min_value=0, max_value=100_000)
        y = serializers.FloatField(min_value=0, max_value=100_000)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RenderJobAnchorsInput"

        anchors = serializers.DictField(
            help_text=(
                f"Pixel positions in the scan, by name: {', '.join(ANCHOR_NAMES)}. Where no "
                "face was found: nose_tip and the eyes that show (both, or a profile's near "
                "one), with mouth and chin when they show."
            ),
        )

        def validate_anchors(self, value: dict) -> dict:
            if not value:
                raise serializers.ValidationError("Give at least one anchor.")
            cleaned = {}
            for name, point in value.items():
                if name not in ANCHOR_NAMES:
                    raise serializers.ValidationError(
                        f"Unknown anchor {name!r}. Known: {', '.join(ANCHOR_NAMES)}."
                    )
                serializer = RenderJobAnchorsApi.PointSerializer(data=point)
                if not serializer.is_valid():
                    raise serializers.ValidationError(
                        f"Anchor {name} needs numeric x and y in pixels."
                    )
                cleaned[name] = dict(serializer.validated_data)
            return cleaned

    @extend_schema(
        request=InputSerializer,
        responses={
            201: RenderJobOutputSerializer,
            400: DetailSerializer,
            402: DetailSerializer,
            404: DetailSerializer,
        },
    )
    def post(self, request: Request, uid: str) -> Response:
        job = selectors.render_job_get(uid)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        anchors = serializer.validated_data["anchors"]
        return self._new_job(
            lambda: services.scan_anchors_correct(job=job, anchors=anchors, created_by=request.user)
        )


# Candidates -----------------------------------------------------------------------------------


class RenderJobCandidatesApi(APIView):
    @extend_schema(responses={200: CandidateOutputSerializer(many=True), 404: DetailSerializer})
    def get(self, request: Request, uid: str) -> Response:
        job = selectors.render_job_get(uid)
        return Response(
            CandidateOutputSerializer(
                job.candidates.all(), many=True, context={"request": request}
            ).data
        )


class CandidatePrimaryApi(APIView):
    @extend_schema(request=None, responses={200: CandidateOutputSerializer, 404: DetailSerializer})
    def post(self, request: Request, pk: int) -> Response:
        candidate = services.candidate_choose_primary(candidate=selectors.candidate_get(pk))
        return Response(CandidateOutputSerializer(candidate, context={"request": request}).data)


class CandidateShareApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CandidateShareInput"

        shared = serializers.BooleanField(help_text="Show this portrait in the parent's gallery.")

    @extend_schema(
        request=InputSerializer,
        responses={200: CandidateOutputSerializer, 400: DetailSerializer, 404: DetailSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        candidate = selectors.candidate_get(pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            candidate = services.candidate_set_shared(
                candidate=candidate, shared=serializer.validated_data["shared"]
            )
        except ValidationError as exc:
            return bad_request(exc)
        return Response(CandidateOutputSerializer(candidate, context={"request": request}).data)


# Files ----------------------------------------------------------------------------------------

# A file the caller cannot have now: missing, not made yet, or deleted by retention.
_UNAVAILABLE_STATUS = {
    selectors.FileMissing: status.HTTP_404_NOT_FOUND,
    selectors.FileNotReady: status.HTTP_409_CONFLICT,
    selectors.FileGone: status.HTTP_410_GONE,
}
# Print files and reports are made in the background within about a minute.
RETRY_AFTER_SECONDS = 30


def _file_unavailable(exc: selectors.FileUnavailable) -> Response:
    response = Response({"detail": exc.message}, status=_UNAVAILABLE_STATUS[type(exc)])
    if isinstance(exc, selectors.FileNotReady):
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _file_download(stored: selectors.StoredFile) -> FileResponse:
    response = FileResponse(
        stored.handle,
        content_type=stored.content_type,
        as_attachment=True,
        filename=stored.filename,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Each candidate id names one set of files for its life (a re-render makes new ids), but
    # they are one studio's private images: the client may keep them, shared caches may not.
    response["Cache-Control"] = "private, max-age=3600"
    return response


class _FileApi(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        # The body is image bytes, not a rendered representation: a client asking for
        # ``Accept: image/*`` must not get a 406; refusals still go out as JSON.
        return super().perform_content_negotiation(request, force=True)


_FILE_ERRORS = {(code, "application/json"): DetailSerializer for code in (404, 409)}


class CandidateImageApi(_FileApi):
    @extend_schema(
        summary="Download a portrait",
        parameters=[
            OpenApiParameter(
                "size",
                str,
                enum=list(selectors.CANDIDATE_FILE_FIELDS),
                default="web",
                description=(
                    "web: the branded portrait, 1080 px on the long side (JPEG). print: the "
                    "branded print-size file, made in the background for the primary only "
                    "(JPEG; 409 until it exists). full: the render as painted, before the "
                    "brand frame and tag."
                ),
            )
        ],
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
            (400, "application/json"): DetailSerializer,
            **_FILE_ERRORS,
        },
    )
    def get(self, request: Request, pk: int) -> Response | FileResponse:
        size = request.query_params.get("size") or "web"
        if size not in selectors.CANDIDATE_FILE_FIELDS:
            sizes = ", ".join(selectors.CANDIDATE_FILE_FIELDS)
            return Response({"detail": f"Unknown size {size[:20]!r}. Use one of: {sizes}."}, 400)
        candidate = selectors.candidate_get(pk)
        try:
            return _file_download(selectors.candidate_file_open(candidate, size))
        except selectors.FileUnavailable as exc:
            return _file_unavailable(exc)


class RenderJobReportApi(_FileApi):
    @extend_schema(
        summary="Download the scan's vision report",
        description=(
            "The de-identified scan with the face outline and anchor points Cradle found (PNG). "
            "409 while the job has not reached that stage, 404 when the scan was rejected "
            "before it, 410 once the studio's retention window deleted the scan."
        ),
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (410, "application/json"): DetailSerializer,
            **_FILE_ERRORS,
        },
    )
    def get(self, request: Request, uid: str) -> Response | FileResponse:
        job = selectors.render_job_get(uid)
        try:
            return _file_download(selectors.render_job_report_open(job))
        except selectors.FileUnavailable as exc:
            return _file_unavailable(exc)
