"""The console in a real browser: log in, find a member, unmerge, adjust points with a
reason, approve a proposed change, and see a chart drawn."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, Site, log_in


def _email_of_a_member(site: Site) -> tuple[str, str]:
    with site.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT member_id, key FROM identifiers WHERE kind = 'email' ORDER BY key LIMIT 1"
        ).one()
    return row[0], row[1].removeprefix("email:")


def test_login_refuses_a_wrong_password_then_admits_the_right_one(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/console/decisions")
    expect(page).to_have_url(f"{site.base}/console/login?next=/console/decisions")
    page.fill("#username", site.users["analyst"])
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("wrong username or password")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{site.base}/console/decisions")
    expect(page.locator("header .who")).to_have_text(site.users["analyst"])


def test_slash_focuses_the_search_and_an_email_opens_the_member(page: Page, site: Site) -> None:
    member, email = _email_of_a_member(site)
    log_in(page, site, "analyst")
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type(email.upper())  # identifiers are normalised: case does not matter
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{site.base}/console/members/{member}")
    expect(page.locator("main")).to_contain_text(email)


def test_the_overview_draws_its_charts(page: Page, site: Site) -> None:
    log_in(page, site, "analyst")
    charts = page.locator("svg[data-chart]")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 2
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    assert charts.first.locator("rect, path, polyline").count() > 0


def test_keyboard_g_then_a_letter_moves_between_pages(page: Page, site: Site) -> None:
    log_in(page, site, "analyst")
    page.keyboard.press("g")
    page.keyboard.press("d")
    expect(page).to_have_url(f"{site.base}/console/decisions")
    expect(page.locator("h1")).to_have_text("Decision log")


def _balance(site: Site, member: str) -> int:
    from nextbest.ledger.service import Ledger

    return int(Ledger(site.engine).account(member)["balance"])


def test_an_admin_adjusts_points_with_a_reason(page: Page, site: Site) -> None:
    member, _email = _email_of_a_member(site)
    before = _balance(site, member)
    log_in(page, site, "admin")
    page.goto(f"{site.base}/console/members/{member}")
    page.fill("#adjust-points", "125")
    page.fill("#adjust-reason", "goodwill: cold latte on 3 May")
    page.locator("#adjust-form button[type=submit]").click()
    expect(page.locator(".flash.ok")).to_be_visible()
    expect(page.locator("#ledger-history")).to_contain_text("goodwill: cold latte on 3 May")
    assert _balance(site, member) == before + 125
    page.goto(f"{site.base}/console/audit?action=ledger_adjust")
    expect(page.locator("#audit-table")).to_contain_text(f"user:{site.users['admin']}")


def test_an_admin_unmerges_a_merged_member(page: Page, site: Site) -> None:
    with site.engine.connect() as conn:
        merge_id, survivor, merged = conn.exec_driver_sql(
            "SELECT merge_id, survivor_id, merged_id FROM member_merges "
            "WHERE undone_at IS NULL ORDER BY merge_id DESC LIMIT 1"
        ).one()
    log_in(page, site, "admin")
    page.goto(f"{site.base}/console/members/{survivor}")
    form = page.locator(f"#unmerge-{merge_id}")
    expect(form).to_be_visible()
    page.fill(f"#unmerge-reason-{merge_id}", "two people share this tablet")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash.ok")).to_be_visible()
    with site.engine.connect() as conn:
        undone = conn.exec_driver_sql(
            f"SELECT undone_at FROM member_merges WHERE merge_id = {int(merge_id)}"
        ).scalar()
    assert undone is not None
    page.goto(f"{site.base}/console/members/{merged}")
    expect(page.locator("#member-id")).to_contain_text(merged)


def test_a_marketer_proposes_a_catalogue_change_and_an_admin_approves_it(
    page: Page, site: Site
) -> None:
    log_in(page, site, "marketer")
    page.goto(f"{site.base}/console/program")
    editor = page.locator("#catalogue-editor")
    original = editor.input_value()
    assert "Apology and a free latte on us" in original
    # A mistake first: the inline check names it (with its line) before anything is sent.
    editor.fill(original + "\nbogus_setting: 1\n")
    expect(page.locator("#catalogue-editor-issues")).to_contain_text("bogus_setting")
    changed = original.replace("Apology and a free latte on us", "Apology and a pastry on us")
    editor.fill(changed)
    expect(page.locator("#catalogue-editor-issues")).not_to_contain_text("bogus_setting")
    page.locator("#catalogue-editor-propose").click()
    expect(page.locator(".flash.ok")).to_be_visible()
    with site.engine.connect() as conn:
        proposal = conn.exec_driver_sql(
            "SELECT proposal_id FROM proposals WHERE status = 'pending' "
            "ORDER BY proposed_at DESC LIMIT 1"
        ).scalar()
    assert proposal
    page.locator("form.logout button").click()
    log_in(page, site, "admin")
    page.goto(f"{site.base}/console/approvals")
    expect(page.locator(f"#proposal-{proposal}")).to_contain_text("Apology and a pastry on us")
    page.locator(f"#approve-{proposal} button[type=submit]").click()
    expect(page.locator(".flash.ok")).to_be_visible()
    with site.engine.connect() as conn:
        status = conn.exec_driver_sql(
            f"SELECT status FROM proposals WHERE proposal_id = '{proposal}'"
        ).scalar()
    assert status == "approved"
    written = site.settings.data_dir / "program" / "catalogue.yaml"
    assert "Apology and a pastry on us" in written.read_text()
    page.goto(f"{site.base}/console/program")
    expect(page.locator("#catalogue-actions")).to_contain_text("Apology and a pastry on us")
