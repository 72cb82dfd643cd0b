"""Streaming readers for JSON Lines, CSV and Parquet event files.

Each yields ``RawRecord``s one at a time, so files of any size stream in chunks. A record
that cannot even be decoded becomes a RawRecord carrying the error; the pipeline
dead-letters it with its line number instead of stopping the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from nextbest.events.flat import FlatRowError, unflatten
from nextbest.ingest.records import RawRecord

Progress = Callable[[int], None]  # called with units done since the last call

FORMATS = ("jsonl", "csv", "parquet")


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


def read_jsonl(path: Path, progress: Progress | None = None) -> Iterator[RawRecord]:
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if progress is not None:
                progress(len(line))
            if not line.strip():
                continue
            where = f"line {number}"
            raw = line.decode("utf-8", errors="replace").rstrip("\n")
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield RawRecord(where, None, raw, ("(record)", f"bad JSON: {exc}"))
                continue
            if not isinstance(data, dict):
                yield RawRecord(where, None, raw, ("(record)", "not a JSON object"))
                continue
            yield RawRecord(where, data, raw)


def _from_flat(where: str, row: dict[str, Any], raw: str) -> RawRecord:
    try:
        return RawRecord(where, unflatten(row), raw)
    except FlatRowError as exc:
        return RawRecord(where, None, raw, (exc.field, str(exc)))


class _CountingReader(io.RawIOBase):
    """Counts bytes handed to the CSV parser so progress can follow the file."""

    def __init__(self, inner: io.BufferedReader, progress: Progress | None) -> None:
        self.inner = inner
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.inner.readinto(buffer)
        if self.progress is not None and n:
            self.progress(n)
        return n


def read_csv(path: Path, progress: Progress | None = None) -> Iterator[RawRecord]:
    with path.open("rb") as binary:
        text = io.TextIOWrapper(
            io.BufferedReader(_CountingReader(binary, progress)), encoding="utf-8", newline=""
        )
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        width = len(header)
        for values in reader:
            where = f"line {reader.line_num}"
            raw = ",".join(values)
            if len(values) != width:
                yield RawRecord(
                    where, None, raw, ("(record)", f"{len(values)} cells, header has {width}")
                )
                continue
            yield _from_flat(where, dict(zip(header, values, strict=True)), raw)


def read_parquet(
    path: Path, progress: Progress | None = None, *, batch_rows: int = 20_000
) -> Iterator[RawRecord]:
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for record in batch.to_pylist():
            row += 1
            yield _from_flat(f"row {row}", record, "")
        if progress is not None:
            progress(batch.num_rows)


def read_file(
    path: Path, fmt: str | None = None, progress: Progress | None = None
) -> Iterator[RawRecord]:
    kind = fmt or detect_format(path)
    if kind == "jsonl":
        return read_jsonl(path, progress)
    if kind == "csv":
        return read_csv(path, progress)
    if kind == "parquet":
        return read_parquet(path, progress)
    raise ValueError(f"unknown format {kind!r}; use one of {', '.join(FORMATS)}")
