from __future__ import annotations

from django.db.models import QuerySet

from studio_portal.audit.models import AuditLogEntry


def audit_log_list(*, action_prefix: str = "") -> QuerySet[AuditLogEntry]:
    entries = AuditLogEntry.objects.select_related("actor")
    if action_prefix:
        entries = entries.filter(action__startswith=action_prefix)
    return entries.order_by("-at", "-pk")
