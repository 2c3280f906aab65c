"""Galleries and their deliveries over the studio API (``/api/galleries/``,
``/api/deliveries/``): list, make and send a job's gallery, and follow each message. The same
services as the studio's pages; errors and lists as every studio endpoint
(``studio_portal.api.responses``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from galleries.models import Delivery, Gallery
from galleries.services import gallery as gallery_services
from galleries.services import sending
from render.selectors import render_job_get
from studio_portal.api.responses import LIST_LIMIT, DetailSerializer, bad_request, filter_by_choice


class DeliveryOutputSerializer(serializers.ModelSerializer):
    gallery = serializers.UUIDField(source="gallery.uid", read_only=True)
    job = serializers.UUIDField(source="gallery.job.uid", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "gallery",
            "job",
            "channel",
            "recipient",
            "status",
            "provider_status",
            "error",
            "attempts",
            "created_at",
            "updated_at",
        ]


class GalleryOutputSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job.uid", read_only=True)
    url = serializers.SerializerMethodField()
    deliveries = DeliveryOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Gallery
        fields = [
            "uid",
            "job",
            "url",
            "has_pin",
            "expires_at",
            "opens",
            "downloads",
            "shares",
            "last_opened_at",
            "deliveries",
            "created_at",
        ]

    def get_url(self, gallery: Gallery) -> str:
        """The parent's private link (contains the gallery's secret token)."""
        return gallery_services.gallery_url(gallery)


def _gallery_queryset() -> QuerySet[Gallery]:
    return Gallery.objects.select_related("job").prefetch_related("deliveries__gallery__job")


class GalleryListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GalleryCreateInput"

        job = serializers.UUIDField(help_text="The ready job whose portraits the gallery shows.")
        pin = serializers.RegexField(
            r"^\d{4,8}$",
            required=False,
            allow_blank=True,
            default="",
            error_messages={"invalid": "A gallery PIN is 4 to 8 digits."},
        )
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(responses=GalleryOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        galleries = _gallery_queryset().order_by("-created_at")[:LIST_LIMIT]
        return Response(GalleryOutputSerializer(galleries, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: GalleryOutputSerializer, 400: DetailSerializer, 404: DetailSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = render_job_get(data["job"])
        try:
            gallery = gallery_services.gallery_create(
                job=job, pin=data["pin"], expires_at=data["expires_at"]
            )
        except ValidationError as exc:
            return bad_request(exc)
        gallery = _gallery_queryset().get(pk=gallery.pk)
        return Response(GalleryOutputSerializer(gallery).data, status=status.HTTP_201_CREATED)


class GalleryDetailApi(APIView):
    @extend_schema(responses={200: GalleryOutputSerializer, 404: DetailSerializer})
    def get(self, request: Request, uid: str) -> Response:
        return Response(
            GalleryOutputSerializer(get_object_or_404(_gallery_queryset(), uid=uid)).data
        )


class GallerySendApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GallerySendInput"

        channels = serializers.ListField(
            child=serializers.ChoiceField(choices=Delivery.Channel.values),
            min_length=1,
            max_length=2,
            help_text="email, sms or both: the parent's address and number from her session.",
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            202: DeliveryOutputSerializer(many=True),
            400: DetailSerializer,
            404: DetailSerializer,
        },
    )
    def post(self, request: Request, uid: str) -> Response:
        gallery = get_object_or_404(_gallery_queryset(), uid=uid)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            deliveries = sending.gallery_send(
                job=gallery.job,
                channels=sorted(set(serializer.validated_data["channels"])),
                actor=request.user,
            )
        except ValidationError as exc:
            return bad_request(exc)
        return Response(
            DeliveryOutputSerializer(deliveries, many=True).data, status=status.HTTP_202_ACCEPTED
        )


def _delivery_queryset() -> QuerySet[Delivery]:
    return Delivery.objects.select_related("gallery__job").order_by("-created_at")


class DeliveryListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Delivery.Status.values),
        ],
        responses={200: DeliveryOutputSerializer(many=True), 400: DetailSerializer},
    )
    def get(self, request: Request) -> Response:
        deliveries, refusal = filter_by_choice(
            _delivery_queryset(), request, "status", Delivery.Status.values
        )
        if refusal:
            return refusal
        return Response(DeliveryOutputSerializer(deliveries[:LIST_LIMIT], many=True).data)


class DeliveryDetailApi(APIView):
    @extend_schema(responses={200: DeliveryOutputSerializer, 404: DetailSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return Response(
            DeliveryOutputSerializer(get_object_or_404(_delivery_queryset(), pk=pk)).data
        )
