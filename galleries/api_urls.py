"""Galleries' part of the REST API, mounted at /api/ on each studio's own domain (see
galleries/apis.py)."""

from django.urls import path

from galleries import apis

urlpatterns = [
    path("galleries/", apis.GalleryListCreateApi.as_view(), name="api-galleries"),
    path("galleries/<uuid:uid>/", apis.GalleryDetailApi.as_view(), name="api-gallery"),
    path("galleries/<uuid:uid>/send/", apis.GallerySendApi.as_view(), name="api-gallery-send"),
    path("deliveries/", apis.DeliveryListApi.as_view(), name="api-deliveries"),
    path("deliveries/<int:pk>/", apis.DeliveryDetailApi.as_view(), name="api-delivery"),
]
