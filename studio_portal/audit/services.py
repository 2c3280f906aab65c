"""The studio's audit log: every app records here who did what to which object."""

from __future__ import annotations

from studio_portal.audit.models import AuditLogEntry


def audit_log_write(
    *, action: str, obj: object, actor: object | None = None, detail: dict | None = None
) -> AuditLogEntry:
    return AuditLogEntry.objects.create(
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "pk", "") or ""),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        detail=detail or {},
    )
