"""Outgoing messages: one small interface over the ways Cradle writes to someone (a gallery link
to a parent, an invitation or a password reset to a member, the welcome email to a new owner).

``console`` backends print the message (local use); ``sendgrid`` and ``twilio`` call the real
SDKs, whose base URLs come from settings so tests can point them at local fake servers.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingMessage:
    to: str
    subject: str
    text: str
    html: str = ""
    from_name: str = ""
    # Where the provider reports this message's fate (Twilio's per-message StatusCallback).
    status_callback: str = ""
    # Echoed back in SendGrid's events, so an event finds its delivery even without the id.
    custom_args: tuple[tuple[str, str], ...] = ()


class PermanentDeliveryError(Exception):
    """The provider refused for good (bad address, opted out): retrying cannot help."""


class RecipientOptedOut(PermanentDeliveryError):
    """The recipient replied STOP to our number (Twilio 21610): no text may go to her."""


class TransientDeliveryError(Exception):
    """The provider could not take the message now (network, 5xx, rate limit): retry later."""


class Sender(Protocol):
    def send(self, message: OutgoingMessage) -> str:
        """Send and return the provider's message id."""


class ConsoleEmailSender:
    """Writes the message to stderr (the terminal of `make run`), never to a parent."""

    def send(self, message: OutgoingMessage) -> str:
        sys.stderr.write(f"\n--- email to {message.to}: {message.subject}\n{message.text}\n---\n")
        return "console"


class ConsoleSmsSender:
    def send(self, message: OutgoingMessage) -> str:
        sys.stderr.write(f"\n--- SMS to {message.to}\n{message.text}\n---\n")
        return "console"


class SendGridEmailSender:
    def send(self, message: OutgoingMessage) -> str:
        from python_http_client.exceptions import HTTPError
        from sendgrid import SendGridAPIClient
        from sendgrid.helpers.mail import CustomArg, From, Mail

        mail = Mail(
            from_email=From(settings.DELIVERY_FROM_EMAIL, message.from_name or None),
            to_emails=message.to,
            subject=message.subject,
            plain_text_content=message.text,
            html_content=message.html or None,
        )
        for key, value in message.custom_args:
            mail.add_custom_arg(CustomArg(key, value))
        client = SendGridAPIClient(
            api_key=settings.SENDGRID_API_KEY, host=settings.SENDGRID_API_BASE
        )
        try:
            response = client.send(mail)
        except HTTPError as exc:
            status = getattr(exc, "status_code", 0)
            if status in (400, 401, 403, 413):
                raise PermanentDeliveryError(f"SendGrid refused the email ({status})") from exc
            raise TransientDeliveryError(f"SendGrid answered {status}") from exc
        except OSError as exc:
            raise TransientDeliveryError(f"SendGrid unreachable: {exc}") from exc
        return response.headers.get("X-Message-Id", "") or "sendgrid"


class TwilioSmsSender:
    def send(self, message: OutgoingMessage) -> str:
        from twilio.base import values
        from twilio.base.exceptions import TwilioRestException
        from twilio.rest import Client

        client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
        client.api.base_url = settings.TWILIO_API_BASE
        try:
            sms = client.messages.create(
                to=message.to,
                from_=settings.TWILIO_FROM_NUMBER,
                body=message.text,
                status_callback=message.status_callback or values.unset,
            )
        except TwilioRestException as exc:
            # 21211 invalid number, 21610 recipient replied STOP, 21614 not a mobile number.
            if exc.code == 21610:
                raise RecipientOptedOut(f"Twilio refused the SMS: {exc.msg}") from exc
            if exc.status in (400, 404) or exc.code in (21211, 21614):
                raise PermanentDeliveryError(f"Twilio refused the SMS: {exc.msg}") from exc
            raise TransientDeliveryError(f"Twilio answered {exc.status}") from exc
        except OSError as exc:
            raise TransientDeliveryError(f"Twilio unreachable: {exc}") from exc
        return sms.sid


def email_sender() -> Sender:
    if settings.EMAIL_DELIVERY_BACKEND == "sendgrid":
        return SendGridEmailSender()
    return ConsoleEmailSender()


def sms_sender() -> Sender:
    return TwilioSmsSender() if settings.SMS_DELIVERY_BACKEND == "twilio" else ConsoleSmsSender()
