from django.urls import path

from billing import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("signup/", views.signup, name="billing-signup"),
    path("signup/done/", views.signup_done, name="billing-signup-done"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
