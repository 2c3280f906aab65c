"""Render's part of the REST API, mounted at /api/ on each studio's own domain (see
render/apis.py; studio_portal/urls_tenant.py mounts each app's part)."""

from django.urls import path

from render import apis, engine_apis

urlpatterns = [
    path("styles/", apis.StyleListApi.as_view(), name="api-styles"),
    path("engine/", engine_apis.StudioEngineApi.as_view(), name="api-engine"),
    path("sessions/", apis.ParentSessionListCreateApi.as_view(), name="api-sessions"),
    path("sessions/<uuid:uid>/", apis.ParentSessionDetailApi.as_view(), name="api-session"),
    path("sessions/<uuid:uid>/scans/", apis.ScanUploadApi.as_view(), name="api-scan-upload"),
    path("jobs/", apis.RenderJobListApi.as_view(), name="api-jobs"),
    path("jobs/<uuid:uid>/", apis.RenderJobDetailApi.as_view(), name="api-job"),
    path("jobs/<uuid:uid>/cancel/", apis.RenderJobCancelApi.as_view(), name="api-job-cancel"),
    path("jobs/<uuid:uid>/rerun/", apis.RenderJobRerunApi.as_view(), name="api-job-rerun"),
    path("jobs/<uuid:uid>/anchors/", apis.RenderJobAnchorsApi.as_view(), name="api-job-anchors"),
    path(
        "jobs/<uuid:uid>/candidates/",
        apis.RenderJobCandidatesApi.as_view(),
        name="api-job-candidates",
    ),
    path("jobs/<uuid:uid>/report/", apis.RenderJobReportApi.as_view(), name="api-job-report"),
    path(
        "candidates/<int:pk>/image/",
        apis.CandidateImageApi.as_view(),
        name="api-candidate-image",
    ),
    path(
        "candidates/<int:pk>/primary/",
        apis.CandidatePrimaryApi.as_view(),
        name="api-candidate-primary",
    ),
    path(
        "candidates/<int:pk>/share/", apis.CandidateShareApi.as_view(), name="api-candidate-share"
    ),
]
