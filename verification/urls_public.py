from django.urls import path

from verification import apis, views

urlpatterns = [
    path("verify/", views.verify_page, name="verify"),
    path("api/verify/", apis.VerifyApi.as_view(), name="api-verify"),
]
