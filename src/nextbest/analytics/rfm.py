"""RFM scoring (stage 1 of the loyalty maturity model), the named segments, migration.

Scores
------
R, F and M are each scored 1..k (``k`` = 5 by default) from bin edges
``e_1 <= ... <= e_(k-1)``: a value ``x`` lands in bin ``b`` when ``e_(b-1) < x <= e_b``
(bins closed on the right; ``e_0 = -inf``, ``e_k = +inf``). The edges are the purchasers'
quantiles at ``j/k`` by the ``inverted_cdf`` method, so every edge is an observed value and
an explanation quotes a real number, unless the config gives explicit edges.

*Ties.* A score is a function of the value alone, so equal values always share a score: a tie
group that spans several quantiles lands in the lowest bin its value reaches. Frequency is
heavily tied: with 60% one-time buyers the edges are ``1, 1, 1, 2``, every one-time buyer
gets F=1, two purchases get F=4 and F=2..3 stay empty (nobody can be told apart there).

*R is reversed*: ``R = k + 1 - bin`` of the days since the last purchase, so recent is high.

*No purchase*: a member whose recency is NaN (never purchased) is left out of the quantiles,
scores R = F = M = 0 and gets the segment ``"no purchase"``.

*Monetary* is the mean order value by default (``RfmConfig.monetary="mean"``) or the total
(``"total"``); :func:`score_rfm` converts from what the array holds (``monetary_is``).

Segments
--------
Named segments read two scores on a 5-point grid: R, and F (``axis="f"``, the common
R-by-F grid) or FM, the mean of F and M rounded half up (``axis="fm"``). Scores on another
``k`` are mapped onto the grid linearly, ``1 + round((s - 1) * (grid - 1) / (k - 1))`` half
up, so the lowest and highest scores stay the grid's corners. The default rule table (rows R,
columns F or FM)::

    R\\F  1               2                    3                    4           5
    5    new             potential loyalists  potential loyalists  champions   champions
    4    promising       potential loyalists  potential loyalists  loyal       loyal
    3    about to sleep  about to sleep       need attention       loyal       loyal
    2    hibernating     hibernating          at risk              at risk     can't lose
    1    lost            lost                 at risk              at risk     can't lose

A config's rules must cover every grid cell exactly once (checked when it is built), so every
scored member gets exactly one segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from nextbest.errors import InvalidRequest

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
NO_PURCHASE = "no purchase"
ENTERED = "(entered)"
LEFT = "(left)"


class InvalidFeature(InvalidRequest):
    """A feature value or table that cannot be scored; names the record, field and reason."""

    def __init__(self, *, record: str, field: str, reason: str) -> None:
        self.record = record
        self.field = field
        self.reason = reason
        super().__init__(f"{record}: {field}: {reason}")


@dataclass(frozen=True)
class SegmentRule:
    """A named rectangle of the grid: R in ``r[0]..r[1]`` and F (or FM) in ``y[0]..y[1]``."""

    name: str
    r: tuple[int, int]
    y: tuple[int, int]

    def describe(self, axis: str) -> str:
        """The rule as text.

        >>> SegmentRule("at risk", (1, 2), (3, 4)).describe("F")
        'R in 1..2 and F in 3..4'
        """
        return f"R in {self.r[0]}..{self.r[1]} and {axis} in {self.y[0]}..{self.y[1]}"


DEFAULT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("champions", (5, 5), (4, 5)),
    SegmentRule("loyal", (3, 4), (4, 5)),
    SegmentRule("potential loyalists", (4, 5), (2, 3)),
    SegmentRule("new", (5, 5), (1, 1)),
    SegmentRule("promising", (4, 4), (1, 1)),
    SegmentRule("need attention", (3, 3), (3, 3)),
    SegmentRule("about to sleep", (3, 3), (1, 2)),
    SegmentRule("at risk", (1, 2), (3, 4)),
    SegmentRule("can't lose", (1, 2), (5, 5)),
    SegmentRule("hibernating", (2, 2), (1, 2)),
    SegmentRule("lost", (1, 1), (1, 2)),
)


def _check_edges(name: str, edges: tuple[float, ...] | None, k: int) -> None:
    if edges is None:
        return
    if len(edges) != k - 1:
        raise ValueError(f"{name}: {k} scores need {k - 1} edges, got {len(edges)}")
    if not all(np.isfinite(edges)) or any(b < a for a, b in pairwise(edges)):
        raise ValueError(f"{name}: edges must be finite and non-decreasing: {edges}")


@dataclass(frozen=True)
class RfmConfig:
    """Bins and the segment map.

    >>> RfmConfig().segment_for(5, 5), RfmConfig().segment_for(1, 1)
    ('champions', 'lost')
    >>> RfmConfig(k=3).segment_for(3, 1)  # k=3 scores sit on the 5-point grid as 1, 3, 5
    'new'
    """

    k: int = 5
    r_edges: tuple[float, ...] | None = None
    f_edges: tuple[float, ...] | None = None
    m_edges: tuple[float, ...] | None = None
    monetary: Literal["mean", "total"] = "mean"
    axis: Literal["f", "fm"] = "f"
    rules: tuple[SegmentRule, ...] = DEFAULT_RULES
    grid: int = 5

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError(f"k: at least 2 scores, got {self.k}")
        for name in ("r_edges", "f_edges", "m_edges"):
            _check_edges(name, getattr(self, name), self.k)
        cover = np.zeros((self.grid + 1, self.grid + 1), dtype=np.int64)
        for rule in self.rules:
            (r0, r1), (y0, y1) = rule.r, rule.y
            if not (1 <= r0 <= r1 <= self.grid and 1 <= y0 <= y1 <= self.grid):
                raise ValueError(f"rule {rule.name!r}: ranges must lie in 1..{self.grid}")
            cover[r0 : r1 + 1, y0 : y1 + 1] += 1
        bad = [(int(r), int(y)) for r, y in np.argwhere(cover[1:, 1:] != 1) + 1]
        if bad:
            raise ValueError(f"rules must cover each (R, {self.axis_name}) cell once; not: {bad}")

    @property
    def axis_name(self) -> str:
        return "F" if self.axis == "f" else "FM"

    @property
    def segment_names(self) -> tuple[str, ...]:
        """Rule names in rule order, then ``"no purchase"`` (the codes of a result)."""
        return (*dict.fromkeys(rule.name for rule in self.rules), NO_PURCHASE)

    def to_grid(self, score: int) -> int:
        """A 1..k score on the rules' 1..grid scale, linearly (1 to 1, k to grid), half up."""
        return 1 + (2 * (score - 1) * (self.grid - 1) + self.k - 1) // (2 * (self.k - 1))

    def rule_for(self, r: int, y: int) -> SegmentRule:
        gr, gy = self.to_grid(r), self.to_grid(y)
        return next(
            rule
            for rule in self.rules
            if rule.r[0] <= gr <= rule.r[1] and rule.y[0] <= gy <= rule.y[1]
        )

    def segment_for(self, r: int, y: int) -> str:
        """The segment of scores R and F (or FM) on 1..k; 0 is ``"no purchase"``."""
        return NO_PURCHASE if r == 0 else self.rule_for(r, y).name

    def lookup(self) -> Ints:
        """Segment codes by (R, F-or-FM) score, 0..k each; row or column 0: no purchase."""
        names = self.segment_names
        table = np.full((self.k + 1, self.k + 1), len(names) - 1, dtype=np.int64)
        for r in range(1, self.k + 1):
            for y in range(1, self.k + 1):
                table[r, y] = names.index(self.rule_for(r, y).name)
        return table


