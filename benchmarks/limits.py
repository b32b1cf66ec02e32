"""Speed benchmark: the figures with a target that a test can only state, never time.

    python benchmarks/limits.py [--skip-replies]

Prints, each against its target:

1. the feed entity guard: how long parse_feed takes to refuse an entity bomb, a quadratic
   blow-up (UTF-8, -16, -32) and hostile declarations (a deep chain, a cycle, an
   unterminated value, 20,000 declarations). Target: well under 1 s each, as the guard
   refuses them before feedparser expands anything (the tests check that it does).
2. ChatService.load_all over 10,000 chats with 100,000 subscriptions (the index the bot
   fills at start-up). Target: under 5 s.
3. FakeTelegram's own throughput for sendMessage over 30 connections, so that it is never
   the bottleneck of benchmarks/delivery.py. Target: 150 requests/s on a busy machine,
   1,200+ alone on an idle 2-core one.
4. 300 readers sending /start at once to a bot keeping its default limits, against a fake
   that enforces Telegram's: the steady reply rate. Target: at least 0.95 of 30/s, with
   no 429 (takes about 15 s; --skip-replies leaves it out).

The broadcast rate is benchmarks/delivery.py's, the store's ingest and outbox timings
benchmarks/store.py's, the topic index's memory per subscription benchmarks/matching.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bot.chats.service import ChatService  # noqa: E402
from bot.feeds import parse_feed  # noqa: E402
from bot.routing import TopicIndex  # noqa: E402
from storage.sqlite import repositories  # noqa: E402
from storage.sqlite.db import Database  # noqa: E402
from tests.e2e.test_reply_flood import TELEGRAM_RATE, flood_of_starts  # noqa: E402
from tests.fakes.feed_server import FeedServer  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

URL = "https://feeds.example.com/feed.xml"
BOMB = ROOT / "tests" / "data" / "feeds" / "entity_bomb.xml"


def _quadratic_blowup(refs: int) -> str:
    big = "A" * 100_000
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n'
        f'<!ENTITY a "{big}">\n]>\n'
        f'<rss version="2.0"><channel><item><title>{"&a;" * refs}</title>'
        "<guid>q</guid></item></channel></rss>"
    )


def _declarations(doctype: str) -> str:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{doctype}]>\n'
        '<rss version="2.0"><channel><item><title>&e0;&a;&n1;</title>'
        "<guid>x</guid></item></channel></rss>"
    )


HOSTILE_DOCTYPES = {
    "deep chain": "".join(f'<!ENTITY e{i} "&e{i + 1};&e{i + 1};">\n' for i in range(2000))
    + '<!ENTITY e2000 "x">\n',
    "cycle": '<!ENTITY a "&b;">\n<!ENTITY b "&a;">\n',
    "unterminated": "<!ENTITY a '" + "A" * 200_000 + "\n",
    "20,000 declarations": "".join(f'<!ENTITY n{i} "x">\n' for i in range(20_000)),
}


def _best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def entity_guard() -> list[tuple[str, str]]:
    """Seconds to refuse each hostile document (best of 3)."""
    bodies = {"entity bomb (tests/data)": BOMB.read_bytes()}
    for encoding in ("utf-8", "utf-16", "utf-32"):
        bodies[f"quadratic blow-up, {encoding}"] = _quadratic_blowup(10_000).encode(encoding)
    for name, doctype in HOSTILE_DOCTYPES.items():
        bodies[name] = _declarations(doctype).encode()
    rows = []
    for name, body in bodies.items():
        feed = parse_feed(body, url=URL, fetched_at=time.time())
        refused = "refused" if not feed.entries and feed.error is not None else "NOT REFUSED"
        seconds = _best_of(3, partial(parse_feed, body, url=URL, fetched_at=time.time()))
        rows.append((name, f"{seconds * 1000:8.1f} ms  {refused}  (target < 1,000 ms)"))
    return rows


async def load_all() -> list[tuple[str, str]]:
    """ChatService.load_all over 100,000 subscriptions."""
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.sqlite3")
        try:
            await db.execute(
                "WITH RECURSIVE n(i) AS"
                " (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)"
                " INSERT INTO chats (id, kind, active, created_at, updated_at)"
                " SELECT i, 'private', 1, 0, 0 FROM n"
            )
            await db.execute(
                "WITH RECURSIVE n(i) AS"
                " (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)"
                " INSERT INTO subscriptions (chat_id, topic, thread_id, created_at)"
                " SELECT i / 10, 'topic' || (i % 97) || '-' || (i % 10), NULL, 0 FROM n"
            )
            service = ChatService(repositories(db), TopicIndex(), max_topics=50)
            started = time.perf_counter()
            loaded = await service.load_all()
            elapsed = time.perf_counter() - started
        finally:
            await db.close()
    return [(f"load_all ({loaded:,} subscriptions)", f"{elapsed:.2f} s  (target < 5 s)")]


async def fake_throughput(n: int = 1000, workers: int = 30) -> list[tuple[str, str]]:
    """sendMessage requests per second the fake answers (client in the same event loop)."""
    text = '<b>Headline</b> — <a href="https://example.com/a?b=1&amp;c=2">read</a>'
    async with FakeTelegram() as fake:
        url = fake.url("sendMessage")
        connector = aiohttp.TCPConnector(limit=workers)
        async with aiohttp.ClientSession(connector=connector) as client:

            async def worker(k: int) -> None:
                for i in range(k, n, workers):
                    form = {"chat_id": str(i), "text": text, "parse_mode": "HTML"}
                    async with client.post(url, data=form) as resp:
                        await resp.read()

            started = time.perf_counter()
            await asyncio.gather(*(worker(k) for k in range(workers)))
            elapsed = time.perf_counter() - started
        ok = sum(c.ok for c in fake.calls)
    return [
        (
            f"fake Bot API, {n:,} sendMessage ({ok:,} ok)",
            f"{n / elapsed:,.0f} requests/s  (target > 150 busy, 1,200 idle)",
        )
    ]


async def replies() -> list[tuple[str, str]]:
    """300 /start at once: the steady reply rate against Telegram's 30/s."""
    with tempfile.TemporaryDirectory() as folder:
        async with FakeTelegram() as fake, FeedServer() as feeds:
            flood = await flood_of_starts(fake, feeds, Path(folder) / "db.sqlite3")
    share = flood.steady / TELEGRAM_RATE
    return [
        (
            "300 /start, steady reply rate",
            f"{flood.steady:.1f} msg/s = {share:.3f} of 30/s  (target >= 0.95)",
        ),
        ("  first to last", f"{flood.rate:.1f} msg/s over {flood.seconds:.1f} s"),
        ("  429s over the limits", f"{flood.over_limit}  (target 0)"),
    ]


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a two-column table."""
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}\n{'-' * len(title)}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


async def bench(args: argparse.Namespace) -> None:
    """Run every measurement and print the tables."""
    print_table("Feed entity guard (best of 3)", entity_guard())
    print_table("Start-up index fill", await load_all())
    print_table("FakeTelegram", await fake_throughput())
    if not args.skip_replies:
        print_table("Replies under a flood of /start", await replies())


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-replies", action="store_true", help="leave out the 15 s run")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
