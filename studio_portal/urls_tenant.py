"""URLs on a studio's own domain: the studio's pages, its API, and its parents' galleries.

Each app owns its own ``urls`` module; this file only stitches them together.
"""

from django.urls import include, path

from studio_portal import views

urlpatterns = [
    path("favicon.ico", views.icon, {"name": "favicon.ico"}, name="favicon"),
    path(
        "apple-touch-icon.png",
        views.icon,
        {"name": "apple-touch-icon.png"},
        name="apple-touch-icon",
    ),
    path("", include("galleries.urls")),  # first: the parents' pages are the most opened
    path("", include("studio_portal.accounts.urls")),
    path("", include("render.urls")),
    path("branding/", include("branding.urls")),
    path("billing/", include("billing.urls_tenant")),
    # The studio API: each app mounts its own endpoints under /api/.
    path("api/", include("studio_portal.api.urls")),
    path("api/", include("render.api_urls")),
    path("api/", include("galleries.api_urls")),
]
