"""URLs on a studio's own domain: the studio's pages, its API, and its parents' galleries."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from galleries import views as gallery_views
from render import views as render_views
from studio_portal import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="studio_portal/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("", render_views.dashboard, name="dashboard"),
    path("sessions/new/", render_views.session_create, name="session-create"),
    path("sessions/<uuid:uid>/", render_views.session_detail, name="session-detail"),
    path("sessions/<uuid:uid>/upload/", render_views.scan_upload, name="scan-upload"),
    path("jobs/<uuid:uid>/", render_views.job_detail, name="job-detail"),
    path("jobs/<uuid:uid>/send/", render_views.job_send, name="job-send"),
    path(
        "candidates/<int:pk>/primary/",
        render_views.candidate_make_primary,
        name="candidate-primary",
    ),
    path("files/scans/<uuid:uid>/<str:kind>/", render_views.scan_file, name="scan-file"),
    path(
        "files/candidates/<int:pk>/<str:kind>/", render_views.candidate_file, name="candidate-file"
    ),
    path("g/<str:token>/", gallery_views.gallery_page, name="gallery"),
    path("g/<str:token>/p/<int:pk>/", gallery_views.gallery_portrait, name="gallery-portrait"),
    path("api/", include("render.api_urls")),
]
