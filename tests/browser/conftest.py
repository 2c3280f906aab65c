"""Real Chromium (Debian's /usr/bin/chromium) driving the app served by pytest-django's
live server, with a Dramatiq worker running the actors in-process on the StubBroker.

Nothing is installed here: without /usr/bin/chromium or axe-core the browser tests are skipped
with the command that provides them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dramatiq
import pytest
from dramatiq import Worker

from studio_portal.tenants.models import Studio
from tests.tenancy import drop_studio, make_studio_with_members

# Playwright's sync API keeps an event loop in the main thread for the rest of the session;
# Django's ORM calls from this thread are still plain synchronous calls, so its guard is off.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
AXE_JS = REPO / ".local" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = None
    if not CHROMIUM.exists():
        reason = "Debian's Chromium is missing: apt-get install -y chromium"
    elif not AXE_JS.exists():
        reason = "axe-core is missing: npm install --prefix .local/axe axe-core@4"
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    return {"executable_path": str(CHROMIUM), "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture
def journey_studio(transactional_db, live_server, settings) -> Iterator[Studio]:
    """A studio of its own (live-server tests commit for real), dropped afterwards."""
    studio = make_studio_with_members("journey", "Moonbeam Studio")
    port = live_server.url.rsplit(":", 1)[1]
    # Links in emails and on pages point at the live server's port.
    settings.CRADLE_PUBLIC_PORT = port
    yield studio
    drop_studio(studio)


@pytest.fixture
def studio_url(journey_studio: Studio, live_server) -> str:
    port = live_server.url.rsplit(":", 1)[1]
    return f"http://journey.localhost:{port}"


@pytest.fixture
def worker() -> Iterator[dramatiq.Broker]:
    broker = dramatiq.get_broker()
    broker.flush_all()
    running = Worker(broker, worker_timeout=50, worker_threads=2)
    running.start()
    yield broker
    running.stop()
    broker.flush_all()


@dataclass
class Screenshots:
    folder: Path
    count: int = 0

    def take(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Screenshots:
    folder = SCREENSHOTS / re.sub(r"[^a-z0-9_]+", "-", request.node.name.lower())
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return Screenshots(folder)


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE_JS.read_text()


def axe_serious_violations(page, axe_source: str) -> list[str]:
    """axe-core's serious and critical findings on the page, as readable lines."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which a page's CSP does not block (a
        # <script> tag would be, on pages that allow only their own scripts).
        page.evaluate(axe_source + "\n;0")
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + json.dumps([n["target"] for n in v["nodes"]][:5])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
