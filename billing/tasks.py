"""Billing's scheduled work."""

from __future__ import annotations

import logging

import dramatiq
from periodiq import cron

from billing.services import (
    billing_pilots_lapse_ended,
    signup_studio_set_up,
    signups_set_up_sweep,
)

logger = logging.getLogger(__name__)


@dramatiq.actor(queue_name="default", max_retries=3, periodic=cron("7 * * * *"))
def billing_pilots_lapse_ended_task() -> None:
    """Hourly: pilots whose month is over stop rendering (studio_may_render checks the date
    too, so this only keeps Studio.status honest for lists and the admin)."""
    lapsed = billing_pilots_lapse_ended()
    if lapsed:
        logger.info("%d pilot studios lapsed at the end of their month", lapsed)


# Creating and migrating a schema takes seconds (more on a busy database): a generous limit, and
# retries with backoff, since a failure here is a paying customer without a studio.
@dramatiq.actor(queue_name="default", max_retries=10, time_limit=10 * 60_000)
def signup_studio_set_up_task(schema_name: str, signup_id: int) -> None:
    """After a paid checkout: set the studio up (billing.services.signup_studio_set_up). The
    signup lives in the public schema, which ``schema_name`` always names."""
    signup_studio_set_up(signup_id=signup_id)


@dramatiq.actor(queue_name="default", periodic=cron("* * * * *"), max_retries=0, time_limit=120_000)
def signups_set_up_sweep_task() -> None:
    """Every minute: set-up jobs of paid signups that the broker never took, or lost."""
    sent = signups_set_up_sweep()
    if sent:
        logger.warning("sent %d studio set-up jobs again", sent)
