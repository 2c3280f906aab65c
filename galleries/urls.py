from django.urls import path

from galleries import views

urlpatterns = [
    # The parent's gallery: public, token in the path, on the studio's own domain.
    path("g/<str:token>/", views.gallery_page, name="gallery"),
    path("g/<str:token>/pin/", views.gallery_unlock, name="gallery-unlock"),
    path("g/<str:token>/p/<int:pk>/", views.gallery_portrait, name="gallery-portrait"),
    path("g/<str:token>/p/<int:pk>/favourite/", views.gallery_favourite, name="gallery-favourite"),
    path("g/<str:token>/share/", views.gallery_share, name="gallery-share"),
    path("g/<str:token>/card.png", views.gallery_card, name="gallery-card"),
    path("g/<str:token>/card.jpg", views.gallery_card_with_portrait, name="gallery-card-portrait"),
    path("g/<str:token>/download.zip", views.gallery_download_all, name="gallery-download-all"),
    path("g/<str:token>/logo", views.gallery_logo, name="gallery-logo"),
    # The studio's pages.
    path("galleries/", views.gallery_list, name="gallery-list"),
    path("galleries/settings/", views.gallery_settings, name="gallery-settings"),
    path("galleries/<uuid:uid>/", views.gallery_detail, name="gallery-detail"),
    path("galleries/<uuid:uid>/protect/", views.gallery_protect, name="gallery-protect"),
    path("galleries/<uuid:uid>/delete/", views.gallery_delete, name="gallery-delete"),
    path("galleries/<uuid:uid>/republish/", views.gallery_republish, name="gallery-republish"),
    path("galleries/portraits/<int:pk>/delete/", views.portrait_delete, name="portrait-delete"),
    path("galleries/deliveries/<int:pk>/resend/", views.delivery_resend, name="delivery-resend"),
    path("galleries/parents/<uuid:uid>/export.zip", views.parent_export, name="parent-export"),
    path("audit/", views.audit_log, name="audit-log"),
    # Actions on render's pages that are galleries' own: sending the link, erasing a parent.
    path("jobs/<uuid:uid>/send/", views.job_send, name="job-send"),
    path("sessions/<uuid:uid>/erase/", views.session_erase, name="session-erase"),
    # Provider webhooks: signature-checked, so no CSRF token and no login. Their home is Cradle's
    # own host (galleries/urls_public.py); these older per-studio URLs route the same way.
    path("hooks/sendgrid/events", views.sendgrid_events, name="hook-sendgrid-events"),
    path("hooks/twilio/status", views.twilio_status, name="hook-twilio-status"),
    path("hooks/twilio/inbound", views.twilio_inbound, name="hook-twilio-inbound"),
]
