"""The mark id every delivered file carries, issued through the register that owns it.

The register of marks (``verification.PortraitMark``) belongs to the public check, which sits
above branding: verification hands its issuer in when Django starts
(``VerificationConfig.ready``), so branding, which writes the mark into the pixels, never
imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:  # models cannot load before the app registry, which imports this module
    from studio_portal.tenants.models import Studio


class IssuedMark(Protocol):
    @property
    def mark_id(self) -> int: ...


class MarkIssuer(Protocol):
    def __call__(self, *, studio: Studio, kind: str, source: str = "") -> IssuedMark: ...


_issuer: MarkIssuer | None = None


def mark_issuer_set(issuer: MarkIssuer) -> None:
    global _issuer
    _issuer = issuer


def portrait_mark_issue(*, studio: Studio, kind: str, source: str = "") -> IssuedMark:
    """A fresh mark for a file ``studio`` is about to deliver (see the issuer's own word:
    ``verification.services.portrait_mark_issue``)."""
    if _issuer is None:
        raise ImproperlyConfigured("No mark issuer: verification is not an installed app.")
    return _issuer(studio=studio, kind=kind, source=source)
