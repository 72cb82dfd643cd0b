"""Raw files audited before ingest; the HTML page; the `nextbest audit` command."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from nextbest.audit.html import render_html
from nextbest.audit.model import OVERALL, AuditReport
from nextbest.audit.run import audit_files
from nextbest.cli import app
from nextbest.config import Settings
from nextbest.events.flat import FLAT_COLUMNS, flatten
from nextbest.store.engine import make_engine, upgrade
from tests.audit.data import defects, ingest
from tests.audit.test_store_audit import AS_OF


def write_files(folder: Path) -> list[Path]:
    """The planted program split over JSON Lines and CSV, plus a re-sent event and bad JSON."""
    rows = defects()
    jsonl = folder / "a.jsonl"
    lines = [orjson.dumps(r) for r in rows[:5]] + [orjson.dumps(rows[0]), b"{not json"]
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    table = folder / "b.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FLAT_COLUMNS)
        writer.writeheader()
        writer.writerows(flatten(r) for r in rows[5:])
    return [jsonl, table]


@pytest.fixture
def files_report(tmp_path: Path, settings: Settings) -> AuditReport:
    return audit_files(write_files(tmp_path), settings, as_of=AS_OF, top=20)


def test_files_are_audited_with_the_real_validator(files_report: AuditReport) -> None:
    r = files_report
    assert r.scope == "files"
    assert (r.duplicates.rows, r.duplicates.resent_event_ids) == (9, 1)
    assert r.refusals.total == 2
    assert r.refusals.by_field == {"identifiers.email": 1, "(record)": 1}
    pos = next(s for s in r.sources if s.source == "pos")
    assert (pos.unattributed_spend, pos.spend) == (6.0, 10.0)
    assert r.duplicates.extra_purchase_events == 1
    # Resolved in memory: the same members the store ends up with.
    assert r.identity.members == 5 and r.identity.merges is None
    assert r.duplicates.lookalikes.disagreeing == {"email": 1}
    overall = next(f for f in r.freshness if f.source == OVERALL)
    assert overall.latest_received is None and overall.lag_seconds == {}
    assert "Stop re-sending events already delivered" in [f.title for f in r.fixes]


def test_html_is_self_contained_and_has_the_charts(files_report: AuditReport) -> None:
    page = render_html(files_report)
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert links and not [x for x in links if re.match(r"(?i)\s*(https?:)?//", x)]
    assert "<script" not in page.lower() and "@import" not in page
    assert page.count("<svg") == 4
    for title in ("Completeness by field and source", "not tied to any member", "events per day"):
        assert title in page
    assert "Capture an identifier on pos purchases" in page


def test_html_escapes_values_from_the_data(tmp_path: Path, settings: Settings) -> None:
    evil = defects()[:1]
    evil[0]["source"] = "pos"
    evil[0]["identifiers"] = {"pos_card": "<script>alert(1)</script>"}
    path = tmp_path / "evil.jsonl"
    path.write_bytes(orjson.dumps(evil[0]) + b"\n")
    page = render_html(audit_files([path], settings, as_of=AS_OF))
    assert "<script" not in page.lower()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEXTBEST_DATABASE_URL", raising=False)
    return Settings()


def test_cli_audits_the_store_as_text_json_and_html(env: Settings, tmp_path: Path) -> None:
    engine: Engine = make_engine(env)
    upgrade(engine)
    ingest(engine, env)
    engine.dispose()
    runner = CliRunner()
    page = tmp_path / "audit.html"
    text = runner.invoke(app, ["audit", "--html", str(page)], env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    assert "What to fix first" in text.output and "Capture an identifier on pos" in text.output
    assert page.read_text().count("<svg") == 4
    out = runner.invoke(app, ["audit", "--json", "--as-of", "2026-03-11"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["scope"] == "store" and data["as_of"] == "2026-03-11T00:00:00+00:00"
    assert data["duplicates"]["repeated_orders"] == 1


def test_cli_audits_files_and_explains_an_empty_store(env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    paths = [str(p) for p in write_files(tmp_path)]
    out = runner.invoke(app, ["audit", *paths, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["refusals"]["total"] == 2
    empty = runner.invoke(app, ["audit"])
    assert empty.exit_code == 1 and "no event history" in empty.output
