from __future__ import annotations

from django.db.models import QuerySet

from studio_portal.accounts.models import User
from studio_portal.api.models import ApiKey
from studio_portal.permissions import is_studio_owner


def api_keys_visible_to(user: User) -> QuerySet[ApiKey]:
    """Every member's keys for an owner; a member's own otherwise (the page and the API)."""
    keys = ApiKey.objects.select_related("user")
    return keys if is_studio_owner(user) else keys.filter(user=user)
