"""`bench ledger` on a small run: real postings counted, books balanced, peers measured."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nextbest.cli import app


def test_bench_ledger_counts_real_postings() -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "ledger",
            "--requests",
            "40",
            "--purchases",
            "300",
            "--chunk",
            "100",
            "--members",
            "10",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    sqlite = figures["sqlite"]
    assert sqlite["ledger_balances"] is True
    # A credit and a redemption post two postings each; a purchase four (two currencies).
    assert sqlite["requests"]["postings"] == 2 * sqlite["requests"]["requests"] == 80
    assert sqlite["ingest"]["postings"] == 4 * 300
    assert sqlite["peer_ingest"]["postings"] == sqlite["ingest"]["postings"]
    assert sqlite["ratio_requests_to_peer"] > 0 and sqlite["ratio_ingest_to_peer"] > 0
    assert figures["units"]["postings_per_s"] == "postings/s"
