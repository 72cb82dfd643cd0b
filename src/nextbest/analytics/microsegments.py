"""Micro-segments: many fine member groups, each with a stable id and a plain description.

A member's *key* is a combination of discretised dimensions, most important first:

==========  ===================  ===========================================================
dimension   column(s)            labels
==========  ===================  ===========================================================
habit       frequency            members yet to buy (0), one-time buyers (1), occasional
                                 buyers (<= 4), regulars (<= 12), devotees
category    top_category         as given (coffee, bakery, ...)
daypart     top_daypart          as given (morning, midday, ...)
rhythm      weekday_share        weekend (<= 0.45 of purchases Mon-Fri), weekday (>= 0.85),
                                 all-week
trend       spend_90d,           rising spend (x1.25 or more), falling spend (x0.8 or less),
            spend_prev_90d       steady spend, no recent spend (both 0); unknown for
                                 members yet to buy
churn       churn_risk           low (< 0.3), medium (< 0.6), high churn risk
activity    recency_days         active (<= 30 days), cooling off (<= 90), lapsed
value       monetary             low, mid, high, top value: purchasers' quantiles 0.5, 0.8, 0.95
tenure      tenure_days          new (< 90 days), established (< 730), long-standing member
channel     top_channel          mostly in-store (pos), app, online (web), kiosk, ...
tier        tier                 as given ("gold tier")
product     top_sku              as given; named instead of the category when kept
==========  ===================  ===========================================================

A dimension whose column is missing or null everywhere is dropped; a null value is its own
cell ("unknown") and is left out of the description.

*Minimum size, hierarchical fallback.* Members whose full-key cell holds fewer than
``min_size`` members move to the parent cell, the key without its least important dimension,
and so on up to the root ("all other members"). Each level only groups the members left over
by the finer ones, so the segments partition the members. If the root is left with fewer
than ``min_size`` members, the smallest segments are dissolved into it until it is not.
Every segment then holds at least ``min_size`` members (when the table has that many).

*Stable ids.* A segment's id hashes its key (``habit=regulars;category=coffee;*``, ``*``
marking dimensions merged away), so the same key has the same id on any day. Output order:
size descending, then id. All work is vectorised: one sort of the packed keys, then one
linear pass per level; Python loops run over segments, never over members.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from nextbest.analytics.rfm import InvalidFeature, as_frame

Ints = npt.NDArray[np.int64]

DIMENSIONS: tuple[str, ...] = (
    "habit",
    "category",
    "daypart",
    "rhythm",
    "trend",
    "churn",
    "activity",
    "value",
    "tenure",
    "channel",
    "tier",
    "product",
)
SOURCES: dict[str, tuple[str, ...]] = {
    "habit": ("frequency",),
    "category": ("top_category",),
    "daypart": ("top_daypart",),
    "rhythm": ("weekday_share",),
    "trend": ("spend_90d", "spend_prev_90d"),
    "churn": ("churn_risk",),
    "activity": ("recency_days",),
    "value": ("monetary",),
    "tenure": ("tenure_days",),
    "channel": ("top_channel",),
    "tier": ("tier",),
    "product": ("top_sku",),
}
NUMERIC = (
    "recency_days",
    "frequency",
    "monetary",
    "spend_90d",
    "spend_prev_90d",
    "tenure_days",
    "weekday_share",
    "churn_risk",
)
TEXT = ("top_category", "top_sku", "top_daypart", "top_channel", "tier")
SHARES = ("weekday_share", "churn_risk")
CHANNELS = {"pos": "in-store", "web": "online"}
VALUE_LABELS = ("low value", "mid value", "high value", "top value")


@dataclass(frozen=True)
class MicroConfig:
    """Minimum size, the dimensions in importance order and their thresholds."""

    min_size: int = 50
    dimensions: tuple[str, ...] = DIMENSIONS
    habit_edges: tuple[float, float, float] = (1, 4, 12)
    weekday_share: tuple[float, float] = (0.45, 0.85)
    trend: tuple[float, float] = (0.8, 1.25)
    churn: tuple[float, float] = (0.3, 0.6)
    activity_days: tuple[float, float] = (30, 90)
    value_quantiles: tuple[float, float, float] = (0.5, 0.8, 0.95)
    tenure_days: tuple[float, float] = (90, 730)

    def __post_init__(self) -> None:
        if self.min_size < 1:
            raise ValueError(f"min_size: at least 1, got {self.min_size}")
        unknown = [d for d in self.dimensions if d not in SOURCES]
        if unknown or len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError(f"dimensions: unknown or repeated {unknown or self.dimensions}")
        for name in ("habit_edges", "weekday_share", "trend", "churn", "activity_days"):
            edges = getattr(self, name)
            if list(edges) != sorted(edges):
                raise ValueError(f"{name}: thresholds must be increasing: {edges}")


@dataclass(frozen=True)
class SegmentStats:
    """Means over a segment's members (None where the column is missing or all null)."""

    mean_recency_days: float | None
    mean_frequency: float | None
    mean_monetary: float | None
    spend_90d: float | None
    spend_prev_90d: float | None
    mean_churn_risk: float | None
    mean_tenure_days: float | None

    @property
    def spend_trend(self) -> float | None:
        """Spend in the last 90 days over the 90 before (None if nothing was spent before)."""
        if self.spend_90d is None or not self.spend_prev_90d:
            return None
        return self.spend_90d / self.spend_prev_90d


