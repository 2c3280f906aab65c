"""Where a studio, and Cradle itself, answer on the web: the base of every link Cradle sends."""

from __future__ import annotations

from django.conf import settings

from studio_portal.tenants.models import Domain, Studio
from studio_portal.tenants.selectors import current_studio


def studio_base_url(studio: Studio | None = None) -> str:
    """The studio's own address (the current studio's when none is named), for every link made
    for its people: parents' gallery links and messages, invitations, password resets, the
    owner's emails, the sign-in finder.

    Its custom domain once proven (a studio's only non-primary Domain row, made when
    ``custom_domain_verify`` finds the TXT record: it is the white-label studio's address),
    else its Cradle subdomain (the primary row), else the subdomain its schema name gives.
    """
    studio = studio or current_studio()
    # False sorts before True: the proven custom domain, then the Cradle subdomain.
    domain = Domain.objects.filter(tenant=studio).order_by("is_primary").first()
    host = domain.domain if domain else f"{studio.schema_name}.{settings.CRADLE_BASE_DOMAIN}"
    port = f":{settings.CRADLE_PUBLIC_PORT}" if settings.CRADLE_PUBLIC_PORT else ""
    return f"{settings.CRADLE_PUBLIC_URL_SCHEME}://{host}{port}"


def platform_base_url() -> str:
    """Cradle's own address (the public host): where providers post every studio's webhooks."""
    port = f":{settings.CRADLE_PUBLIC_PORT}" if settings.CRADLE_PUBLIC_PORT else ""
    return f"{settings.CRADLE_PUBLIC_URL_SCHEME}://{settings.CRADLE_BASE_DOMAIN}{port}"
