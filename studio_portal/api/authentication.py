"""``Authorization: Bearer crd_…`` for the REST API. The key is looked up in the request's own
studio schema, so a key made in one studio is unknown on every other studio's host."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from studio_portal.api.models import ApiKey
from studio_portal.api.services import API_KEY_PREFIX, api_key_digest, api_key_touch

MAX_KEY_LENGTH = 128


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None  # another scheme: let the next authenticator look at it
        raw_key = raw_key.strip()
        if not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) > MAX_KEY_LENGTH:
            raise exceptions.AuthenticationFailed("That is not a Cradle API key.")
        key = (
            ApiKey.objects.select_related("user")
            .filter(digest=api_key_digest(raw_key), revoked_at__isnull=True)
            .first()
        )
        if key is None or not key.user.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key for this studio.")
        api_key_touch(key=key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes the key in the OpenAPI schema (drf-spectacular finds this subclass itself)."""

    target_class = "studio_portal.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "crd_…"}
