"""A small local HTTP server that answers the part of Stripe's API Cradle uses, so tests run
the real ``stripe`` SDK, and a signer that makes webhook deliveries the way Stripe does.

The fake keeps its own objects (checkout sessions, customers, payment intents, charges,
subscriptions, invoices, refunds) and, like Stripe, produces an event for each change; a test
takes the events (``events_take``) and delivers them, in any order, to Cradle's webhook.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MONTH_SECONDS = 30 * 24 * 3600


def webhook_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header: HMAC-SHA256 of ``"{t}.{body}"`` with the endpoint's
    signing secret, as Stripe documents it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def form_decode(body: str) -> dict:
    """Stripe's form encoding (``items[0][price]=x``) back into nested dicts and lists."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists_from_numbered_dicts(root)


def _lists_from_numbered_dicts(node: object) -> object:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_from_numbered_dicts(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict


class StripeFailure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeStripe:
    url: str = ""
    api_version: str = ""
    requests: list[Recorded] = field(default_factory=list)
    objects: dict[str, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    # Stripe's clock: every event is one second after the previous one.
    clock: int = field(default_factory=lambda: int(time.time()))
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _idempotent: dict[str, tuple[int, dict]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- helpers for tests -------------------------------------------------------------

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def events_take(self) -> list[dict]:
        """The events produced since the last call, in the order Stripe made them."""
        with self._lock:
            taken, self.events = self.events, []
        return taken

    def checkout_complete(self, session_id: str) -> None:
        """The customer pays on Stripe's Checkout page."""
        with self._lock:
            session = self.objects[session_id]
            customer = session.get("customer") or self._customer_create(session)
            session.update(status="complete", payment_status="paid", customer=customer)
            price = self.objects[session["line_items"][0]["price"]]
            if session["mode"] == "payment":
                intent_data = session.get("payment_intent_data", {})
                intent = self._new(
                    "pi",
                    "payment_intent",
                    amount=price["unit_amount"],
                    customer=customer,
                    status="succeeded",
                    metadata=intent_data.get("metadata", {}),
                )
                charge = self._new(
                    "ch",
                    "charge",
                    amount=price["unit_amount"],
                    amount_refunded=0,
                    customer=customer,
                    payment_intent=intent["id"],
                    paid=True,
                    refunded=False,
                )
                intent["latest_charge"] = charge["id"]
                session["payment_intent"] = intent["id"]
                invoice = self._invoice_create(customer, price, subscription=None)
                self._event("charge.succeeded", charge)
                self._event("checkout.session.completed", session)
                self._event("invoice.paid", invoice)
            else:
                subscription = self._subscription_create(customer, price, session)
                session["subscription"] = subscription["id"]
                invoice = self._invoice_create(customer, price, subscription=subscription["id"])
                self._event("customer.subscription.created", subscription)
                self._event("invoice.paid", invoice)
                self._event("checkout.session.completed", session)

    def subscription_payment_fails(self, subscription_id: str) -> None:
        with self._lock:
            subscription = self.objects[subscription_id]
            price = self.objects[subscription["items"]["data"][0]["price"]["id"]]
            invoice = self._invoice_create(
                subscription["customer"], price, subscription=subscription_id, paid=False
            )
            self._event("invoice.payment_failed", invoice)
            subscription["status"] = "past_due"
            self._event("customer.subscription.updated", subscription)

    def subscription_renews(self, subscription_id: str) -> None:
        with self._lock:
            subscription = self.objects[subscription_id]
            item = subscription["items"]["data"][0]
            item["current_period_end"] += MONTH_SECONDS
            price = self.objects[item["price"]["id"]]
            subscription["status"] = "active"
            self._event("customer.subscription.updated", subscription)
            self._event(
                "invoice.paid",
                self._invoice_create(subscription["customer"], price, subscription=subscription_id),
            )

    def subscription_cancel(self, subscription_id: str) -> None:
        with self._lock:
            subscription = self.objects[subscription_id]
            subscription["status"] = "canceled"
            self._event("customer.subscription.deleted", subscription)

    def price_create(self, price_id: str, unit_amount: int, recurring: bool) -> None:
        self.objects[price_id] = {
            "id": price_id,
            "object": "price",
            "unit_amount": unit_amount,
            "currency": "usd",
            "recurring": {"interval": "month"} if recurring else None,
        }

    def pilot_paid_customer(self, email: str) -> tuple[str, str]:
        """A customer who paid the pilot directly (no signup): (customer id, payment intent)."""
        with self._lock:
            customer = self._customer_create({"customer_email": email})
            intent = self._new(
                "pi", "payment_intent", amount=3900, customer=customer, status="succeeded"
            )
            charge = self._new(
                "ch",
                "charge",
                amount=3900,
                amount_refunded=0,
                customer=customer,
                payment_intent=intent["id"],
                paid=True,
                refunded=False,
            )
            intent["latest_charge"] = charge["id"]
            return customer, intent["id"]

    # --- objects and events ------------------------------------------------------------

    def _new(self, prefix: str, kind: str, **fields: object) -> dict:
        obj = {
            "id": f"{prefix}_test_{next(self._ids):06d}",
            "object": kind,
            "created": self._tick(),
            "livemode": False,
            **fields,
        }
        self.objects[obj["id"]] = obj
        return obj

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def _event(self, kind: str, obj: dict) -> dict:
        event = {
            "id": f"evt_test_{next(self._ids):06d}",
            "object": "event",
            "api_version": self.api_version,
            "created": self._tick(),
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": copy.deepcopy(obj)},
        }
        self.events.append(event)
        return event

    def _customer_create(self, session: dict) -> str:
        return self._new("cus", "customer", email=session.get("customer_email"))["id"]

    def _subscription_create(self, customer: str, price: dict, session: dict) -> dict:
        period_end = self.clock + MONTH_SECONDS
        item = {
            "id": f"si_test_{next(self._ids):06d}",
            "object": "subscription_item",
            "price": copy.deepcopy(price),
            "quantity": 1,
            "current_period_end": period_end,
        }
        return self._new(
            "sub",
            "subscription",
            customer=customer,
            status="active",
            items={"object": "list", "data": [item]},
            metadata=session.get("subscription_data", {}).get("metadata", {}),
        )

    def _invoice_create(
        self, customer: str, price: dict, *, subscription: str | None, paid: bool = True
    ) -> dict:
        number = next(self._ids)
        period_end = self.clock + MONTH_SECONDS
        return self._new(
            "in",
            "invoice",
            customer=customer,
            number=f"CRADLE-{number:04d}",
            status="paid" if paid else "open",
            currency="usd",
            amount_due=price["unit_amount"],
            amount_paid=price["unit_amount"] if paid else 0,
            hosted_invoice_url=f"{self.url}/invoices/{number}",
            parent={
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription},
            }
            if subscription
            else None,
            lines={
                "object": "list",
                "data": [
                    {
                        "period": {"start": self.clock, "end": period_end},
                        "pricing": {"price_details": {"price": price["id"]}},
                    }
                ],
            },
        )

    # --- the HTTP API ------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], params: dict) -> dict:
        if headers.get("Authorization", "") != "Bearer sk_test_cradle":
            raise StripeFailure(401, "api_key_invalid", "Invalid API Key provided")
        routes = [
            ("POST", r"/v1/checkout/sessions", self._checkout_session_create),
            ("GET", r"/v1/checkout/sessions/(?P<id>[\w]+)", self._get),
            ("POST", r"/v1/refunds", self._refund_create),
            ("GET", r"/v1/subscriptions/(?P<id>[\w]+)", self._get),
            ("POST", r"/v1/subscriptions/(?P<id>[\w]+)", self._subscription_update),
            ("POST", r"/v1/billing_portal/sessions", self._portal_session_create),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                with self._lock:
                    return handler(params, **match.groupdict())
        raise StripeFailure(404, "resource_missing", f"Unrecognized request URL ({method}: {path})")

    def _get(self, params: dict, id: str) -> dict:
        if id not in self.objects:
            raise StripeFailure(404, "resource_missing", f"No such object: '{id}'")
        return self.objects[id]

    def _checkout_session_create(self, params: dict) -> dict:
        for item in params.get("line_items", []):
            if item["price"] not in self.objects:
                raise StripeFailure(400, "resource_missing", f"No such price: '{item['price']}'")
        if params.get("customer") and params["customer"] not in self.objects:
            raise StripeFailure(400, "resource_missing", "No such customer")
        session = self._new(
            "cs",
            "checkout.session",
            status="open",
            payment_status="unpaid",
            customer=params.get("customer"),
            payment_intent=None,
            subscription=None,
            **{k: v for k, v in params.items() if k not in ("customer",)},
        )
        session["url"] = f"{self.url}/pay/{session['id']}"
        return session

    def _refund_create(self, params: dict) -> dict:
        intent = self.objects.get(params.get("payment_intent", ""))
        if intent is None:
            raise StripeFailure(400, "resource_missing", "No such payment_intent")
        charge = self.objects[intent["latest_charge"]]
        if charge["refunded"]:
            raise StripeFailure(
                400, "charge_already_refunded", f"Charge {charge['id']} has already been refunded."
            )
        refund = self._new(
            "re",
            "refund",
            amount=charge["amount"],
            charge=charge["id"],
            payment_intent=intent["id"],
            status="succeeded",
            reason=params.get("reason"),
            metadata=params.get("metadata", {}),
        )
        charge.update(refunded=True, amount_refunded=charge["amount"])
        self._event("refund.created", refund)
        self._event("charge.refunded", charge)
        return refund

    def _subscription_update(self, params: dict, id: str) -> dict:
        subscription = self._get(params, id)
        for change in params.get("items", []):
            [item] = [i for i in subscription["items"]["data"] if i["id"] == change["id"]]
            item["price"] = copy.deepcopy(self.objects[change["price"]])
        self._event("customer.subscription.updated", subscription)
        price = self.objects[subscription["items"]["data"][0]["price"]["id"]]
        self._event(
            "invoice.paid", self._invoice_create(subscription["customer"], price, subscription=id)
        )
        return subscription

    def _portal_session_create(self, params: dict) -> dict:
        if params.get("customer") not in self.objects:
            raise StripeFailure(400, "resource_missing", "No such customer")
        return self._new(
            "bps",
            "billing_portal.session",
            customer=params["customer"],
            return_url=params.get("return_url"),
            url=f"{self.url}/portal/{params['customer']}",
        )


def start_fake_stripe(api_version: str) -> tuple[FakeStripe, ThreadingHTTPServer]:
    state = FakeStripe(api_version=api_version)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0)).decode()
            params = form_decode(body if method == "POST" else split.query)
            headers = dict(self.headers.items())
            state.requests.append(Recorded(method, split.path, headers, params))
            key = headers.get("Idempotency-Key", "")
            if method == "POST" and key and key in state._idempotent:
                self._reply(*state._idempotent[key])  # Stripe answers a retried key the same way
                return
            try:
                status, payload = (
                    200,
                    copy.deepcopy(state.handle(method, split.path, headers, params)),
                )
            except StripeFailure as failure:
                status, payload = (
                    failure.status,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "code": failure.code,
                            "message": failure.message,
                        }
                    },
                )
            if method == "POST" and key:
                state._idempotent[key] = (status, payload)
            self._reply(status, payload)

        def _reply(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{time.monotonic_ns()}")
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server
