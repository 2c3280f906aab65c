"""API keys (made, shown once, revoked) and outgoing webhooks (emitted, signed, delivered).

Webhook signatures: ``Cradle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` where the HMAC
key is the endpoint's secret and the message is ``f"{t}.{body}"``. A receiver recomputes it,
compares in constant time and refuses a timestamp older than a few minutes (a replay).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from studio_portal.accounts.models import User
from studio_portal.api.models import ApiKey, WebhookDelivery, WebhookEndpoint
from studio_portal.outbox import outbox_due, outbox_resend_due, outbox_send_on_commit
from studio_portal.permissions import is_studio_owner, require_owner

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "crd_"
SIGNATURE_HEADER = "Cradle-Signature"
EVENT_HEADER = "Cradle-Event"
DELIVERY_HEADER = "Cradle-Delivery"
WEBHOOK_EVENTS = tuple(WebhookEndpoint.Event.values)
WEBHOOK_TIMEOUT_SECONDS = 10
MAX_ENDPOINTS = 5
WEBHOOKS_OWNER_ONLY = "Only the studio's owner can change its webhooks."


def api_key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


# API keys -------------------------------------------------------------------------------------


@transaction.atomic
def api_key_create(*, user: User, name: str, created_by: User) -> tuple[ApiKey, str]:
    """Make a key for ``user`` (an owner for anyone, a member for herself). Returns the row and
    the raw key, which is never stored and cannot be shown again."""
    if not is_studio_owner(created_by) and created_by != user:
        raise PermissionDenied("Only the studio's owner can make keys for other members.")
    if not getattr(user, "is_active", False):
        raise ValidationError("That member's account is disabled; enable it before making a key.")
    name = name.strip()
    if not name:
        raise ValidationError("Give the key a name, e.g. the system that will use it.")
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=name[:80],
        prefix=raw_key[: len(API_KEY_PREFIX) + 6],
        digest=api_key_digest(raw_key),
        created_by=created_by,
    )
    return key, raw_key


@transaction.atomic
def api_key_revoke(*, key: ApiKey, revoked_by: object) -> ApiKey:
    if not is_studio_owner(revoked_by) and revoked_by != key.user:
        raise PermissionDenied("Only the studio's owner or the key's member can revoke it.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record use at most once a minute: a busy integration must not write on every call."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)


# Webhook endpoints ----------------------------------------------------------------------------


def _host_is_private(host: str) -> bool:
    """True when any address the host resolves to is loopback, private, link-local or reserved:
    a studio's webhook must not make Cradle's servers call into their own network."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False  # unresolvable now: the delivery will fail and be retried, harmlessly
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return True
    return False


def webhook_url_validate(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise ValidationError("The webhook URL must be a full https:// address.")
    if parts.username or parts.password:
        raise ValidationError("Put no user name or password in the webhook URL; Cradle signs it.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_HOSTS and _host_is_private(parts.hostname):
        raise ValidationError("The webhook URL must be reachable on the public internet.")
    return url


def _events_validate(events: list[str]) -> list[str]:
    unknown = [event for event in events if event not in WEBHOOK_EVENTS]
    if unknown:
        raise ValidationError(
            f"Unknown event {unknown[0]!r}. Choose from: {', '.join(WEBHOOK_EVENTS)}."
        )
    if not events:
        raise ValidationError("Choose at least one event.")
    return sorted(set(events))


@transaction.atomic
def webhook_endpoint_create(*, url: str, events: list[str], actor: object) -> WebhookEndpoint:
    require_owner(actor, WEBHOOKS_OWNER_ONLY)
    if WebhookEndpoint.objects.count() >= MAX_ENDPOINTS:
        raise ValidationError(f"A studio can have up to {MAX_ENDPOINTS} webhook URLs.")
    return WebhookEndpoint.objects.create(
        url=webhook_url_validate(url),
        events=_events_validate(events),
        secret="whsec_" + secrets.token_hex(24),
    )


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: object) -> None:
    require_owner(actor, WEBHOOKS_OWNER_ONLY)
    endpoint.delete()


# Emitting -------------------------------------------------------------------------------------


def webhooks_emit(event: str, payload: dict[str, object]) -> list[WebhookDelivery]:
    """Queue ``event`` with ``payload`` to every active endpoint of the current studio that
    subscribed to it. Call it inside the transaction that made the change: the rows commit
    with it and the sends are queued only after the commit (a rollback sends nothing)."""
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}")
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True)
        if event in endpoint.events
    ]
    deliveries = []
    for endpoint in endpoints:
        event_id = uuid.uuid4()
        body = json.dumps(
            {
                "id": str(event_id),
                "type": event,
                "created": timezone.now().isoformat(),
                "studio": connection.schema_name,  # type: ignore[attr-defined]  # django-tenants
                "data": payload,
            },
            sort_keys=True,
            default=str,
        )
        delivery = WebhookDelivery.objects.create(
            uid=event_id, endpoint=endpoint, event=event, body=body
        )
        deliveries.append(delivery)
        _on_commit_enqueue(delivery.pk)
    return deliveries