@dataclass(frozen=True)
class MicroSegment:
    """One segment: its key (dimension, label; None is unknown), description, size, stats."""

    id: str
    key: tuple[tuple[str, str | None], ...]
    mixed: tuple[str, ...]
    description: str
    size: int
    stats: SegmentStats


@dataclass(frozen=True, eq=False)
class MicroSegmentation:
    """The segments (largest first) and the index of each member's segment."""

    segments: tuple[MicroSegment, ...]
    member_ids: pl.Series
    member_segment: Ints
    dimensions: tuple[str, ...]
    dropped: tuple[str, ...]
    value_edges: tuple[float, ...]
    raw_cells: int

    def to_frame(self) -> pl.DataFrame:
        """``member_id, segment_id, description``, one row per member, in input order."""
        ids = pl.Series("segment_id", [s.id for s in self.segments], dtype=pl.String)
        text = pl.Series("description", [s.description for s in self.segments], dtype=pl.String)
        index = pl.Series(self.member_segment)
        return pl.DataFrame([self.member_ids.alias("member_id"), ids[index], text[index]])


def segment_id(key: str) -> str:
    """The stable id of a key.

    >>> segment_id("habit=regulars;category=coffee;*")
    'ms_90d36d67091aa484'
    """
    return "ms_" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


BANDS: dict[str, tuple[str, ...]] = {
    "habit": ("members yet to buy", "one-time buyers", "occasional buyers", "regulars", "devotees"),
    "rhythm": ("weekend", "all-week", "weekday"),
    "trend": ("no recent spend", "rising spend", "falling spend", "steady spend"),
    "churn": ("low churn risk", "medium churn risk", "high churn risk"),
    "activity": ("active", "cooling off", "lapsed"),
    "value": VALUE_LABELS,
    "tenure": ("new member", "established member", "long-standing member"),
}


def _band(column: str, edges: tuple[float, ...], *, right: bool = True) -> pl.Expr:
    """Code 1.. of a value's band ``<= edges[0]``, ..., ``> edges[-1]`` (``<`` if not right)."""
    value = pl.col(column)
    above = [(value > e) if right else (value >= e) for e in edges]
    return pl.when(value.is_null()).then(0).otherwise(pl.sum_horizontal(pl.lit(1), *above))


def _band_exprs(
    cfg: MicroConfig, frame: pl.DataFrame, value_edges: tuple[float, ...]
) -> dict[str, pl.Expr]:
    """Integer codes (0: unknown, else 1 + the index in ``BANDS``) of the banded dimensions."""
    share = pl.col("weekday_share")
    now, before = pl.col("spend_90d").fill_null(0.0), pl.col("spend_prev_90d").fill_null(0.0)
    bought = pl.col("frequency") > 0 if "frequency" in frame.columns else pl.lit(True)
    return {
        "habit": _band("frequency", (0, *cfg.habit_edges)),
        "rhythm": pl.when(share.is_null())
        .then(0)
        .when(share <= cfg.weekday_share[0])
        .then(1)
        .when(share < cfg.weekday_share[1])
        .then(2)
        .otherwise(3),
        "trend": pl.when(
            (pl.col("spend_90d").is_null() & pl.col("spend_prev_90d").is_null()) | ~bought
        )
        .then(0)
        .when((now <= 0) & (before <= 0))
        .then(1)
        .when((now >= before * cfg.trend[1]) & (now > before))
        .then(2)
        .when(now <= before * cfg.trend[0])
        .then(3)
        .otherwise(4),
        "churn": _band("churn_risk", cfg.churn, right=False),
        "activity": _band("recency_days", cfg.activity_days),
        "value": pl.when(bought).then(_band("monetary", value_edges)).otherwise(0),
        "tenure": _band("tenure_days", cfg.tenure_days, right=False),
    }


