from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from studio_portal.accounts.models import User
from studio_portal.tenants.models import Domain, Studio

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
    """The demo studio with an owner and a sonographer; their passwords are kept in
    ``credentials_file`` so running the seed twice prints the same logins."""
    public_tenant_ensure()
    credentials = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    if not credentials:
        credentials = {
            "owner": "owner",
            "owner_password": secrets.token_urlsafe(9),
            "sonographer": "sonographer",
            "sonographer_password": secrets.token_urlsafe(9),
        }
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(json.dumps(credentials))
        credentials_file.chmod(0o600)
    studio = Studio.objects.filter(schema_name=DEMO_SUBDOMAIN).first()
    if studio is None:
        studio = studio_create(
            name="Little Light Studio (demo)",
            subdomain=DEMO_SUBDOMAIN,
            owner_username=credentials["owner"],
            owner_email="owner@demo.example",
            owner_password=credentials["owner_password"],
        )
    with schema_context(studio.schema_name):
        owner = User.objects.get(username=credentials["owner"])
        owner.set_password(credentials["owner_password"])
        owner.save()
        sonographer, _ = User.objects.get_or_create(
            username=credentials["sonographer"],
            defaults={"email": "sonographer@demo.example", "role": User.Role.SONOGRAPHER},
        )
        sonographer.set_password(credentials["sonographer_password"])
        sonographer.save()
    return studio, credentials
