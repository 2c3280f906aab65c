from studio_portal.tenants.models import Studio


def studio_schema_names() -> list[str]:
    """Every studio's schema (not the public one), for jobs that sweep all tenants."""
    return list(Studio.objects.exclude(schema_name="public").values_list("schema_name", flat=True))


def current_studio() -> Studio:
    """The studio whose schema the connection is in (a request's tenant or a schema_context)."""
    from django.db import connection

    tenant = connection.tenant
    if isinstance(tenant, Studio):
        return tenant
    # schema_context() sets a placeholder tenant that carries only the schema name.
    return Studio.objects.get(schema_name=connection.schema_name)
