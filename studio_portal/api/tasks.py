"""The outgoing-webhook actor: one POST per message, retried with exponential backoff
(5 s, 10 s, 20 s … capped at one hour, about a day in all) until the endpoint answers 2xx."""

from __future__ import annotations

import logging

import dramatiq
from django_tenants.utils import schema_context
from periodiq import cron

from studio_portal.api import services
from studio_portal.tenants.selectors import studio_schema_names

logger = logging.getLogger(__name__)

WEBHOOK_MAX_RETRIES = 12


def _retry_failed_sends(retries: int, exception: Exception) -> bool:
    return isinstance(exception, services.WebhookRetry) and retries < WEBHOOK_MAX_RETRIES


@dramatiq.actor(
    queue_name="default",
    retry_when=_retry_failed_sends,
    min_backoff=5_000,
    max_backoff=3_600_000,
    time_limit=60_000,
    on_retry_exhausted="webhook_give_up",
)
def webhook_deliver(schema_name: str, delivery_id: int) -> None:
    with schema_context(schema_name):
        services.webhook_delivery_attempt(delivery_id=delivery_id)


@dramatiq.actor(queue_name="default", max_retries=3, time_limit=60_000)
def webhook_give_up(message_data: dict, retry_info: dict) -> None:
    schema_name, delivery_id = message_data["args"]
    with schema_context(schema_name):
        services.webhook_delivery_give_up(delivery_id=delivery_id)


@dramatiq.actor(queue_name="default", periodic=cron("* * * * *"), max_retries=0, time_limit=120_000)
def webhook_deliveries_sweep() -> None:
    """Every minute: events whose message the broker never took or lost are sent again
    (studio_portal.outbox)."""
    for schema_name in studio_schema_names():
        with schema_context(schema_name):
            report = services.webhook_deliveries_sweep_due()
        if report.requeued or report.failed:
            logger.warning(
                "sweep %s: %d webhook events sent again, %d failed",
                schema_name,
                report.requeued,
                report.failed,
            )
