"""The ``nextbest`` command: one group per capability, each in its own module."""

from __future__ import annotations

import typer

from nextbest.cli import (
    audit,
    bench,
    bench_analytics,
    bench_btyd,
    bench_console,
    bench_decide,
    bench_identity,
    bench_journeys,
    bench_ledger,
    bench_obd,
    bench_segments,
    channels,
    db,
    decide,
    demo,
    early_warning,
    evaluate,
    experiments,
    identity,
    ingest,
    journeys,
    keys,
    ledger,
    liability,
    linking,
    models,
    models_btyd,
    program,
    proposals,
    recommend,
    score,
    segments,
    serve,
    sim,
    stream,
    users,
)

app = typer.Typer(
    name="nextbest",
    help="Loyalty orchestration: events in, one member per person, decisions out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
ingest.app.command("stream")(stream.ingest_stream)
identity.app.command("link")(linking.link)
identity.app.command("dedupe")(linking.dedupe)
bench.app.command("identity")(bench_identity.bench_identity)
bench.app.command("ledger")(bench_ledger.bench_ledger)
bench.app.command("decide")(bench_decide.bench_decide)
bench.app.command("journeys")(bench_journeys.bench_journeys)
bench.app.command("obd")(bench_obd.bench_obd)
bench.app.command("console")(bench_console.bench_console)
ledger.app.command("liability")(liability.liability)
models.app.command("btyd")(models_btyd.btyd)
models.app.command("cards")(score.cards)
models.app.command("early-warning")(early_warning.early_warning)
models.app.command("recommend")(recommend.recommend)
bench.app.command("cdnow")(bench_btyd.bench_cdnow)
bench.app.command("analytics")(bench_analytics.bench_analytics)
bench.app.command("btyd")(bench_btyd.bench_btyd)
bench.app.command("microsegments")(bench_segments.bench_microsegments)
bench.app.command("recommend")(recommend.bench_recommend)
app.add_typer(db.app, name="db")
app.add_typer(ingest.app, name="ingest")
app.add_typer(identity.app, name="identity")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(program.app, name="program")
app.add_typer(proposals.app, name="proposals")
app.add_typer(ledger.app, name="ledger")
app.add_typer(bench.app, name="bench")
app.add_typer(models.app, name="models")
app.add_typer(segments.app, name="segments")
app.add_typer(decide.app, name="decisions")
app.add_typer(journeys.app, name="journeys")
app.add_typer(channels.app, name="channels")
app.add_typer(experiments.app, name="experiments")
app.add_typer(evaluate.app, name="evaluate")
app.command("worker")(journeys.worker)
app.command("decide")(decide.decide)
app.command("simulate")(sim.simulate)
app.command("serve")(serve.serve)
app.command("score")(score.score)
app.command("demo")(demo.demo)
app.command("audit")(audit.audit)


def main() -> None:
    app()
