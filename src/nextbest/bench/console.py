"""``nextbest bench console``: how quick the web console's pages are on a large store.

The store (100,000 members by default) is built once and reused while its spec is unchanged
(a ``meta.json`` stamp, as :func:`nextbest.bench.synthetic_history.ensure_history` does):

1. the buy-till-you-die history of :mod:`nextbest.bench.synthetic_history`, rewritten as the
   flat events a till or an app would send (a signup per member with an email, purchases
   with their lines, message and app events);
2. the demo loyalty program applied, then those files through the real file ingestion
   (validation, identity, profiles, ledger, Parquet history), so purchases earn points;
3. the scoring job (RFM, BTYD, churn, ...) so segments exist, then the demo's next best
   actions for a thousand scored members so the decision log holds entries.

The console app is then served by uvicorn on a free port and every page is fetched over
HTTP by a logged-in admin: the first (cold) load and the median of five warm loads. The
pages that cache their figures for a minute are cleared before the cold load. Peers in the
same run: a bare FastAPI page served the same way (the HTTP floor), and DuckDB computing the
overview's main aggregate (purchases, revenue and distinct active members per month)
directly over the Parquet event history; the ratio is the overview's cold load over it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.bench.synthetic_history import END, History, HistorySpec, describe, ensure_history
from nextbest.config import Settings
from nextbest.ingest.records import IngestReport
from nextbest.ingest.service import ingest_file
from nextbest.store.engine import make_engine, upgrade

VERSION = 1  # bump when the build changes, so cached stores are not reused
EMAIL_DOMAIN = "bench.example.com"
DECISIONS = 1000  # next best actions logged after scoring, as the demo does
STAGES: dict[str, str] = {
    "history": "synthetic history generated (or reused)",
    "events": "history rewritten as flat input events",
    "ingest": "file ingestion with the demo program (points earned)",
    "scoring": "scoring job (RFM, BTYD, churn, segments)",
    "decisions": f"next best actions for {DECISIONS:,} scored members",
}


# --- the store -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoreSpec:
    """What to build; its hash names the cache folder."""

    members: int = 100_000
    months: int = 24
    seed: int = 7
    chunk_members: int = 20_000
    score: bool = True

    def history(self) -> HistorySpec:
        return HistorySpec(
            members=self.members,
            months=self.months,
            seed=self.seed,
            chunk_members=min(self.chunk_members, self.members),
        )

    def key(self) -> str:
        text = json.dumps({**asdict(self), "version": VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Store:
    """A built (or reused) store: where it is, what it holds and how long building took."""

    spec: StoreSpec
    folder: Path
    counts: dict[str, int]
    stages: dict[str, float]
    reused: bool

    @property
    def settings(self) -> Settings:
        return store_settings(self.folder)

    @property
    def build_seconds(self) -> float:
        return sum(self.stages.values())


def store_settings(folder: Path) -> Settings:
    """The store's own settings: SQLite and the Parquet history under ``folder``."""
    return Settings(data_dir=folder / "data", database_url=None, redis_url=None)


def email_of(member: str) -> str:
    """The email the bench gives a generated member (searchable in the console)."""
    return f"{member}@{EMAIL_DOMAIN}"


