"""`nextbest models recommend` and `bench recommend`: next products per member."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from nextbest.analytics.recommend import Explanation, Interactions, Recommender

MODELS = ("item_knn", "als", "popularity", "frequency")


def _when(text: str, option: str) -> datetime:
    """YYYY-MM-DD (midnight UTC) or an ISO time (UTC when it names no zone)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} must be YYYY-MM-DD or ISO, got {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _because(e: Explanation, top: int = 3) -> str:
    """Largest drivers as shares of a positive score, else as signed contributions."""
    if e.score > 0 and all(share >= 0 for _, share in e.drivers):
        parts = [f"{item} {share / e.score:.0%}" for item, share in e.drivers[:top]]
        rest = sum(share for _, share in e.drivers[top:]) / e.score
        base = e.base / e.score
        more = f"{len(e.drivers) - top} more {rest:.0%}"
        popular = f"popularity {base:.0%}"
    else:
        parts = [f"{item} {share:+.3g}" for item, share in e.drivers[:top]]
        rest = sum(share for _, share in e.drivers[top:])
        base = e.base
        more = f"{len(e.drivers) - top} more {rest:+.3g}"
        popular = f"popularity {base:+.3g}"
    if len(e.drivers) > top:
        parts.append(more)
    if not parts or (e.score > 0 and base >= 0.005):
        parts.append(popular)
    return ", ".join(parts)


def recommend(
    history: Path | None = typer.Option(
        None,
        "--history",
        help="Event history directory (default: the store's), or a `nextbest simulate` output "
        "(members are then the true persons).",
    ),
    as_of: str = typer.Option(..., "--as-of", help="Fit on purchases before this date/time."),
    members: list[str] = typer.Option(
        [], "--member", help="Member id, repeatable (default: a sample of members)."
    ),
    level: str = typer.Option("sku", "--level", help="sku or category."),
    k: int = typer.Option(10, "-k", "--k", min=1, help="Recommendations per member."),
    model_name: str = typer.Option(
        "item_knn", "--model", help="item_knn, als, popularity or frequency."
    ),
    new_only: bool = typer.Option(
        False, "--new-only", help="Only items the member has not bought before."
    ),
    sample: int = typer.Option(5, "--sample", min=1, help="Members shown when none is given."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Top-k next products (or categories) per member, each with what drove it."""
    import numpy as np

    from nextbest.analytics import recommend as rec
    from nextbest.analytics.interactions import LEVELS, is_simulation, read_interactions
    from nextbest.config import Settings

    chosen_level = next((name for name in LEVELS if name == level), None)
    if chosen_level is None:
        raise typer.BadParameter(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    if model_name not in MODELS:
        raise typer.BadParameter(f"--model must be one of {', '.join(MODELS)}, got {model_name!r}")
    directory = history if history is not None else Settings().event_history_dir
    end = _when(as_of, "--as-of")
    try:
        interactions = read_interactions(directory, level=chosen_level, end=end)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if len(interactions) == 0:
        typer.echo(f"error: no purchases before {end.isoformat()} in {directory}", err=True)
        raise typer.Exit(1)
    model = _fit(model_name, interactions)
    known = interactions.members()
    if members:
        chosen = list(dict.fromkeys(members))
    else:
        picks = np.random.default_rng(0).choice(len(known), min(sample, len(known)), replace=False)
        chosen = [known[i] for i in sorted(picks.tolist())]
    recs = rec.recommend_many(model, interactions, members=chosen, k=k, exclude_seen=new_only)
    _, bought = rec.member_matrix(interactions, items=model.items, members=chosen)
    seen = set(known)
    entries: list[dict[str, Any]] = []
    explanations: list[list[Explanation]] = []
    for row, member in enumerate(chosen):
        listed = [item for item, _ in recs.of(member)]
        explanations.append(
            rec.explain(model, interactions, member, items=listed) if listed else []
        )
        entries.append(_entry(member, member in seen, model.items, bought[[row]], explanations[-1]))
    if as_json:
        out = {
            "as_of": end.isoformat(),
            "source": "simulation" if is_simulation(directory) else "history",
            "directory": str(directory),
            "level": level,
            "k": k,
            "new_only": new_only,
            "model": {
                "kind": model.kind,
                "version": model.version,
                "params": model.params,
                "items": len(model.items),
                "trained_on": {"purchase_lines": len(interactions), "members": len(known)},
            },
            "members": entries,
        }
        print(json.dumps(out))
        return
    console = Console()
    console.print(
        f"{model.kind} {model.version} fitted on {len(interactions):,} purchase lines of "
        f"{len(known):,} members before {end.isoformat()} ({len(model.items)} {level} items)"
    )
    for entry, explained in zip(entries, explanations, strict=True):
        console.print(_member_table(entry, explained))


def _fit(name: str, interactions: Interactions) -> Recommender:
    from nextbest.analytics import recommend as rec
    from nextbest.analytics.recommend_als import fit_als

    fits: dict[str, Callable[[Interactions], Recommender]] = {
        "item_knn": rec.fit_item_knn,
        "als": fit_als,
        "popularity": rec.fit_popularity,
        "frequency": rec.fit_frequency,
    }
    return fits[name](interactions)


def _entry(
    member: str,
    known: bool,
    items: tuple[str, ...],
    bought: Any,
    explained: list[Explanation],
) -> dict[str, Any]:
    """One member's JSON: what they bought (most first) and each recommendation's drivers."""
    order = sorted(range(len(bought.data)), key=lambda i: -float(bought.data[i]))
    return {
        "member_id": member,
        "known": known,
        "bought": [
            {"item": items[int(bought.indices[i])], "quantity": float(bought.data[i])}
            for i in order
        ],
        "recommendations": [
            {
                "rank": rank,
                "item": e.item,
                "score": round(e.score, 6),
                "base": round(e.base, 9),
                "because": [{"item": i, "share": round(s, 6)} for i, s in e.drivers],
            }
            for rank, e in enumerate(explained, start=1)
        ],
    }


def _member_table(entry: dict[str, Any], explained: list[Explanation]) -> Table:
    bought = entry["bought"]
    text = ", ".join(f"{b['item']} x{b['quantity']:g}" for b in bought[:5])
    if len(bought) > 5:
        text += f" and {len(bought) - 5} more"
    title = f"{entry['member_id']}: " + (f"bought {text}" if bought else "no purchases before")
    table = Table(title=title, title_justify="left")
    for col in ("rank", "item", "score", "because (share of the score)"):
        table.add_column(col, justify="right" if col in ("rank", "score") else "left")
    for rank, e in enumerate(explained, start=1):
        table.add_row(str(rank), e.item, f"{e.score:.4g}", _because(e))
    return table


def bench_recommend(
    members: int = typer.Option(5_000, "--members", min=50, help="Simulated persons."),
    months: int = typer.Option(12, "--months", min=2, help="Months simulated."),
    seed: int = typer.Option(7, "--seed"),
    sim: Path | None = typer.Option(
        None, "--sim", help="Use this `nextbest simulate` output instead of simulating."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Train before this date (default: 30 days before the end)."
    ),
    window: int = typer.Option(30, "--window", min=1, help="Test window in days."),
    k: int = typer.Option(10, "-k", "--k", min=1, help="Cut-off at SKU level."),
    k_category: int = typer.Option(
        3, "--k-category", min=1, help="Cut-off at category level (there are 8 categories)."
    ),
    cache: Path = typer.Option(Path(".nextbest/bench"), help="Where simulations are cached."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Recall@k and NDCG@k of item-item CF and implicit ALS beside popularity and personal
    frequency, on a time split of a simulated history; fit and scoring speed."""
    from nextbest.bench.recommend import run_recommend_bench

    split_day: date | None = None
    if split is not None:
        try:
            split_day = date.fromisoformat(split)
        except ValueError:
            raise typer.BadParameter(f"--split must be YYYY-MM-DD, got {split!r}") from None
    err = Console(stderr=True)
    try:
        result = run_recommend_bench(
            members=members,
            months=months,
            seed=seed,
            sim=sim,
            split=split_day,
            window_days=window,
            k=k,
            k_category=k_category,
            cache=cache,
            progress=lambda line: err.print(f"[dim]{line}[/]"),
        )
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result))
        return
    console = Console()
    labels = {
        "item_knn": "item-kNN",
        "als": "ALS",
        "popularity": "popularity",
        "frequency": "frequency",
    }
    for level, r in result["levels"].items():
        table = Table(
            title=f"{level} ({r['items']} items): train before {result['split']}, test the next "
            f"{result['window_days']} days; {r['repeat_share']:.0%} of test items were repeats",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
            collapse_padding=True,
            pad_edge=False,
        )
        for col in (
            "model",
            f"recall@{r['k']}",
            f"NDCG@{r['k']}",
            "x pop",
            "x freq",
            "fit s",
            "scored/s",
        ):
            table.add_column(col, justify="left" if col == "model" else "right")
        for mode, m in r["modes"].items():
            table.add_row(f"[bold]{mode}[/] n={m['members']:,}")
            for name, figures in m["models"].items():
                table.add_row(
                    f"  {labels[name]}",
                    f"{figures['recall']:.4f}",
                    f"{figures['ndcg']:.4f}",
                    _ratios(m["ratios"].get(f"{name}_to_popularity")),
                    _ratios(m["ratios"].get(f"{name}_to_frequency")),
                    f"{r['fit_seconds'][name]:.3f}",
                    _per_s(figures["members_per_s"]),
                )
        console.print(table)
        console.print(_differences(r, labels))
    console.print(
        "Ours: item-kNN (item-item CF) and ALS (implicit ALS); peer: popularity. next: the "
        "items bought in the window, repeats included; new: only items not bought before the "
        "split, bought items excluded from the lists. x pop, x freq: ours / baseline as "
        "recall/NDCG on the same members. Frequency (what you bought most) has nothing to "
        "rank in new mode. scored/s: members ranked per second."
    )


def _differences(level: dict[str, Any], labels: dict[str, str]) -> str:
    """One line per baseline: paired recall differences (ours - baseline) with their SE."""
    lines = []
    for peer in ("popularity", "frequency"):
        parts = []
        for mode, m in level["modes"].items():
            for ours in ("item_knn", "als"):
                r = m["ratios"].get(f"{ours}_to_{peer}")
                if r is not None:
                    parts.append(
                        f"{labels[ours]} {mode} {r['recall_difference']:+.3f} "
                        f"(se {r['recall_difference_se']:.3f})"
                    )
        lines.append(f"recall@{level['k']}, ours - {peer}: " + "; ".join(parts))
    return "\n".join(lines)


def _ratios(r: dict[str, float | None] | None) -> str:
    if r is None:
        return ""
    return "/".join("n/a" if v is None else f"{v:.2f}" for v in (r["recall"], r["ndcg"]))


def _per_s(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    return f"{value / 1e3:.0f}k" if value >= 1e4 else f"{value:,.0f}"
