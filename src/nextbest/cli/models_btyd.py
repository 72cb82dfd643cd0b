"""`nextbest models btyd`: BG/NBD, Pareto/NBD and Gamma-Gamma fitted on a transactions CSV.

The CSV has a header with ``customer_id,date,amount`` (other columns are ignored), dates
as ``YYYY-MM-DD``, amounts as non-negative numbers. Every bad row is reported as
``file:line: field: reason`` and nothing is fitted (exit code 2).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nextbest.analytics.btyd import (
    BGNBD,
    GammaGamma,
    ParetoNBD,
    Summary,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_paretonbd,
    holdout_check,
    summarise,
)

REQUIRED = ("customer_id", "date", "amount")
SHOWN_PROBLEMS = 20
_ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"


class BadTransactions(ValueError):
    """The file cannot be used; ``problems`` are ``file:line: field: reason`` lines."""

    def __init__(self, problems: list[str], *, bad_rows: int) -> None:
        self.problems = problems
        self.bad_rows = bad_rows
        super().__init__(f"{bad_rows} bad row(s)")


@dataclass(frozen=True)
class Transactions:
    customer_ids: npt.NDArray[np.int64]
    dates: npt.NDArray[np.datetime64]
    amounts: npt.NDArray[np.float64]
    customers: int
    rows: int


def read_transactions(path: Path) -> Transactions:
    """Read and validate the whole file; raises ``BadTransactions`` listing every bad row."""
    raw = path.read_bytes()
    lines = raw.count(b"\n") + (1 if raw and not raw.endswith(b"\n") else 0)
    try:
        frame = pl.read_csv(raw, infer_schema=False, has_header=True)
    except pl.exceptions.PolarsError:
        frame = None
    if frame is not None:
        _check_header(path, frame.columns)
    if frame is None or frame.height != lines - 1:
        # ragged rows, blank lines or quoted line breaks: let the csv module find the lines
        frame, line_numbers = _read_slowly(path)
    else:
        line_numbers = np.arange(2, frame.height + 2)
    return _validate(path, frame=frame, lines=line_numbers)


def _check_header(path: Path, columns: list[str]) -> None:
    names = [c.strip() for c in columns]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise BadTransactions(
            [
                f"{path}:1: header: missing column(s) {', '.join(missing)} "
                f"(expected {','.join(REQUIRED)}, found {','.join(names)})"
            ],
            bad_rows=1,
        )


def _read_slowly(path: Path) -> tuple[pl.DataFrame, npt.NDArray[np.int64]]:
    problems: list[str] = []
    columns: dict[str, list[str]] = {name: [] for name in REQUIRED}
    numbers: list[int] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = [c.strip() for c in next(reader, [])]
        _check_header(path, header)
        where = {name: header.index(name) for name in REQUIRED}
        for row in reader:
            if not row:
                problems.append(f"{path}:{reader.line_num}: row: empty line")
            elif len(row) != len(header):
                problems.append(
                    f"{path}:{reader.line_num}: row: expected {len(header)} fields, "
                    f"found {len(row)}"
                )
            else:
                numbers.append(reader.line_num)
                for name, at in where.items():
                    columns[name].append(row[at])
    if problems:
        raise BadTransactions(problems, bad_rows=len(problems))
    frame = pl.DataFrame(columns, schema={name: pl.String for name in REQUIRED})
    return frame, np.asarray(numbers, dtype=np.int64)


def _validate(path: Path, *, frame: pl.DataFrame, lines: npt.NDArray[np.int64]) -> Transactions:
    frame = frame.rename({c: c.strip() for c in frame.columns})
    text = frame.select(
        [
            pl.col(name).cast(pl.String).str.strip_chars().fill_null("").alias(name)
            for name in REQUIRED
        ]
    )
    parsed = text.select(
        pl.col("customer_id"),
        pl.when(pl.col("date").str.contains(_ISO_DAY))
        .then(pl.col("date").str.to_date("%Y-%m-%d", strict=False))
        .otherwise(None)
        .alias("day"),
        pl.col("amount").cast(pl.Float64, strict=False).alias("value"),
    )
    checks: list[tuple[str, pl.Series, Callable[[str], str]]] = [
        ("customer_id", parsed["customer_id"] == "", lambda _: "missing"),
        (
            "date",
            parsed["day"].is_null(),
            lambda raw: "missing" if raw == "" else f"not a date (YYYY-MM-DD) {raw!r}",
        ),
        (
            "amount",
            parsed["value"].is_null() | ~parsed["value"].is_finite().fill_null(False),
            lambda raw: "missing" if raw == "" else f"not a number {raw!r}",
        ),
        ("amount", parsed["value"].fill_null(0.0) < 0, lambda raw: f"negative {raw!r}"),
    ]
    found: list[tuple[int, str]] = []
    bad = np.zeros(frame.height, dtype=bool)
    for field, mask_series, reason in checks:
        mask = mask_series.fill_null(False).to_numpy()
        bad |= mask
        for at in np.flatnonzero(mask)[:SHOWN_PROBLEMS]:
            raw = text[field][int(at)]
            found.append((int(lines[at]), f"{path}:{lines[at]}: {field}: {reason(raw)}"))
    if bad.any():
        found.sort(key=lambda item: item[0])  # stable: fields in column order
        raise BadTransactions([message for _, message in found], bad_rows=int(bad.sum()))
    if frame.height == 0:
        raise BadTransactions([f"{path}: no transactions"], bad_rows=0)
    codes = parsed["customer_id"].rank("dense").cast(pl.Int64).to_numpy()
    return Transactions(
        customer_ids=codes,
        dates=parsed["day"].to_numpy().astype("datetime64[D]"),
        amounts=parsed["value"].to_numpy().astype(np.float64),
        customers=int(codes.max()),
        rows=frame.height,
    )


def _fit_all(summary: Summary) -> tuple[dict[str, Any], list[BGNBD | ParetoNBD]]:
    started = time.perf_counter()
    histories = summary.histories()
    grouping_s = time.perf_counter() - started
    bg, pn = fit_bgnbd(histories), fit_paretonbd(histories)
    models: dict[str, Any] = {"bg/nbd": bg.to_dict(), "pareto/nbd": pn.to_dict()}
    try:
        gg: GammaGamma | None = fit_gamma_gamma(
            *summary.repeat_customers(), calibration_end=str(summary.calibration_end)
        )
    except ValueError as exc:
        gg = None
        models["gamma-gamma"] = {"model": "gamma-gamma", "error": str(exc)}
    if gg is not None:
        models["gamma-gamma"] = gg.to_dict()
    return {"grouping_s": grouping_s, "models": models}, [bg, pn]


def run_btyd(
    transactions: Transactions, *, calibration_end: str, holdout_end: str | None, unit_days: float
) -> dict[str, Any]:
    """Summarise, fit the three models, and check the holdout when there is one."""
    started = time.perf_counter()
    summary = summarise(
        customer_ids=transactions.customer_ids,
        dates=transactions.dates,
        amounts=transactions.amounts,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        unit_days=unit_days,
    )
    summarise_s = time.perf_counter() - started
    fitted, count_models = _fit_all(summary)
    out: dict[str, Any] = {
        "units": {"time": f"{unit_days:g} days", "seconds": "s", "log_likelihood": "nats"},
        "input": {
            "transactions": transactions.rows,
            "customers_in_file": transactions.customers,
            "calibration_end": calibration_end,
            "holdout_end": holdout_end,
        },
        "summary": {
            "customers": summary.n_customers,
            "repeat_customers": int((summary.frequency > 0).sum()),
            "distinct_histories": summary.histories().n_histories,
            "calibration_repeat_purchases": int(summary.frequency.sum()),
            "summarise_s": summarise_s,
            "grouping_s": fitted["grouping_s"],
        },
        "models": fitted["models"],
    }
    if summary.holdout_length is not None:
        horizon = summary.holdout_length
        steps = sorted({max(1.0, round(horizon * k / 4)) for k in (1, 2, 3)} | {horizon})
        out["holdout"] = {
            model.name: holdout_check(model, summary, checkpoints=steps).to_dict()
            for model in count_models
        }
    return out


def _params(model: dict[str, Any]) -> str:
    if "params" not in model:
        return f"not fitted: {model.get('error', '')}"
    return ", ".join(f"{k}={v:.4g}" for k, v in model["params"].items())


def _print(result: dict[str, Any]) -> None:
    console = Console()
    s, given = result["summary"], result["input"]
    console.print(
        f"{given['transactions']:,} transactions; {s['customers']:,} customers by "
        f"{given['calibration_end']} ({s['repeat_customers']:,} with repeat purchases), "
        f"{s['distinct_histories']:,} distinct (x, t_x, T) histories; time unit "
        f"{result['units']['time']}"
    )
    table = Table(title="fitted models (maximum likelihood on grouped histories)")
    for col in ("model", "parameters", "log-likelihood", "fit s", "iterations", "converged"):
        table.add_column(col, justify="left" if col in ("model", "parameters") else "right")
    for name, model in result["models"].items():
        fit = model.get("fit") or {}
        table.add_row(
            name,
            escape(_params(model)),
            f"{fit['log_likelihood']:,.1f}" if fit else "",
            f"{fit['seconds']:.3f}" if fit else "",
            str(fit.get("iterations", "")),
            ("yes" if fit["converged"] else "NO") if fit else "",
        )
    console.print(table)
    if "holdout" not in result:
        return
    checks = result["holdout"]
    table = Table(title=f"holdout to {given['holdout_end']}: forecast vs actual purchases")
    for col in ("model", "forecast", "actual", "relative error", "MAE / customer", "correlation"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, check in checks.items():
        rel = check["relative_error"]
        table.add_row(
            name,
            f"{check['forecast_total']:,.1f}",
            f"{check['actual_total']:,}",
            "" if rel is None else f"{rel:+.1%}",
            f"{check['mae']:.3f}",
            "" if check["correlation"] is None else f"{check['correlation']:.3f}",
        )
    console.print(table)
    table = Table(title="cumulative holdout purchases at checkpoints")
    names = list(checks)
    for col in ("after (units)", "through", "actual", *names):
        table.add_column(col, justify="right")
    first = checks[names[0]]["checkpoints"]
    for i, mark in enumerate(first):
        forecasts = [f"{checks[n]['checkpoints'][i]['forecast']:,.1f}" for n in names]
        table.add_row(f"{mark['units']:g}", mark["day"], f"{mark['actual']:,}", *forecasts)
    console.print(table)


def btyd(
    transactions: Path = typer.Option(
        ...,
        "--transactions",
        exists=True,
        dir_okay=False,
        help="CSV with a header customer_id,date,amount (date YYYY-MM-DD).",
    ),
    calibration_end: str = typer.Option(
        ..., "--calibration-end", help="Last day of the calibration period (YYYY-MM-DD)."
    ),
    holdout_end: str | None = typer.Option(
        None, "--holdout-end", help="Last day of the holdout period: forecasts are checked."
    ),
    unit_days: float = typer.Option(7.0, "--unit-days", min=0.001, help="Days per time unit."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Fit BG/NBD, Pareto/NBD and Gamma-Gamma on transactions; check a holdout if given."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        data = read_transactions(transactions)
        result = run_btyd(
            data, calibration_end=calibration_end, holdout_end=holdout_end, unit_days=unit_days
        )
    except BadTransactions as exc:
        for line in exc.problems[:SHOWN_PROBLEMS]:
            err.print(escape(line), highlight=False)
        more = exc.bad_rows - min(len(exc.problems), SHOWN_PROBLEMS)
        if more > 0:
            err.print(f"... and {more:,} more bad row(s)")
        err.print(f"{transactions}: {exc.bad_rows:,} bad row(s); nothing fitted", highlight=False)
        if as_json:
            print(
                json.dumps(
                    {"error": "bad rows", "bad_rows": exc.bad_rows, "problems": exc.problems}
                )
            )
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result))
        return
    _print(result)
