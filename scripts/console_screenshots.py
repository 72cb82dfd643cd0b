"""Screenshots of the console's main pages for the README.

    .venv/bin/python scripts/console_screenshots.py --data-dir .nextbest --out docs/console

Run after `make demo` (it reads that store). It serves the console on a free port, logs in
as a throwaway admin user (made here, then disabled) and saves one PNG per page.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from playwright.sync_api import sync_playwright

from nextbest.agents.proposals import propose
from nextbest.config import Settings
from nextbest.console.app import create_app
from nextbest.console.live import serving
from nextbest.console.users import create_user, disable_user
from nextbest.decide.service import effective_catalogue_text
from nextbest.store.engine import make_engine

PAGES = {
    "overview": "/console/",
    "segments": "/console/segments",
    "member": None,  # the member with the most events, found below
    "program": "/console/program",
    "journeys": "/console/journeys",
    "journey": "/console/journeys/winback",
    "experiments": "/console/experiments",
    "decisions": "/console/decisions",
    "approvals": "/console/approvals",
    "audit": "/console/audit",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".nextbest"))
    parser.add_argument("--out", type=Path, default=Path("docs/console"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    engine = make_engine(settings)
    username, password = f"shots-{secrets.token_hex(2)}", secrets.token_urlsafe(16)
    create_user(engine, username=username, password=password, roles="admin", actor="screenshots")
    with engine.connect() as conn:
        member = conn.exec_driver_sql(
            "SELECT member_id FROM events WHERE member_id IS NOT NULL "
            "GROUP BY member_id ORDER BY COUNT(*) DESC, member_id LIMIT 1"
        ).scalar()
    # Something for the approvals page to show: a pending change of one cost of goods.
    text = effective_catalogue_text(settings)
    if "cost: 1.5  " in text:
        propose(
            engine,
            settings,
            kind="catalogue",
            target="catalogue",
            text=text.replace("cost: 1.5  ", "cost: 1.25 ", 1),
            actor="user:marketer",
        )
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with serving(create_app(settings, engine=engine)) as base, sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/console/login")
            page.fill("#username", username)
            page.fill("#password", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/console/")
            for name, path in PAGES.items():
                target = path or f"/console/members/{member}"
                page.goto(base + target)
                page.screenshot(path=str(args.out / f"{name}.png"))
                print(f"{name}: {args.out / f'{name}.png'}")
            browser.close()
    finally:
        disable_user(engine, username, actor="screenshots")
        engine.dispose()


if __name__ == "__main__":
    main()
