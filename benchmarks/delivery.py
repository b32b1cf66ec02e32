"""Delivery benchmark: a broadcast to N chats through the fake Bot API.

    python benchmarks/delivery.py [--chats 3000] [--ceiling-chats 5000] [--runs 3] [--profile]

Three kinds of run, each on a fresh database of N private chats, with the bot in a child process
(its own event loop and CPU, as in production; its peak RSS is its own) and FakeTelegram in
this one:

1. free limits: FakeTelegram enforces Telegram's limits over sliding windows (30/s overall,
   per chat, per group) and the bot keeps its default Limits. Reports messages/s against
   the 30/s limit (target >= 0.95) and the 429s the server answered (target 0).
2. paid limits: ALLOW_PAID_BROADCAST=true, the fake enforcing 1,000/s for paid broadcasts
   and the bot its default paid window.
3. ceiling: the fake's limits lifted and Limits.unlimited() in the bot, paid broadcast on
   (so Delivery sends 32 at a time): the bot's own ceiling in messages/s (target >= 1,000
   for the slowest of --runs runs, on a 2-core machine).

The rate is counted by the fake, from the first to the last message it accepted. `bot
CPU/msg` is the child's user+system CPU time per message, from confirmation to the last
row marked sent: 1 / that is the rate the bot could reach with a Bot API that costs
nothing. With --profile the first ceiling run is profiled with cProfile (top functions
printed).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_application, running  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.delivery.limiter import Limits  # noqa: E402
from storage.sqlite.chats import SqliteChatRepo  # noqa: E402
from storage.sqlite.db import Database  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

SAMPLE = ROOT / "bot" / "data" / "sample_digest.xml"
ADMIN = 777_000_001  # not one of the chats
TEXT = "📣 <b>Benchmark</b> announcement: the bot's <i>delivery</i> path, end to end."
TELEGRAM_FREE = 30.0
TELEGRAM_PAID = 1000.0


@dataclass
class Result:
    """One run's figures."""

    name: str
    chats: int
    delivered: int
    seconds: float  # first to last message accepted by the fake
    rate: float
    limit: float | None
    too_many: int
    cpu_per_msg: float
    fake_cpu_per_msg: float
    peak_rss_mb: float
    idle_rss_mb: float  # after start-up, before the broadcast
    wall: float  # confirmation to the last row marked sent, as the bot saw it


