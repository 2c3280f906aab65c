from dataclasses import dataclass

from django.conf import settings
from django_tenants.utils import get_public_schema_name

from studio_portal.tenants.models import Domain, DomainClaim, Studio

# The proof a studio holds a custom domain: a TXT record at this name under the domain, holding
# "cradle-verify=<the claim's token>".
DOMAIN_CHALLENGE_LABEL = "_cradle-challenge"


def studio_schema_names() -> list[str]:
    """Every studio's schema (not the public one), for jobs that sweep all tenants."""
    return list(Studio.objects.exclude(schema_name="public").values_list("schema_name", flat=True))


def current_studio() -> Studio:
    """The studio whose schema the connection is in (a request's tenant or a schema_context)."""
    from django.db import connection

    tenant = connection.tenant
    if isinstance(tenant, Studio):
        return tenant
    # schema_context() sets a placeholder tenant that carries only the schema name.
    return Studio.objects.get(schema_name=connection.schema_name)


def studio_base_url(studio: Studio) -> str:
    """The studio's own address, for every link made for its people: parents' gallery links,
    messages and invitations, password resets, the owner's emails, the sign-in finder.

    Its custom domain once proven (a studio's only non-primary Domain row, made when
    ``custom_domain_verify`` finds the TXT record: it is the white-label studio's address),
    else its Cradle subdomain (the primary row), else the subdomain its schema name gives.
    """
    # False sorts before True: the proven custom domain, then the Cradle subdomain.
    domain = Domain.objects.filter(tenant=studio).order_by("is_primary").first()
    host = domain.domain if domain else f"{studio.schema_name}.{settings.CRADLE_BASE_DOMAIN}"
    port = f":{settings.CRADLE_PUBLIC_PORT}" if settings.CRADLE_PUBLIC_PORT else ""
    return f"{settings.CRADLE_PUBLIC_URL_SCHEME}://{host}{port}"


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
