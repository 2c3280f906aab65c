from __future__ import annotations

import logging

import dramatiq
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from django_tenants.utils import schema_context
from periodiq import cron

from galleries import throttle
from galleries.services import notices, retention, sending
from studio_portal.messaging import TransientDeliveryError
from studio_portal.tenants.selectors import studio_schema_names

logger = logging.getLogger(__name__)


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
        sending.delivery_send(delivery_id=delivery_id)


@dramatiq.actor(queue_name="default", max_retries=3, time_limit=60_000)
def delivery_give_up(message_data: dict, retry_info: dict) -> None:
    schema_name, delivery_id = message_data["args"]
    with schema_context(schema_name):
        sending.delivery_fail(
            delivery_id=delivery_id, error="The provider could not be reached after several tries."
        )


@dramatiq.actor(queue_name="default", periodic=cron("* * * * *"), max_retries=0, time_limit=120_000)
def deliveries_sweep() -> None:
    """Every minute: queued deliveries whose message the broker never took (it was away) or
    lost are sent again (studio_portal.outbox); stuck ones reach a final state."""
    for schema_name in studio_schema_names():
        with schema_context(schema_name):
            report = sending.deliveries_sweep_due()
        if report.requeued or report.failed or report.jobs_delivered:
            logger.warning(
                "sweep %s: %d deliveries sent again, %d failed, %d jobs marked sent",
                schema_name,
                report.requeued,
                report.failed,
                report.jobs_delivered,
            )


# The parent's reminder and the studio's favourites email: periodic, per studio, each safe to run
# twice (a gallery is claimed by a conditional UPDATE or a row lock before anything is sent).


@dramatiq.actor(
    queue_name="default", periodic=cron("0 15 * * *"), max_retries=0, time_limit=10 * 60_000
)
def gallery_expiry_reminders() -> None:
    """Daily (15:00 UTC: daytime for parents in the Americas and Europe, so a text never
    wakes them): a parent whose gallery closes within three days is reminded."""
    for schema_name in studio_schema_names():
        with schema_context(schema_name):
            reminded = notices.gallery_expiry_reminders_due()
        if reminded:
            logger.info("reminders %s: %d galleries close soon", schema_name, reminded)


@dramatiq.actor(
    queue_name="default", periodic=cron("*/5 * * * *"), max_retries=0, time_limit=4 * 60_000
)
def favourites_notices() -> None:
    """Every five minutes: the studio hears which portraits a parent marked, once she paused."""
    for schema_name in studio_schema_names():
        with schema_context(schema_name):
            notices.favourites_notices_due()


# Retention: every night the scheduler (``periodiq``, see the Procfile) fans out one sweep per
# studio, so one studio's slow storage or error never holds up another's deletions.


@dramatiq.actor(queue_name="default", periodic=cron("17 3 * * *"), time_limit=5 * 60_000)
def retention_sweep_all() -> None:
    for schema_name in studio_schema_names():
        retention_sweep_studio.send(schema_name)


def _retry_database(retries: int, exception: Exception) -> bool:
    return isinstance(exception, (OperationalError, InterfaceError, OSError)) and retries < 5


@dramatiq.actor(
    queue_name="default",
    retry_when=_retry_database,
    time_limit=30 * 60_000,
    min_backoff=60_000,
    max_backoff=30 * 60_000,
)
def retention_sweep_studio(schema_name: str) -> None:
    with schema_context(schema_name):
        report = retention.scans_purge_expired()
        throttle.guess_counts_prune(timezone.now())  # ended guess windows, too
    logger.info("retention %s: %s scans, %s files", schema_name, report.scans, report.files)
