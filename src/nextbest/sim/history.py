"""Batch history: run the behaviour engine with no treatments and write every day."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from nextbest.sim.behaviour import Engine
from nextbest.sim.config import SimConfig
from nextbest.sim.sources import World
from nextbest.sim.truth import write_persons
from nextbest.sim.writer import PartWriter


@dataclass(frozen=True, slots=True)
class SimSummary:
    """What a run wrote."""

    persons: int
    events: int
    by_type: dict[str, int]
    by_source: dict[str, int]
    event_files: list[Path]
    truth_files: list[Path]
    seconds: float
    by_type_source: dict[str, int] = field(default_factory=dict)


def simulate_to_dir(config: SimConfig, out: Path, fmt: str = "parquet") -> SimSummary:
    """Simulate ``config`` and write ``out/events/events-NNNNN.<fmt>`` and ``out/truth/``.

    Deterministic: the same config writes byte-identical files.
    """
    started = time.perf_counter()
    world = World.build(config)
    engine = Engine(world)
    writer = PartWriter(out, fmt, part_rows=config.part_rows)
    writer.write(engine.prelude())
    for day in range(config.days):
        writer.write(engine.step(day))
    writer.write(engine.finish())
    writer.close()
    persons_path = writer.truth_dir / "persons.parquet"
    write_persons(engine, persons_path)
    by_type: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for (kind, source), count in sorted(writer.counts.items()):
        by_type[kind] = by_type.get(kind, 0) + count
        by_source[source] = by_source.get(source, 0) + count
    return SimSummary(
        persons=config.members,
        events=writer.rows,
        by_type=by_type,
        by_source=by_source,
        event_files=writer.paths,
        truth_files=[writer.records_path, persons_path],
        seconds=time.perf_counter() - started,
        by_type_source={f"{k}/{s}": c for (k, s), c in sorted(writer.counts.items())},
    )
