"""Real headless Chromium (Debian's, driven by Playwright) against the real served console.

One small demo store (300 simulated members, four months) is built per test session, and
the console serves it on a free port. Chromium comes from ``make test``
(scripts/install-chromium.sh); without it these tests skip outside CI and fail in CI.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.console.app import create_app
from nextbest.console.live import serving
from nextbest.console.users import create_user
from nextbest.demo import run_demo
from nextbest.sim import SimConfig
from nextbest.store.engine import make_engine, upgrade
from tests.conftest import unavailable

CHROMIUM = os.environ.get("NEXTBEST_CHROMIUM", "/usr/bin/chromium")
# Flags for a container without a display or a sandbox helper; nothing talks to the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--no-first-run",
]
PASSWORD = "browser-test-password"


@dataclass(frozen=True)
class Site:
    base: str
    engine: Engine
    settings: Settings
    users: dict[str, str]  # role -> username


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable("Chromium", FileNotFoundError(f"{CHROMIUM} (make test installs it)"))
    return CHROMIUM


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Site]:
    data: Path = tmp_path_factory.mktemp("console-demo")
    settings = Settings(data_dir=data, database_url=None, redis_url=None)
    engine = make_engine(settings)
    upgrade(engine)
    run_demo(engine, settings, SimConfig(members=300, months=4, seed=3))
    users = {}
    for role in ("admin", "marketer", "analyst"):
        users[role] = f"{role}-{secrets.token_hex(2)}"
        create_user(engine, username=users[role], password=PASSWORD, roles=role)
    with serving(create_app(settings, engine=engine)) as base:
        yield Site(base=base, engine=engine, settings=settings, users=users)
    engine.dispose()


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object, site: Site) -> Iterator[object]:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def log_in(page: object, site: Site, role: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(f"{site.base}/console/login")
    page.fill("#username", site.users[role])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.base}/console/")