# ---------------------------------------------------------------- the bot (child process)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:  # Linux only
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _bot_worker(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(
        bot_token=args.token,
        telegram_api_url=args.api,
        feed_urls=[str(SAMPLE)],
        database_path=Path(args.db),
        poll_interval_seconds=3600,
        admin_ids=[ADMIN],
        allow_paid_broadcast=args.paid,
        log_level="WARNING",
    )
    limits = Limits.unlimited() if args.unlimited else Limits()
    app = build_application(settings, limits=limits)
    profiler = cProfile.Profile() if args.profile else None
    async with running(app) as services:
        await asyncio.sleep(0.5)  # the start-up poll of the sample feed (a baseline) settles
        rss_idle = _rss_mb()
        draft = await services.broadcasts.create(
            admin_id=ADMIN, audience="all", text=TEXT, now=time.time()
        )
        cpu = os.times()
        started = time.monotonic()
        if profiler is not None:
            profiler.enable()
        total = await services.broadcasts.confirm(draft.id, now=time.time())
        services.delivery.wake()
        while True:
            progress = await services.broadcasts.progress(draft.id)
            if progress.remaining == 0:
                break
            await asyncio.sleep(0.05)
        if profiler is not None:
            profiler.disable()
        wall = time.monotonic() - started
        after = os.times()
    report = ""
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(40)
        report = out.getvalue()
    return {
        "total": total,
        "sent": progress.sent,
        "failed": progress.failed,
        "blocked": progress.blocked,
        "wall": wall,
        "cpu": (after.user - cpu.user) + (after.system - cpu.system),
        "rss_idle_mb": rss_idle,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "profile": report,
    }


def worker_main(args: argparse.Namespace) -> None:
    """Run the bot, broadcast once, print the figures as one JSON line."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for name in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    figures = asyncio.run(_bot_worker(args))
    print(json.dumps(figures), flush=True)


# ---------------------------------------------------------------- the driver (this process)


async def _populate(path: Path, chats: int) -> None:
    db = await Database.open(path)
    try:
        repo = SqliteChatRepo(db)
        now = time.time()
        for chat_id in range(1, chats + 1):
            await repo.upsert(chat_id, kind="private", title=f"Reader {chat_id}", now=now)
    finally:
        await db.close()


async def run_once(
    name: str,
    chats: int,
    *,
    enforce: bool,
    unlimited: bool,
    paid: bool,
    limit: float | None,
    profile: bool = False,
) -> Result:
    """One broadcast to `chats` chats; return what the fake and the bot measured."""
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp:
        db = Path(tmp) / "bench.sqlite3"
        await _populate(db, chats)
        async with FakeTelegram(enforce_limits=enforce) as fake:
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                "--db",
                str(db),
                "--api",
                f"http://127.0.0.1:{fake.port}",
                "--token",
                fake.token,
            ]
            command += ["--paid"] if paid else []
            command += ["--unlimited"] if unlimited else []
            command += ["--profile"] if profile else []
            env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
            fake_cpu = os.times()
            proc = await asyncio.create_subprocess_exec(
                *command, cwd=tmp, env=env, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate()
            fake_after = os.times()
            if proc.returncode != 0:
                raise SystemExit(f"{name}: the bot process failed (exit {proc.returncode})")
            figures = json.loads(out.decode().strip().splitlines()[-1])
            sends = [
                c for c in fake.calls if c.ok and c.method == "sendMessage" and c.chat_id != ADMIN
            ]
            if fake.violations:
                print(f"{name}: Bot API violations: {fake.violations[:3]}", file=sys.stderr)
            missing = set(range(1, chats + 1)) - {c.chat_id for c in sends}
            if missing or figures["failed"] or figures["blocked"]:
                errors = [(c.chat_id, c.status, c.description) for c in fake.calls if not c.ok]
                print(
                    f"{name}: {len(missing)} chat(s) not reached {sorted(missing)[:5]}, "
                    f"failed {figures['failed']}, blocked {figures['blocked']}, "
                    f"errors {errors[:5]}",
                    file=sys.stderr,
                )
            too_many = fake.too_many_requests
    if figures["profile"]:
        print(f"\n--- cProfile of the bot during '{name}' ---\n{figures['profile']}")
    seconds = sends[-1].at - sends[0].at if len(sends) > 1 else 0.0
    rate = (len(sends) - 1) / seconds if seconds > 0 else 0.0
    return Result(
        name=name,
        chats=chats,
        delivered=len({c.chat_id for c in sends}),
        seconds=seconds,
        rate=rate,
        limit=limit,
        too_many=too_many,
        cpu_per_msg=figures["cpu"] / max(1, figures["sent"]),
        fake_cpu_per_msg=((fake_after.user - fake_cpu.user) + (fake_after.system - fake_cpu.system))
        / max(1, len(sends)),
        peak_rss_mb=figures["peak_rss_mb"],
        idle_rss_mb=figures["rss_idle_mb"],
        wall=figures["wall"],
    )


def print_table(results: list[Result]) -> None:
    """The figures, one row per run."""
    head = (
        f"{'run':<28}{'chats':>7}{'sent':>7}{'secs':>8}{'msg/s':>9}{'of limit':>10}"
        f"{'429s':>6}{'bot CPU/msg':>13}{'bot ceiling':>13}{'fake CPU/msg':>14}"
        f"{'RSS idle/peak':>15}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        share = f"{r.rate / r.limit:.3f}" if r.limit else "-"
        ceiling = 1 / r.cpu_per_msg if r.cpu_per_msg > 0 else 0.0
        print(
            f"{r.name:<28}{r.chats:>7}{r.delivered:>7}{r.seconds:>8.1f}{r.rate:>9.1f}{share:>10}"
            f"{r.too_many:>6}{r.cpu_per_msg * 1e3:>10.2f} ms{ceiling:>11.0f}/s"
            f"{r.fake_cpu_per_msg * 1e3:>11.2f} ms{r.idle_rss_mb:>8.0f}/{r.peak_rss_mb:.0f} MB"
        )


async def main_async(args: argparse.Namespace) -> None:
    results: list[Result] = []
    if not args.skip_limited:
        print(f"free limits: {args.chats} chats at ~30/s takes ~{args.chats / 30:.0f} s ...")
        results.append(
            await run_once(
                "free limits (30/s)",
                args.chats,
                enforce=True,
                unlimited=False,
                paid=False,
                limit=TELEGRAM_FREE,
            )
        )
        results.append(
            await run_once(
                "paid limits (1000/s)",
                args.ceiling_chats,
                enforce=True,
                unlimited=False,
                paid=True,
                limit=TELEGRAM_PAID,
            )
        )
    ceilings = []
    for run in range(1, args.runs + 1):
        ceilings.append(
            await run_once(
                f"ceiling {run} (no limits, paid)",
                args.ceiling_chats,
                enforce=False,
                unlimited=True,
                paid=True,
                limit=None,
                profile=args.profile and run == 1,
            )
        )
    results += ceilings
    print()
    print_table(results)
    print(
        "\nmsg/s: counted by the fake, first to last accepted message. bot ceiling: "
        "1 / bot CPU per message (the rate with a Bot API that costs nothing). fake CPU/msg: "
        "what the fake server spent per message (it has the other core). RSS: the bot "
        "process's, after start-up and at its peak."
    )
    print()
    for r in results:
        if r.limit == TELEGRAM_FREE:
            ok = r.rate >= 0.95 * TELEGRAM_FREE and r.too_many == 0
            print(
                f"free limits: {r.rate:.1f} msg/s = {r.rate / TELEGRAM_FREE:.3f} of 30/s with "
                f"{r.too_many} x 429 (target >= 0.95, 0 x 429): {'met' if ok else 'MISSED'}"
            )
    slowest = min(r.rate for r in ceilings)
    print(
        f"ceiling: slowest of {len(ceilings)} runs {slowest:.0f} msg/s, bot CPU "
        f"{min(r.cpu_per_msg for r in ceilings) * 1e3:.2f}-"
        f"{max(r.cpu_per_msg for r in ceilings) * 1e3:.2f} ms/msg "
        f"(target >= 1,000 msg/s): {'met' if slowest >= 1000 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=3000, help="chats for the free-limit run")
    parser.add_argument(
        "--ceiling-chats", type=int, default=5000, help="chats for the paid and ceiling runs"
    )
    parser.add_argument("--runs", type=int, default=3, help="ceiling runs (the slowest counts)")
    parser.add_argument("--skip-limited", action="store_true", help="only the ceiling runs")
    parser.add_argument("--profile", action="store_true", help="cProfile the first ceiling run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--paid", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--unlimited", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
