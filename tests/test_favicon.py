"""Every host answers the icons browsers ask for, so no page view logs a 404."""

from __future__ import annotations

import io

from django.test import Client
from PIL import Image

from studio_portal.tenants.services import public_tenant_ensure


def _icon_sizes(data: bytes) -> set[tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as icon:
        assert icon.format == "ICO"
        return set(icon.info["sizes"])


def test_cradles_own_host_and_a_studios_host_serve_the_favicon(studio) -> None:
    public_tenant_ensure()
    studio_host = studio.domains.get(is_primary=True).domain
    for host in ("localhost", studio_host):
        response = Client(HTTP_HOST=host).get("/favicon.ico")
        assert response.status_code == 200, host
        assert response["Content-Type"] == "image/x-icon"
        assert "max-age" in response["Cache-Control"]
        assert {(16, 16), (32, 32)} <= _icon_sizes(response.content)
        touch = Client(HTTP_HOST=host).get("/apple-touch-icon.png")
        assert touch.status_code == 200 and touch.content.startswith(b"\x89PNG")


def test_the_studio_pages_link_the_icon(client_a) -> None:
    page = client_a.get("/").content.decode()
    assert '<link rel="icon" href="/favicon.ico"' in page