@dataclass(frozen=True)
class RfmEdges:
    """The bin edges used, k-1 each (NaN when nobody purchased)."""

    r: tuple[float, ...]
    f: tuple[float, ...]
    m: tuple[float, ...]


def _num(x: float) -> str:
    return f"{x:.6g}"


def _why(letter: str, score: int, raw: int, text: str, edges: tuple[float, ...]) -> str:
    k = len(edges) + 1
    if raw == 1:
        cond = f"{text} <= edge {_num(edges[0])}"
    elif raw == k:
        cond = f"{text} > edge {_num(edges[-1])}"
    else:
        cond = f"edge {_num(edges[raw - 2])} < {text} <= edge {_num(edges[raw - 1])}"
    return f"{letter}={score} because {cond}"


@dataclass(frozen=True)
class RfmExplanation:
    """One member's inputs, scores, the edges behind them and the segment rule."""

    member: str
    recency_days: float
    frequency: float
    monetary: float
    r: int
    f: int
    m: int
    segment: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.member}: {self.segment}: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class SegmentSummary:
    segment: str
    members: int
    share: float
    mean_r: float
    mean_f: float
    mean_m: float
    mean_monetary: float | None


@dataclass(frozen=True, eq=False)
class RfmResult:
    """Scores per member (0 = no purchase), the segment codes and the edges that made them."""

    config: RfmConfig
    edges: RfmEdges
    recency_days: Floats
    frequency: Floats
    monetary: Floats
    r: Ints
    f: Ints
    m: Ints
    y: Ints
    codes: Ints
    member_ids: Sequence[str] | None = field(default=None)

    def __len__(self) -> int:
        return int(self.codes.size)

    @property
    def segments(self) -> npt.NDArray[np.object_]:
        """The segment name of each member."""
        return np.asarray(self.config.segment_names, dtype=object)[self.codes]

    def _index(self, member: int | str) -> int:
        if isinstance(member, int):
            if not 0 <= member < len(self):
                raise InvalidRequest(f"row {member}: no such row (0..{len(self) - 1})")
            return member
        if self.member_ids is None:
            raise InvalidRequest(f"member {member}: scored without member ids")
        try:
            return list(self.member_ids).index(member)
        except ValueError:
            raise InvalidRequest(f"member {member}: not among the scored members") from None

    def explain(self, member: int | str) -> RfmExplanation:
        """Why a member (row index or id) got its scores and segment.

        >>> res = score_rfm(recency_days=[3, 40, 100, np.nan], frequency=[9, 2, 1, 0],
        ...                 monetary=[12.0, 8.0, 5.0, np.nan], config=RfmConfig(k=3))
        >>> print(res.explain(0).reasons[0])
        R=3 because 3 days since last purchase <= edge 3
        >>> res.explain(3).segment
        'no purchase'
        """
        i = self._index(member)
        name = self.member_ids[i] if self.member_ids is not None else f"row {i}"
        r, f, m, code = int(self.r[i]), int(self.f[i]), int(self.m[i]), int(self.codes[i])
        segment = self.config.segment_names[code]
        rec, freq, mon = float(self.recency_days[i]), float(self.frequency[i]), self.monetary[i]
        if r == 0:
            reasons: tuple[str, ...] = ("never purchased (recency is missing): scores 0",)
        else:
            k, mean = self.config.k, self.config.monetary == "mean"
            rule = self.config.rule_for(r, int(self.y[i]))
            axis = self.config.axis_name
            y_text = f"F={f}" if axis == "F" else f"FM={int(self.y[i])} (mean of F={f}, M={m})"
            reasons = (
                _why("R", r, k + 1 - r, f"{_num(rec)} days since last purchase", self.edges.r),
                _why("F", f, f, f"{_num(freq)} purchases", self.edges.f),
                _why("M", m, m, f"{'mean order' if mean else 'total'} {_num(mon)}", self.edges.m),
                f"{segment} because R={r}, {y_text} on the {self.config.grid}-point grid "
                f"({self.config.to_grid(r)}, {self.config.to_grid(int(self.y[i]))}) "
                f"meets {rule.describe(axis)}",
            )
        return RfmExplanation(name, rec, freq, float(mon), r, f, m, segment, reasons)

    def summary(self) -> tuple[SegmentSummary, ...]:
        """Members, share and mean scores of each non-empty segment, in segment order.

        >>> res = score_rfm(recency_days=[1, 2, 50, 80], frequency=[9, 8, 1, 1],
        ...                 monetary=[5.0, 7.0, 3.0, 3.0], config=RfmConfig(k=2))
        >>> [(s.segment, s.members, s.mean_monetary) for s in res.summary()]
        [('champions', 2, 6.0), ('lost', 2, 3.0)]
        """
        counts = np.bincount(self.codes, minlength=len(self.config.segment_names))
        out = []
        for code, name in enumerate(self.config.segment_names):
            n = int(counts[code])
            if n == 0:
                continue
            mask = self.codes == code
            money = self.monetary[mask]
            out.append(
                SegmentSummary(
                    segment=name,
                    members=n,
                    share=n / len(self),
                    mean_r=float(self.r[mask].mean()),
                    mean_f=float(self.f[mask].mean()),
                    mean_m=float(self.m[mask].mean()),
                    mean_monetary=None if np.isnan(money).all() else float(np.nanmean(money)),
                )
            )
        return tuple(out)


