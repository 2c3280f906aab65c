from django.urls import path

from render import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("sessions/new/", views.session_create, name="session-create"),
    path("sessions/<uuid:uid>/", views.session_detail, name="session-detail"),
    path("sessions/<uuid:uid>/upload/", views.scan_upload, name="scan-upload"),
    path("jobs/<uuid:uid>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:uid>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<uuid:uid>/rerun/", views.job_rerun, name="job-rerun"),
    path("jobs/<uuid:uid>/retry/", views.job_retry, name="job-retry"),
    path("jobs/<uuid:uid>/anchors/", views.job_anchors_save, name="job-anchors"),
    path("settings/engine/", views.studio_engine, name="studio-engine"),
    path("candidates/<int:pk>/primary/", views.candidate_make_primary, name="candidate-primary"),
    path("candidates/<int:pk>/share/", views.candidate_share, name="candidate-share"),
    path("files/scans/<uuid:uid>/<str:kind>/", views.scan_file, name="scan-file"),
    path("files/candidates/<int:pk>/<str:kind>/", views.candidate_file, name="candidate-file"),
]
