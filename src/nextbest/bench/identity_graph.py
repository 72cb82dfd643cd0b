"""`nextbest bench identity`: the deterministic graph alone vs with probabilistic linking.

On a simulated store (ground truth known), in one run: ingest; score the deterministic
graph; link members; score again. Member-record pairs (the records the linker compares)
are scored for three matchers: none (the deterministic graph), the peer — the exact rule
many CDPs start with (same first name, last name and postcode or birthday) — and ours.
Event pairs score the whole graph before and after linking.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Engine, text

from nextbest.config import Settings
from nextbest.identity.quality import identity_quality
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.readers import chunks_of
from nextbest.members.link import link_members
from nextbest.members.quality import majority_person, merge_quality
from nextbest.members.records import linking_records
from nextbest.sim import SimConfig, simulate_to_dir
from nextbest.store.engine import make_engine, upgrade

RULE_SQL = """
SELECT a.member_id AS l, b.member_id AS r FROM records a JOIN records b
  ON a.first_name = b.first_name AND a.last_name = b.last_name
 AND (a.postcode = b.postcode OR a.birthday = b.birthday) AND a.member_id < b.member_id
"""


def _clusters(ids: list[str], pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: find(i) for i in ids}


def record_pair_scores(
    records: pa.Table, person: dict[str, Any], pairs: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """Pairwise precision/recall of clustering the records by ``pairs``, vs true persons."""
    ids = [m for m in records.column("member_id").to_pylist() if m in person]
    cluster = _clusters(ids, ((a, b) for a, b in pairs if a in person and b in person))
    by_cluster: dict[str, list[Any]] = {}
    by_person: dict[Any, int] = {}
    for m in ids:
        by_cluster.setdefault(cluster[m], []).append(person[m])
        by_person[person[m]] = by_person.get(person[m], 0) + 1
    predicted = sum(len(v) * (len(v) - 1) // 2 for v in by_cluster.values())
    truth = sum(k * (k - 1) // 2 for k in by_person.values())
    correct = 0
    for members in by_cluster.values():
        counts: dict[Any, int] = {}
        for p in members:
            counts[p] = counts.get(p, 0) + 1
        correct += sum(k * (k - 1) // 2 for k in counts.values())
    precision = correct / predicted if predicted else None
    recall = correct / truth if truth else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    return {
        "records": len(ids),
        "true_pairs": truth,
        "predicted_pairs": predicted,
        "correct_pairs": correct,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def run_identity_bench(
    *, members: int = 5_000, seed: int = 7, cache: Path = Path(".nextbest/bench")
) -> dict[str, Any]:
    cache.mkdir(parents=True, exist_ok=True)
    sim_dir = cache / f"sim-{members}-{seed}"
    if not (sim_dir / "truth" / "persons.parquet").exists():
        simulate_to_dir(SimConfig(members=members, months=12, seed=seed), sim_dir, "parquet")
    truth = sim_dir / "truth" / "records.parquet"
    out: dict[str, Any] = {"simulated_members": members, "seed": seed}
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        settings = Settings(data_dir=Path(tmp))
        engine = make_engine(settings)
        upgrade(engine)
        started = time.perf_counter()
        report = Ingestor(engine, settings).ingest_chunks(
            (
                chunk
                for part in sorted((sim_dir / "events").glob("events-*.parquet"))
                for chunk in chunks_of(part, "parquet", size=settings.ingest_chunk_size)
            ),
            origin="bench",
        )
        out["ingest"] = {"events": report.accepted, "seconds": time.perf_counter() - started}
        out["deterministic_events"] = identity_quality(engine, truth)
        with engine.connect() as conn:
            records = linking_records(conn)
            person = majority_person(conn, truth)
        out["records"] = {"deterministic": record_pair_scores(records, person, [])}

        started = time.perf_counter()
        con = duckdb.connect()
        con.register("records", records)
        rule_pairs = con.execute(RULE_SQL).fetchall()
        rule_seconds = time.perf_counter() - started
        out["records"]["peer_exact_rule"] = record_pair_scores(records, person, rule_pairs)
        out["records"]["peer_exact_rule"]["seconds"] = rule_seconds

        started = time.perf_counter()
        run = link_members(engine, settings, actor="bench")
        link_seconds = time.perf_counter() - started
        merged = [(m, s) for m, s in _merged_pairs(engine)]
        out["records"]["probabilistic"] = record_pair_scores(records, person, merged)
        out["records"]["probabilistic"]["seconds"] = link_seconds
        out["link_run"] = run.to_dict()
        out["merge_quality"] = merge_quality(engine, truth)
        out["probabilistic_events"] = identity_quality(engine, truth)
        engine.dispose()
    out["ratio_recall_ours_to_rule"] = _ratio(
        out["records"]["probabilistic"]["recall"], out["records"]["peer_exact_rule"]["recall"]
    )
    out["ratio_seconds_ours_to_rule"] = _ratio(link_seconds, rule_seconds)
    return out


def _merged_pairs(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT survivor_id, merged_id FROM member_merges"
                " WHERE undone_at IS NULL AND kind <> 'deterministic'"
            )
        ).all()
    return [(str(a), str(b)) for a, b in rows]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
