"""Provider webhooks on Cradle's own host: the one URL per hook that SendGrid and Twilio are
configured with, for every studio (the views route each event to its studio)."""

from django.urls import path

from galleries import views

urlpatterns = [
    path("hooks/sendgrid/events", views.sendgrid_events, name="hook-sendgrid-events"),
    path("hooks/twilio/status", views.twilio_status, name="hook-twilio-status"),
    path("hooks/twilio/inbound", views.twilio_inbound, name="hook-twilio-inbound"),
]
