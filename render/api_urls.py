"""The REST API, mounted at /api/ on each studio's own domain (see render/apis.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from render import apis, engine_apis
from studio_portal.api import views as api_views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("settings/", api_views.api_settings, name="api-settings"),
    path("settings/keys/<int:pk>/revoke/", api_views.api_key_revoke, name="api-key-revoke"),
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
    path("galleries/", apis.GalleryListCreateApi.as_view(), name="api-galleries"),
    path("galleries/<uuid:uid>/", apis.GalleryDetailApi.as_view(), name="api-gallery"),
    path("galleries/<uuid:uid>/send/", apis.GallerySendApi.as_view(), name="api-gallery-send"),
    path("deliveries/", apis.DeliveryListApi.as_view(), name="api-deliveries"),
    path("deliveries/<int:pk>/", apis.DeliveryDetailApi.as_view(), name="api-delivery"),
    path("keys/", apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("keys/<int:pk>/revoke/", apis.ApiKeyRevokeApi.as_view(), name="api-key-revoke-api"),
    path("webhooks/", apis.WebhookEndpointListCreateApi.as_view(), name="api-webhooks"),
    path("webhooks/<uuid:uid>/", apis.WebhookEndpointDetailApi.as_view(), name="api-webhook"),
]
