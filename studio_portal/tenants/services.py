from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from studio_portal.accounts.models import User
from studio_portal.tenants import dns
from studio_portal.tenants.models import Domain, DomainClaim, Studio
from studio_portal.tenants.selectors import domain_challenge

SUBDOMAIN_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
RESERVED = {"public", "www", "admin", "api", "app", "mail", "static", "cradle"}


def studio_create(
    *,
    name: str,
    subdomain: str,
    owner_username: str,
    owner_email: str,
    owner_password: str,
    plan: str = Studio.Plan.PILOT,
) -> Studio:
    """Create the studio's schema (migrated), its domain and its owner. Slow: seconds."""
    if not SUBDOMAIN_RE.match(subdomain) or subdomain in RESERVED:
        raise ValidationError(
            "The subdomain must be 3–32 lowercase letters, digits or dashes "
            "and start with a letter."
        )
    schema_name = subdomain.replace("-", "_")
    if Studio.objects.filter(schema_name=schema_name).exists():
        raise ValidationError("That subdomain is taken.")
    # Not atomic: creating the schema runs its migrations, which django-tenants does outside
    # the caller's transaction. A failure after it drops the schema again instead.
    studio = Studio.objects.create(schema_name=schema_name, name=name, plan=plan)
    try:
        Domain.objects.create(
            domain=f"{subdomain}.{settings.CRADLE_BASE_DOMAIN}", tenant=studio, is_primary=True
        )
        _owner_create(studio, owner_username, owner_email, owner_password)
    except Exception:
        studio.delete(force_drop=True)
        raise
    return studio


def _owner_create(studio: Studio, username: str, email: str, password: str) -> None:
    with schema_context(studio.schema_name):
        User.objects.create_user(
            username=username, email=email, password=password, role=User.Role.OWNER
        )


def public_tenant_ensure() -> Studio:
    """The public schema's row and Cradle's own domain; safe to call on every start."""
    studio, _ = Studio.objects.get_or_create(
        schema_name="public", defaults={"name": "Cradle", "plan": Studio.Plan.STUDIO}
    )
    Domain.objects.get_or_create(
        domain=settings.CRADLE_BASE_DOMAIN, defaults={"tenant": studio, "is_primary": True}
    )
    return studio


DEMO_SUBDOMAIN = "demo"


def demo_studio_ensure(credentials_file: Path) -> tuple[Studio, dict[str, str]]:
    """The demo studio with an owner and a sonographer; their first passwords are kept in
    ``credentials_file`` so running the seed twice prints the same logins.

    A member who already exists keeps her password (and so her sessions): only a member this
    call creates gets the saved one. The returned credentials say ``None`` for a password that
    cannot be told (the member exists but the file that held it is gone).
    """
    public_tenant_ensure()
    saved = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    credentials = {
        "owner": saved.get("owner", "owner"),
        "owner_password": saved.get("owner_password"),
        "sonographer": saved.get("sonographer", "sonographer"),
        "sonographer_password": saved.get("sonographer_password"),
    }
    studio = Studio.objects.filter(schema_name=DEMO_SUBDOMAIN).first()
    members = (
        ("owner", "owner@demo.example", User.Role.OWNER),
        ("sonographer", "sonographer@demo.example", User.Role.SONOGRAPHER),
    )
    existing: set[str] = set()
    if studio is not None:
        with schema_context(studio.schema_name):
            usernames = [credentials[key] for key, _, _ in members]
            users = User.objects.filter(username__in=usernames)
            existing = set(users.values_list("username", flat=True))
    for key, _, _ in members:
        if credentials[key] not in existing and not credentials[f"{key}_password"]:
            credentials[f"{key}_password"] = secrets.token_urlsafe(9)
    if studio is None:
        studio = studio_create(
            name="Little Light Studio (demo)",
            subdomain=DEMO_SUBDOMAIN,
            owner_username=credentials["owner"],
            owner_email="owner@demo.example",
            owner_password=credentials["owner_password"],
        )
    with schema_context(studio.schema_name):
        for key, email, role in members:
            user, created = User.objects.get_or_create(
                username=credentials[key], defaults={"email": email, "role": role}
            )
            if created:
                user.set_password(credentials[f"{key}_password"])
                user.save(update_fields=["password"])
    if credentials != saved and all(credentials.values()):
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(json.dumps(credentials))
        credentials_file.chmod(0o600)
    return studio, credentials


# Throwaway studios ----------------------------------------------------------------------------

THROWAWAY_STALE_AFTER = timedelta(hours=6)


@contextmanager
def studio_throwaway(*, prefix: str, name: str) -> Iterator[Studio]:
    """A studio of its own for a command that must not write into anyone's (benchmarks,
    ``render_scan``): made with a random subdomain ``<prefix>-<hex>`` on the Studio plan (no
    cap, nothing counted against a pilot) and dropped afterwards with its schema and files,
    even when the command fails. Studios left by a run that was killed outright are dropped by
    the next run once they are older than ``THROWAWAY_STALE_AFTER``."""
    throwaway_studios_drop(prefix=prefix, older_than=THROWAWAY_STALE_AFTER)
    public_tenant_ensure()
    studio = studio_create(
        name=name,
        subdomain=f"{prefix}-{secrets.token_hex(4)}",
        owner_username="owner",
        owner_email=f"owner@{prefix}.example",
        owner_password=secrets.token_urlsafe(24),
        plan=Studio.Plan.STUDIO,
    )
    try:
        yield studio
    finally:
        _studio_drop(studio)


