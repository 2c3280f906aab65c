from django.urls import path

from branding import apis, views

urlpatterns = [
    path("", views.brand_kit_edit, name="brand-kit-edit"),
    path("preview.jpg", views.brand_preview, name="brand-preview"),
    path("api/", apis.BrandKitApi.as_view(), name="api-brand-kit"),
]
