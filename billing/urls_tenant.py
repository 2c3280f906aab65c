from django.urls import path

from billing import apis, views

urlpatterns = [
    path("", views.billing_page, name="billing"),
    path("upgrade/", views.billing_upgrade, name="billing-upgrade"),
    path("portal/", views.billing_portal, name="billing-portal"),
    path("refund/", views.billing_refund, name="billing-refund"),
    path(
        "set-password/<uidb64>/<token>/",
        views.OwnerSetPasswordView.as_view(),
        name="billing-set-password",
    ),
    path("api/", apis.BillingStatusApi.as_view(), name="api-billing"),
    path("api/refund/", apis.PilotRefundApi.as_view(), name="api-billing-refund"),
]
