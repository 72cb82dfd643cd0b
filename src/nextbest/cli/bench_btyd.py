"""`nextbest bench cdnow` and `bench btyd`: the published CDNOW fits, and BG/NBD at scale."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _rel(value: float | None) -> str:
    return "" if value is None else f"{value:+.1%}"


def _published_table(console: Console, published: dict[str, Any]) -> None:
    table = Table(
        title=f"CDNOW sample: {published['customers']:,} customers, calibration weeks 1-39; "
        "ours beside the published estimates"
    )
    for col in ("model", "figure", "published", "ours", "3 significant digits"):
        table.add_column(col, justify="left" if col in ("model", "figure") else "right")
    for name in ("bg/nbd", "pareto/nbd", "gamma-gamma"):
        block = published[name]
        for row in block["params"]:
            table.add_row(
                name,
                row["param"],
                f"{row['published']:g}",
                f"{row['ours']:.4f}",
                _yes(row["matches_3_significant_digits"]),
            )
        ll = block["log_likelihood"]
        table.add_row(
            name,
            "log-likelihood",
            f"{ll['published']:,.1f}",
            f"{ll['ours']:,.2f}",
            _yes(ll["matches_3_significant_digits"]),
        )
        table.add_row(
            name, "  LL at published params", "", f"{ll['ours_at_published_params']:,.2f}", ""
        )
    console.print(table)
    check = published["summary_cross_check"]
    console.print(
        f"distinct histories {published['distinct_histories']:,}; Gamma-Gamma on "
        f"{published['repeat_customers']:,} customers with repeat purchases (mean repeat "
        f"spend). Our summary vs the published table: same customers "
        f"{_yes(check['same_customers'])}, same x {_yes(check['frequency_equal'])}, "
        f"max |t_x| difference {check['max_abs_recency_diff_weeks']:.4f} weeks, max |T| "
        f"difference {check['max_abs_T_diff_weeks']:.4f} (the table rounds to 2 decimals). "
        "Log-likelihoods are complete (no constants dropped)."
    )


def _holdout_tables(console: Console, holdout: dict[str, Any]) -> None:
    names = list(holdout)
    table = Table(title="holdout weeks 40-78: cumulative repeat purchases, forecast vs actual")
    table.add_column("week", justify="right")
    table.add_column("actual", justify="right")
    for name in names:
        table.add_column(f"{name} forecast", justify="right")
        table.add_column("error", justify="right")
    first = holdout[names[0]]["holdout"]["checkpoints"]
    for i, mark in enumerate(first):
        cells = []
        for name in names:
            point = holdout[name]["holdout"]["checkpoints"][i]
            cells += [f"{point['forecast']:,.1f}", _rel(point["relative_error"])]
        table.add_row(f"{39 + mark['units']:g}", f"{mark['actual']:,}", *cells)
    console.print(table)
    for name in names:
        check = holdout[name]["holdout"]
        console.print(
            f"{name}: holdout total forecast {check['forecast_total']:,.1f} vs actual "
            f"{check['actual_total']:,} ({_rel(check['relative_error'])}); per customer MAE "
            f"{check['mae']:.3f}, correlation {check['correlation']:.3f}"
        )
    table = Table(title="tracking: cumulative repeat purchases since week 1 (unconditional)")
    table.add_column("week", justify="right")
    table.add_column("actual", justify="right")
    for name in names:
        table.add_column(f"{name} forecast", justify="right")
        table.add_column("error", justify="right")
    for i, mark in enumerate(holdout[names[0]]["tracking_from_week_1"]):
        cells = []
        for name in names:
            point = holdout[name]["tracking_from_week_1"][i]
            cells += [f"{point['forecast']:,.1f}", _rel(point["relative_error"])]
        table.add_row(f"{mark['week']:g}", f"{mark['actual']:,}", *cells)
    console.print(table)


def _params(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in values.items())


def _timing_table(console: Console, timing: dict[str, Any]) -> None:
    table = Table(
        title=f"fit time on CDNOW master: {timing['customers']:,} customers, "
        f"{timing['distinct_histories']:,} distinct histories ({timing['timing']})"
    )
    columns = ("model", "ours s", "fit only s", "lifetimes s", "ratio", "ratio fit only")
    for col in (*columns, "ours", "lifetimes"):
        table.add_column(col, justify="left" if col in ("model", "ours", "lifetimes") else "right")
    peer = timing["peer"]
    for name, ours in timing["ours"].items():
        theirs = peer.get(name)
        ratio = timing["ratio_peer_to_ours"][name]
        if name == "all three":
            table.add_row(
                name,
                f"{ours['seconds']:.3f}",
                f"{ours['fit_only_seconds']:.3f}",
                f"{theirs['seconds']:.3f}" if theirs else "",
                f"{ratio:.1f}" if ratio is not None else "n/a",
                "",
                "summarised once",
                "",
            )
            continue
        fit_ratio = timing["ratio_peer_to_our_fit_only"][name]
        table.add_row(
            name,
            f"{ours['seconds']:.3f}",
            f"{ours['fit_only_seconds']:.3f}",
            f"{theirs['seconds']:.3f}" if theirs else "",
            f"{ratio:.1f}" if ratio is not None else "n/a",
            f"{fit_ratio:.1f}" if fit_ratio is not None else "n/a",
            f"{_params(ours['params'])}; LL {ours['fit']['log_likelihood']:,.1f}",
            f"{_params(theirs['params'])}; LL {theirs['log_likelihood_by_ours']:,.1f}"
            if theirs
            else "",
        )
    console.print(table)
    if "error" in peer:
        console.print(f"[yellow]peer: {peer['error']}; ratios not available[/]")
    else:
        install = peer["install"]
        how = (
            f"installed now in {install['install_seconds']:.1f} s"
            if install["installed_now"]
            else "reused"
        )
        console.print(
            f"peer: lifetimes {peer['lifetimes']} (numpy {peer['numpy']}, pandas "
            f"{peer['pandas']}), {how} at {install['path']}; same starting points; "
            "lifetimes' default tolerances (BG/NBD and Gamma-Gamma: BFGS with autograd "
            "and a Hessian afterwards; Pareto/NBD: Nelder-Mead)"
        )
        console.print(
            "ratio: lifetimes seconds / ours, ours including summarising the 69,659 "
            "transactions and grouping (lifetimes is given the summary); fit only: ours from "
            "the grouped histories"
        )
        for name, ratio in timing["ratio_peer_to_ours"].items():
            if ratio is not None:
                verdict = "met" if ratio >= 10.0 else "NOT met"
                console.print(f"goal {name}: at least 10x faster, summarising included: {verdict}")


def bench_cdnow(
    repeats: int = typer.Option(3, min=1, help="Timed runs per fit (the best is kept)."),
    peer: bool = typer.Option(True, "--peer/--no-peer", help="Time lifetimes beside ours."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """CDNOW: the published BG/NBD, Pareto/NBD and Gamma-Gamma fits; holdout; speed vs lifetimes."""
    from nextbest.bench.cdnow import run_cdnow_bench

    err = Console(stderr=True)
    result = run_cdnow_bench(
        repeats=repeats, with_peer=peer, progress=lambda line: err.print(f"[dim]{line}[/]")
    )
    if as_json:
        print(json.dumps(result))
        return
    console = Console(width=max(Console().width, 140))
    _published_table(console, result["published"])
    _holdout_tables(console, result["holdout_forecasts"])
    _timing_table(console, result["master_fit_time"])


def bench_btyd(
    customers: int = typer.Option(10_000_000, min=1_000, help="Simulated customers."),
    subset: int = typer.Option(
        1_000_000, min=1_000, help="Customers in the grouped vs ungrouped comparison."
    ),
    seed: int = typer.Option(7),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """BG/NBD on a synthetic population: grouping and fit time, recovered parameters."""
    from nextbest.bench.btyd_scale import run_btyd_scale_bench

    err = Console(stderr=True)
    result = run_btyd_scale_bench(
        customers=customers,
        subset=subset,
        seed=seed,
        progress=lambda line: err.print(f"[dim]{line}[/]"),
    )
    if as_json:
        print(json.dumps(result))
        return
    console = Console()
    table = Table(
        title=f"BG/NBD on {result['customers']:,} simulated customers "
        f"({result['distinct_histories']:,} distinct histories)"
    )
    table.add_column("step", justify="left")
    table.add_column("seconds", justify="right")
    table.add_row("generate (not part of the total)", f"{result['generate_s']:.2f}")
    table.add_row("group by (x, t_x, T)", f"{result['group_s']:.2f}")
    table.add_row(f"fit ({result['fit']['iterations']} BFGS iterations)", f"{result['fit_s']:.2f}")
    table.add_row("total (group + fit)", f"{result['total_s']:.2f}")
    console.print(table)
    table = Table(title="true vs recovered parameters")
    for col in ("param", "true", "recovered", "relative error"):
        table.add_column(col, justify="left" if col == "param" else "right")
    for name, true in result["true_params"].items():
        table.add_row(
            name,
            f"{true:g}",
            f"{result['recovered_params'][name]:.4f}",
            f"{result['relative_error'][name]:+.2%}",
        )
    console.print(table)
    sub = result["subset"]
    console.print(
        f"peer, same run: {sub['customers']:,} customers fitted without grouping "
        f"{sub['ungrouped']['seconds']:.2f} s vs grouped ({sub['distinct_histories']:,} "
        f"histories, grouping included) {sub['grouped']['seconds']:.2f} s: grouping is "
        f"{sub['ratio_ungrouped_to_grouped']:.1f}x faster; same log-likelihood "
        f"{_yes(sub['same_log_likelihood'])}"
    )
    goal = result["goal_fit_s"]
    console.print(f"goal: fit under {goal:.0f} s: {'met' if result['goal_met'] else 'NOT met'}")
