"""The model registry and the scores table: what was trained, on what, and how it did.

A model version is the content hash of its trees and calibration; its card (data window,
features, metrics, drift against the previous version, fairness by group) is stored beside
the artefact, so any score in ``member_scores`` can say which model made it and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from nextbest.analytics.predict.models import Model
from nextbest.store import tables as t
from nextbest.store.bulk import upsert_rows

SCORE_COLUMNS = (
    "member_id",
    "name",
    "value",
    "label",
    "model_version",
    "as_of",
    "scored_at",
    "explanation",
)


def save_model(conn: Connection, model: Model, *, card: dict[str, Any], at: datetime) -> None:
    exists = conn.execute(
        sa.select(t.model_versions.c.version).where(t.model_versions.c.version == model.version)
    ).first()
    if exists:
        return
    conn.execute(
        t.model_versions.insert().values(
            version=model.version,
            task=model.task,
            created_at=at,
            card=orjson.dumps(card, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            artefact=orjson.dumps(model.to_dict()).decode(),
        )
    )


def latest(
    conn: Connection, task: str, *, before: str | None = None
) -> tuple[Model, dict[str, Any]] | None:
    """The newest version of ``task`` (other than ``before``), with its card."""
    query = (
        sa.select(t.model_versions.c.artefact, t.model_versions.c.card)
        .where(t.model_versions.c.task == task)
        .order_by(t.model_versions.c.created_at.desc(), t.model_versions.c.version)
    )
    if before is not None:
        query = query.where(t.model_versions.c.version != before)
    row = conn.execute(query.limit(1)).first()
    if row is None:
        return None
    return Model.from_dict(orjson.loads(row.artefact)), orjson.loads(row.card)


def tasks(conn: Connection) -> list[str]:
    """Every task with a registered version (churn, value, propensity_coffee, ...)."""
    rows = conn.execute(
        sa.select(t.model_versions.c.task).distinct().order_by(t.model_versions.c.task)
    )
    return [r[0] for r in rows]


def cards(engine: Engine, task: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(
        t.model_versions.c.version,
        t.model_versions.c.task,
        t.model_versions.c.created_at,
        t.model_versions.c.card,
    ).order_by(t.model_versions.c.created_at.desc())
    if task:
        query = query.where(t.model_versions.c.task == task)
    with engine.connect() as conn:
        return [
            {
                "version": r.version,
                "task": r.task,
                "created_at": r.created_at.isoformat(),
                **orjson.loads(r.card),
            }
            for r in conn.execute(query)
        ]


def write_scores(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    upsert_rows(conn, t.member_scores, SCORE_COLUMNS, rows, key=("member_id", "name"))


def keep_previous(conn: Connection, name: str, previous: str) -> None:
    """Copy each member's ``name`` score to ``previous`` before a run overwrites it, so
    the run after can be compared with this one (segment migration)."""
    s = t.member_scores
    conn.execute(sa.delete(s).where(s.c.name == previous))
    columns = ["member_id", "name", "value", "label", "model_version", "as_of"]
    columns += ["scored_at", "explanation"]
    copied = sa.select(
        s.c.member_id,
        sa.literal(previous, sa.String),
        s.c.value,
        s.c.label,
        s.c.model_version,
        s.c.as_of,
        s.c.scored_at,
        s.c.explanation,
    ).where(s.c.name == name)
    conn.execute(sa.insert(s).from_select(columns, copied))


def member_scores(conn: Connection, member_id: str) -> dict[str, dict[str, Any]]:
    """A member's latest scores by name, each with its model version and explanation."""
    s = t.member_scores
    rows = conn.execute(sa.select(s).where(s.c.member_id == member_id).order_by(s.c.name))
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        out[r.name] = {
            "value": r.value,
            "label": r.label,
            "model_version": r.model_version,
            "as_of": r.as_of.isoformat() if r.as_of else None,
            "why": orjson.loads(r.explanation) if r.explanation else None,
        }
    return out


def counts(conn: Connection) -> Iterable[tuple[str, int]]:
    s = t.member_scores
    return conn.execute(
        sa.select(s.c.name, sa.func.count()).group_by(s.c.name).order_by(s.c.name)
    ).all()
