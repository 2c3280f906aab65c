"""The OpenAPI document covers the REST API only (the pages and provider webhooks are not
part of the contract studios integrate with)."""

from __future__ import annotations

API_PREFIX = "/api/"


def only_api_endpoints(endpoints: list[tuple], **kwargs: object) -> list[tuple]:
    """drf-spectacular preprocessing hook: keep the paths under /api/."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(API_PREFIX)]
