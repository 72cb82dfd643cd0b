"""`nextbest segments …`: RFM scores and named segments, migration, micro-segments.

Each command reads a member feature table: ``--features FILE`` (Parquet, or CSV with a
header), or ``--as-of DATE`` to build it from the store's event history with
``nextbest.analytics.features.load_member_features``. Bad input prints one line naming the
row, the field and the reason, and exits with status 2.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from nextbest.analytics.microsegments import TEXT, MicroConfig, MicroSegmentation, microsegment
from nextbest.analytics.rfm import ENTERED, Migration, RfmConfig, RfmResult, migrate, score_table

app = typer.Typer(help="RFM segments, their migration between two dates, micro-segments.")
FEATURES_MODULE = "nextbest.analytics.features"


class FeaturesUnavailable(ValueError):
    """The feature table cannot be read or built; the message says why."""


def _read(path: Path) -> pa.Table:
    if not path.is_file():
        raise FeaturesUnavailable(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path)
        text_columns = dict.fromkeys(("member_id", *TEXT), pa.string())
        options = pv.ConvertOptions(strings_can_be_null=True, column_types=text_columns)
        return pv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FeaturesUnavailable(f"{path}: not readable as CSV or Parquet: {exc}") from None


def load_features(path: Path | None, as_of: str | None, *, option: str = "--features") -> Any:
    """The feature table from a file, or built from the store as of a date."""
    if path is not None:
        return _read(path)
    if as_of is None:
        raise FeaturesUnavailable(f"give {option} FILE (Parquet or CSV) or an --as-of DATE")
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise FeaturesUnavailable(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)") from None
    try:
        module = importlib.import_module(FEATURES_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is None or not FEATURES_MODULE.startswith(exc.name):
            raise
        raise FeaturesUnavailable(
            f"--as-of needs {FEATURES_MODULE}, which is not installed in this build; "
            f"pass {option} FILE instead"
        ) from None
    load = getattr(module, "load_member_features", None)
    if not callable(load):
        raise FeaturesUnavailable(f"{FEATURES_MODULE} has no load_member_features()")
    from nextbest.config import Settings

    return load(Settings(), as_of=day)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _clean(values: tuple[float, ...]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


FEATURES = typer.Option(None, "--features", help="Member feature table (Parquet or CSV).")
AS_OF = typer.Option(None, "--as-of", help="Build the table from the store as of YYYY-MM-DD.")
JSON = typer.Option(False, "--json", help="Print one JSON object.")
K = typer.Option(5, "--k", min=2, help="Scores per letter (quantile bins).")
AXIS = typer.Option("f", "--axis", help="Segments read R and F ('f') or R and FM ('fm').")
MONETARY = typer.Option("mean", "--monetary", help="Score the mean order value or the total.")
MONETARY_IS = typer.Option("mean", "--monetary-is", help="What the monetary column holds.")


def _config(k: int, axis: str, monetary: str) -> RfmConfig:
    if axis not in ("f", "fm"):
        raise FeaturesUnavailable(f"--axis: {axis!r} is not f or fm")
    return RfmConfig(k=k, axis="f" if axis == "f" else "fm", monetary=_kind(monetary))


def _kind(value: str, option: str = "--monetary") -> Literal["mean", "total"]:
    if value == "mean":
        return "mean"
    if value == "total":
        return "total"
    raise FeaturesUnavailable(f"{option}: {value!r} is not mean or total")


def _rfm_dict(result: RfmResult) -> dict[str, Any]:
    return {
        "members": len(result),
        "scored": int((result.r > 0).sum()),
        "k": result.config.k,
        "axis": result.config.axis,
        "monetary": result.config.monetary,
        "edges": {
            "r": _clean(result.edges.r),
            "f": _clean(result.edges.f),
            "m": _clean(result.edges.m),
        },
        "segments": [{**s.__dict__, "share": round(s.share, 4)} for s in result.summary()],
    }


@app.command("rfm")
def rfm(
    features: Path | None = FEATURES,
    as_of: str | None = AS_OF,
    k: int = K,
    axis: str = AXIS,
    monetary: str = MONETARY,
    monetary_is: str = MONETARY_IS,
    chart: Path | None = typer.Option(None, "--chart", help="Write the R x F heat map (.png)."),
    explain: list[str] = typer.Option([], "--explain", help="Explain a member's scores."),
    as_json: bool = JSON,
) -> None:
    """RFM scores 1..k and the named segments: members, share, mean scores and monetary."""
    try:
        table = load_features(features, as_of)
        result = score_table(
            table, _config(k, axis, monetary), monetary_is=_kind(monetary_is, "--monetary-is")
        )
        reasons = [str(result.explain(member)) for member in explain]
        if chart is not None:
            from nextbest.analytics.rfm_chart import write_rfm_heatmap

            write_rfm_heatmap(result, chart)
    except ValueError as exc:
        raise _fail(exc) from None
    if as_json:
        out = {**_rfm_dict(result), "chart": str(chart) if chart else None, "explain": reasons}
        print(json.dumps(out))
        return
    console = Console()
    cfg = result.config
    table_out = Table(
        title=f"RFM segments: {len(result):,} members (k={cfg.k}, R x {cfg.axis_name}, "
        f"monetary: {cfg.monetary})"
    )
    for col in ("segment", "members", "share", "mean R", "mean F", "mean M", "mean monetary"):
        table_out.add_column(col, justify="left" if col == "segment" else "right")
    for s in result.summary():
        money = "-" if s.mean_monetary is None else f"{s.mean_monetary:,.2f}"
        table_out.add_row(
            s.segment,
            f"{s.members:,}",
            f"{s.share:.1%}",
            f"{s.mean_r:.2f}",
            f"{s.mean_f:.2f}",
            f"{s.mean_m:.2f}",
            money,
        )
    console.print(table_out)
    edges = result.edges
    console.print(
        "edges (a score's bin is edge_(b-1) < x <= edge_b; R reversed): "
        f"R days {_fmt(edges.r)}; F purchases {_fmt(edges.f)}; M {_fmt(edges.m)}"
    )
    for line in reasons:
        console.print(line)
    if chart is not None:
        console.print(f"chart: {chart}")


def _fmt(edges: tuple[float, ...]) -> str:
    return ", ".join(f"{e:.6g}" for e in edges)


@app.command("migration")
def migration(
    features_a: Path | None = typer.Option(None, "--features-a", help="Feature table at date A."),
    features_b: Path | None = typer.Option(None, "--features-b", help="Feature table at date B."),
    as_of_a: str | None = typer.Option(None, "--as-of-a", help="Date A (from the store)."),
    as_of_b: str | None = typer.Option(None, "--as-of-b", help="Date B (from the store)."),
    k: int = K,
    axis: str = AXIS,
    monetary: str = MONETARY,
    monetary_is: str = MONETARY_IS,
    fixed_edges: bool = typer.Option(
        False, "--fixed-edges", help="Score date B with date A's edges (default: its own)."
    ),
    chart: Path | None = typer.Option(None, "--chart", help="Write the migration heat map."),
    as_json: bool = JSON,
) -> None:
    """How members moved between RFM segments from date A to date B (counts, row shares)."""
    try:
        cfg = _config(k, axis, monetary)
        kind = _kind(monetary_is, "--monetary-is")
        table_a = load_features(features_a, as_of_a, option="--features-a")
        table_b = load_features(features_b, as_of_b, option="--features-b")
        a = score_table(table_a, cfg, monetary_is=kind)
        if fixed_edges:
            cfg = replace(cfg, r_edges=a.edges.r, f_edges=a.edges.f, m_edges=a.edges.m)
        b = score_table(table_b, cfg, monetary_is=kind)
        assert a.member_ids is not None and b.member_ids is not None
        result = migrate(
            ids_a=a.member_ids,
            segments_a=a.segments.tolist(),
            ids_b=b.member_ids,
            segments_b=b.segments.tolist(),
            order=cfg.segment_names,
        )
        if chart is not None:
            from nextbest.analytics.rfm_chart import write_migration_heatmap

            write_migration_heatmap(result, chart)
    except ValueError as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps({**result.to_dict(), "chart": str(chart) if chart else None}))
        return
    console = Console()
    console.print(_migration_table(result))
    total = int(result.counts.sum())
    console.print(
        f"{total:,} members: {result.stayed:,} kept their segment "
        f"({result.stayed / max(1, total):.1%}); (entered): only at B, (left): only at A"
    )
    if chart is not None:
        console.print(f"chart: {chart}")


def _migration_table(result: Migration) -> Table:
    """Counts from (rows, A) to (columns, B), empty rows and columns left out, row kept share."""
    table = Table(title="RFM segment migration (rows: date A, columns: date B)")
    rows = [i for i in range(len(result.rows)) if result.counts[i].any()]
    cols = [j for j in range(len(result.cols)) if result.counts[:, j].any()]
    table.add_column("from \\ to")
    for j in cols:
        table.add_column(result.cols[j], justify="right")
    table.add_column("kept", justify="right")
    for i in rows:
        row = result.rows[i]
        cells = [f"{result.counts[i, j]:,}" if result.counts[i, j] else "." for j in cols]
        kept = result.shares[i, result.cols.index(row)] if row in result.cols else 0.0
        table.add_row(row, *cells, "-" if row == ENTERED else f"{kept:.0%}")
    return table


def _micro_dict(result: MicroSegmentation, *, seconds: float, top: int) -> dict[str, Any]:
    sizes = np.array([s.size for s in result.segments] or [0])
    members = len(result.member_segment)
    return {
        "units": {"seconds": "s", "size": "members"},
        "members": members,
        "segments": len(result.segments),
        "raw_cells": result.raw_cells,
        "seconds": round(seconds, 3),
        "sizes": {
            "min": int(sizes.min()),
            "median": float(np.median(sizes)),
            "max": int(sizes.max()),
        },
        "dimensions": list(result.dimensions),
        "dropped": list(result.dropped),
        "top": [
            {
                "id": s.id,
                "members": s.size,
                "share": round(s.size / max(1, members), 4),
                "description": s.description,
                "key": dict(s.key),
                "mixed": list(s.mixed),
                "stats": {**s.stats.__dict__, "spend_trend": s.stats.spend_trend},
            }
            for s in result.segments[:top]
        ],
    }


@app.command("micro")
def micro(
    features: Path | None = FEATURES,
    as_of: str | None = AS_OF,
    min_size: int = typer.Option(50, "--min-size", min=1, help="Members per segment, at least."),
    top: int = typer.Option(15, "--top", min=0, help="Largest segments to show."),
    out: Path | None = typer.Option(
        None, "--out", help="Write member_id,segment_id,description (.parquet or .csv)."
    ),
    as_json: bool = JSON,
) -> None:
    """Micro-segments: fine member groups of at least --min-size, each with a description."""
    try:
        table = load_features(features, as_of)
        started = time.perf_counter()
        result = microsegment(table, MicroConfig(min_size=min_size))
        seconds = time.perf_counter() - started
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            frame = result.to_frame()
            if out.suffix.lower() in (".parquet", ".pq"):
                frame.write_parquet(out)
            else:
                frame.write_csv(out)
    except ValueError as exc:
        raise _fail(exc) from None
    summary = _micro_dict(result, seconds=seconds, top=top)
    if as_json:
        print(json.dumps({**summary, "out": str(out) if out else None}))
        return
    console = Console()
    sizes = summary["sizes"]
    console.print(
        f"{summary['segments']:,} micro-segments for {summary['members']:,} members in "
        f"{seconds:.2f} s (at least {min_size:,} members each; sizes min {sizes['min']:,}, "
        f"median {sizes['median']:,.0f}, max {sizes['max']:,}; "
        f"{result.raw_cells:,} full-key cells before merging)"
    )
    console.print(f"dimensions: {', '.join(result.dimensions) or '-'}")
    if result.dropped:
        console.print(f"dropped (no data): {', '.join(result.dropped)}")
    table_out = Table(title=f"largest {min(top, len(result.segments))} segments")
    for col in ("segment", "members", "share", "description"):
        table_out.add_column(col, justify="right" if col in ("members", "share") else "left")
    for s in summary["top"]:
        table_out.add_row(s["id"], f"{s['members']:,}", f"{s['share']:.1%}", s["description"])
    console.print(table_out)
    if out is not None:
        console.print(f"members written: {out}")
