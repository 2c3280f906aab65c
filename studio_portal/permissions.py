"""Who is the studio's owner, asked one way everywhere: pages (``owner_required``), the REST API
(``IsStudioOwner``) and services (``require_owner``).

An owner is a signed-in member whose role is owner (``User.is_owner``). Anything else — a
sonographer, an anonymous visitor, ``None`` for a job run by Cradle itself — is not. Each
refusal says what only an owner may do: pages show it on the 403 page, the API as its
``{"detail": …}``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, overload

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

# Annotations only: rest_framework.views, while loading, imports the API key authentication
# (DEFAULT_AUTHENTICATION_CLASSES), whose services import this module.
if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

OWNER_ONLY = "Only the studio owner can do this."

View = Callable[..., HttpResponse]


def is_studio_owner(user: object) -> bool:
    """True for a member with the owner role; False for anyone or anything else."""
    return bool(getattr(user, "is_owner", False))


def require_owner(actor: object, message: str = OWNER_ONLY) -> None:
    """For services: raise ``PermissionDenied(message)`` unless ``actor`` is an owner."""
    if not is_studio_owner(actor):
        raise PermissionDenied(message)


@overload
def owner_required(view: View, /) -> View: ...
@overload
def owner_required(*, message: str = OWNER_ONLY) -> Callable[[View], View]: ...
def owner_required(view: View | None = None, /, *, message: str = OWNER_ONLY) -> object:
    """A page for signed-in owners only: an anonymous visitor goes to the sign-in page, any
    other member gets the 403 page with ``message`` (never a hint of the page's content).

    ``@owner_required`` or ``@owner_required(message="Only the studio owner can …")``.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            require_owner(request.user, message)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate if view is None else decorate(view)


class IsStudioOwner(BasePermission):
    """DRF: the request's member is an owner. The 403's detail is the view's
    ``owner_only_message`` when it has one (say which action is the owner's), else OWNER_ONLY.
    Put it after ``IsAuthenticated`` so that no credentials still answer 401."""

    message = OWNER_ONLY

    def has_permission(self, request: Request, view: APIView) -> bool:
        # DRF makes one instance per request and reads ``message`` from it on refusal.
        self.message = getattr(view, "owner_only_message", OWNER_ONLY)
        return is_studio_owner(request.user)
