"""What every endpoint of the studio API (``/api/``, each app's ``apis.py``) answers alike:
errors as ``{"detail": "…"}`` and lists of at most LIST_LIMIT rows, narrowed by a
``?<field>=`` choice."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

LIST_LIMIT = 100


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


def bad_request(exc: ValidationError) -> Response:
    """A service's refusal as the API's 400."""
    return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)


def filter_by_choice(
    queryset: QuerySet, request: Request, field: str, choices: list[str]
) -> tuple[QuerySet, Response | None]:
    """Narrow ``queryset`` by the ``?<field>=`` query parameter, or a 400 naming the choices."""
    wanted = request.query_params.get(field)
    if not wanted:
        return queryset, None
    if wanted not in choices:
        detail = f"Unknown {field}. Use one of: {', '.join(choices)}."
        return queryset, Response({"detail": detail}, status=400)
    return queryset.filter(**{field: wanted}), None