def _iso(values: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    return pc.strftime(values, format="%Y-%m-%dT%H:%M:%SZ")


def input_events(history: pa.Table, people: pa.Table) -> pa.Table:
    """The flat input events (``nextbest.events.flat`` columns, text cells) of a chunk.

    A signup a minute before each member's first event carries their email, time zone and
    birthday; purchases keep their lines; messages are emails; every event names the
    member by email, so ingestion resolves identities as it would for real traffic.
    """
    firsts = history.group_by("member_id").aggregate([("occurred_at", "min")])
    joined = people.join(firsts, "member_id", join_type="inner")
    n = joined.num_rows
    signup_at = pc.subtract(joined["occurred_at_min"], pa.scalar(timedelta(minutes=1)))
    none = pa.nulls(n, pa.string())
    signups = pa.table(
        {
            "event_id": pc.binary_join_element_wise("signup-", joined["member_id"], ""),
            "type": pa.array(["signup"] * n, pa.string()),
            "occurred_at": _iso(signup_at),
            "source": pa.array(["app"] * n, pa.string()),
            "identifiers.email": pc.binary_join_element_wise(
                joined["member_id"], "@" + EMAIL_DOMAIN, ""
            ),
            "order_id": none,
            "lines": none,
            "total": none,
            "channel": none,
            "message_id": none,
            "timezone": joined["timezone"],
            "birthday": pc.cast(joined["birthday"], pa.string()),
        }
    )
    kind = history["type"]
    is_purchase = pc.equal(kind, "purchase")
    is_message = pc.starts_with(kind, "message_")
    source = history["source"]
    channel = pc.if_else(
        is_purchase,
        pc.if_else(pc.equal(source, "pos"), "store", source),
        pc.if_else(is_message, "email", pa.scalar(None, pa.string())),
    )
    lines = pc.extract_regex(history["payload"], r'^\{"lines":(?P<lines>\[.*\]),"total":')
    rest = history.num_rows
    events = pa.table(
        {
            "event_id": history["event_id"],
            "type": kind,
            "occurred_at": _iso(history["occurred_at"]),
            "source": source,
            "identifiers.email": pc.binary_join_element_wise(
                history["member_id"], "@" + EMAIL_DOMAIN, ""
            ),
            "order_id": history["order_id"],
            "lines": pc.if_else(
                is_purchase, pc.struct_field(lines, "lines"), pa.scalar(None, pa.string())
            ),
            "total": pc.cast(history["total"], pa.string()),
            "channel": channel,
            "message_id": pc.if_else(
                is_message,
                pc.binary_join_element_wise("msg-", history["event_id"], ""),
                pa.scalar(None, pa.string()),
            ),
            "timezone": pa.nulls(rest, pa.string()),
            "birthday": pa.nulls(rest, pa.string()),
        }
    )
    return pa.concat_tables([signups, events.cast(signups.schema)])


def _write_inputs(history: History, folder: Path) -> list[Path]:
    people = pq.read_table(history.members_path)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in history.files:
        events = pq.read_table(path)
        ids = pc.unique(events["member_id"])
        chunk_people = people.filter(pc.is_in(people["member_id"], value_set=ids))
        target = folder / path.name
        pq.write_table(input_events(events, chunk_people), target)
        out.append(target)
    return out


def _counts(engine: Engine) -> dict[str, int]:
    sql = {
        "members": "SELECT count(*) FROM members WHERE merged_into IS NULL",
        "events": "SELECT count(*) FROM events",
        "purchases": "SELECT count(*) FROM events WHERE type = 'purchase'",
        "dead_letters": "SELECT count(*) FROM dead_letters",
        "ledger_entries": "SELECT count(*) FROM ledger_entries",
        "decisions": "SELECT count(*) FROM decisions",
    }
    with engine.connect() as conn:
        return {k: int(conn.exec_driver_sql(q).scalar_one()) for k, q in sql.items()}


def ensure_store(
    spec: StoreSpec, *, cache: Path, progress: Callable[[str], None] = lambda _: None
) -> Store:
    """The store for ``spec`` under ``cache``, built unless a complete one is there."""
    folder = cache / f"console-{spec.key()}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        progress(f"reusing the built store in {folder}")
        return Store(
            spec=spec,
            folder=folder,
            counts={k: int(v) for k, v in meta["counts"].items()},
            stages={k: float(v) for k, v in meta["stages"].items()},
            reused=True,
        )
    shutil.rmtree(folder, ignore_errors=True)  # a build that did not finish
    folder.mkdir(parents=True)
    settings = store_settings(folder)
    stages: dict[str, float] = {}

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        progress(f"{name}: {STAGES[name]}")
        started = time.perf_counter()
        yield
        stages[name] = time.perf_counter() - started
        progress(f"{name}: {stages[name]:.1f} s")

    with stage("history"):
        history = ensure_history(spec.history(), cache=cache, progress=progress)
    with stage("events"):
        inputs = _write_inputs(history, folder / "inputs")
    engine = make_engine(settings)
    try:
        upgrade(engine)
        with stage("ingest"):
            report = _ingest(engine, settings, inputs, progress)
        if report.rejected:
            first = report.rejections[0] if report.rejections else None
            raise RuntimeError(
                f"ingestion refused {report.rejected:,} generated events"
                + (f", e.g. {first.location}: {first.field}: {first.reason}" if first else "")
            )
        shutil.rmtree(folder / "inputs")
        if spec.score:
            _score(engine, settings, stage, progress)
        counts = {**_counts(engine), "history_events": history.counts["events"]}
    finally:
        engine.dispose()
    meta = {
        "spec": asdict(spec),
        "version": VERSION,
        "counts": counts,
        "stages": stages,
        "history": describe(history),
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return Store(spec=spec, folder=folder, counts=counts, stages=stages, reused=False)


def _ingest(
    engine: Engine, settings: Settings, inputs: list[Path], progress: Callable[[str], None]
) -> IngestReport:
    from nextbest.demo import DEMO_PROGRAM, ensure_program

    ensure_program(engine, DEMO_PROGRAM)  # before ingesting: purchases earn as they arrive
    total = IngestReport()
    started = time.perf_counter()
    for i, path in enumerate(inputs, 1):
        total.add(ingest_file(engine, settings, path, fmt="parquet"))
        progress(
            f"ingested file {i}/{len(inputs)}: {total.accepted:,} events "
            f"({time.perf_counter() - started:.1f} s)"
        )
    return total


def _score(
    engine: Engine,
    settings: Settings,
    stage: Callable[[str], AbstractContextManager[None]],
    progress: Callable[[str], None],
) -> None:
    from nextbest.analytics.scoring import run_scoring
    from nextbest.demo import next_best_actions

    with stage("scoring"):
        run_scoring(settings, engine=engine, progress=progress)
    with stage("decisions"):
        # On the history's last day, as the demo does: the generated history ends there.
        next_best_actions(engine, settings, at=END, limit=DECISIONS)


# --- the pages -----------------------------------------------------------------------------
WARM_LOADS = 5
PASSWORD = "bench-console-password-1"  # a throwaway user of the bench's own store


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    path: str  # may name {email} and {member}
    cached: bool = False  # figures kept a minute in ``FIGURES``: cleared before the cold load


PAGES: tuple[Page, ...] = (
    Page("overview", "/console/", cached=True),
    Page("segments", "/console/segments", cached=True),
    Page("experiments", "/console/experiments", cached=True),
    Page("member_search", "/console/members?q={email}"),
    Page("member_360", "/console/members/{member}"),
    Page("decisions", "/console/decisions"),
    Page("audit", "/console/audit"),
    Page("program", "/console/program"),
    Page("journeys", "/console/journeys"),
)


@dataclass(frozen=True, slots=True)
class Timing:
    """One page's loads: the first (cold) and the median of the warm ones, in seconds."""

    name: str
    path: str
    status: int
    first_s: float  # the very first load of the process: lazy imports, template compiling
    cold_s: float
    warm_s: float
    bytes: int
    cached: bool


class PageFailed(RuntimeError):
    """A page answered something other than 200: the benchmark stops and says which."""


def busiest_member(engine: Engine) -> tuple[str, str]:
    """(member id, email) of the member with the most events: the heaviest 360 view."""
    with engine.connect() as conn:
        member = conn.exec_driver_sql(
            "SELECT member_id FROM profiles ORDER BY event_count DESC, member_id LIMIT 1"
        ).scalar_one()
        signup = conn.execute(
            sa.text("SELECT event_id FROM events WHERE member_id = :m AND type = 'signup'"),
            {"m": member},
        ).scalar_one()
    return str(member), email_of(str(signup).removeprefix("signup-"))


def _get(client: Any, url: str) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.get(url)
    return time.perf_counter() - started, response


def time_page(
    client: Any,
    base: str,
    page: Page,
    *,
    path: str,
    loads: int = WARM_LOADS,
    first_s: float | None = None,
) -> Timing:
    """The page's cold load and the median of ``loads`` warm ones; fails unless 200."""
    from nextbest.console.figures_cache import FIGURES

    if page.cached:
        FIGURES.clear()  # the server runs in this process: its cache is this one
    cold, response = _get(client, base + path)
    if response.status_code != 200:
        raise PageFailed(f"{path}: HTTP {response.status_code}: {response.text[:300]}")
    warm = []
    for _ in range(loads):
        seconds, again = _get(client, base + path)
        if again.status_code != 200:
            raise PageFailed(f"{path}: HTTP {again.status_code} on a warm load")
        warm.append(seconds)
    return Timing(
        name=page.name,
        path=path,
        status=response.status_code,
        first_s=cold if first_s is None else first_s,
        cold_s=cold,
        warm_s=statistics.median(warm),
        bytes=len(response.content),
        cached=page.cached,
    )


@contextmanager
def logged_in(engine: Engine, base: str) -> Iterator[Any]:
    """An HTTP client holding the session cookie of a fresh admin, disabled afterwards."""
    import httpx

    from nextbest.console.users import create_user, disable_user

    name = f"bench-{uuid.uuid4().hex[:8]}"
    create_user(engine, username=name, password=PASSWORD, roles="admin", actor="bench")
    try:
        with httpx.Client(follow_redirects=True, timeout=600) as client:
            answer = client.post(
                base + "/console/login",
                data={"username": name, "password": PASSWORD, "next": "/console/account"},
            )
            if answer.status_code != 200 or "/console/login" in str(answer.url):
                raise PageFailed(f"login as {name}: HTTP {answer.status_code} at {answer.url}")
            yield client
    finally:
        disable_user(engine, name, actor="bench")


def floor_page(loads: int = WARM_LOADS) -> Timing:
    """A bare FastAPI page of fixed HTML served the same way: the HTTP floor."""
    import httpx
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    from nextbest.console.live import serving

    html = "<!doctype html><title>floor</title><p>nothing to compute</p>"
    bare = FastAPI()

    @bare.get("/floor")
    def floor() -> HTMLResponse:
        return HTMLResponse(html)

    with serving(bare) as base, httpx.Client() as client:
        return time_page(client, base, Page("floor", "/floor"), path="/floor", loads=loads)


def duckdb_months(history_dir: Path, runs: int = WARM_LOADS) -> dict[str, Any]:
    """The overview's main aggregate by DuckDB over the Parquet event history: purchases,
    revenue and distinct active members per calendar month (UTC). Each run connects
    afresh, as a cold page load starts afresh."""
    import duckdb

    files = str(history_dir / "**" / "*.parquet")
    sql = f"""
SELECT strftime(occurred_at, '%Y-%m') AS month, count(*) AS purchases,
       sum(total) AS revenue, count(DISTINCT member_id) AS active
FROM read_parquet('{files}') WHERE type = 'purchase' GROUP BY month ORDER BY month"""
    seconds, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET threads = 2")
            rows = len(con.execute(sql).fetchall())
        finally:
            con.close()
        seconds.append(time.perf_counter() - started)
    return {"first_s": seconds[0], "median_s": statistics.median(seconds), "months": rows}


def measure_pages(store: Store, *, loads: int = WARM_LOADS) -> tuple[list[Timing], str, float]:
    """Serve the console on the store and time every page; (timings, member searched,
    seconds the overview's background liability run took after the first pass)."""
    from nextbest.console import overview_data
    from nextbest.console.app import create_app
    from nextbest.console.figures_cache import FIGURES
    from nextbest.console.live import serving

    settings = store.settings
    engine = make_engine(settings)
    try:
        member, email = busiest_member(engine)
        app = create_app(settings, engine=engine)
        timings = []
        with serving(app) as base, logged_in(engine, base) as client:
            paths = [page.path.format(email=email, member=member) for page in PAGES]
            # A first pass ("first"): the server's lazy imports and template compiling are
            # paid once per process; the timed pass after it ("cold", "warm") is per load.
            firsts = []
            for page, path in zip(PAGES, paths, strict=True):
                if page.cached:
                    FIGURES.clear()  # another page may have filled it (overview: experiments)
                seconds, response = _get(client, base + path)
                if response.status_code != 200:
                    raise PageFailed(f"{path}: HTTP {response.status_code}: {response.text[:300]}")
                firsts.append(seconds)
            # A big ledger's full liability run (breakage fitted and backtested) leaves the
            # request and runs in the background: wait for it, so it neither loads the
            # timed pass nor goes unmeasured. Its result stays cached for the hour.
            waited = time.perf_counter()
            while overview_data.LIABILITY_RUNS.refreshing():
                time.sleep(0.05)
            liability_s = time.perf_counter() - waited + firsts[0]
            for page, path, first in zip(PAGES, paths, firsts, strict=True):
                timings.append(time_page(client, base, page, path=path, loads=loads, first_s=first))
            search = next(t.path for t in timings if t.name == "member_search")
            found = client.get(base + search)
            if not str(found.url).endswith(f"/console/members/{member}"):
                raise PageFailed(f"searching {email} led to {found.url}, not member {member}")
    finally:
        engine.dispose()
    return timings, member, liability_s


def run_console_bench(
    *,
    cache: Path,
    members: int = 100_000,
    months: int = 24,
    seed: int = 7,
    score: bool = True,
    loads: int = WARM_LOADS,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Build (or reuse) the store, time every page and the peers, return the figures."""
    spec = StoreSpec(members=members, months=months, seed=seed, score=score)
    store = ensure_store(spec, cache=cache, progress=progress)
    progress("timing the console's pages over HTTP")
    timings, member, liability_s = measure_pages(store, loads=loads)
    progress("peers: a bare FastAPI page; DuckDB's monthly aggregate over the Parquet history")
    floor = floor_page(loads)
    duck = duckdb_months(store.settings.event_history_dir, runs=loads)
    overview = next(t for t in timings if t.name == "overview")
    return {
        "units": {
            "seconds": "s",
            "first_s": "s, the server's first load of the page (imports, templates)",
            "cold_s": "s, a load with the cached figures cleared",
            "warm_s": "s, median of the warm loads",
            "bytes": "bytes of HTML",
            "ratio_overview_cold_to_duckdb": "overview cold load / DuckDB aggregate (median)",
            "liability_background_s": "s, the overview's first load plus the background "
            "liability run it started, until the run landed",
        },
        "store": {
            "folder": str(store.folder),
            "spec": asdict(store.spec),
            "counts": store.counts,
            "build_stages_s": {k: round(v, 3) for k, v in store.stages.items()},
            "build_seconds": round(store.build_seconds, 3),
            "reused": store.reused,
        },
        "member_searched": member,
        "warm_loads": loads,
        "pages": {
            t.name: {
                "path": t.path,
                "status": t.status,
                "first_s": round(t.first_s, 4),
                "cold_s": round(t.cold_s, 4),
                "warm_s": round(t.warm_s, 4),
                "bytes": t.bytes,
                "cached_figures": t.cached,
            }
            for t in timings
        },
        "peer_floor": {
            "what": "bare FastAPI page of fixed HTML, served the same way (uvicorn, httpx)",
            "cold_s": round(floor.cold_s, 4),
            "warm_s": round(floor.warm_s, 4),
        },
        "peer_duckdb": {
            "what": "DuckDB over the Parquet event history: purchases, revenue and distinct "
            "active members per month (fresh connection each run)",
            "first_s": round(duck["first_s"], 4),
            "median_s": round(duck["median_s"], 4),
            "months": duck["months"],
        },
        "ratio_overview_cold_to_duckdb": round(overview.cold_s / duck["median_s"], 1),
        "liability_background_s": round(liability_s, 3),
    }