def _on_commit_enqueue(delivery_id: int) -> None:
    from studio_portal.api.tasks import webhook_deliver  # lazy: api.tasks imports this module

    outbox_send_on_commit(webhook_deliver, WebhookDelivery, delivery_id)


# An event's message the broker took (or a worker tried) longer ago than this is lost: longer
# than the actor's longest back-off between tries (an hour), so one waiting for its next try is
# never sent twice.
WEBHOOK_MESSAGE_LEASE = timedelta(minutes=75)
# An event still pending this long after it was emitted has failed (the actor's retries span
# about a day).
WEBHOOK_GIVE_UP_AFTER = timedelta(days=2)


@dataclass
class WebhookSweep:
    requeued: int = 0
    failed: int = 0


def webhook_deliveries_sweep_due(
    *,
    now: datetime | None = None,
    lease: timedelta = WEBHOOK_MESSAGE_LEASE,
    give_up_after: timedelta = WEBHOOK_GIVE_UP_AFTER,
) -> WebhookSweep:
    """Pending events whose message the broker never took (it was away) or lost are sent
    again; one pending two days on fails. Run every minute by the scheduler."""
    from studio_portal.api.tasks import webhook_deliver  # lazy: api.tasks imports this module

    now = now or timezone.now()
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    failed = pending.filter(created_at__lt=now - give_up_after).update(
        status=WebhookDelivery.Status.FAILED, last_error="Not delivered within two days."
    )
    due = pending.filter(outbox_due(now=now, waiting_since="created_at", lease=lease))
    schema_name: str = connection.schema_name  # type: ignore[attr-defined]  # django-tenants
    requeued = outbox_resend_due(webhook_deliver, due, schema_name=schema_name)
    return WebhookSweep(requeued=requeued, failed=failed)


# Delivering -----------------------------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: int, body: str) -> str:
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature_valid(
    *, secret: str, header: str, body: str, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """The receiver's check, for studios' integrations and for Cradle's own tests."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, signature = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or not signature:
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance_seconds:
        return False
    expected = webhook_signature(secret=secret, timestamp=int(timestamp), body=body)
    return hmac.compare_digest(expected, signature)


class WebhookRetry(Exception):
    """The endpoint did not take the event (network error, timeout, non-2xx): try again later."""


def webhook_delivery_attempt(
    *, delivery_id: int, now: datetime | None = None
) -> WebhookDelivery | None:
    """POST the event once. Raises WebhookRetry on failure so the actor backs off and retries;
    a delivered event is never sent again."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    # A try: the sweep leaves the event alone for a lease from now.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=delivery.attempts + 1, enqueued_at=timezone.now()
    )
    delivery.attempts += 1
    timestamp = int(time.time())
    signature = webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=delivery.body)
    request = urllib.request.Request(
        endpoint.url,
        data=delivery.body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Cradle-Webhooks/1",
            SIGNATURE_HEADER: f"t={timestamp},v1={signature}",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.uid),
        },
    )
    try:
        host = urlsplit(endpoint.url).hostname or ""
        # Checked again at send time: DNS may have changed since the URL was saved.
        if not settings.WEBHOOK_ALLOW_PRIVATE_HOSTS and _host_is_private(host):
            raise WebhookRetry("the URL now points into a private network")
        with _no_redirects().open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (urllib.error.URLError, OSError, WebhookRetry) as exc:
        _record_failure(delivery, None, f"{type(exc).__name__}: {exc}")
        raise WebhookRetry(str(exc)) from exc
    if not 200 <= code < 300:
        _record_failure(delivery, code, f"The endpoint answered HTTP {code}.")
        raise WebhookRetry(f"HTTP {code}")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.SUCCEEDED,
        last_status_code=code,
        last_error="",
        delivered_at=now or timezone.now(),
    )
    delivery.refresh_from_db()
    return delivery


def _record_failure(delivery: WebhookDelivery, code: int | None, error: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        last_status_code=code, last_error=error[:300]
    )
    logger.warning(
        "webhook %s to endpoint %s failed: %s", delivery.uid, delivery.endpoint_id, error
    )


def webhook_delivery_give_up(*, delivery_id: int) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.FAILED
    )


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect could lead into a private network: it counts as a failure


def _no_redirects() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_RefuseRedirects)
