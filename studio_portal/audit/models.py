from django.conf import settings
from django.db import models


class AuditLogEntry(models.Model):
    """Who did what to which object; deletions of scans and portraits always write one."""

    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.JSONField(default=dict)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # Made by galleries, which first held the audit log: the table and its rows stay.
        db_table = "galleries_auditlogentry"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"
