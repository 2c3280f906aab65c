"""URLs on Cradle's own domain (the public schema): the landing page and platform admin."""

from django.contrib import admin
from django.urls import path

from studio_portal import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
