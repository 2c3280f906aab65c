from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django_tenants.utils import get_public_schema_name

from studio_portal.tenants.models import Domain, DomainClaim, Studio

# The proof a studio holds a custom domain: a TXT record at this name under the domain, holding
# "cradle-verify=<the claim's token>".
DOMAIN_CHALLENGE_LABEL = "_cradle-challenge"


def studio_schema_names() -> list[str]:
    """Every studio's schema (not the public one), for jobs that sweep all tenants."""
    return list(Studio.objects.exclude(schema_name="public").values_list("schema_name", flat=True))


def current_schema_name() -> str:
    """The schema the connection is in (a request's tenant or a schema_context)."""
    return connection.schema_name  # type: ignore[attr-defined]  # django-tenants


def current_studio() -> Studio:
    """The studio whose schema the connection is in (a request's tenant or a schema_context)."""
    tenant = connection.tenant
    if isinstance(tenant, Studio):
        return tenant
    # schema_context() sets a placeholder tenant that carries only the schema name.
    return Studio.objects.get(schema_name=connection.schema_name)


def studio_retention_days(studio: Studio) -> int:
    """The studio's scan window: its own setting, never more than the platform maximum."""
    maximum = settings.SCAN_RETENTION_DAYS_MAX
    days = studio.retention_days or maximum
    return max(1, min(days, maximum))


def domain_challenge(claim: DomainClaim) -> tuple[str, str]:
    """The TXT record (name, value) the studio publishes to prove it holds the domain."""
    return f"{DOMAIN_CHALLENGE_LABEL}.{claim.domain}", f"cradle-verify={claim.token}"


@dataclass(frozen=True)
class CustomDomainStatus:
    domain: str
    active: bool  # proven: it serves the studio's galleries and its links use it
    record_name: str  # the TXT record still to publish while not active
    record_value: str


def custom_domain_status(studio: Studio, domain: str) -> CustomDomainStatus | None:
    if not domain:
        return None
    claim = DomainClaim.objects.filter(
        studio=studio, domain=domain, released_at__isnull=True
    ).first()
    if claim is None:
        return None
    name, value = domain_challenge(claim)
    return CustomDomainStatus(domain, claim.verified_at is not None, name, value)


def studio_for_address(address: str) -> Studio | None:
    """The studio a person means by its address: "moonbeam", "moonbeam.<base domain>", a custom
    domain, or a whole URL copied from the browser. None for the public schema or no match."""
    text = address.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.split("/", 1)[0].split(":", 1)[0].strip(".")
    if not host:
        return None
    candidates = [host] if "." in host else [f"{host}.{settings.CRADLE_BASE_DOMAIN}"]
    domain = (
        Domain.objects.select_related("tenant")
        .filter(domain__in=candidates)
        .exclude(tenant__schema_name=get_public_schema_name())
        .first()
    )
    return domain.tenant if domain else None
