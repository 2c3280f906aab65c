from django.db import connection
from django.http import HttpRequest

from branding.selectors import brand_kit_get


def branding(request: HttpRequest) -> dict[str, object]:
    """Studio tokens for every tenant page; the public site gets Cradle's own look."""
    tenant = getattr(request, "tenant", None)
    if tenant is None or connection.schema_name == "public":
        return {"brand": None, "studio": None}
    return {"brand": brand_kit_get(), "studio": tenant}