def _record(member_ids: Sequence[str] | None, i: int) -> str:
    return f"row {i}" if member_ids is None else f"row {i} (member {member_ids[i]})"


def _check(
    bad: npt.NDArray[np.bool_],
    *,
    field: str,
    reason: str,
    values: Floats,
    member_ids: Sequence[str] | None,
) -> None:
    """Raise :class:`InvalidFeature` naming the first bad row, and how many share the fault."""
    rows = np.flatnonzero(bad)
    if rows.size:
        i = int(rows[0])
        more = f"; {rows.size - 1} more rows like it" if rows.size > 1 else ""
        raise InvalidFeature(
            record=_record(member_ids, i), field=field, reason=f"{reason} ({values[i]:g}){more}"
        )


def quantile_edges(values: Floats, k: int) -> tuple[float, ...]:
    """The k-1 edges at j/k, each an observed value (``inverted_cdf``).

    >>> quantile_edges(np.arange(1.0, 11.0), 5)
    (2.0, 4.0, 6.0, 8.0)
    >>> quantile_edges(np.array([1.0] * 6 + [2.0, 2.0, 3.0, 9.0]), 5)  # ties: repeated edges
    (1.0, 1.0, 1.0, 2.0)
    """
    if values.size == 0:
        return (float("nan"),) * (k - 1)
    qs = np.quantile(values, np.arange(1, k) / k, method="inverted_cdf")
    return tuple(float(q) for q in qs)


