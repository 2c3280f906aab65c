"""What a delivery hands on once its row commits: the worker's message, the studio's own
webhook when it failed."""

from __future__ import annotations

from galleries.models import (
    Delivery,
)
from galleries.selectors import delivery_event_payload
from studio_portal.api.services import webhooks_emit
from studio_portal.outbox import outbox_send_on_commit


def delivery_enqueue(delivery_id: int) -> None:
    """Sent once the row commits; a broker that is away leaves it for the sweep (the request
    answers as usual: the delivery is queued, which is the truth)."""
    from galleries.tasks import delivery_send_task  # lazy: galleries.tasks imports this module

    # The worker holds the row while it calls the provider and stamps it itself.
    outbox_send_on_commit(delivery_send_task, Delivery, delivery_id, skip_held=True)


def delivery_failed_emit(delivery_id: int) -> None:
    """Tell the studio's own systems (its outgoing webhooks); sent after the commit."""
    webhooks_emit("delivery.failed", delivery_event_payload(delivery_id))
