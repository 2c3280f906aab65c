"""The studio's navigation: only links whose pages exist, and owner pages only for owners.

Other apps add pages (branding, billing, audit log, analytics) on their own schedule; a link
appears once its URL resolves, so the nav never leads a studio to a 404.
"""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from studio_portal.permissions import is_studio_owner

register = template.Library()

# (label, URL names to try, paths to try, owners only)
NAV_ENTRIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], bool], ...] = (
    ("Sessions", ("dashboard",), (), False),
    ("Galleries", ("gallery-list",), ("/galleries/",), False),
    ("Team", ("team",), (), True),
    ("Branding", ("branding", "brand-kit", "branding-edit"), ("/branding/",), True),
    ("Billing", ("billing", "billing-overview"), ("/billing/",), True),
    ("Audit log", ("audit-log", "audit"), ("/audit/", "/audit-log/"), True),
    ("Analytics", ("gallery-analytics", "analytics"), ("/analytics/",), True),
    ("Settings", ("studio-settings",), (), True),
)


def _first_url(names: tuple[str, ...], paths: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    for path in paths:
        try:
            resolve(path)
        except Resolver404:
            continue
        return path
    return None


@register.simple_tag(takes_context=True)
def studio_nav_links(context: template.Context) -> list[dict[str, object]]:
    request = context.get("request")
    user = getattr(request, "user", None)
    is_owner = is_studio_owner(user)
    current = request.path if request else ""
    links = []
    for label, names, paths, owners_only in NAV_ENTRIES:
        if owners_only and not is_owner:
            continue
        url = _first_url(names, paths)
        if url is None:
            continue
        if url == "/":  # the sessions list, and everything reached from it
            active = current == "/" or current.startswith(("/sessions/", "/jobs/"))
        else:
            active = current.startswith(url)
        links.append({"label": label, "url": url, "active": active})
    return links
