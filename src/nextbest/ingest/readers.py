"""Streaming readers for JSON Lines, CSV and Parquet event files.

A file is cut into ``RawChunk``s (lines, CSV rows or an Arrow record batch) that are cheap
to pickle; ``decode`` turns a chunk into ``RawRecord``s, in a worker process when the
pipeline runs several. A record that cannot even be decoded becomes a RawRecord carrying
the error, so the pipeline dead-letters it with its line number instead of stopping.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nextbest.events.flat import FlatRowError, unflatten
from nextbest.ingest.records import RawRecord

FORMATS = ("jsonl", "csv", "parquet")


@dataclass(frozen=True, slots=True)
class RawChunk:
    """A slice of a file: ``items`` are JSONL lines, CSV rows or one Arrow record batch."""

    kind: str
    start: int  # line (JSONL, CSV) or row (Parquet) number of the first item
    items: Any
    header: tuple[str, ...] = ()
    units: int = 0  # progress units: bytes for text files, rows for Parquet


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes:
        return "parquet"
    if ".csv" in suffixes:
        return "csv"
    if {".jsonl", ".ndjson", ".json"} & set(suffixes):
        return "jsonl"
    raise ValueError(f"{path}: cannot tell the format from the name; pass --format")


def size_of(path: Path, fmt: str) -> int:
    """Progress total: rows for Parquet, bytes for text files."""
    if fmt == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    return path.stat().st_size


def chunks_of(path: Path, fmt: str, *, size: int = 20_000) -> Iterator[RawChunk]:
    if fmt == "jsonl":
        yield from _jsonl_chunks(path, size)
    elif fmt == "csv":
        yield from _csv_chunks(path, size)
    elif fmt == "parquet":
        row = 1
        for batch in pq.ParquetFile(path).iter_batches(batch_size=size):
            yield RawChunk("parquet", row, batch, units=batch.num_rows)
            row += batch.num_rows
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _jsonl_chunks(path: Path, size: int) -> Iterator[RawChunk]:
    with path.open("rb") as f:
        start, lines, units = 1, [], 0
        for line in f:
            lines.append(line)
            units += len(line)
            if len(lines) >= size:
                yield RawChunk("jsonl", start, lines, units=units)
                start, lines, units = start + len(lines), [], 0
        if lines:
            yield RawChunk("jsonl", start, lines, units=units)


def _csv_chunks(path: Path, size: int) -> Iterator[RawChunk]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        rows: list[tuple[int, list[str]]] = []
        units = 0
        for values in reader:
            rows.append((reader.line_num, values))
            units += sum(len(v) + 1 for v in values)
            if len(rows) >= size:
                yield RawChunk("csv", rows[0][0], rows, header, units)
                rows, units = [], 0
        if rows:
            yield RawChunk("csv", rows[0][0], rows, header, units)


def decode(chunk: RawChunk) -> list[RawRecord]:
    if chunk.kind == "jsonl":
        return list(_decode_jsonl(chunk))
    if chunk.kind == "csv":
        return list(_decode_csv(chunk))
    if chunk.kind == "parquet":
        return list(_decode_parquet(chunk))
    raise ValueError(f"unknown chunk kind {chunk.kind!r}")


def _decode_parquet(chunk: RawChunk) -> Iterator[RawRecord]:
    """Rows grouped by event type, each group with only the columns it uses.

    A flat file has a column for every field of every type, mostly empty; building row
    dicts per type from its non-empty columns is several times cheaper. Row order changes,
    which ingestion does not depend on; each record keeps its row number.
    """
    table = pa.Table.from_batches([chunk.items])
    rows = pa.array(range(chunk.start, chunk.start + table.num_rows), type=pa.int64())
    if "type" not in table.column_names:
        groups = [(None, table, rows)]
    else:
        kinds = table.column("type")
        groups = []
        for kind in pc.unique(kinds).to_pylist():
            mask = pc.is_null(kinds) if kind is None else pc.equal(kinds, kind)
            mask = pc.fill_null(mask, False)
            groups.append((kind, table.filter(mask), rows.filter(mask)))
    for _kind, part, numbers in groups:
        used = [c for c in part.column_names if part.column(c).null_count < part.num_rows]
        for number, record in zip(numbers.to_pylist(), part.select(used).to_pylist(), strict=True):
            yield _from_flat(f"row {number}", record, "")


def _decode_jsonl(chunk: RawChunk) -> Iterator[RawRecord]:
    for offset, line in enumerate(chunk.items):
        if not line.strip():
            continue
        where = f"line {chunk.start + offset}"
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raw = line.decode("utf-8", errors="replace").rstrip("\n")
            yield RawRecord(where, None, raw, ("(record)", f"bad JSON: {exc}"))
            continue
        if not isinstance(data, dict):
            raw = line.decode("utf-8", errors="replace").rstrip("\n")
            yield RawRecord(where, None, raw, ("(record)", "not a JSON object"))
            continue
        yield RawRecord(where, data, "")


def _decode_csv(chunk: RawChunk) -> Iterator[RawRecord]:
    header = chunk.header
    width = len(header)
    for line_num, values in chunk.items:
        where = f"line {line_num}"
        if len(values) != width:
            raw = ",".join(values)
            yield RawRecord(
                where, None, raw, ("(record)", f"{len(values)} cells, header has {width}")
            )
            continue
        yield _from_flat(where, dict(zip(header, values, strict=True)), "")


def _from_flat(where: str, row: dict[str, Any], raw: str) -> RawRecord:
    try:
        return RawRecord(where, unflatten(row), raw)
    except FlatRowError as exc:
        return RawRecord(
            where, None, raw or orjson.dumps(row, default=str).decode(), (exc.field, str(exc))
        )


def read_file(path: Path, fmt: str | None = None) -> Iterator[RawRecord]:
    """Every record of a file, in order (single process; the pipeline parallelises)."""
    for chunk in chunks_of(path, fmt or detect_format(path)):
        yield from decode(chunk)
