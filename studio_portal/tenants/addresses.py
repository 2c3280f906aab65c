"""Where a studio, and Cradle itself, answer on the web: the base of every link Cradle sends."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from studio_portal.tenants.models import Domain, Studio
from studio_portal.tenants.selectors import current_studio


def studio_base_url() -> str:
    """The current studio's own address (custom domain first, then its Cradle subdomain)."""
    domain = Domain.objects.filter(tenant=current_studio()).order_by("is_primary").first()
    host = domain.domain if domain else f"{connection.schema_name}.{settings.CRADLE_BASE_DOMAIN}"
    port = f":{settings.CRADLE_PUBLIC_PORT}" if settings.CRADLE_PUBLIC_PORT else ""
    return f"{settings.CRADLE_PUBLIC_URL_SCHEME}://{host}{port}"


def studio_cradle_base_url(studio: Studio) -> str:
    """The studio's address on Cradle (its primary domain: the subdomain it signed up with),
    for links made outside its requests (the welcome email, signup, the studio finder)."""
    domain = Domain.objects.filter(tenant=studio).order_by("-is_primary").first()
    host = domain.domain if domain else f"{studio.schema_name}.{settings.CRADLE_BASE_DOMAIN}"
    port = f":{settings.CRADLE_PUBLIC_PORT}" if settings.CRADLE_PUBLIC_PORT else ""
    return f"{settings.CRADLE_PUBLIC_URL_SCHEME}://{host}{port}"


def platform_base_url() -> str:
    """Cradle's own address (the public host): where providers post every studio's webhooks."""
    port = f":{settings.CRADLE_PUBLIC_PORT}" if settings.CRADLE_PUBLIC_PORT else ""
    return f"{settings.CRADLE_PUBLIC_URL_SCHEME}://{settings.CRADLE_BASE_DOMAIN}{port}"
