"""Probabilistic linking of the member base, into the identity graph.

Each current member becomes one record (``records.linking_records``); the linker scores
pairs. Pairs at or above ``link_merge_probability`` merge at once, explained by each
field's match weight; pairs from ``link_review_probability`` up wait in the review queue.
A pair a person rejected, or a merge someone undid, is never proposed again, and a merge is
skipped when it would join two members that such a decision keeps apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import Connection, Engine, insert, select

from nextbest.config import Settings
from nextbest.identity.linking import LinkConfig, LinkResult, dedupe
from nextbest.identity.repository import current_member
from nextbest.members.merge import Evidence, merge_members
from nextbest.members.records import linking_records
from nextbest.store import tables as t
from nextbest.store.engine import graph_transaction, write_transaction

WEIGHT_PREFIX = "weight_"


@dataclass(slots=True)
class LinkRun:
    records: int = 0
    pairs: int = 0
    merged: int = 0
    queued: int = 0
    already_decided: int = 0
    kept_apart: int = 0
    model_version: str = ""
    trained: bool = False  # False: scored with the stored model
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "pairs": self.pairs,
            "merged": self.merged,
            "queued_for_review": self.queued,
            "already_decided": self.already_decided,
            "kept_apart": self.kept_apart,
            "model_version": self.model_version,
            "trained": self.trained,
            "seconds": self.timings,
        }


def link_members(
    engine: Engine,
    settings: Settings,
    *,
    actor: str = "linker",
    retrain: bool = False,
    now: datetime | None = None,
) -> LinkRun:
    """Link current members; trains a model on the first run (or ``retrain``), then reuses it."""
    now = now or datetime.now(UTC)
    run = LinkRun()
    started = time.perf_counter()
    with engine.connect() as conn:
        records = linking_records(conn)
    run.records = records.num_rows
    run.timings["records"] = time.perf_counter() - started
    if records.num_rows < 2:
        return run
    saved = None if retrain else _latest_model(engine, records)
    result = dedupe(
        records,
        "member_id",
        threshold=settings.link_merge_probability,
        min_probability=settings.link_review_probability,
        config=saved[0] if saved else None,
        trained=saved[1] if saved else None,
    )
    run.trained = saved is None
    if run.trained:
        _save_model(engine, result, records.num_rows, now)
    run.model_version = str(result.model.get("version", ""))
    run.timings |= {f"linker_{k}": v for k, v in result.timings.items()}
    run.pairs = result.pairs.num_rows
    started = time.perf_counter()
    with graph_transaction(engine) as conn:
        _apply(conn, result, settings, run, actor=actor, now=now)
    run.timings["apply"] = time.perf_counter() - started
    return run


def _apply(
    conn: Connection,
    result: LinkResult,
    settings: Settings,
    run: LinkRun,
    *,
    actor: str,
    now: datetime,
) -> None:
    c = t.link_candidates
    decided = {
        (row.left_member, row.right_member): row.status
        for row in conn.execute(select(c.c.left_member, c.c.right_member, c.c.status))
    }
    apart = [pair for pair, status in decided.items() if status in ("rejected", "blocked")]
    weight_columns = [n for n in result.pairs.column_names if n.startswith(WEIGHT_PREFIX)]
    pairs = sorted(result.pairs.to_pylist(), key=lambda p: -p["match_probability"])
    for pair in pairs:
        left, right = sorted((str(pair["left_id"]), str(pair["right_id"])))
        if (left, right) in decided:
            run.already_decided += 1
            continue
        probability = float(pair["match_probability"])
        weights = {
            name.removeprefix(WEIGHT_PREFIX): round(float(pair[name]), 3)
            for name in weight_columns
            if pair[name] is not None
        }
        status = "pending"
        threshold = settings.link_merge_probability
        if probability >= threshold and threshold < 1.0:  # 1.0: a person decides every link
            a, b = current_member(conn, left), current_member(conn, right)
            if a is None or b is None or a == b:
                continue
            if _kept_apart(conn, a, b, apart):
                run.kept_apart += 1
                continue
            merge_members(
                conn,
                a,
                b,
                kind="probabilistic",
                evidence=Evidence(probability, weights, result.model.get("version")),
                actor=actor,
                now=now,
            )
            status = "merged"
            run.merged += 1
        else:
            run.queued += 1
        conn.execute(
            insert(c).values(
                left_member=left,
                right_member=right,
                match_probability=probability,
                match_weight=float(pair["match_weight"]),
                explanation=orjson.dumps(weights).decode(),
                model_version=str(result.model.get("version", "")),
                status=status,
                created_at=now,
                decided_at=now if status == "merged" else None,
                decided_by=actor if status == "merged" else None,
            )
        )
        decided[(left, right)] = status


def _latest_model(engine: Engine, records: pa.Table) -> tuple[LinkConfig, dict[str, Any]] | None:
    """The stored model, unless it compares a column the records no longer have."""
    m = t.link_models
    with engine.connect() as conn:
        row = conn.execute(select(m).order_by(m.c.model_id.desc()).limit(1)).first()
    if row is None:
        return None
    config = LinkConfig.from_dict(orjson.loads(row.config))
    if any(spec.column not in records.column_names for spec in config.fields):
        return None
    return config, orjson.loads(row.model)


def _save_model(engine: Engine, result: LinkResult, records: int, now: datetime) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            insert(t.link_models).values(
                version=str(result.model.get("version", "")),
                records=records,
                config=orjson.dumps(result.config.to_dict()).decode(),
                model=orjson.dumps(result.model).decode(),
                created_at=now,
            )
        )


def _kept_apart(conn: Connection, a: str, b: str, apart: list[tuple[str, str]]) -> bool:
    """Would joining ``a`` and ``b`` put a rejected or unmerged pair into one member?"""
    if not apart:
        return False
    group = {a, b}
    for x, y in apart:
        cx, cy = current_member(conn, x), current_member(conn, y)
        if cx in group and cy in group and cx != cy:
            return True
    return False
