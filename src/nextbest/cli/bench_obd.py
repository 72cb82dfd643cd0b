"""`nextbest bench obd`: off-policy estimators against Thompson sampling's observed CTR."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from nextbest.bench.obd import ActionDist
    from nextbest.datasets.obd import Campaign

NAMES = {"ips": "IPS (IPW)", "snips": "SNIPS", "dm": "DM", "dr": "DR"}


def bench_obd(
    campaign: str = typer.Option("all", help="Open Bandit Dataset campaign: all, men or women."),
    runs: int = typer.Option(20, min=1, help="Bootstrap resamples of the random log."),
    seed: int = typer.Option(12345),
    action_dist: str = typer.Option(
        "prior",
        help="BTS action distribution: 'prior' (simulated from its Beta prior) or "
        "'empirical' (its log's item-position shares).",
    ),
    n_sim: int = typer.Option(100_000, min=1, help="Simulated BTS impressions ('prior')."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """IPS, SNIPS, DM and DR estimating BTS's CTR from the random policy's log."""
    from nextbest.bench.obd import run_obd_bench

    if campaign not in ("all", "men", "women"):
        raise typer.BadParameter(f"unknown campaign {campaign!r}", param_hint="--campaign")
    if action_dist not in ("prior", "empirical"):
        raise typer.BadParameter(f"unknown {action_dist!r}", param_hint="--action-dist")
    figures = run_obd_bench(
        campaign=cast("Campaign", campaign),
        runs=runs,
        seed=seed,
        action_dist=cast("ActionDist", action_dist),
        n_sim=n_sim,
    )
    if as_json:
        units = {
            "random_ctr": "clicks per impression",
            "truth_ctr": "clicks per impression",
            "value": "clicks per impression",
            "relative_error": "|estimate - truth| / truth",
            "ips_relative_to_random": "IPS estimate / random CTR",
            "published_ips_relative_to_random": "IPW estimate / random CTR (obp)",
            "seconds": "s",
        }
        print(json.dumps({**figures, "units": units}))
        return
    title = (
        f"BTS on '{figures['campaign']}' from the random log: truth (BTS CTR) "
        f"{figures['truth_ctr']:.4f}, random CTR {figures['random_ctr']:.4f}"
    )
    table = Table(title=title)
    columns = ("estimator", "estimate", "95% interval", "covers", "rel. err")
    for col in (*columns, f"mean rel. err ({figures['runs']} runs)", "std"):
        table.add_column(col, justify="right")
    for name, label in NAMES.items():
        e = figures["full_sample"][name]
        r = figures["relative_error"][name]
        table.add_row(
            label,
            f"{e['value']:.5f}",
            f"[{e['low']:.5f}, {e['high']:.5f}]",
            "yes" if e["covers_truth"] else "no",
            f"{e['relative_error']:.3f}",
            f"{r['mean']:.3f}",
            f"{r['std']:.3f}",
        )
    console = Console()
    console.print(table)
    published = figures["published_ips_relative_to_random"]
    beside = (
        f"; published (obp's own BTS simulation): {published:.4f}, ratio "
        f"{figures['ips_relative_to_random'] / published:.4f}"
        if published
        else ""
    )
    console.print(
        f"IPS value of BTS relative to the random CTR: {figures['ips_relative_to_random']:.4f}"
        + beside
    )
    console.print(
        "estimate, interval and rel. err: the whole random log; mean rel. err: bootstrap "
        f"resamples of it. Lowest mean relative error: {NAMES[figures['best']]}; "
        f"action distribution {figures['action_dist']}; reward model {figures['reward_model']}; "
        f"intervals {figures['interval']}; {figures['seconds']:.1f} s"
    )
