"""``POST /api/verify/`` on Cradle's own host: the check page's answer as JSON, for anyone.

Send the image as multipart form field ``image``. No key, no session: the answer is public, and
so is the limit (per client address, shared with the page).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from branding.provenance import TAG_TEXT
from verification.selectors import ImageOrigin, VerifyRefused
from verification.uploads import bounded_upload_handler, declared_too_large, too_large_sentence
from verification.views import origin_check


class VerifyApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # limited per address with the page (PAGE_RATE_LIMITS)
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        image = serializers.FileField(help_text="The image to check: JPEG, PNG or WEBP.")

    class OutputSerializer(serializers.Serializer):
        cradle = serializers.BooleanField(help_text="A Cradle artistic interpretation.")
        found_by = serializers.ChoiceField(
            choices=["manifest", "watermark", ""],
            help_text="Its signed C2PA manifest, the watermark in its pixels, or nothing.",
        )
        studio = serializers.CharField(allow_null=True, source="studio_name")
        made_on = serializers.DateField(allow_null=True)
        kind = serializers.CharField(allow_null=True)
        mark_id = serializers.CharField(allow_null=True, source="mark_hex")
        tag = serializers.SerializerMethodField()
        detail = serializers.CharField(source="summary")

        def get_tag(self, origin: ImageOrigin) -> str | None:
            return TAG_TEXT if origin.cradle else None

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        if declared_too_large(request._request):
            return Response({"detail": too_large_sentence()}, status=413)
        # Set on the Django request before DRF's parser reads the body (request.data).
        handler = bounded_upload_handler(request._request)
        serializer = self.InputSerializer(data=request.data)
        if handler.too_large:
            return Response({"detail": too_large_sentence()}, status=413)
        serializer.is_valid(raise_exception=True)
        try:
            origin = origin_check(serializer.validated_data["image"].read())
        except VerifyRefused as refused:
            return Response({"detail": refused.message}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.OutputSerializer(origin).data)
