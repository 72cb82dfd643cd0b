"""Write a ``LinkConfig`` from the data: kinds from names and values, levels from kinds,
blocking rules from measured block sizes, EM passes that together train every field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import duckdb
import pyarrow as pa

from nextbest.identity.linking.config import FieldSpec, LinkConfig, sql_name
from nextbest.identity.linking.fields import Kind, Profile, infer_kind, profile
from nextbest.identity.linking.prepare import prepare

_NAME_LEVELS = ("exact", "jw:0.92", "jw:0.88", "jw:0.7")
LEVELS: dict[Kind, tuple[str, ...]] = {
    Kind.FIRST_NAME: _NAME_LEVELS,
    Kind.LAST_NAME: _NAME_LEVELS,
    Kind.FULL_NAME: ("exact", "jw:0.92", "jw:0.8"),
    Kind.DATE: ("exact", "dl:1", "days:31", "days:366", "days:3653"),
    Kind.POSTCODE: ("exact", "dl:1"),
    # Near-identical addresses of different people are common (ann.lee@ / annlee@), so
    # only the shapes of typing slips count: a transposition, a typo'd domain.
    Kind.EMAIL: ("exact", "transpose", "slip", "user"),
    Kind.PHONE: ("exact", "dl:1"),
    Kind.ADDRESS: ("exact", "jw:0.9", "jw:0.8"),
    Kind.CITY: ("exact", "dl:2"),
    Kind.STATE: ("exact",),
    Kind.NUMBER: ("exact", "dl:1"),
    Kind.IDENTIFIER: ("exact", "dl:1", "dl:2"),
    Kind.CATEGORY: ("exact",),
    Kind.TEXT: ("jw:0.9", "jw:0.7"),
}
TERM_FREQUENCY = {
    Kind.FIRST_NAME,
    Kind.LAST_NAME,
    Kind.FULL_NAME,
    Kind.POSTCODE,
    Kind.ADDRESS,
    Kind.CITY,
    Kind.NUMBER,
    Kind.STATE,
    Kind.CATEGORY,
}
MAX_RULES = 14


@dataclass(frozen=True, slots=True)
class Candidate:
    fields: tuple[str, ...]
    pairs: int


def infer_config(
    table: pa.Table,
    id_column: str,
    *,
    other: pa.Table | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LinkConfig:
    """A configuration for deduplicating ``table`` (or linking it to ``other``)."""
    _check_id(table, id_column, "table")
    columns = [c for c in table.column_names if c != id_column]
    if other is not None:
        _check_id(other, id_column, "other")
        columns = [c for c in columns if c in other.column_names]
    notes: list[str] = []
    fields: list[FieldSpec] = []
    for column in columns:
        values = table[column]
        if other is not None:
            values = pa.chunked_array(
                [*values.cast(pa.string()).chunks, *other[column].cast(pa.string()).chunks]
            )
        p = profile(values)
        kind = infer_kind(column, p)
        skip = _skip_reason(kind, p)
        if skip:
            notes.append(f"{column}: not compared ({skip})")
            continue
        notes.append(f"{column}: {kind.value}")
        fields.append(FieldSpec(column, kind, LEVELS[kind], kind in TERM_FREQUENCY))
    if not fields:
        raise ValueError(f"no column besides {id_column!r} can be compared: {'; '.join(notes)}")
    fields = _add_swaps(fields)
    draft = LinkConfig(tuple(fields), ((fields[0].column,),), ())
    if overrides:
        draft = draft.with_overrides({k: v for k, v in overrides.items() if k == "fields"})
    blocking, training = _choose_rules(draft, table, id_column, other)
    config = LinkConfig(draft.fields, blocking, training, notes=tuple(notes))
    if overrides:
        rest = {k: v for k, v in overrides.items() if k != "fields"}
        config = config.with_overrides(rest) if rest else config
    return config


def _check_id(table: pa.Table, id_column: str, name: str) -> None:
    if id_column not in table.column_names:
        raise ValueError(
            f"{name}: no id column {id_column!r}; columns are {', '.join(table.column_names)}"
        )


def _skip_reason(kind: Kind, p: Profile) -> str | None:
    if p.present < 0.01:
        return "almost always empty"
    if p.distinct_count <= 1 and p.distinct < 1.0:
        return "a single value"
    if kind is Kind.TEXT:
        return "free text"
    return None


def _add_swaps(fields: list[FieldSpec]) -> list[FieldSpec]:
    """First and last names are often entered the wrong way round: add a swapped level."""
    first = [f for f in fields if f.kind is Kind.FIRST_NAME]
    last = [f for f in fields if f.kind is Kind.LAST_NAME]
    if len(first) != 1 or len(last) != 1:
        return fields
    pairs = {first[0].column: last[0].column, last[0].column: first[0].column}
    out = []
    for f in fields:
        if f.column in pairs:
            levels = (f.levels[0], f"swap:{pairs[f.column]}", *f.levels[1:])
            f = FieldSpec(f.column, f.kind, levels, f.term_frequency)
        out.append(f)
    return out


def _choose_rules(
    config: LinkConfig, table: pa.Table, id_column: str, other: pa.Table | None
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """Blocking rules that keep each block set bounded, and EM passes covering all fields."""
    n = table.num_rows + (other.num_rows if other is not None else 0)
    per_rule = max(3 * n, 20_000)
    total = max(10 * n, 100_000)
    con = duckdb.connect()
    try:
        prepare(con, table, id_column, config, name="l")
        if other is not None:
            prepare(con, other, id_column, config, name="r")
        cost = _Coster(con, config, link=other is not None)
        columns = [f.column for f in config.fields]
        singles = [Candidate((c,), cost(c)) for c in columns]
        chosen = [c for c in singles if c.pairs <= per_rule]
        covered = {c.fields[0] for c in chosen}
        rest = [c for c in columns if c not in covered]
        pairs = [Candidate(p, cost(*p)) for p in combinations(rest, 2)]
        chosen += sorted((p for p in pairs if p.pairs <= per_rule), key=lambda c: c.pairs)
        too_big = [p.fields for p in pairs if p.pairs > per_rule]
        triples = {tuple(sorted((*p, c))) for p in too_big for c in rest if c not in p}
        fitting_triples = [Candidate(t, cost(*t)) for t in sorted(triples)]
        chosen += sorted(
            (t for t in fitting_triples if t.pairs <= per_rule and _new(t, chosen)),
            key=lambda c: c.pairs,
        )
    finally:
        con.close()
    picked: list[Candidate] = []
    spent = 0
    for candidate in sorted(chosen, key=lambda c: (len(c.fields), c.pairs)):
        if len(picked) < MAX_RULES and (spent + candidate.pairs <= total or not picked):
            picked.append(candidate)
            spent += candidate.pairs
    if not picked:
        smallest = min(singles, key=lambda c: c.pairs)
        picked = [smallest]
    return tuple(c.fields for c in picked), _training(picked, columns, n)


def _new(candidate: Candidate, chosen: Sequence[Candidate]) -> bool:
    return not any(set(c.fields) <= set(candidate.fields) for c in chosen)


def _training(
    picked: Sequence[Candidate], columns: Sequence[str], n: int
) -> tuple[tuple[str, ...], ...]:
    """Up to four EM passes, each on a blocking rule, until every field is estimated once.

    EM needs blocks that hold non-matches as well as matches, or the levels typical of
    non-matches are never seen and keep default m values. With about one true pair per
    record or fewer, a rule giving at least one pair per four records is taken as a *mixed* block,
    so mixed rules come first, then rules that estimate the most fields not yet estimated.
    """
    unestimated = set(columns)
    usable = [c for c in picked if c.pairs >= max(n // 50, 20)]
    usable = usable or [c for c in picked if c.pairs > 0]
    passes: list[tuple[str, ...]] = []
    while unestimated and len(passes) < 4:
        options = [c for c in usable if c.fields not in passes and unestimated - set(c.fields)]
        if not options:
            break
        best = max(
            options,
            key=lambda c: (
                c.pairs >= n // 4,
                len(unestimated - set(c.fields)),
                -len(c.fields),
                c.pairs,
            ),
        )
        passes.append(best.fields)
        unestimated &= set(best.fields)
    return tuple(passes)


class _Coster:
    """Counts the pairs a blocking rule would produce, from grouped key counts."""

    def __init__(self, con: duckdb.DuckDBPyConnection, config: LinkConfig, *, link: bool):
        self.con = con
        self.config = config
        self.link = link

    def __call__(self, *columns: str) -> int:
        keys = ", ".join(sql_name(c) for c in columns)
        present = " AND ".join(f"{sql_name(c)} IS NOT NULL" for c in columns)
        grouped = "SELECT {keys}, count(*) AS c FROM {t} WHERE {present} GROUP BY ALL"
        if self.link:
            left = grouped.format(keys=keys, t="l", present=present)
            right = grouped.format(keys=keys, t="r", present=present)
            sql = f"SELECT sum(a.c * b.c) FROM ({left}) a JOIN ({right}) b USING ({keys})"
        else:
            sql = f"SELECT sum(c * (c - 1) / 2) FROM ({grouped})".format(
                keys=keys, t="l", present=present
            )
        row = self.con.execute(sql).fetchone()
        return int(row[0] or 0) if row else 0
