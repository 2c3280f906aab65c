"""The transactional outbox: every message to the broker that follows a database write.

The row is the truth ("this delivery is queued", "this job waits for vision"). Its message goes
to the broker only once the row has committed, and the row then records when the broker took
it in a stamp field (``enqueued_at``). An empty stamp means the broker never took it: it was
away, or the process died between the commit and the send. The caller never sees that failure
(a request answers as usual); the row simply stays unsent.

Each app's sweep, run every minute by the scheduler, sends again the rows that still wait and
are *due*: an empty stamp older than a short grace (the commit's own send has had its chance),
or a stamp older than a lease (the broker lost the message). A row whose message was taken a
moment ago and merely waits its turn in a queue is not due, so the sweep sends no duplicates of
fresh work; a late duplicate is harmless anyway, because every worker claims its work with a
conditional update.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dramatiq
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a broker raises when it cannot take a message: Redis (redis-py's own errors), RabbitMQ
# (dramatiq's), a socket that would not open.
BROKER_ERRORS = (dramatiq.errors.BrokerError, RedisError, OSError)
# An unsent row is left to its commit's own send for this long before the sweep sends it.
UNSENT_GRACE = timedelta(seconds=30)


def outbox_send(
    actor: dramatiq.Actor,
    model: type[models.Model],
    object_id: int,
    *,
    schema_name: str,
    stamp_field: str = "enqueued_at",
    skip_held: bool = False,
) -> bool:
    """Hand ``actor(schema_name, object_id)`` to the broker now and stamp the row.

    Returns False, having logged why, when the broker could not take it: the row keeps its old
    stamp and the sweep sends it later. ``skip_held``: for rows a worker locks while it works
    (a delivery, during the provider's call) and stamps itself; a row held now is a message
    already picked up, so the stamp is left to that worker instead of waiting for it (the
    request that sent it would otherwise wait for the provider).
    """
    try:
        actor.send(schema_name, object_id)
    except BROKER_ERRORS as exc:
        logger.warning(
            "broker away: %s for %s %s in %s stays unsent until the sweep (%s)",
            actor.actor_name,
            model.__name__,
            object_id,
            schema_name,
            exc,
        )
        return False
    try:
        with schema_context(schema_name), transaction.atomic():
            rows = model.objects.filter(pk=object_id)
            if skip_held:
                free = rows.select_for_update(skip_locked=True).values_list("pk", flat=True)
                rows = model.objects.filter(pk__in=list(free))
            rows.update(**{stamp_field: timezone.now()})
    except DatabaseError:
        # Sent but not stamped: the sweep sends it once more, which a conditional claim absorbs.
        logger.warning("sent %s for %s %s unstamped", actor.actor_name, model.__name__, object_id)
    return True


def outbox_send_on_commit(
    actor: dramatiq.Actor,
    model: type[models.Model],
    object_id: int,
    *,
    stamp_field: str = "enqueued_at",
    skip_held: bool = False,
) -> None:
    """:func:`outbox_send` once the current transaction commits (a rollback sends nothing)."""
    schema_name = connection.schema_name
    transaction.on_commit(
        lambda: outbox_send(
            actor,
            model,
            object_id,
            schema_name=schema_name,
            stamp_field=stamp_field,
            skip_held=skip_held,
        )
    )


def outbox_due(
    *,
    now: datetime,
    waiting_since: str,
    lease: timedelta,
    stamp_field: str = "enqueued_at",
    grace: timedelta = UNSENT_GRACE,
) -> Q:
    """Rows whose message the broker never took (unstamped, waiting longer than ``grace``
    since the ``waiting_since`` field) or took longer ago than ``lease``."""
    return Q(**{f"{stamp_field}__isnull": True, f"{waiting_since}__lt": now - grace}) | Q(
        **{f"{stamp_field}__lt": now - lease}
    )


def outbox_resend_due(
    actor: dramatiq.Actor,
    rows: models.QuerySet,
    *,
    schema_name: str,
    stamp_field: str = "enqueued_at",
    skip_held: bool = False,
) -> int:
    """Send each row of ``rows`` (already filtered to the due ones) again; stop at the first
    broker failure, since the next ones would fail the same way. Returns how many went."""
    sent = 0
    for object_id in rows.values_list("pk", flat=True):
        if not outbox_send(
            actor,
            rows.model,
            object_id,
            schema_name=schema_name,
            stamp_field=stamp_field,
            skip_held=skip_held,
        ):
            break
        sent += 1
    return sent
