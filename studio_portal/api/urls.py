"""The API's own URLs, mounted at /api/ on each studio's own domain: its schema and docs, the
settings page, and the API keys and webhooks endpoints (see studio_portal/api/apis.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from studio_portal.api import apis, views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("settings/", views.api_settings, name="api-settings"),
    path("settings/keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("keys/", apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("keys/<int:pk>/revoke/", apis.ApiKeyRevokeApi.as_view(), name="api-key-revoke-api"),
    path("webhooks/", apis.WebhookEndpointListCreateApi.as_view(), name="api-webhooks"),
    path("webhooks/<uuid:uid>/", apis.WebhookEndpointDetailApi.as_view(), name="api-webhook"),
]
