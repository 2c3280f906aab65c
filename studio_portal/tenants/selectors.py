from studio_portal.tenants.models import Studio


def studio_schema_names() -> list[str]:
    """Every studio's schema (not the public one), for jobs that sweep all tenants."""
    return list(Studio.objects.exclude(schema_name="public").values_list("schema_name", flat=True))
