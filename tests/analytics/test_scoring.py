"""The scoring job and the early-warning comparison on a small simulated, ingested program."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from typer.testing import CliRunner

from nextbest.analytics import registry
from nextbest.analytics.early_warning import run_early_warning
from nextbest.analytics.features import Snapshot
from nextbest.analytics.features.load import open_features, spend_currency
from nextbest.analytics.predict.training import Horizons
from nextbest.analytics.scoring import NotEnoughData, run_scoring
from nextbest.config import Settings
from nextbest.demo import DEMO_PROGRAM, ensure_program
from nextbest.ingest.service import ingest_file
from nextbest.profiles.read import member_view
from nextbest.sim import SimConfig, simulate_to_dir
from nextbest.store.engine import make_engine, upgrade

pytestmark = pytest.mark.slow
HORIZONS = Horizons(
    churn_days=30,
    next_purchase_days=30,
    value_days=60,
    step_days=21,
    train_snapshots=2,
    min_history_days=45,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Engine]]:
    root = tmp_path_factory.mktemp("scoring")
    settings = Settings(data_dir=root / "data", database_url=None, redis_url=None, ingest_workers=0)
    engine = make_engine(settings)
    upgrade(engine)
    ensure_program(engine, DEMO_PROGRAM)
    sim = root / "sim"
    simulate_to_dir(
        SimConfig(members=900, months=7, seed=4, start=date(2025, 1, 1)), sim, "parquet"
    )
    for part in sorted((sim / "events").glob("*.parquet")):
        ingest_file(engine, settings, part, fmt="parquet")
    yield settings, engine
    engine.dispose()


def test_scoring_writes_explained_scores_and_model_cards(store: tuple[Settings, Engine]) -> None:
    settings, engine = store
    report = run_scoring(settings, engine=engine, horizons=HORIZONS)
    churn = report.reports["churn"]
    # out-of-time validation: the model ranks churners better than chance and than nothing
    assert churn["model"]["auc"] > 0.7
    assert {"rfm_recency", "bgnbd_p_alive"} <= set(churn)
    assert 0.0 <= churn["model"]["brier"] < 0.25
    assert report.scored["churn_risk"] > 100
    assert report.scored["rfm"] == report.scored["churn_risk"]  # every purchaser
    assert report.scored["microsegment"] == report.members
    with engine.connect() as conn:
        names = dict(registry.counts(conn))
        member = conn.execute(
            sa.text("SELECT member_id FROM member_scores WHERE name = 'churn_risk' LIMIT 1")
        ).scalar_one()
    assert names["churn_risk"] == report.scored["churn_risk"]
    view = member_view(engine, member)
    churn_score = view["scores"]["churn_risk"]
    assert 0.0 <= churn_score["value"] <= 1.0
    assert churn_score["model_version"] == report.versions["churn_risk"]
    assert len(churn_score["why"]) == 3 and churn_score["why"][0]["feature"]
    assert view["scores"]["rfm"]["label"]  # the named segment
    assert view["scores"]["rfm"]["why"][0].startswith("R=")  # and the edges behind it
    sc = {name: v["value"] for name, v in view["scores"].items()}
    assert 0.0 < sc["p_alive"] <= 1.0
    # 12 monthly periods discounted at 1%: below undiscounted purchases x spend, not far below
    undiscounted = sc["expected_purchases_52w"] * sc["expected_order_value"]
    assert 0.88 * undiscounted < sc["clv_12m"] < undiscounted
    card = registry.cards(engine, "churn")[0]
    assert card["version"] == report.versions["churn_risk"]
    assert card["window"]["validation_snapshot"] > card["window"]["calibration_snapshot"]
    assert card["features"] and card["metrics"]["model"]["auc"] == churn["model"]["auc"]
    assert set(card["fairness"]) == {"age_band", "region"}
    assert card["drift"]["psi"] is None  # the first version has nothing to drift from

    # a second run with different horizons trains a new version, measured against the first
    second = run_scoring(
        settings,
        engine=engine,
        horizons=replace(HORIZONS, churn_days=45),
    )
    assert second.versions["churn_risk"] != report.versions["churn_risk"]
    newest = registry.cards(engine, "churn")[0]
    assert newest["drift"]["previous_version"] == report.versions["churn_risk"]
    assert newest["drift"]["psi"] is not None and newest["drift"]["psi"] >= 0.0

    # --reuse scores with the registered models and trains nothing
    reused = run_scoring(settings, engine=engine, horizons=HORIZONS, retrain=False)
    assert reused.versions["churn_risk"] == second.versions["churn_risk"]
    assert set(reused.versions) == set(second.versions)  # propensities too
    assert reused.cards == {}


def test_early_warning_compares_at_equal_precision(store: tuple[Settings, Engine]) -> None:
    settings, engine = store
    features = open_features(settings, engine)
    first, last = features.span()
    assert first is not None and last is not None
    result = run_early_warning(
        features,
        truth_dir=settings.data_dir.parent / "sim" / "truth",
        start=first,
        end=last,
        categories=features.categories(Snapshot(as_of=last)),
        spend_currency=spend_currency(engine),
        horizons=HORIZONS,
        window_days=42,
        precisions=(0.05, 0.1),
    )
    assert result["dropouts_in_window"] > 0 and result["snapshots"] == 7
    low = result["levels"][0]
    for name in ("model", "rfm_recency"):
        assert low[name] is not None and low[name]["precision"] >= 0.05
        assert 0 < low[name]["right"] <= low[name]["flagged"]
    assert low["days_earlier_median"] == pytest.approx(
        low["rfm_recency"]["median_delay_days"] - low["model"]["median_delay_days"]
    )


def test_scoring_an_empty_store_says_why(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None, redis_url=None)
    engine = make_engine(settings)
    upgrade(engine)
    with pytest.raises(NotEnoughData, match="no purchases"):
        run_scoring(settings, engine=engine)


def test_score_command_prints_json(
    store: tuple[Settings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nextbest.cli import app

    settings, _ = store
    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NEXTBEST_INGEST_WORKERS", "0")
    result = CliRunner().invoke(app, ["score", "--reuse", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["scored"]["churn_risk"] > 100 and data["members"] > 0
    cards = CliRunner().invoke(app, ["models", "cards", "--json"])
    assert cards.exit_code == 0 and json.loads(cards.stdout)[0]["task"]
