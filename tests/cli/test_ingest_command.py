"""`nextbest ingest file` on a file with malformed rows: each reported, good rows kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextbest.cli import app

GOOD = (
    '{"type":"app_open","event_id":"a1","occurred_at":"2026-01-02T10:00:00+00:00",'
    '"source":"app","identifiers":{"device_id":"d1"}}'
)
LINES = [
    GOOD,
    '{"type":"purchase", broken',
    '{"type":"app_open","event_id":"a2","occurred_at":"2026-01-02T10:00:00+00:00",'
    '"source":"app","identifiers":{"device_id":"d1"},"app_version":17}',
    '{"type":"app_open","occurred_at":"2026-01-02T10:00:00+00:00","source":"app"}',
    '{"type":"app_open","event_id":"a4","occurred_at":"2999-01-01T00:00:00+00:00","source":"app"}',
    '{"type":"hover","event_id":"a5","occurred_at":"2026-01-02T10:00:00+00:00","source":"app"}',
    '{"type":"app_open","event_id":"a6","occurred_at":"2026-01-03T10:00:00+00:00",'
    '"source":"kiosk","identifiers":{"pos_card":"c9"}}',
]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEXTBEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEXTBEST_INGEST_WORKERS", "0")
    return tmp_path


def test_bad_rows_reported_with_line_and_reason_and_rerun_is_a_no_op(data_dir: Path) -> None:
    path = data_dir / "events.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "file", str(path)], terminal_width=200)
    assert first.exit_code == 0, first.output
    out = first.output
    for expected in (
        "line 2",
        "bad JSON",
        "line 3",
        "app_version",
        "line 4",
        "event_id: Field required",
        "line 5",
        "in the future",
        "line 6",
        "unknown event type 'hover'",
    ):
        assert expected in out, expected
    assert re.search(r"accepted\s+│\s+2\s", out)
    assert re.search(r"rejected → dead letters\s+│\s+5\s", out)
    second = runner.invoke(app, ["ingest", "file", str(path)], terminal_width=200)
    assert re.search(r"accepted\s+│\s+0\s", second.output)
    assert re.search(r"duplicates \(already ingested\)\s+│\s+2\s", second.output)
    listing = runner.invoke(app, ["ingest", "dead-letters"], terminal_width=200)
    assert listing.output.count("events.jsonl") == 5  # five dead letters, not ten
