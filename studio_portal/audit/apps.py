from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "studio_portal.audit"
    label = "audit"
    verbose_name = "Audit log"