def _show(dim: str, token: str) -> str:
    """The description fragment of a key token."""
    if dim == "channel":
        return f"mostly {CHANNELS.get(token, token)}"
    return f"{token} tier" if dim == "tier" else token


def _first_bad(frame: pl.DataFrame, checks: dict[tuple[str, str], pl.Expr]) -> None:
    if not checks:
        return
    flags = frame.select(
        pl.struct(n=expr.fill_null(False).sum(), i=expr.fill_null(False).arg_max()).alias(
            f"{col}|{reason}"
        )
        for (col, reason), expr in checks.items()
    ).row(0)
    for ((col, reason), _), found in zip(checks.items(), flags, strict=True):
        if found["n"]:
            i = int(found["i"])
            value = frame[col][i]
            more = f"; {found['n'] - 1} more rows like it" if found["n"] > 1 else ""
            raise InvalidFeature(
                record=f"row {i} (member {frame['member_id'][i]})",
                field=col,
                reason=f"{reason} ({value}){more}",
            )


def _clean(table: Any) -> pl.DataFrame:
    """Typed columns (floats, strings, NaN and "" as null), validated row by row."""
    frame = as_frame(table, required=("member_id",))
    casts = []
    for name in frame.columns:
        if name in NUMERIC:
            try:
                frame[name].cast(pl.Float64)
            except pl.exceptions.PolarsError:
                dtype = frame[name].dtype
                raise InvalidFeature(
                    record="features", field=name, reason=f"not numeric ({dtype})"
                ) from None
            casts.append(pl.col(name).cast(pl.Float64).fill_nan(None))
        elif name in TEXT or name == "member_id":
            text = pl.col(name).cast(pl.String)
            casts.append(pl.when(text == "").then(None).otherwise(text).alias(name))
    frame = frame.select(casts)
    if frame["member_id"].null_count():
        i = int(frame["member_id"].is_null().arg_max() or 0)
        raise InvalidFeature(record=f"row {i}", field="member_id", reason="missing")
    if frame["member_id"].n_unique() < frame.height:
        dup = frame["member_id"].is_duplicated()
        i = int(dup.arg_max() or 0)
        raise InvalidFeature(
            record=f"row {i} (member {frame['member_id'][i]})",
            field="member_id",
            reason=f"repeated ({int(dup.sum())} rows share an id with another)",
        )
    checks: dict[tuple[str, str], pl.Expr] = {}
    for name in NUMERIC:
        if name in frame.columns:
            checks[(name, "negative")] = pl.col(name) < 0
            if name in SHARES:
                checks[(name, "above 1 (a share in [0, 1])")] = pl.col(name) > 1
    _first_bad(frame, checks)
    return frame


def _encode(labels: pl.Series) -> tuple[Ints, list[str]]:
    """Codes 1..n of the sorted distinct labels (0 for null) and those labels."""
    cats = labels.drop_nulls().unique().sort().to_list()
    codes = labels.cast(pl.Enum(cats)).to_physical().cast(pl.Int64).fill_null(-1) + 1
    return codes.to_numpy(), cats


def _value_edges(frame: pl.DataFrame, cfg: MicroConfig) -> tuple[float, ...]:
    if "monetary" not in frame.columns:
        return ()
    money = frame["monetary"]
    if "frequency" in frame.columns:
        money = money.filter(frame["frequency"].fill_null(0) > 0)
    values = money.drop_nulls().to_numpy()
    if values.size == 0:
        return ()
    qs = np.quantile(values, np.asarray(cfg.value_quantiles), method="inverted_cdf")
    return tuple(float(q) for q in qs)


