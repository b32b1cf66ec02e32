"""Feeds benchmark: one polling round of 1,000 feeds, and how fast commands are answered
meanwhile.

    python benchmarks/feeds.py [--feeds 1000 --hosts 50 --interval 300 --rounds 2 --scheduled]
                               [--restart]

What runs where:

* This process runs the fakes: FeedServer on 127.0.0.1 and ``--hosts`` other loopback
  addresses (127.0.1.x, the same port), so the per-host limit (2 fetches) sees many sites as
  it would on the internet, and FakeTelegram (a Bot API server).
* The bot runs in a child process (this file with ``--child``): the real Application from
  ``build_application``, started with ``running`` as the end-to-end tests do, with the feeds
  in FEED_URLS and ``POLL_INTERVAL_SECONDS=--interval``. Its scheduled rounds spread their
  fetches over half the interval by design, so the child's driver runs forced rounds
  (``poll_all(force=True)``: every feed at once, as fast as the limits allow) to measure
  what one round costs; ``--scheduled`` then runs one round as the job does, spread out.
  CPU and memory are the bot's alone (/proc/<pid>).

The feeds (20 items each): 85 % unchanged (they answer 304 to the conditional GET), 5 % with
two new items per round, 5 % slow (2 s before answering), 5 % failing (HTTP 503). Twenty
readers follow "bolivia", which the new items mention, so rounds also route and deliver.
While a measured round runs, a reader sends ``/latest 3`` every 0.2 s; the time from the
update's arrival to the bot's reply is the command latency. Idle latency is measured the
same way before the round.

With ``--restart``, the bot is then stopped, every feed starts answering 200 with its whole
document (no ETag, no Last-Modified: nothing can be skipped), and a new bot process is
started on the same database: its first scheduled round (the poll job at start-up, spread
over half of ``--interval``) runs while new chats send ``/start``, every 0.2 s from the
moment the bot is up; their reply latency is measured against idle, as a user meets it.

Printed: the baseline round (first reads), then per measured round: wall time, CPU seconds
of the bot, fetches per second, outcomes, and the reply latency (median, 95th percentile,
max) against idle; and the child's peak RSS. Targets: a round within 60 s, peak RSS under
150 MB, replies that do not wait behind polls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import proc_status, tree_cpu  # noqa: E402

MARK = "@@"
READERS = range(5001, 5021)
ASKER = 100_000
ASKERS = itertools.count()


async def ticker(done: asyncio.Event, lags: list[float]) -> None:
    """How late the event loop runs a 50 ms timer: what a reply would wait for."""
    while not done.is_set():
        at = time.perf_counter()
        await asyncio.sleep(0.05)
        lags.append(time.perf_counter() - at - 0.05)


async def db_waits(db: Any, done: asyncio.Event, waits: list[float]) -> None:
    """How long a one-row read waits for the database (what a reply's query waits for)."""
    while not done.is_set():
        at = time.perf_counter()
        await db.fetchone("SELECT 1")
        waits.append(time.perf_counter() - at)
        await asyncio.sleep(0.05)


async def child_main(cfg: dict[str, Any]) -> None:
    """The bot process: the real Application; forced rounds on command from stdin."""
    from bot.app import build_application, running
    from bot.config import Settings
    from bot.delivery.limiter import Limits

    logging.basicConfig(level=logging.ERROR)
    for noisy in ("httpx", "httpcore", "apscheduler", "bot.feeds.poller"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    def say(kind: str, **data: Any) -> None:
        print(MARK, json.dumps({"kind": kind, **data}), flush=True)

    settings = Settings(
        bot_token=cfg["token"],
        telegram_api_url=cfg["telegram_api_url"],
        feed_urls=cfg["feeds"],
        database_path=Path(cfg["db"]),
        poll_interval_seconds=cfg["interval"],
        admin_ids=[],
        log_level="ERROR",
        fetch_timeout_seconds=10,
    )
    app = build_application(settings, limits=Limits())
    async with running(app) as services:
        if cfg.get("restart"):
            await first_round(services, say)
            return
        # The poll job's rounds (the one at start-up included) would overlap the driver's:
        # the driver runs every round itself, so the jobs are removed and a round one of
        # them may have started is cancelled.
        assert app.job_queue is not None
        for name in ("first-poll", "poll"):
            for job in app.job_queue.get_jobs_by_name(name):
                job.schedule_removal()
        await asyncio.sleep(0.5)
        if services.poll_task is not None:
            services.poll_task.cancel()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        say("ready")
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "quit":
                break
            if line in ("round", "scheduled"):
                lags: list[float] = []
                done = asyncio.Event()

                tick = asyncio.create_task(ticker(done, lags))
                waits: list[float] = []
                probe = asyncio.create_task(db_waits(services.storage.store, done, waits))
                cpu0, wall0 = tree_cpu(), time.perf_counter()
                # "scheduled": a round as the poll job runs it, spread over the interval
                reports = await services.poller.poll_all(force=line == "round")
                wall, cpu = time.perf_counter() - wall0, tree_cpu() - cpu0
                done.set()
                await tick
                await probe
                outcomes: dict[str, int] = {}
                for r in reports:
                    outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
                say(
                    "round",
                    wall=wall,
                    cpu=cpu,
                    feeds=len(reports),
                    outcomes=outcomes,
                    new=sum(r.new for r in reports),
                    queued=sum(r.queued for r in reports),
                    loop_lag_max=max(lags, default=0.0),
                    db_wait_max=max(waits, default=0.0),
                )
    say("stopped")


async def first_round(services: Any, say: Any) -> None:
    """A restarted bot: report when the poll job's first round (at start-up) ends."""
    say("ready")
    while services.poll_task is None:
        await asyncio.sleep(0.01)
    lags: list[float] = []
    done = asyncio.Event()
    tick = asyncio.create_task(ticker(done, lags))
    cpu0, wall0 = tree_cpu(), time.perf_counter()
    await services.poll_task
    wall, cpu = time.perf_counter() - wall0, tree_cpu() - cpu0
    done.set()
    await tick
    say("round", wall=wall, cpu=cpu, loop_lag_max=max(lags, default=0.0))
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()  # quit


# --------------------------------------------------------------------------------- the driver


def make_items(n: int, start: int, host: str) -> list[dict[str, Any]]:
    words = ["Bolivia", "lithium", "election", "Andes", "port", "miners", "court", "budget"]
    return [
        {
            "title": f"{words[i % 8]} report {i} from {host}",
            "link": f"https://{host}.example/story/{i}",
            "guid": f"{host}-{i}",
            "description": f"Item {i}: {words[(i * 3) % 8]} and {words[(i * 5) % 8]} news.",
        }
        for i in range(start, start + n)
    ]


async def latency(
    fake: Any, stop: asyncio.Event, every: float = 0.2, command: str = "/latest 3"
) -> list[float]:
    """Send a command as new readers until stopped; seconds from update to reply, each."""
    times: list[float] = []
    while not stop.is_set():
        # a new chat each time: Telegram's one-message-a-second pacing of a private chat
        # would otherwise be what is measured
        asker = ASKER + next(ASKERS)
        before = len(fake.sent_to(asker))
        sent = time.monotonic()
        fake.push_update(fake.message_update(asker, command))
        await fake.wait_for(lambda a=asker, b=before: len(fake.sent_to(a)) > b, 30)
        times.append(time.monotonic() - sent)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return times


def summary(times: list[float]) -> str:
    if not times:
        return "no samples"
    ordered = sorted(times)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (
        f"median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} replies)"
    )


class BotChild:
    """The bot in a child process (this file with --child), told what to do on its stdin and
    answering with MARK lines on its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.proc = proc
        self.stdin = proc.stdin
        self._stdout = proc.stdout

    @classmethod
    async def start(cls, cfg: dict[str, Any], cwd: Path) -> BotChild:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--child",
            json.dumps(cfg),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(cwd),
            env={**os.environ, "PTB_TIMEDELTA": "1"},
        )
        return cls(proc)

    async def expect(self, kind: str) -> dict[str, Any]:
        """The child's next message of this kind (others are skipped)."""
        while True:
            line = (await self._stdout.readline()).decode()
            if not line:
                raise RuntimeError("the bot process ended")
            if line.startswith(MARK):
                data: dict[str, Any] = json.loads(line[len(MARK) :])
                if data["kind"] == kind:
                    return data


async def driver(args: argparse.Namespace) -> int:
    from tests.fakes.feed_server import FeedServer, rss
    from tests.fakes.telegram import FakeTelegram

    hosts = ["127.0.0.1", *[f"127.0.1.{i}" for i in range(1, args.hosts)]]
    tmp = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    async with FeedServer(hosts=hosts) as server, FakeTelegram() as fake:
        kinds: dict[str, list[str]] = {"static": [], "new": [], "slow": [], "failing": []}
        urls = []
        bodies: dict[str, bytes] = {}  # each feed's document, as served last
        for n in range(args.feeds):
            host = hosts[n * len(hosts) // args.feeds]  # each host: a run of neighbours
            path = f"/feed{n}.xml"
            kind = {0: "new", 1: "slow", 2: "failing"}.get(n % 20, "static")
            kinds[kind].append(path)
            bodies[path] = rss(make_items(20, 0, f"h{n}"), title=f"Feed {n}")
            server.set_feed(path, bodies[path])
            if kind == "slow":
                server.set_delay(path, 2.0)
            urls.append(server.url(path, host=host))
        cfg = {
            "token": fake.token,
            "telegram_api_url": f"http://127.0.0.1:{fake.port}",
            "feeds": urls,
            "db": str(tmp / "bench.sqlite3"),
            "interval": args.interval,
        }
        child = await BotChild.start(cfg, tmp)
        proc, expect = child.proc, child.expect

        async def round_(label: str, *, measure: bool, command: bytes = b"round\n") -> None:
            idle: list[float] = []
            if measure:
                stop = asyncio.Event()
                task = asyncio.create_task(latency(fake, stop))
                await asyncio.sleep(2.0)
                stop.set()
                idle = await task
            hits_before = len(server.requests)
            stop = asyncio.Event()
            task = asyncio.create_task(latency(fake, stop)) if measure else None
            child.stdin.write(command)
            await child.stdin.drain()
            data = await expect("round")
            stop.set()
            during = await task if task is not None else []
            fetches = len(server.requests) - hits_before
            print(
                f"{label}: {data['feeds']} feeds in {data['wall']:.1f} s wall, "
                f"{data['cpu']:.1f} s CPU, {fetches / data['wall']:.0f} fetches/s; "
                f"outcomes {data['outcomes']}, {data['new']} new, {data['queued']} pushes queued"
            )
            print(
                f"  during the round: event loop lag max {data['loop_lag_max'] * 1000:.0f} ms, "
                f"a database read waits at most {data['db_wait_max'] * 1000:.0f} ms"
            )
            if measure:
                print(f"  /latest reply, idle:        {summary(idle)}")
                print(f"  /latest reply, during poll: {summary(during)}")

        await expect("ready")
        for chat in READERS:
            fake.push_update(fake.message_update(chat, "/topic add bolivia"))
        await fake.wait_for(lambda: all(fake.sent_to(c) for c in READERS), 30)
        await round_("baseline round (first reads, stored, never pushed)", measure=False)
        for rnd in range(1, args.rounds + 1):
            for path in kinds["new"]:
                tag = f"h{path[5:-4]}"  # /feed<n>.xml: the same items, two new ones on top
                items = make_items(2, 1000 * rnd, tag) + make_items(20, 0, tag)
                bodies[path] = rss(items, title=f"Feed {path[5:-4]}")
                server.set_feed(path, bodies[path])
            for path in kinds["failing"]:
                server.set_status(path, 503)
            await round_(f"round {rnd}", measure=True)
        if args.scheduled:
            await round_(
                f"scheduled round (spread over {args.interval * 0.5:.0f} s)",
                measure=True,
                command=b"scheduled\n",
            )
        status = proc_status(proc.pid)
        child.stdin.write(b"quit\n")
        await child.stdin.drain()
        await expect("stopped")
        await proc.wait()
        print(
            f"bot process: peak RSS {status['VmHWM'] / 2**20:.0f} MiB "
            f"(now {status['VmRSS'] / 2**20:.0f} MiB)"
        )
        if args.restart:
            await restarted(args, server, fake, cfg, tmp, bodies)
        print(
            f"feeds: {len(kinds['static'])} unchanged (304), {len(kinds['new'])} with new "
            f"items, {len(kinds['slow'])} slow (2 s), {len(kinds['failing'])} failing (503), "
            f"on {len(hosts)} hosts; a scheduled round spreads its fetches over "
            f"{args.interval * 0.5:.0f} s of the {args.interval:.0f} s interval"
        )
    return 0


async def restarted(
    args: argparse.Namespace,
    server: Any,
    fake: Any,
    cfg: dict[str, Any],
    tmp: Path,
    bodies: dict[str, bytes],
) -> None:
    """Every feed answers 200 with its whole document; a new bot on the same database; /start
    from new chats while its first scheduled round runs, then idle."""
    for path, body in bodies.items():
        server.set_feed(path, body, etag=False, last_modified=False)
        server.set_delay(path, 0.0)
    child = await BotChild.start({**cfg, "restart": True}, tmp)
    proc, expect = child.proc, child.expect

    await expect("ready")
    stop = asyncio.Event()
    task = asyncio.create_task(latency(fake, stop, command="/start"))
    data = await expect("round")
    stop.set()
    during = await task
    stop = asyncio.Event()
    task = asyncio.create_task(latency(fake, stop, command="/start"))
    await asyncio.sleep(2.0)
    stop.set()
    idle = await task
    status = proc_status(proc.pid)
    child.stdin.write(b"quit\n")
    await child.stdin.drain()
    await proc.wait()
    print(
        f"first scheduled round after a restart (every feed 200 with its whole document,"
        f" spread over {args.interval * 0.5:.0f} s): {data['wall']:.1f} s wall,"
        f" {data['cpu']:.1f} s CPU; event loop lag max {data['loop_lag_max'] * 1000:.0f} ms"
    )
    print(f"  /start reply, during the round: {summary(during)}")
    print(f"  /start reply, idle after it:    {summary(idle)}")
    print(f"  bot process: peak RSS {status['VmHWM'] / 2**20:.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--interval", type=float, default=300.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--scheduled",
        action="store_true",
        help="also run one round as the poll job does (spread over half the interval)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="then restart the bot with every feed answering 200 in full: /start during its"
        " first scheduled round",
    )
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child_main(json.loads(args.child)))
        return 0
    return asyncio.run(driver(args))


if __name__ == "__main__":
    sys.exit(main())
