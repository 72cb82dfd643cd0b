"""`nextbest identity link` and `nextbest identity dedupe`: probabilistic linking of files.

Any CSV (or Parquet) file: columns are read as text, names and values trimmed, empty
values treated as missing. With a truth column (or ``--truth-rule febrl``, the entity in a
FEBRL ``rec_id``) the pairwise precision, recall and F1 go to standard error.
"""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq
import typer

from nextbest.datasets.febrl import febrl_entities
from nextbest.identity import linking as engine
from nextbest.identity.linking import LinkConfig, LinkConfigError, LinkResult
from nextbest.identity.linking.metrics import PairScores, cluster_scores, link_scores


class TruthRule(StrEnum):
    febrl = "febrl"


class InputError(ValueError):
    """A file cannot be used; the message names the file and the reason."""


def read_table(path: Path) -> pa.Table:
    """A CSV or Parquet file as text columns, trimmed, with empty values as nulls."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            raw = pq.read_table(path)
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), None)
            if not header:
                raise InputError(f"{path}: empty file, expected a header line")
            raw = pv.read_csv(
                path,
                convert_options=pv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string()),
                    strings_can_be_null=False,
                ),
            )
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: not readable as CSV or Parquet: {exc}") from None
    columns: dict[str, Any] = {}
    for name, column in zip(raw.column_names, raw.columns, strict=True):
        clean = name.strip()
        if clean in columns:
            raise InputError(f"{path}: column {clean!r} appears twice")
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            text = pc.utf8_trim_whitespace(column)
            column = pc.if_else(pc.equal(text, ""), None, text)
        columns[clean] = column
    return pa.table(columns)


def _checked(table: pa.Table, path: Path, id_column: str) -> None:
    if id_column not in table.column_names:
        raise InputError(
            f"{path}: no id column {id_column!r}; columns are {', '.join(table.column_names)}"
        )
    ids = table[id_column]
    if ids.null_count:
        raise InputError(f"{path}: {ids.null_count} row(s) have an empty {id_column!r}")
    counts = pc.value_counts(ids.cast(pa.string()))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        example = repeated[0]["values"].as_py()
        raise InputError(
            f"{path}: {id_column!r} is not unique ({len(repeated)} repeated value(s), "
            f"e.g. {example!r})"
        )


def _truth(
    table: pa.Table, path: Path, id_column: str, column: str | None, rule: TruthRule | None
) -> tuple[pa.Table, pa.Table | None]:
    """The table without the truth column, and ``record_id, entity`` (or None)."""
    if column is not None and rule is not None:
        raise InputError("give --truth-column or --truth-rule, not both")
    ids = table[id_column].cast(pa.string())
    if column is not None:
        if column not in table.column_names:
            raise InputError(f"{path}: no truth column {column!r}")
        entity = table[column].cast(pa.string())
        return table.drop_columns([column]), pa.table({"record_id": ids, "entity": entity})
    if rule is TruthRule.febrl:
        try:
            entity = febrl_entities(ids)
        except ValueError as exc:
            raise InputError(f"{path}: {exc}") from None
        return table, pa.table({"record_id": ids, "entity": entity})
    return table, None


def _config(value: str | None) -> LinkConfig | None:
    if value is None:
        return None
    try:
        text = value if value.lstrip().startswith("{") else Path(value).read_text("utf-8")
        return LinkConfig.from_dict(json.loads(text))
    except OSError as exc:
        raise InputError(f"--config {value}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"--config: not JSON: {exc}") from None
    except LinkConfigError as exc:
        raise InputError(f"--config: {exc}") from None


def _write_csv(table: pa.Table, output: Path | None) -> None:
    options = pv.WriteOptions(quoting_style="needed")
    if output is None:
        sink = pa.BufferOutputStream()
        pv.write_csv(table, sink, write_options=options)
        sys.stdout.write(sink.getvalue().to_pybytes().decode())
    else:
        pv.write_csv(table, output, write_options=options)


def _report(scores: PairScores | None, result: LinkResult) -> None:
    t = result.timings
    line = f"train {t['train']:.2f} s, predict {t['predict']:.2f} s, total {t['total']:.2f} s"
    if scores is not None:
        typer.echo(
            f"precision {scores.precision:.4f}, recall {scores.recall:.4f}, "
            f"F1 {scores.f1:.4f} ({scores.correct_pairs:,} of {scores.predicted_pairs:,} "
            f"predicted pairs true; {scores.true_pairs:,} true pairs)",
            err=True,
        )
    typer.echo(line, err=True)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


ID_COLUMN = typer.Option(..., "--id-column", help="Column that identifies each record.")
OUTPUT = typer.Option(None, "--output", "-o", help="CSV to write (default: standard output).")
THRESHOLD = typer.Option(0.9, "--threshold", min=0.0, max=1.0, help="Match probability cut.")
CONFIG = typer.Option(None, "--config", help="LinkConfig as JSON (a file or inline text).")
TRUTH_COLUMN = typer.Option(None, "--truth-column", help="Column with the true entity.")
TRUTH_RULE = typer.Option(None, "--truth-rule", help="Entity from the id (febrl: rec-<n>-…).")


def link(
    left: Path = typer.Argument(..., help="First file (CSV or Parquet)."),
    right: Path = typer.Argument(..., help="Second file, same columns."),
    id_column: str = ID_COLUMN,
    output: Path | None = OUTPUT,
    threshold: float = THRESHOLD,
    config: str | None = CONFIG,
    truth_column: str | None = TRUTH_COLUMN,
    truth_rule: TruthRule | None = TRUTH_RULE,
) -> None:
    """Link two files: write left_id,right_id,match_probability for pairs at the threshold."""
    try:
        tables, truths = [], []
        for path in (left, right):
            table = read_table(path)
            _checked(table, path, id_column)
            table, truth = _truth(table, path, id_column, truth_column, truth_rule)
            tables.append(table)
            truths.append(truth)
        result = engine.link(
            tables[0],
            tables[1],
            id_column,
            config=_config(config),
            threshold=threshold,
            min_probability=threshold,
        )
    except (InputError, ValueError) as exc:
        raise _fail(exc) from None
    _write_csv(result.pairs.select(["left_id", "right_id", "match_probability"]), output)
    scores = None
    if truths[0] is not None and truths[1] is not None:
        scores = link_scores(result.pairs, truths[0], truths[1])
    _report(scores, result)


def dedupe(
    path: Path = typer.Argument(..., help="File to deduplicate (CSV or Parquet)."),
    id_column: str = ID_COLUMN,
    output: Path | None = OUTPUT,
    threshold: float = THRESHOLD,
    config: str | None = CONFIG,
    truth_column: str | None = TRUTH_COLUMN,
    truth_rule: TruthRule | None = TRUTH_RULE,
) -> None:
    """Deduplicate a file: write record_id,cluster_id for every record."""
    try:
        table = read_table(path)
        _checked(table, path, id_column)
        table, truth = _truth(table, path, id_column, truth_column, truth_rule)
        result = engine.dedupe(table, id_column, config=_config(config), threshold=threshold)
    except (InputError, ValueError) as exc:
        raise _fail(exc) from None
    assert result.clusters is not None
    _write_csv(result.clusters, output)
    _report(cluster_scores(result.clusters, truth) if truth is not None else None, result)
