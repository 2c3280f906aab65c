"""Phone numbers as Cradle stores them: E.164, for a parent's mobile or a studio's contact."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError


def normalize_phone(raw: str) -> str:
    """E.164 or a ValidationError a sonographer can act on; US numbers may omit +1."""
    if not raw.strip():
        return ""
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            "That phone number does not look right. Use the full number, e.g. +1 415 555 0123."
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            "That phone number is not a valid mobile number. Use the full number with country code."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
