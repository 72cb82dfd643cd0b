"""`nextbest ledger`: a purchase's points, then redeem, adjust, reverse, run-due and check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import nextbest
from nextbest.cli import app
from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.store import tables as t
from nextbest.store.engine import make_engine, upgrade
from tests.ingest.test_pipeline import records

DEMO = Path(nextbest.__file__).parent / "ledger" / "programs" / "bean_and_bake.yaml"
EARNED = 107  # 57.00 USD, 50.00 of it beans at x2 (demo program)


def purchase(event_id: str, email: str, *, ago: timedelta) -> dict[str, Any]:
    return {
        "type": "purchase",
        "event_id": event_id,
        "occurred_at": (datetime.now(UTC) - ago).isoformat(),
        "source": "pos",
        "identifiers": {"email": email},
        "order_id": f"order-{event_id}",
        "lines": [
            {"sku": "latte", "category": "coffee", "quantity": 2, "unit_price": 3.5},
            {"sku": "house-blend", "category": "beans", "quantity": 2, "unit_price": 25.0},
        ],
        "total": 57.0,
    }


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The demo program applied, and Ann's purchase of five minutes ago ingested."""
    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEXTBEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEXTBEST_INGEST_WORKERS", "0")
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: one row a line
    applied = CliRunner().invoke(app, ["program", "apply", str(DEMO)])
    assert applied.exit_code == 0, applied.output
    settings = Settings()
    engine = make_engine(settings)
    upgrade(engine)
    event = purchase("p1", "ann@example.com", ago=timedelta(minutes=5))
    Ingestor(engine, settings).ingest_records(records([event]), origin="test")
    engine.dispose()
    return settings


def cli(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, ["ledger", *args], terminal_width=200)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def balance(ref: str = "ann@example.com") -> int:
    value: int = json.loads(cli("balance", ref, "--json").stdout)["balance"]
    return value


@pytest.mark.usefixtures("settings")
def test_balance_tier_and_history_of_a_purchase() -> None:
    view = json.loads(cli("balance", "ann@example.com", "--json").stdout)
    assert view["balance"] == EARNED and view["currency"] == "beans"
    assert view["member_id"].startswith("m_")
    assert balance(view["member_id"]) == balance("email:ANN@example.com") == EARNED
    text = cli("balance", "ann@example.com").stdout
    assert f"{EARNED} beans" in text and "193 more for gold" in text

    tier = json.loads(cli("tier", "ann@example.com", "--json").stdout)
    assert (tier["tier"], tier["next_tier"], tier["needed"]) == ("green", "gold", 193)
    assert tier["qualifying"] == EARNED and tier["grace_until"] is None
    shown = cli("tier", "ann@example.com").stdout
    assert "tier green" in shown and "next: gold at 300, 193 more" in shown

    [entry] = json.loads(cli("history", "ann@example.com", "--json").stdout)
    assert entry["kind"] == "earn" and entry["points"] == EARNED
    assert [r["rule"] for r in entry["detail"]["rules"]] == ["base", "multiplier:category=beans"]
    assert "multiplier:category=beans +50" in cli("history", "ann@example.com").stdout


@pytest.mark.usefixtures("settings")
def test_redeem_once_per_key_and_refuse_what_cannot_be_paid() -> None:
    first = cli("redeem", "ann@example.com", "drip-coffee", "--key", "r-1")
    assert "-80 points" in first.stdout and "replayed" not in first.stdout
    assert balance() == EARNED - 80
    again = cli("redeem", "ann@example.com", "drip-coffee", "--key", "r-1")
    assert "replayed" in again.stdout
    assert balance() == EARNED - 80

    other = cli(
        "redeem", "ann@example.com", "drip-coffee", "--quantity", "2", "--key", "r-1", code=1
    )
    assert "'r-1' was used for a different request" in other.stderr
    short = cli("redeem", "ann@example.com", "pastry", "--key", "r-2", code=1)
    assert "insufficient points" in short.stderr and "has 27 beans, needs 120" in short.stderr
    assert len(short.stderr.strip().splitlines()) == 1
    unknown = cli("redeem", "ann@example.com", "yacht", "--key", "r-3", code=1)
    assert "unknown reward 'yacht'" in unknown.stderr
    nobody = cli("balance", "nobody@example.com", code=1)
    assert "no member with identifier 'nobody@example.com'" in nobody.stderr
    assert balance() == EARNED - 80


@pytest.mark.usefixtures("settings")
def test_adjust_and_reverse_then_the_ledger_still_balances() -> None:
    burn = json.loads(
        cli("redeem", "ann@example.com", "drip-coffee", "--key", "r-1", "--json").stdout
    )
    debit = cli("adjust", "ann@example.com", "-7", "--reason", "double credit", "--key", "a-1")
    assert "-7 points" in debit.stdout
    assert balance() == EARNED - 80 - 7
    cli("adjust", "ann@example.com", "25", "--reason", "cold coffee", "--key", "a-2", "--by", "bo")
    assert balance() == EARNED - 80 + 18
    zero = cli("adjust", "ann@example.com", "0", "--reason", "none", "--key", "a-3", code=1)
    assert "0 points changes nothing" in zero.stderr
    cli("adjust", "ann@example.com", "-500", "--reason", "x", "--key", "a-4", code=1)

    undo = json.loads(
        cli("reverse", burn["entry_id"], "--reason", "till error", "--key", "v-1", "--json").stdout
    )
    assert (undo["kind"], undo["points"], undo["reverses"]) == ("reverse", 80, burn["entry_id"])
    assert balance() == EARNED + 18
    twice = cli("reverse", burn["entry_id"], "--reason", "again", "--key", "v-2", code=1)
    assert "already reversed" in twice.stderr
    assert (
        "does not exist" in cli("reverse", "le_x", "--reason", "r", "--key", "v-3", code=1).stderr
    )

    entries = json.loads(cli("history", "ann@example.com", "--json").stdout)
    assert [e["kind"] for e in entries] == ["reverse", "adjust", "adjust", "burn", "earn"]
    assert entries[1]["actor"] == "bo" and entries[1]["reason"] == "cold coffee"
    assert len(json.loads(cli("history", "ann@example.com", "--limit", "2", "--json").stdout)) == 2
    assert cli("check").stdout.strip() == "ledger balances: 1 accounts, 5 entries"


def test_run_due_expires_old_points_and_check_finds_a_broken_balance(settings: Settings) -> None:
    engine = make_engine(settings)
    old = purchase("p0", "bob@example.com", ago=timedelta(days=200))  # past 6-month expiry
    Ingestor(engine, settings).ingest_records(records([old]), origin="test")
    assert json.loads(cli("balance", "bob@example.com", "--json").stdout)["pending_expiry"] == 107
    assert balance("bob@example.com") == 0

    ran = cli("run-due").stdout
    assert "1 expiries (107 points)" in ran, ran
    assert "1 expiries" not in cli("run-due").stdout  # nothing left to expire
    assert json.loads(cli("balance", "bob@example.com", "--json").stdout)["pending_expiry"] == 0
    assert "ledger balances: 2 accounts" in cli("check").stdout
    assert cli("run-due", "--as-of", "next week", code=2).exit_code == 2

    with engine.begin() as conn:
        conn.execute(
            sa.update(t.ledger_accounts)
            .where(t.ledger_accounts.c.currency == "beans")
            .values(balance=t.ledger_accounts.c.balance + 5)
        )
    engine.dispose()
    broken = cli("check", code=1)
    assert "balance 112 but postings sum to 107" in broken.stderr
    assert "problem(s) in the ledger" in broken.stderr
