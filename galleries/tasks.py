from __future__ import annotations

import dramatiq
from django_tenants.utils import schema_context

from galleries import services
from galleries.delivery import TransientDeliveryError


def _retry_transient(retries: int, exception: Exception) -> bool:
    return isinstance(exception, (TransientDeliveryError, ConnectionError)) and retries < 8


@dramatiq.actor(
    queue_name="default",
    retry_when=_retry_transient,
    time_limit=60_000,
    min_backoff=5_000,
    max_backoff=600_000,
    on_retry_exhausted="delivery_give_up",
)
def delivery_send_task(schema_name: str, delivery_id: int) -> None:
    with schema_context(schema_name):
        services.delivery_send(delivery_id=delivery_id)


@dramatiq.actor(queue_name="default", max_retries=3, time_limit=60_000)
def delivery_give_up(message_data: dict, retry_info: dict) -> None:  # noqa: ARG001
    schema_name, delivery_id = message_data["args"]
    with schema_context(schema_name):
        services.delivery_fail(
            delivery_id=delivery_id, error="The provider could not be reached after several tries."
        )
