"""Storage benchmark: ingest throughput, FTS5 search against a LIKE scan, outbox fan-out.

Run with `python benchmarks/store.py [--headlines N]`; it works in a temporary folder.

Searches are the fixed QUERIES plus one- to three-word queries drawn from the same Zipf
distribution the headlines are written with, whose top ranks are English function words
("the", "of", ...): common words come up as often as they do in real searches. Each goes
through SqliteHeadlineRepo.search as /search does (parse, rank the newest matches, snippets).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.text.query import Refusal, parse_search
from storage.models import ChatPush, HeadlineInput
from storage.sqlite.chats import SqliteSubscriptionRepo
from storage.sqlite.db import Database
from storage.sqlite.feeds import SqliteFeedRepo
from storage.sqlite.headlines import SqliteHeadlineRepo
from storage.sqlite.outbox import SqliteOutboxRepo

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


def _like_query(text: str) -> tuple[str, list[str]]:
    terms = [t.strip('"*') for t in text.split()]
    clause = " AND ".join("(title LIKE ? OR summary LIKE ?)" for _ in terms)
    params = [p for t in terms for p in (f"%{t}%", f"%{t}%")]
    return clause, params


async def bench(headline_count: int, runs: int) -> None:
    """Run every measurement and print the tables."""
    now = 1_750_000_000.0
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.sqlite3")
        feeds, headlines = SqliteFeedRepo(db), SqliteHeadlineRepo(db)

        # Ingest: one 5,000-item feed, first as new rows, then again unchanged.
        feed = await feeds.ensure("https://news.example/big.xml")
        batch = generate(5000, seed=0, start=now - 5000 * 7)
        started, cpu = time.perf_counter(), time.process_time()
        async with db.transaction() as conn:
            result = await headlines.upsert(conn, feed.id, batch, baseline=False, now=now)
        first, first_cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        async with db.transaction() as conn:
            await headlines.upsert(conn, feed.id, batch, baseline=False, now=now)
        again = time.perf_counter() - started
        assert len(result.new) == 5000
        rows.append(
            (
                "ingest 5,000 new items",
                f"{first:.3f} s  ({5000 / first:,.0f} items/s; {first_cpu:.3f} s CPU)",
            )
        )
        rows.append(("re-ingest 5,000 unchanged", f"{again:.3f} s  ({5000 / again:,.0f} items/s)"))

        # Fill up to the search corpus size with more feeds.
        started = time.perf_counter()
        seed = 1
        while await headlines.count() < headline_count:
            more = await feeds.ensure(f"https://news.example/{seed}.xml")
            chunk = min(5000, headline_count - await headlines.count())
            entries = generate(chunk, seed=seed, start=now - seed * 86400)
            async with db.transaction() as conn:
                await headlines.upsert(conn, more.id, entries, baseline=False, now=now)
            seed += 1
        fill = time.perf_counter() - started
        rows.append((f"fill to {headline_count:,} headlines", f"{fill:.1f} s"))
        print_table("Ingest", rows)

        # Search: FTS5 (count + ranked page + snippets) against a LIKE scan.
        fts: list[float] = []
        like: list[float] = []
        per_query: list[tuple[str, str]] = []
        queries = QUERIES + random_queries(60, random.Random(5))
        shown = set(QUERIES)
        for text in queries:

            async def run_fts(text: str = text) -> object:
                parsed = parse_search(text)
                return (
                    None if isinstance(parsed, Refusal) else await headlines.search(parsed, limit=5)
                )

            clause, params = _like_query(text)

            async def run_like(clause: str = clause, params: list[str] = params) -> object:
                await db.scalar(f"SELECT count(*) FROM headlines WHERE {clause}", params)
                return await db.fetchall(
                    f"SELECT * FROM headlines WHERE {clause}"
                    " ORDER BY published_at DESC, id DESC LIMIT 5",
                    params,
                )

            page = await run_fts()
            total = getattr(page, "total", 0)
            f_samples = await _timed(run_fts, runs)
            l_samples = await _timed(run_like, max(1, runs // 3))
            fts.extend(f_samples)
            like.extend(l_samples)
            if text not in shown:
                continue
            per_query.append(
                (
                    text,
                    f"{total:>7,} hits  fts {statistics.median(f_samples) * 1000:7.1f} ms"
                    f"  like {statistics.median(l_samples) * 1000:7.1f} ms",
                )
            )
        print_table(f"Search over {headline_count:,} headlines (median per query)", per_query)
        p50f, p95f, p50l, p95l = _pct(fts, 0.5), _pct(fts, 0.95), _pct(like, 0.5), _pct(like, 0.95)
        print_table(
            f"Search latency over all {len(queries)} queries ({len(QUERIES)} fixed, the rest"
            " drawn from the headlines' words)",
            [
                ("FTS5 p50 / p95", f"{p50f * 1000:.1f} ms / {p95f * 1000:.1f} ms"),
                ("LIKE '%word%' p50 / p95", f"{p50l * 1000:.1f} ms / {p95l * 1000:.1f} ms"),
                ("LIKE / FTS5 (p50, p95)", f"{p50l / p50f:.1f}x, {p95l / p95f:.1f}x"),
            ],
        )
        await outbox_bench(db, now)
        await db.close()


async def outbox_bench(db: Database, now: float) -> None:
    """Fan-out of 100,000 pushes, the delivery loop's queries, the matcher's start-up read."""
    outbox, subscriptions = SqliteOutboxRepo(db), SqliteSubscriptionRepo(db)
    async with db.transaction() as conn:
        await conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)"
            " INSERT INTO chats (id, kind, created_at, updated_at)"
            " SELECT i, 'private', 0, 0 FROM n"
        )
        await conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 499999)"
            " INSERT INTO subscriptions (chat_id, topic, thread_id, created_at)"
            " SELECT 1 + i / 10, 'topic' || (i % 997), NULL, 0 FROM n"
        )
    ids = [r[0] for r in await db.fetchall("SELECT id FROM headlines ORDER BY id LIMIT 2")]
    added = 0
    started = time.perf_counter()
    for h in ids:  # two polls behind: a row per chat and poll
        pushes = [ChatPush(c, None, ((h, ("topic",)),)) for c in range(1, 50001)]
        async with db.transaction() as conn:
            added += await outbox.enqueue_pushes(conn, pushes, batch=h, now=now)
    enqueue = time.perf_counter() - started
    ready = await _timed(lambda: outbox.ready_chats(now=now, limit=30), 20)
    busy = set(range(1, 1001))
    ready_ex = await _timed(lambda: outbox.ready_chats(now=now, limit=30, exclude=busy), 20)

    async def next_unit() -> object:
        async with db.transaction() as conn:
            return await SqliteOutboxRepo.units(conn, [25_000], now=now)

    unit = await _timed(next_unit, 20)
    backlog = await _timed(outbox.backlog, 5)
    started = time.perf_counter()
    subs = [rows async for rows in subscriptions.active_chunks()]
    load = time.perf_counter() - started
    print_table(
        "Outbox and subscriptions",
        [
            (f"enqueue {added:,} pushes", f"{enqueue:.2f} s  ({added / enqueue:,.0f} rows/s)"),
            ("ready_chats(limit=30) p50", f"{_pct(ready, 0.5) * 1000:.2f} ms"),
            ("ready_chats excluding 1,000 p50", f"{_pct(ready_ex, 0.5) * 1000:.2f} ms"),
            ("a chat's next unit p50", f"{_pct(unit, 0.5) * 1000:.2f} ms"),
            ("backlog() p50", f"{_pct(backlog, 0.5) * 1000:.1f} ms"),
            (f"active_chunks ({sum(map(len, subs)):,})", f"{load:.2f} s"),
        ],
    )


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a two-column table."""
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}\n{'-' * len(title)}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--headlines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=9, help="search runs per query")
    args = parser.parse_args()
    asyncio.run(bench(args.headlines, args.runs))


if __name__ == "__main__":
    main()