def bins(values: Floats, edges: tuple[float, ...]) -> Ints:
    """Bin 1..k of each value: ``e_(b-1) < x <= e_b``; equal values share a bin.

    >>> bins(np.array([1.0, 1.0, 2.0, 9.0]), (1.0, 1.0, 1.0, 2.0)).tolist()
    [1, 1, 4, 5]
    """
    return np.searchsorted(np.asarray(edges), values, side="left").astype(np.int64) + 1


def score_rfm(
    *,
    recency_days: npt.ArrayLike,
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    config: RfmConfig | None = None,
    monetary_is: Literal["mean", "total"] = "mean",
    member_ids: Sequence[str] | None = None,
) -> RfmResult:
    """Score R, F, M 1..k and name each member's segment.

    >>> res = score_rfm(recency_days=[2, 30, 200, np.nan], frequency=[12, 3, 1, 0],
    ...                 monetary=[9.5, 6.0, 4.0, np.nan], config=RfmConfig(k=3))
    >>> res.r.tolist(), res.f.tolist(), res.segments.tolist()
    ([3, 2, 1, 0], [3, 2, 1, 0], ['champions', 'need attention', 'lost', 'no purchase'])
    """
    cfg = config or RfmConfig()
    rec = np.asarray(recency_days, dtype=np.float64)
    freq = np.asarray(frequency, dtype=np.float64)
    money = np.asarray(monetary, dtype=np.float64)
    if not rec.shape == freq.shape == money.shape or rec.ndim != 1:
        raise InvalidRequest(
            "recency_days, frequency, monetary: one value per member each, got shapes "
            f"{rec.shape}, {freq.shape}, {money.shape}"
        )
    if member_ids is not None and len(member_ids) != rec.size:
        raise InvalidRequest(f"member_ids: {len(member_ids)} ids for {rec.size} members")
    bought = ~np.isnan(rec)
    ids = member_ids
    _check(rec < 0, field="recency_days", reason="negative", values=rec, member_ids=ids)
    _check(
        ~np.isfinite(freq), field="frequency", reason="not a number", values=freq, member_ids=ids
    )
    _check(freq < 0, field="frequency", reason="negative", values=freq, member_ids=ids)
    _check(
        ~bought & (freq > 0),
        field="recency_days",
        reason="missing although frequency counts purchases",
        values=freq,
        member_ids=ids,
    )
    if monetary_is != cfg.monetary:
        with np.errstate(divide="ignore", invalid="ignore"):
            money = money * freq if cfg.monetary == "total" else money / freq
    _check(
        bought & ~np.isfinite(money),
        field="monetary",
        reason="missing or infinite for a purchaser",
        values=money,
        member_ids=ids,
    )
    _check(bought & (money < 0), field="monetary", reason="negative", values=money, member_ids=ids)
    money = np.where(bought, money, np.nan)
    edges = RfmEdges(
        r=cfg.r_edges or quantile_edges(rec[bought], cfg.k),
        f=cfg.f_edges or quantile_edges(freq[bought], cfg.k),
        m=cfg.m_edges or quantile_edges(money[bought], cfg.k),
    )
    zero = np.zeros(rec.size, dtype=np.int64)
    r = np.where(bought, cfg.k + 1 - bins(np.nan_to_num(rec), edges.r), zero)
    f = np.where(bought, bins(freq, edges.f), zero)
    m = np.where(bought, bins(np.nan_to_num(money), edges.m), zero)
    y = f if cfg.axis == "f" else (f + m + 1) // 2
    codes = cfg.lookup()[r, y]
    return RfmResult(cfg, edges, rec, freq, money, r, f, m, y, codes, member_ids)


