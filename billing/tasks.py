"""Billing's scheduled work."""

from __future__ import annotations

import logging

import dramatiq
from periodiq import cron

from billing.services import billing_pilots_lapse_ended

logger = logging.getLogger(__name__)


@dramatiq.actor(queue_name="default", max_retries=3, periodic=cron("7 * * * *"))
def billing_pilots_lapse_ended_task() -> None:
    """Hourly: pilots whose month is over stop rendering (studio_may_render checks the date
    too, so this only keeps Studio.status honest for lists and the admin)."""
    lapsed = billing_pilots_lapse_ended()
    if lapsed:
        logger.info("%d pilot studios lapsed at the end of their month", lapsed)
