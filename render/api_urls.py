from django.urls import path

from render import apis

urlpatterns = [
    path("sessions/", apis.ParentSessionListCreateApi.as_view(), name="api-sessions"),
    path("sessions/<uuid:uid>/scans/", apis.ScanUploadApi.as_view(), name="api-scan-upload"),
    path("jobs/<uuid:uid>/", apis.RenderJobDetailApi.as_view(), name="api-job"),
]