def as_frame(table: Any, *, required: Sequence[str]) -> pl.DataFrame:
    """A pyarrow Table or polars DataFrame as polars, with the required columns present."""
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):
        raise InvalidRequest("features: expected a table, got one column")
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise InvalidFeature(
            record="features", field=", ".join(missing), reason="missing column(s)"
        )
    return frame


def _numeric(frame: pl.DataFrame, name: str) -> Floats:
    try:
        column = frame[name].cast(pl.Float64)
    except pl.exceptions.PolarsError:
        dtype = frame[name].dtype
        raise InvalidFeature(
            record="features", field=name, reason=f"not numeric ({dtype})"
        ) from None
    return column.fill_null(float("nan")).to_numpy()


def score_table(
    table: Any, config: RfmConfig | None = None, *, monetary_is: Literal["mean", "total"] = "mean"
) -> RfmResult:
    """Score a member feature table (``member_id``, ``recency_days``, ``frequency``, ``monetary``).

    >>> frame = pl.DataFrame({"member_id": ["a", "b", "c"], "recency_days": [1.0, 90.0, None],
    ...                       "frequency": [4, 1, 0], "monetary": [7.5, 3.0, None]})
    >>> score_table(frame, RfmConfig(k=2)).segments.tolist()
    ['champions', 'lost', 'no purchase']
    """
    frame = as_frame(table, required=("member_id", "recency_days", "frequency", "monetary"))
    return score_rfm(
        recency_days=_numeric(frame, "recency_days"),
        frequency=_numeric(frame, "frequency"),
        monetary=_numeric(frame, "monetary"),
        config=config,
        monetary_is=monetary_is,
        member_ids=frame["member_id"].cast(pl.String).to_list(),
    )


