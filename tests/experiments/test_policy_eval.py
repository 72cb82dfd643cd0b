"""Policies evaluated on a decision log: known answers on a simulated log, and the real
engine's log read back from the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.decide.budget import MemoryBudget
from nextbest.decide.engine import Request
from nextbest.decide.outcomes import learn_from_outcomes
from nextbest.decide.service import DecisionService, default_catalogue
from nextbest.experiments.policy_eval import (
    LoggedDecision,
    Option,
    evaluate_policy,
    policy_named,
)
from nextbest.experiments.policy_log import load_logged
from nextbest.ingest.pipeline import Ingestor
from tests.decide.support import NOW, add_member
from tests.ingest.test_pipeline import records

KEYS = ("offer@email", "offer@push", "nothing@")
RATES = {"offer@email": 0.30, "offer@push": 0.12, "nothing@": 0.05}  # true reward rates


def simulated_log(n: int, seed: int) -> list[LoggedDecision]:
    """A logging policy that draws by softmax over noisy scores; rewards by known rates."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        scores = rng.normal([1.0, 0.8, 0.2], 0.5)
        p = np.exp(scores) / np.exp(scores).sum()
        j = int(rng.choice(3, p=p))
        options = tuple(
            Option(k, float(s), float(q)) for k, s, q in zip(KEYS, scores, p, strict=True)
        )
        reward = float(rng.random() < RATES[KEYS[j]])
        out.append(LoggedDecision(f"d{i}", KEYS[j], float(p[j]), reward, options))
    return out


def true_value(name: str, log: list[LoggedDecision]) -> float:
    """The policy's expected reward on these decisions, from the true rates."""
    policy = policy_named(name)
    return float(np.mean([sum(RATES[k] * p for k, p in policy(d).items()) for d in log]))


def test_the_logged_policy_is_worth_its_mean_reward() -> None:
    log = simulated_log(2000, seed=1)
    got = evaluate_policy("logged", log)
    assert got.estimates["ips"].value == pytest.approx(got.logged_value, rel=1e-12)
    assert got.estimates["snips"].value == pytest.approx(got.logged_value, rel=1e-12)


@pytest.mark.parametrize("name", ["greedy", "uniform", "without:offer"])
def test_estimates_cover_the_true_value_of_another_policy(name: str) -> None:
    log = simulated_log(20_000, seed=7)
    truth = true_value(name, log)
    got = evaluate_policy(name, log)
    for estimator in ("ips", "snips", "dr"):
        assert got.estimates[estimator].covers(truth), (estimator, got.estimates, truth)
    # Switching the offer off is worth less than logging; greedy more: the log can tell.
    if name == "without:offer":
        assert got.estimates["dr"].high < got.logged_value
    if name == "greedy":
        assert got.estimates["dr"].low > got.logged_value


def test_unknown_policies_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown policy 'best'"):
        policy_named("best")
    only_offer = LoggedDecision("d", "offer@email", 1.0, 1.0, (Option("offer@email", 1.0, 1.0),))
    with pytest.raises(ValueError, match="no option"):
        evaluate_policy("without:offer", [only_offer])


def test_the_engines_own_log_is_read_back_and_evaluated(engine: Engine, settings: Settings) -> None:
    catalogue = default_catalogue(None)
    members = [
        add_member(
            engine, settings, f"PE{i}", consents={"email/marketing": True, "push/marketing": True}
        )
        for i in range(24)
    ]
    service = DecisionService(engine, catalogue, budget=MemoryBudget())
    for i, member in enumerate(members):
        service.decide(member, Request(at=NOW, seed=i, send_now=True), resolved=True)
    service.close()
    later = NOW + timedelta(hours=2)
    buys = [
        {
            "type": "purchase",
            "event_id": f"pe-buy-{i}",
            "occurred_at": later.isoformat(),
            "source": "pos",
            "identifiers": {"loyalty_id": f"PE{i}"},
            "order_id": f"pe-order-{i}",
            "total": 7.0,
            "lines": [{"sku": "latte", "category": "coffee", "quantity": 1, "unit_price": 7.0}],
        }
        for i in range(0, 24, 3)
    ]
    Ingestor(engine, settings, clock=lambda: later).ingest_records(records(buys), origin="t")
    assert load_logged(engine).unsettled + load_logged(engine).holdout == 24
    learn_from_outcomes(engine, catalogue, now=NOW + timedelta(hours=200))
    loaded = load_logged(engine)
    assert loaded.unreadable == 0 and loaded.unsettled == 0
    assert len(loaded.decisions) + loaded.holdout == 24
    assert all(0 < d.propensity <= 1 for d in loaded.decisions)
    assert all(sum(o.propensity for o in d.options) == pytest.approx(1.0) for d in loaded.decisions)
    logged = evaluate_policy("logged", loaded.decisions)
    assert logged.estimates["ips"].value == pytest.approx(logged.logged_value)
    rewards = [d.reward for d in loaded.decisions]
    assert 0 < sum(rewards) < len(rewards)  # some converted, some not
    greedy = evaluate_policy("greedy", loaded.decisions)
    assert greedy.decisions == len(loaded.decisions) and greedy.skipped == 0
    if engine.dialect.name == "sqlite":  # the CLI reads the embedded store from the settings
        _cli_prints_the_estimates(settings)


def _cli_prints_the_estimates(settings: Settings) -> None:
    import json

    from typer.testing import CliRunner

    from nextbest.cli import app

    env = {"NEXTBEST_DATA_DIR": str(settings.data_dir), "NEXTBEST_DATABASE_URL": ""}
    runner = CliRunner()
    got = runner.invoke(
        app,
        ["decisions", "evaluate", "--policy", "logged", "--policy", "greedy", "--json"],
        env=env,
    )
    assert got.exit_code == 0, got.output
    body = json.loads(got.output)
    assert [p["policy"] for p in body["policies"]] == ["logged", "greedy"]
    logged = body["policies"][0]
    assert logged["estimates"]["ips"]["ratio_to_logged"] == pytest.approx(1.0)
    bad = runner.invoke(app, ["decisions", "evaluate", "--policy", "best"], env=env)
    assert bad.exit_code != 0 and "unknown policy 'best'" in bad.output
