"""URLs on Cradle's own domain (the public schema): landing page, signup, platform admin."""

from django.contrib import admin
from django.urls import include, path

from studio_portal import views

urlpatterns = [
    path("signin/", views.studio_find, name="studio-find"),
    path("favicon.ico", views.icon, {"name": "favicon.ico"}, name="favicon"),
    path(
        "apple-touch-icon.png",
        views.icon,
        {"name": "apple-touch-icon.png"},
        name="apple-touch-icon",
    ),
    path("admin/", admin.site.urls),
    path("", include("billing.urls_public")),
    path("", include("galleries.urls_public")),
    path("", include("verification.urls_public")),
]