@dataclass(frozen=True, eq=False)
class Migration:
    """Members moving from segment (rows, date A) to segment (columns, date B)."""

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    counts: Ints

    @property
    def shares(self) -> Floats:
        """Each row as shares of the members it started with (0 for an empty row)."""
        totals = self.counts.sum(axis=1, keepdims=True)
        out: Floats = np.zeros(self.counts.shape)
        np.divide(self.counts, totals, out=out, where=totals > 0)
        return out

    @property
    def stayed(self) -> int:
        return sum(
            int(self.counts[i, self.cols.index(s)])
            for i, s in enumerate(self.rows)
            if s in self.cols
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": list(self.rows),
            "to": list(self.cols),
            "counts": self.counts.tolist(),
            "row_shares": np.round(self.shares, 4).tolist(),
            "members": int(self.counts.sum()),
            "stayed": self.stayed,
        }

    def to_text(self) -> str:
        """The matrix as fixed-width text: counts, and the row share in percent.

        >>> print(migrate(ids_a=["a", "b"], segments_a=["new", "lost"],
        ...               ids_b=["a", "c"], segments_b=["loyal", "new"]).to_text())
        from \\ to         loyal         new      (left)
        (entered)        0   0%      1 100%      0   0%
        lost             0   0%      0   0%      1 100%
        new              1 100%      0   0%      0   0%
        """
        width = max(len(s) for s in self.rows) + 2
        shares = self.shares
        header = "from \\ to"
        lines = [f"{header:<{width}}" + "".join(f"{c:>12}" for c in self.cols)]
        for i, row in enumerate(self.rows):
            cells = "".join(
                f"{self.counts[i, j]:>7} {shares[i, j]:>4.0%}" for j in range(len(self.cols))
            )
            lines.append(f"{row:<{width}}" + cells)
        return "\n".join(line.rstrip() for line in lines)


def _ordered(labels: set[str], order: Sequence[str]) -> list[str]:
    return [s for s in order if s in labels] + sorted(labels - set(order))


def migrate(
    *,
    ids_a: Sequence[str],
    segments_a: Sequence[str],
    ids_b: Sequence[str],
    segments_b: Sequence[str],
    order: Sequence[str] = (),
) -> Migration:
    """The migration matrix of the same members between dates A and B.

    Members only at A move to ``"(left)"``; members only at B come from ``"(entered)"``.
    Labels follow ``order`` (then alphabetical); ``(entered)`` is the first row, ``(left)``
    the last column.

    >>> mig = migrate(ids_a=["a", "b", "c"], segments_a=["new", "new", "lost"],
    ...               ids_b=["a", "b", "d"], segments_b=["loyal", "new", "new"],
    ...               order=["loyal", "new", "lost"])
    >>> mig.rows, mig.cols, mig.counts.tolist()
    (('(entered)', 'new', 'lost'), ('loyal', 'new', '(left)'), [[0, 1, 0], [1, 1, 0], [0, 0, 1]])
    """
    frames = []
    for name, ids, segs in (("a", ids_a, segments_a), ("b", ids_b, segments_b)):
        if len(ids) != len(segs):
            raise InvalidRequest(f"date {name.upper()}: {len(ids)} ids for {len(segs)} segments")
        frame = pl.DataFrame(
            {"member_id": list(ids), name: list(segs)},
            schema={"member_id": pl.String, name: pl.String},
        )
        dup = frame.filter(pl.col("member_id").is_duplicated())
        if dup.height:
            raise InvalidFeature(
                record=f"member {dup['member_id'][0]}",
                field="member_id",
                reason=f"listed {dup.height} times at date {name.upper()}",
            )
        frames.append(frame)
    joined = frames[0].join(frames[1], on="member_id", how="full", coalesce=True)
    pairs = (
        joined.select(pl.col("a").fill_null(ENTERED), pl.col("b").fill_null(LEFT))
        .group_by("a", "b")
        .len()
    )
    rows = [ENTERED, *_ordered(set(pairs["a"].to_list()) - {ENTERED}, order)]
    cols = [*_ordered(set(pairs["b"].to_list()) - {LEFT}, order), LEFT]
    counts = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for a, b, n in pairs.iter_rows():
        counts[rows.index(a), cols.index(b)] = n
    return Migration(tuple(rows), tuple(cols), counts)
