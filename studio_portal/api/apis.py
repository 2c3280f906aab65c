"""API keys and outgoing webhooks over the studio API (``/api/keys/``, ``/api/webhooks/``):
a member makes and revokes her own keys (an owner anyone's); only an owner sees and changes the
studio's webhook URLs. The page for both is ``views.api_settings``."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from studio_portal.accounts.models import User
from studio_portal.api import services
from studio_portal.api.models import ApiKey, WebhookDelivery, WebhookEndpoint
from studio_portal.api.responses import LIST_LIMIT, DetailSerializer, bad_request
from studio_portal.api.selectors import api_keys_visible_to
from studio_portal.permissions import IsStudioOwner


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiKeyListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ApiKeyCreateInput"

        name = serializers.CharField(max_length=80)
        username = serializers.CharField(
            required=False, help_text="The member the key acts as (owner only); default: you."
        )

    class CreatedSerializer(ApiKeyOutputSerializer):
        key = serializers.CharField(help_text="Shown once: store it now.")

        class Meta(ApiKeyOutputSerializer.Meta):
            fields = [*ApiKeyOutputSerializer.Meta.fields, "key"]

    @extend_schema(responses=ApiKeyOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ApiKeyOutputSerializer(api_keys_visible_to(request.user), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: CreatedSerializer, 400: DetailSerializer, 403: DetailSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data.get("username") or request.user.username
        user = User.objects.filter(username=username).first()
        if user is None:
            return Response({"detail": f"No member {username!r} in this studio."}, status=400)
        try:
            key, raw_key = services.api_key_create(
                user=user, name=serializer.validated_data["name"], created_by=request.user
            )
        except ValidationError as exc:
            return bad_request(exc)
        data = ApiKeyOutputSerializer(key).data | {"key": raw_key}
        return Response(data, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    @extend_schema(request=None, responses={200: ApiKeyOutputSerializer, 404: DetailSerializer})
    def post(self, request: Request, pk: int) -> Response:
        key = get_object_or_404(api_keys_visible_to(request.user), pk=pk)
        key = services.api_key_revoke(key=key, revoked_by=request.user)
        return Response(ApiKeyOutputSerializer(key).data)


# Webhooks -------------------------------------------------------------------------------------

WEBHOOKS_OWNER_ONLY = "Only the studio's owner can see and change its webhooks."


class WebhookEndpointOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["uid", "url", "events", "secret", "is_active", "created_at"]


class WebhookEndpointListCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsStudioOwner]
    owner_only_message = WEBHOOKS_OWNER_ONLY

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WebhookEndpointCreateInput"

        url = serializers.URLField(max_length=500)
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEndpoint.Event.values), min_length=1
        )

    @extend_schema(
        responses={200: WebhookEndpointOutputSerializer(many=True), 403: DetailSerializer}
    )
    def get(self, request: Request) -> Response:
        endpoints = WebhookEndpoint.objects.all()
        return Response(WebhookEndpointOutputSerializer(endpoints, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: WebhookEndpointOutputSerializer,
            400: DetailSerializer,
            403: DetailSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint = services.webhook_endpoint_create(
                **serializer.validated_data, actor=request.user
            )
        except ValidationError as exc:
            return bad_request(exc)
        return Response(
            WebhookEndpointOutputSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )


class WebhookEndpointDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsStudioOwner]
    owner_only_message = WEBHOOKS_OWNER_ONLY

    class DeliveryOutputSerializer(serializers.ModelSerializer):
        class Meta:
            ref_name = "WebhookDeliveryOutput"
            model = WebhookDelivery
            fields = [
                "uid",
                "event",
                "status",
                "attempts",
                "last_status_code",
                "last_error",
                "created_at",
                "delivered_at",
            ]

    @extend_schema(
        responses={
            200: inline_serializer(
                "WebhookEndpointWithDeliveries",
                {
                    "endpoint": WebhookEndpointOutputSerializer(),
                    "deliveries": DeliveryOutputSerializer(many=True),
                },
            ),
            403: DetailSerializer,
            404: DetailSerializer,
        }
    )
    def get(self, request: Request, uid: str) -> Response:
        endpoint = get_object_or_404(WebhookEndpoint, uid=uid)
        deliveries = endpoint.deliveries.all()[:LIST_LIMIT]
        return Response(
            {
                "endpoint": WebhookEndpointOutputSerializer(endpoint).data,
                "deliveries": self.DeliveryOutputSerializer(deliveries, many=True).data,
            }
        )

    @extend_schema(responses={204: None, 403: DetailSerializer, 404: DetailSerializer})
    def delete(self, request: Request, uid: str) -> Response:
        endpoint = get_object_or_404(WebhookEndpoint, uid=uid)
        services.webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
