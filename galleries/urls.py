from django.urls import path

from galleries import views

urlpatterns = [
    path("g/<str:token>/", views.gallery_page, name="gallery"),
    path("g/<str:token>/p/<int:pk>/", views.gallery_portrait, name="gallery-portrait"),
]
