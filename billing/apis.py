"""The owner's billing API (session auth): plan state and the pilot refund."""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from studio_portal.permissions import IsStudioOwner
from studio_portal.tenants.selectors import current_studio


class OwnerOnlyApi(APIView):
    permission_classes = [IsAuthenticated, IsStudioOwner]
    owner_only_message = "Only the studio owner can manage billing."


class BillingStatusApi(OwnerOnlyApi):
    def get(self, request: Request) -> Response:
        overview = selectors.billing_overview(current_studio())
        return Response(
            {
                "plan": overview.studio.plan,
                "status": overview.studio.status,
                "renewal_date": overview.renewal_date,
                "renews": overview.renews,
                "deliveries_used": overview.usage.used,
                "delivery_cap": overview.usage.cap,
                "refund_allowed": overview.refund.allowed,
                "refund_refused_reason": "" if overview.refund.allowed else overview.refund.reason,
                "refund_deadline": overview.refund_deadline,
                "upgrades": [plan.code for plan in overview.upgrades],
                "usage_since": overview.usage.since,
                "plans": [
                    {
                        "code": choice.plan.code,
                        "label": choice.plan.label,
                        "amount_cents": choice.plan.amount_cents,
                        "mode": choice.plan.mode,
                        "delivery_cap": choice.plan.delivery_cap,
                        "current": choice.current,
                        "available": choice.available,
                        "reason": choice.reason,
                    }
                    for choice in overview.plans
                ],
                "white_label": selectors.studio_is_white_label(overview.studio),
                "invoices": [
                    {
                        "id": invoice.stripe_invoice_id,
                        "number": invoice.number,
                        "status": invoice.status,
                        "amount_paid": invoice.amount_paid,
                        "currency": invoice.currency,
                        "url": invoice.hosted_invoice_url,
                        "created": invoice.stripe_created,
                    }
                    for invoice in overview.invoices
                ],
            }
        )


class PilotRefundApi(OwnerOnlyApi):
    def post(self, request: Request) -> Response:
        try:
            account = services.pilot_refund(studio=current_studio(), actor=request.user)
        except services.BillingError as exc:
            return Response({"detail": exc.message, "code": "refund_refused"}, status=400)
        return Response(
            {"refund": account.pilot_refund_id, "status": current_studio().status}, status=200
        )
