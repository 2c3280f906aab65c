"""The studio's REST API for sessions, uploads and jobs (session auth; API keys come later)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from render import selectors, services
from render.models import Candidate, ParentSession, RenderJob
from render.pipeline.types import ScanRejected


class ParentSessionListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        parent_name = serializers.CharField(max_length=120)
        email = serializers.EmailField(required=False, allow_blank=True, default="")
        phone = serializers.CharField(required=False, allow_blank=True, default="")
        consent_given = serializers.BooleanField()
        skin_swatches = serializers.ListField(child=serializers.CharField(), min_length=1, max_length=2)
        style = serializers.CharField(required=False, default="classic")

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = ParentSession
            fields = ["uid", "parent_name", "email", "phone", "consent_at", "target_tone_hex", "style", "created_at"]

    def get(self, request: Request) -> Response:
        sessions = selectors.parent_session_list(search=request.query_params.get("q", ""))[:100]
        return Response(self.OutputSerializer(sessions, many=True).data)

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            session = services.parent_session_create(**serializer.validated_data, created_by=request.user)
        except ValidationError as exc:
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.OutputSerializer(session).data, status=status.HTTP_201_CREATED)


class CandidateOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Candidate
        fields = ["id", "seed", "rank", "score", "score_terms", "rejected_reason", "is_primary", "shared_with_parent"]


class RenderJobOutputSerializer(serializers.ModelSerializer):
    candidates = CandidateOutputSerializer(many=True, read_only=True)
    stage_ms = serializers.SerializerMethodField()

    class Meta:
        model = RenderJob
        fields = ["uid", "state", "reason", "progress", "style", "engine", "stage_ms", "candidates", "created_at"]

    def get_stage_ms(self, job: RenderJob) -> dict[str, float]:
        return job.stage_ms()


class ScanUploadApi(APIView):
    parser_classes = [MultiPartParser]

    def post(self, request: Request, uid: str) -> Response:
        session = selectors.parent_session_get(uid)
        upload = request.FILES.get("scan")
        if upload is None:
            return Response({"detail": "Attach the scan as the 'scan' file field."}, status=400)
        try:
            job = services.scan_upload(session=session, data=upload.read(), uploaded_by=request.user)
        except ScanRejected as exc:
            return Response({"detail": exc.message, "code": exc.code}, status=400)
        except services.RenderNotAllowed as exc:
            return Response({"detail": str(exc), "code": "plan"}, status=402)
        return Response(RenderJobOutputSerializer(job).data, status=status.HTTP_201_CREATED)


class RenderJobDetailApi(APIView):
    def get(self, request: Request, uid: str) -> Response:
        return Response(RenderJobOutputSerializer(selectors.render_job_get(uid)).data)
