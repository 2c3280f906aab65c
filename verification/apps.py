from django.apps import AppConfig

from branding.marks import mark_issuer_set


class VerificationConfig(AppConfig):
    name = "verification"
    verbose_name = "Public provenance check"

    def ready(self) -> None:
        # Lazy: verification.services imports models, which load only once the registry is.
        from verification.services import portrait_mark_issue

        mark_issuer_set(portrait_mark_issue)