def throwaway_studios_drop(*, prefix: str, older_than: timedelta | None = None) -> int:
    """Drop the throwaway studios made with ``prefix`` (only those older than ``older_than``:
    a younger one may belong to a run still going)."""
    studios = Studio.objects.filter(schema_name__startswith=f"{prefix.replace('-', '_')}_")
    if older_than is not None:
        studios = studios.filter(created_at__lt=timezone.now() - older_than)
    dropped = 0
    for studio in studios:
        _studio_drop(studio)
        dropped += 1
    return dropped


def _studio_drop(studio: Studio) -> None:
    connection.set_schema_to_public()  # type: ignore[attr-defined]  # django-tenants' wrapper
    if connection.in_atomic_block:
        # Inside a caller's transaction (a test) deferred constraint checks are still pending,
        # and PostgreSQL will not drop tables with pending trigger events.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    schema_name = studio.schema_name
    DomainClaim.objects.filter(studio=studio).delete()
    # A throwaway studio's portraits were never anyone's: their watermark records go with it
    # (a real studio that leaves keeps them, nameless: verification.PortraitMark).
    studio.portrait_marks.all().delete()
    studio.delete(force_drop=True)
    media = Path(settings.MEDIA_ROOT) / schema_name
    if media.is_dir():
        shutil.rmtree(media, ignore_errors=True)


# Custom domains -------------------------------------------------------------------------------


def custom_domain_unavailable_reason(domain: str, *, studio: Studio) -> str:
    """Why ``studio`` may not claim ``domain`` now ("" when it may): another studio serves it,
    or released it less than CUSTOM_DOMAIN_HOLD_DAYS ago (its parents' old links must not open
    someone else's studio)."""
    if Domain.objects.filter(domain=domain).exclude(tenant=studio).exists():
        return f"{domain} is already connected to another studio."
    now = timezone.now()
    # A deleted studio's domain was released when it went; its hold starts when first asked.
    DomainClaim.objects.filter(
        domain=domain, studio__isnull=True, verified_at__isnull=False, released_at__isnull=True
    ).update(released_at=now)
    hold = timedelta(days=settings.CUSTOM_DOMAIN_HOLD_DAYS)
    held = (
        DomainClaim.objects.filter(
            domain=domain, verified_at__isnull=False, released_at__gt=now - hold
        )
        .exclude(studio=studio)
        .order_by("-released_at")
        .first()
    )
    if held is not None and held.released_at is not None:  # filtered on released_at above
        free_from = (held.released_at + hold).date().isoformat()
        return (
            f"{domain} was connected to another studio until recently; so that its old links "
            f"do not open your studio, it can be connected from {free_from}."
        )
    return ""


@transaction.atomic
def custom_domain_claim(*, studio: Studio, domain: str) -> DomainClaim:
    """Start (or keep) the studio's claim on ``domain``: nothing is served there until
    ``custom_domain_verify`` finds the TXT record."""
    reason = custom_domain_unavailable_reason(domain, studio=studio)
    if reason:
        raise ValidationError(reason)
    claim = DomainClaim.objects.filter(studio=studio, domain=domain, released_at__isnull=True)
    return claim.first() or DomainClaim.objects.create(
        studio=studio, domain=domain, token=secrets.token_urlsafe(24)
    )


@transaction.atomic
def custom_domain_release(*, studio: Studio, domain: str) -> None:
    """Stop serving ``domain`` for the studio; a verified claim keeps holding it for a while."""
    Domain.objects.filter(tenant=studio, domain=domain, is_primary=False).delete()
    DomainClaim.objects.filter(studio=studio, domain=domain, released_at__isnull=True).update(
        released_at=timezone.now()
    )


def custom_domain_verify(*, studio: Studio, domain: str) -> DomainClaim:
    """Look for the claim's TXT record; when it is there, the domain serves the studio.

    Raises ValidationError saying what to do when the record is missing or DNS is away."""
    claim = DomainClaim.objects.filter(
        studio=studio, domain=domain, released_at__isnull=True
    ).first()
    if claim is None:
        raise ValidationError(f"{domain} is not your studio's custom domain; save it first.")
    if claim.verified_at is not None:
        return claim
    name, value = domain_challenge(claim)
    try:
        found = value in dns.txt_records(name)  # outside the transaction: DNS may take seconds
    except dns.DnsUnavailable:
        raise ValidationError(
            "DNS did not answer just now, so Cradle could not check the record. Try again in "
            "a few minutes."
        ) from None
    if not found:
        raise ValidationError(
            f"Cradle could not find a TXT record named {name} with the value {value} yet. Add "
            "it at your domain's DNS provider (changes can take up to an hour to show), then "
            "check again."
        )
    with transaction.atomic():
        # Every claim on the domain locked: two studios proving it at once cannot both win.
        list(DomainClaim.objects.select_for_update().filter(domain=domain))
        reason = custom_domain_unavailable_reason(domain, studio=studio)
        if reason:
            raise ValidationError(reason)
        Domain.objects.get_or_create(
            domain=domain, defaults={"tenant": studio, "is_primary": False}
        )
        claim.verified_at = timezone.now()
        claim.save(update_fields=["verified_at"])
    return claim
