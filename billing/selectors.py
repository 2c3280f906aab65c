"""Billing answers questions about a studio's plan; it never drives jobs."""

from __future__ import annotations

from dataclasses import dataclass

from studio_portal.tenants.models import Studio


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str = ""


def studio_may_render(studio: Studio) -> Permission:
    if studio.status == Studio.Status.LAPSED:
        return Permission(
            False,
            "Your Cradle plan has lapsed, so new portraits are paused. Existing galleries keep "
            "working. The studio owner can renew on the Billing page.",
        )
    if studio.status == Studio.Status.PAST_DUE:
        return Permission(
            False,
            "The last payment for your Cradle plan failed, so new portraits are paused until the "
            "studio owner updates the card on the Billing page.",
        )
    return Permission(True)


def studio_is_white_label(studio: Studio) -> bool:
    return studio.plan == Studio.Plan.STUDIO
