"""The brand kit over REST: GET and PATCH for the studio owner, and the studio's reference
photos (list, add with consent, delete)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors import studio_is_white_label
from branding import services
from branding.fonts import font_choices
from branding.models import BrandKit, ReferencePortrait
from branding.selectors import brand_kit_get, reference_portraits
from studio_portal.permissions import IsStudioOwner
from studio_portal.tenants.selectors import current_studio, custom_domain_status


class BrandKitApi(APIView):
    permission_classes = [IsAuthenticated, IsStudioOwner]
    owner_only_message = services.OWNER_ONLY
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        # FileField, not ImageField: the logo's real checks (format sniffing, animation, pixel
        # bombs, SVG) are in overlay.validate_logo, reached through the service.
        logo = serializers.FileField(required=False, allow_null=True, allow_empty_file=True)
        primary_hex = serializers.CharField(required=False, max_length=16)
        accent_hex = serializers.CharField(required=False, max_length=16)
        font = serializers.CharField(required=False, max_length=32)
        frame = serializers.CharField(required=False, max_length=32)
        caption = serializers.CharField(required=False, allow_blank=True, max_length=400)
        style_tokens = serializers.ListField(
            child=serializers.CharField(allow_blank=True, max_length=200),
            required=False,
            max_length=50,
        )
        custom_domain = serializers.CharField(required=False, allow_blank=True, max_length=300)

        def validate(self, attrs: dict) -> dict:
            # A field this API does not know (say "show_tag": false) is an error, never ignored.
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    f"These settings don't exist: {', '.join(unknown)}."
                )
            return attrs

    class OutputSerializer(serializers.Serializer):
        primary_hex = serializers.CharField()
        accent_hex = serializers.CharField()
        font = serializers.CharField()
        frame = serializers.CharField()
        caption = serializers.CharField()
        style_tokens = serializers.ListField(child=serializers.CharField())
        custom_domain = serializers.CharField()
        has_logo = serializers.SerializerMethodField()
        updated_at = serializers.DateTimeField()

        def get_has_logo(self, kit: BrandKit) -> bool:
            return bool(kit.logo)

    def _payload(self, kit: BrandKit) -> dict:
        studio = current_studio()
        white_label = studio_is_white_label(studio)
        domain = custom_domain_status(studio, kit.custom_domain)
        return {
            **self.OutputSerializer(kit).data,
            # "pending" until the TXT record below is found (POST api/domain/verify/); only an
            # "active" domain serves the galleries and appears in the parents' links.
            "custom_domain_status": ("active" if domain.active else "pending") if domain else "",
            "custom_domain_dns_record": {
                "type": "TXT",
                "name": domain.record_name,
                "value": domain.record_value,
            }
            if domain and not domain.active
            else None,
            "plan": studio.plan,
            # Derived from the plan, never settable: the API shows it so integrators know.
            "cradle_mark": not white_label,
            "custom_domain_allowed": white_label,
            "choices": {
                "font": [key for key, _ in font_choices()],
                "frame": list(BrandKit.Frame.values),
            },
            "preview_url": "/branding/preview.jpg",
        }

    def get(self, request: Request) -> Response:
        return Response(self._payload(brand_kit_get()))

    def patch(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        try:
            if changes.get("logo") is not None:
                changes["logo"] = services.logo_upload_read(changes["logo"])
            kit = services.brand_kit_update(kit=brand_kit_get(), actor=request.user, **changes)
        except ValidationError as error:
            return _validation_response(error)
        return Response(self._payload(kit))


class BrandKitDomainVerifyApi(APIView):
    """Look for the custom domain's TXT record now; 200 with the brand kit once it is active."""

    permission_classes = [IsAuthenticated, IsStudioOwner]
    owner_only_message = services.OWNER_ONLY

    def post(self, request: Request) -> Response:
        kit = brand_kit_get()
        try:
            services.brand_kit_custom_domain_verify(kit=kit, actor=request.user)
        except ValidationError as error:
            return _validation_response(error)
        return Response(BrandKitApi()._payload(kit))


class ReferencePortraitOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    consent_note = serializers.CharField()
    consented_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    image_url = serializers.SerializerMethodField()

    def get_image_url(self, reference: ReferencePortrait) -> str:
        url = reverse("reference-portrait-image", args=[reference.pk])
        return self.context["request"].build_absolute_uri(url)


def _validation_response(error: ValidationError) -> Response:
    errors = error.message_dict if hasattr(error, "error_dict") else {}
    return Response(
        {"detail": " ".join(error.messages), "errors": errors},
        status=status.HTTP_400_BAD_REQUEST,
    )


class ReferencePortraitListApi(APIView):
    """The studio's reference photos (its house look); the owner adds them with consent."""

    permission_classes = [IsAuthenticated, IsStudioOwner]
    owner_only_message = services.OWNER_ONLY
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        image = serializers.FileField(allow_empty_file=True)
        consent = serializers.BooleanField(
            help_text="The parents agreed in writing that this photo may be a style reference."
        )
        consent_note = serializers.CharField(required=False, allow_blank=True, max_length=400)

    def get(self, request: Request) -> Response:
        return Response(
            ReferencePortraitOutputSerializer(
                reference_portraits(), many=True, context={"request": request}
            ).data
        )

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            reference = services.reference_portrait_add(
                actor=request.user,
                data=services.reference_upload_read(data["image"]),
                consent=data["consent"],
                consent_note=data.get("consent_note", ""),
            )
        except ValidationError as error:
            return _validation_response(error)
        output = ReferencePortraitOutputSerializer(reference, context={"request": request})
        return Response(output.data, status=status.HTTP_201_CREATED)


class ReferencePortraitDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsStudioOwner]
    owner_only_message = services.OWNER_ONLY

    def get(self, request: Request, pk: int) -> Response:
        reference = get_object_or_404(ReferencePortrait, pk=pk)
        return Response(
            ReferencePortraitOutputSerializer(reference, context={"request": request}).data
        )

    def delete(self, request: Request, pk: int) -> Response:
        reference = get_object_or_404(ReferencePortrait, pk=pk)
        services.reference_portrait_delete(actor=request.user, reference=reference)
        return Response(status=status.HTTP_204_NO_CONTENT)
