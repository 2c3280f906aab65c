"""``/api/engine/``: the studio's portrait engine, read by any member, chosen by an owner.

Choosing ``hosted`` is the studio's opt-in to the hosted provider; the answer carries the
consent text's version new sessions record and the sentence that names the provider.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from render import engine_choice
from studio_portal.permissions import IsStudioOwner
from studio_portal.tenants.selectors import current_studio


class StudioEngineApi(APIView):
    owner_only_message = "Only the studio's owners can choose the portrait engine."

    def get_permissions(self) -> list[BasePermission]:
        # Any member reads the engine; only an owner chooses it.
        permissions = super().get_permissions()
        if self.request.method == "PUT":
            permissions.append(IsStudioOwner())
        return permissions

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StudioEngineInput"

        engine = serializers.CharField(
            allow_blank=True,
            help_text='One of "configured" (the engines this server runs), or "" for the '
            'operator\'s default. "hosted" opts the studio in to the hosted provider.',
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StudioEngine"

        chosen = serializers.CharField(help_text='The studio\'s choice; "" is the default.')
        engine = serializers.CharField(help_text="The engine new sessions render with.")
        configured = serializers.ListField(
            child=serializers.CharField(), help_text="The engines this server runs."
        )
        consent_version = serializers.CharField(
            help_text="The consent text's version new sessions record."
        )
        hosted_consent = serializers.CharField(
            help_text="The consent sentence naming the hosted provider, when it is in use."
        )

    def _answer(self) -> Response:
        studio = current_studio()
        engine = engine_choice.studio_engine(studio)
        data = {
            "chosen": studio.render_engine,
            "engine": engine,
            "configured": engine_choice.configured_engines(),
            "consent_version": engine_choice.consent_version(studio),
            "hosted_consent": (
                engine_choice.HOSTED_CONSENT_TEXT if engine == engine_choice.HOSTED else ""
            ),
        }
        return Response(self.OutputSerializer(data).data)

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        """The studio's portrait engine and the engines it may choose."""
        return self._answer()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def put(self, request: Request) -> Response:
        """Choose the portrait engine (owners only)."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        engine_choice.studio_render_engine_set(
            studio=current_studio(),
            engine=data.validated_data["engine"],
            changed_by=request.user,
        )
        return self._answer()
