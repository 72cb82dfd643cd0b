"""`nextbest models btyd`: bad rows are named and refused; the JSON report is complete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nextbest.analytics.btyd import simulate_bgnbd
from nextbest.cli import app

runner = CliRunner()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def transactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 simulated customers over 1997-1998, one CSV row per purchase."""
    rng = np.random.default_rng(9)
    n = 1_500
    start = np.datetime64("1997-01-01")
    first = rng.integers(0, 84, n)  # first purchases in Q1 1997, as CDNOW
    horizon_days = (np.datetime64("1998-06-30") - start).astype(int)
    pop = simulate_bgnbd(
        n=n, r=0.5, alpha=4.0, a=0.8, b=2.5, T=(horizon_days - first) / 7.0, seed=rng
    )
    scale = 1.0 / rng.gamma(4.0, 1.0 / 60.0, n)  # Gamma-Gamma: spend ~ Gamma(4, nu), nu varies
    lines = ["customer_id,date,amount"]
    for customer in range(n):
        lines.append(f"c{customer},{start + first[customer]},{rng.gamma(4.0, scale[customer]):.2f}")
        # repeat purchases spread over (first, first + t_x], the last at t_x
        count = int(pop.x[customer])
        if count:
            last = first[customer] + round(pop.t_x[customer] * 7)
            days = np.sort(rng.integers(first[customer] + 1, last + 1, count - 1))
            for day in [*days.tolist(), last]:
                lines.append(f"c{customer},{start + day},{rng.gamma(4.0, scale[customer]):.2f}")
    return _write(tmp_path_factory.mktemp("btyd") / "transactions.csv", lines)


def test_json_report_has_all_models_and_the_holdout(transactions: Path) -> None:
    result = runner.invoke(
        app,
        [
            "models",
            "btyd",
            "--transactions",
            str(transactions),
            "--calibration-end",
            "1997-09-30",
            "--holdout-end",
            "1998-06-30",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["summary"]["customers"] == 1_500
    assert set(out["models"]) == {"bg/nbd", "pareto/nbd", "gamma-gamma"}
    for model in out["models"].values():
        assert model["fit"]["converged"] and model["fit"]["log_likelihood"] < 0
        assert model["fit"]["seconds"] >= 0
    bg = out["models"]["bg/nbd"]
    assert bg["fit"]["n_customers"] == 1_500
    assert bg["fit"]["n_histories"] == out["summary"]["distinct_histories"] < 1_500
    assert bg["fit"]["calibration_end"] == "1997-09-30" and bg["fit"]["unit_days"] == 7.0
    assert bg["params"]["a"] > 0 and set(bg["params"]) == {"r", "alpha", "a", "b"}
    for name in ("bg/nbd", "pareto/nbd"):
        check = out["holdout"][name]
        assert check["horizon"] == 39.0 and check["actual_total"] > 0
        assert abs(check["relative_error"]) < 0.3
        assert 0 < check["correlation"] <= 1
        marks = check["checkpoints"]
        assert marks[-1]["day"] == "1998-06-30"
        assert [m["actual"] for m in marks] == sorted(m["actual"] for m in marks)


def test_table_output(transactions: Path) -> None:
    result = runner.invoke(
        app,
        ["models", "btyd", "--transactions", str(transactions), "--calibration-end", "1997-09-30"],
    )
    assert result.exit_code == 0, result.output
    assert "fitted models" in result.stdout and "pareto/nbd" in result.stdout
    assert "holdout" not in result.stdout


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["a,2024-01-01,5", "a,2024-01-08,abc"], ["bad.csv:3: amount: not a number 'abc'"]),
        (["a,2024-02-30,5"], ["bad.csv:2: date: not a date (YYYY-MM-DD) '2024-02-30'"]),
        (["a,24-1-5,5"], ["bad.csv:2: date: not a date (YYYY-MM-DD) '24-1-5'"]),
        ([",2024-01-01,5"], ["bad.csv:2: customer_id: missing"]),
        (["a,2024-01-01,-3"], ["bad.csv:2: amount: negative '-3'"]),
        (["a,2024-01-01,inf"], ["bad.csv:2: amount: not a number 'inf'"]),
        (["a,2024-01-01"], ["bad.csv:2: amount: missing"]),
        (["a,2024-01-01,5,7"], ["bad.csv:2: row: expected 3 fields, found 4"]),
        (
            ["a,2024-01-01,5", "b,2024-13-01,x", "c,2024-01-02,1"],
            [
                "bad.csv:3: date: not a date (YYYY-MM-DD) '2024-13-01'",
                "bad.csv:3: amount: not a number 'x'",
            ],
        ),
    ],
)
def test_bad_rows_are_named_and_nothing_is_fitted(
    tmp_path: Path, rows: list[str], expected: list[str]
) -> None:
    path = _write(tmp_path / "bad.csv", ["customer_id,date,amount", *rows])
    result = runner.invoke(
        app, ["models", "btyd", "--transactions", str(path), "--calibration-end", "2024-06-30"]
    )
    assert result.exit_code == 2
    lines = [line.replace(str(tmp_path) + "/", "") for line in result.stderr.splitlines()]
    assert lines[: len(expected)] == expected
    assert "nothing fitted" in lines[-1]
    assert result.stdout == ""


def test_every_bad_row_is_counted_and_json_lists_them(tmp_path: Path) -> None:
    rows = [f"c{i},2024-01-0{1 + i % 9},{'x' if i % 2 else '1'}" for i in range(60)]
    path = _write(tmp_path / "many.csv", ["customer_id,date,amount", *rows])
    result = runner.invoke(
        app,
        [
            "models",
            "btyd",
            "--transactions",
            str(path),
            "--calibration-end",
            "2024-06-30",
            "--json",
        ],
    )
    assert result.exit_code == 2
    assert "... and 10 more bad row(s)" in result.stderr
    assert "30 bad row(s); nothing fitted" in result.stderr
    out = json.loads(result.stdout)
    assert out["bad_rows"] == 30 and out["problems"][0].endswith(
        "many.csv:3: amount: not a number 'x'"
    )


def test_missing_header_column_and_bad_dates_in_options(tmp_path: Path) -> None:
    path = _write(tmp_path / "head.csv", ["customer,date,amount", "a,2024-01-01,5"])
    result = runner.invoke(
        app, ["models", "btyd", "--transactions", str(path), "--calibration-end", "2024-06-30"]
    )
    assert result.exit_code == 2
    assert "head.csv:1: header: missing column(s) customer_id" in result.stderr
    good = _write(tmp_path / "good.csv", ["customer_id,date,amount", "a,2024-01-01,5"])
    result = runner.invoke(
        app,
        [
            "models",
            "btyd",
            "--transactions",
            str(good),
            "--calibration-end",
            "2024-06-30",
            "--holdout-end",
            "2024-01-01",
        ],
    )
    assert result.exit_code == 2
    assert "must be after calibration_end" in result.stderr