def _describe(labels: dict[str, str], mixed: tuple[str, ...]) -> str:
    """``weekday-morning oat-latte regulars, rising spend, ...`` from a key's known labels.

    >>> _describe({"habit": "regulars", "rhythm": "weekday", "daypart": "morning",
    ...            "category": "coffee", "product": "oat-latte", "trend": "rising spend",
    ...            "churn": "low churn risk"}, ("tier",))
    'weekday-morning oat-latte regulars, rising spend, low churn risk (mixed: tier)'
    """
    rhythm = labels.get("rhythm")
    when = "-".join(x for x in (rhythm, labels.get("daypart")) if x and x != "all-week")
    product = labels.get("product", labels.get("category"))
    noun = labels.get("habit", "members")
    head = " ".join(part for part in (when, product, noun) if part)
    head_dims = ("habit", "category", "daypart", "product", "rhythm")
    tail = [label for dim, label in labels.items() if dim not in head_dims]
    tail = (["all week"] if rhythm == "all-week" else []) + tail
    text = ", ".join([head, *tail]) if labels else "all other members"
    return text + (f" (mixed: {', '.join(mixed)})" if mixed and labels else "")


def _stats(frame: pl.DataFrame, member_segment: Ints, count: int) -> list[SegmentStats]:
    columns = {
        "mean_recency_days": ("recency_days", "mean"),
        "mean_frequency": ("frequency", "mean"),
        "mean_monetary": ("monetary", "mean"),
        "spend_90d": ("spend_90d", "sum"),
        "spend_prev_90d": ("spend_prev_90d", "sum"),
        "mean_churn_risk": ("churn_risk", "mean"),
        "mean_tenure_days": ("tenure_days", "mean"),
    }
    aggs = [
        (pl.col(col).mean() if how == "mean" else pl.col(col).sum()).alias(name)
        for name, (col, how) in columns.items()
        if col in frame.columns and frame[col].null_count() < frame.height
    ]
    grouped = (
        frame.with_columns(_seg=pl.Series(member_segment))
        .group_by("_seg")
        .agg(aggs or [pl.len()])
        .sort("_seg")
    )
    where = grouped["_seg"].to_list()
    data: dict[str, list[float | None]] = {name: [None] * count for name in columns}
    for name in columns:
        if name in grouped.columns:
            for seg, value in zip(where, grouped[name].to_list(), strict=True):
                data[name][seg] = value
    return [SegmentStats(**{name: data[name][i] for name in columns}) for i in range(count)]


def microsegment(table: Any, config: MicroConfig | None = None) -> MicroSegmentation:
    """Micro-segments of a member feature table (pyarrow Table or polars DataFrame).

    >>> frame = pl.DataFrame({
    ...     "member_id": [f"m{i}" for i in range(7)],
    ...     "frequency": [9, 8, 10, 1, 1, 0, 0],
    ...     "top_category": ["coffee"] * 3 + ["bakery"] * 2 + [None] * 2,
    ...     "churn_risk": [None] * 7,
    ... })
    >>> result = microsegment(frame, MicroConfig(min_size=2))
    >>> [(s.description, s.size) for s in result.segments]
    [('coffee regulars', 3), ('members yet to buy', 2), ('bakery one-time buyers', 2)]
    >>> result.dropped[:3]
    ('daypart', 'rhythm', 'trend')
    """
    cfg = config or MicroConfig()
    frame = _clean(table)
    value_edges = _value_edges(frame, cfg)
    dims = _dimensions(frame, cfg, value_edges)
    names = tuple(name for name, _, _ in dims)
    member_segment, seg_level, seg_rep, raw_cells = _partition(
        [codes for _, codes, _ in dims], [len(tokens) for _, _, tokens in dims], cfg.min_size
    )
    reps = np.asarray(seg_rep, dtype=np.int64)
    rep_codes = [codes[reps].tolist() for _, codes, _ in dims]
    keys: list[tuple[tuple[str, str | None], ...]] = []
    ids = []
    for s, level in enumerate(seg_level):
        key = tuple(
            (names[d], dims[d][2][rep_codes[d][s] - 1] if rep_codes[d][s] else None)
            for d in range(level)
        )
        text = ";".join(f"{dim}={token if token is not None else '?'}" for dim, token in key)
        merged = level < len(dims) or level == 0
        ids.append(segment_id((text + ";*" if text else "*") if merged else text))
        keys.append(key)
    sizes = np.bincount(member_segment, minlength=len(seg_level))
    # Root too small: dissolve the smallest segments (then by id) into it until it is not.
    root = len(seg_level) - 1
    if seg_level and seg_level[-1] == 0 and sizes[root] < cfg.min_size:
        short = cfg.min_size - int(sizes[root])
        gone = np.zeros(len(seg_level), dtype=bool)
        for seg in sorted(range(root), key=lambda x: (sizes[x], ids[x])):
            if short <= 0:
                break
            gone[seg], short = True, short - int(sizes[seg])
        member_segment = np.where(gone[member_segment], root, member_segment)
    else:
        gone = np.zeros(len(seg_level), dtype=bool)
    sizes = np.bincount(member_segment, minlength=len(seg_level))
    stats = _stats(frame, member_segment, len(seg_level))
    rank = sorted(np.flatnonzero(~gone).tolist(), key=lambda x: (-sizes[x], ids[x]))
    position = np.full(len(seg_level), -1, dtype=np.int64)
    position[rank] = np.arange(len(rank))
    segments = []
    for x in rank:
        known = {dim: _show(dim, token) for dim, token in keys[x] if token is not None}
        mixed = names[seg_level[x] :]
        segments.append(
            MicroSegment(ids[x], keys[x], mixed, _describe(known, mixed), int(sizes[x]), stats[x])
        )
    return MicroSegmentation(
        segments=tuple(segments),
        member_ids=frame["member_id"],
        member_segment=position[member_segment],
        dimensions=names,
        dropped=tuple(d for d in cfg.dimensions if d not in names),
        value_edges=value_edges,
        raw_cells=raw_cells,
    )


