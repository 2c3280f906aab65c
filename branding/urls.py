from django.urls import path

from branding import apis, views

urlpatterns = [
    path("", views.brand_kit_edit, name="brand-kit-edit"),
    path("preview.jpg", views.brand_preview, name="brand-preview"),
    path("domain/verify/", views.brand_domain_verify, name="brand-domain-verify"),
    path("references/", views.reference_portrait_add, name="reference-portrait-add"),
    path(
        "references/<int:pk>/delete/",
        views.reference_portrait_delete,
        name="reference-portrait-delete",
    ),
    path(
        "references/<int:pk>.jpg", views.reference_portrait_image, name="reference-portrait-image"
    ),
    path("api/", apis.BrandKitApi.as_view(), name="api-brand-kit"),
    path("api/domain/verify/", apis.BrandKitDomainVerifyApi.as_view(), name="api-brand-domain"),
    path(
        "api/references/", apis.ReferencePortraitListApi.as_view(), name="api-reference-portraits"
    ),
    path(
        "api/references/<int:pk>/",
        apis.ReferencePortraitDetailApi.as_view(),
        name="api-reference-portrait",
    ),
]
