"""One error shape for the API: ``{"detail": "…"}`` a person can act on, never a stack trace."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ValidationError):
        # A service refused the input: the same 400 a serializer would give.
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        # Field errors keep their per-field lists and gain one readable sentence.
        sentences = [
            f"{field}: {' '.join(str(m) for m in messages)}"
            if isinstance(messages, list)
            else f"{field}: {messages}"
            for field, messages in response.data.items()
        ]
        response.data = {"detail": " ".join(sentences), "errors": response.data}
    return response