def _dimensions(
    frame: pl.DataFrame, cfg: MicroConfig, value_edges: tuple[float, ...]
) -> list[tuple[str, Ints, list[str]]]:
    """(name, codes 0..m with 0 unknown, the m key tokens) of each dimension with data."""
    wanted = [
        d
        for d in cfg.dimensions
        if all(c in frame.columns for c in SOURCES[d]) and (d != "value" or value_edges)
    ]
    exprs = _band_exprs(cfg, frame, value_edges)
    columns = [
        exprs[d].cast(pl.Int64).alias(d) if d in BANDS else pl.col(SOURCES[d][0]).alias(d)
        for d in wanted
    ]
    values = frame.select(columns) if columns else pl.DataFrame()
    out = []
    for d in wanted:
        if d in BANDS:
            codes, tokens = values[d].to_numpy(), list(BANDS[d])
            present = bool(codes.any())
        else:
            codes, tokens = _encode(values[d])
            present = bool(tokens)
        if present:
            out.append((d, codes, tokens))
    return out


def _partition(
    codes: list[Ints], radices: list[int], min_size: int
) -> tuple[Ints, list[int], list[int], int]:
    """Hierarchical fallback: (member's segment, each segment's level and a member, cells).

    Level L keys are mixed-radix packings of the first L codes (most important first,
    re-ranked densely if the product would overflow; ranks keep the order), so one stable
    sort of the full keys sorts every level, and a level is one linear pass over the members
    the finer levels left. Whatever is left after level 1 is the root (level 0).
    """
    n = codes[0].size if codes else 0
    levels: list[Ints] = []
    key, span = np.zeros(n, dtype=np.int64), 1
    for code, size in zip(codes, radices, strict=True):
        radix = size + 1
        if span * radix >= 2**62:
            key = np.unique(key, return_inverse=True)[1].astype(np.int64).reshape(-1)
            span = int(key.max()) + 1
        key, span = key * radix + code, span * radix
        levels.append(key)
    remaining = np.argsort(key, kind="stable")
    member_segment = np.full(n, -1, dtype=np.int64)
    seg_level: list[int] = []
    seg_rep: list[int] = []
    raw_cells = 0
    for level in range(len(levels), 0, -1):
        if remaining.size == 0:
            break
        prefix = levels[level - 1][remaining]
        starts = np.flatnonzero(np.r_[True, prefix[1:] != prefix[:-1]])
        counts = np.diff(np.r_[starts, remaining.size])
        raw_cells = raw_cells or int(starts.size)
        keep = counts >= min_size
        first = len(seg_level)
        seg_level += [level] * int(keep.sum())
        seg_rep += remaining[starts[keep]].tolist()
        found = np.repeat(np.where(keep, first + np.cumsum(keep) - 1, -1), counts)
        member_segment[remaining[found >= 0]] = found[found >= 0]
        remaining = remaining[found < 0]
    if remaining.size:
        member_segment[remaining] = len(seg_level)
        seg_level.append(0)
        seg_rep.append(int(remaining.min()))
    return member_segment, seg_level, seg_rep, raw_cells
