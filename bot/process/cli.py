"""The offline commands: poll, search, stats and check (no Telegram needed but for check)."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.app import close_services, feed_fetcher, open_services
from bot.config import Settings
from bot.context import Services
from bot.feeds import parse_feed
from bot.formatting import format_date, html_to_text
from bot.ops.stats import collect_stats, render_stats
from bot.text.query import Refusal, parse_search
from storage import SchemaTooNewError


async def _open(settings: Settings) -> Services | None:
    """The bot's services over the database the settings name; None (said) when it fails."""
    try:
        return await open_services(settings)
    except (SchemaTooNewError, OSError) as exc:
        print(f"database {settings.database_name}: {exc}", file=sys.stderr)
        return None
    except Exception as exc:  # e.g. the driver's error for a file that is not a database
        print(f"database {settings.database_name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


async def poll(settings: Settings) -> int:
    """Poll every feed once; pushes for subscribers are queued for the running bot."""
    services = await _open(settings)
    if services is None:
        return 1
    try:
        reports = await services.poller.poll_all(force=True)
    finally:
        await close_services(services)
    for report in reports:
        print(report.describe())
    return 0 if all(r.ok for r in reports) else 1


MAX_SHOWN = 100  # the most `search -n` shows


def search_heading(query: str, shown: int, total: int) -> str:
    """'Showing 10 of 57 results for: lithium' (the query as typed)."""
    if total == 0:
        return f"no results for: {query}"
    noun = "result" if total == 1 else "results"
    if shown >= total:
        return f"{total} {noun} for: {query}"
    return f"Showing {shown} of {total} {noun} for: {query}"


def search_more_hint(query: str, shown: int, total: int, *, prog: str = "python -m bot") -> str:
    """How to see more results than were shown ('' when all were)."""
    more = min(total, MAX_SHOWN)
    if more <= shown:
        return ""
    return f"To see {more}: {prog} search -n {more} {shlex.quote(query)}"


async def search(
    settings: Settings, query: str, *, limit: int = 10, prog: str = "python -m bot"
) -> int:
    """Print the best matches from the database, saying how many of how many."""
    if limit < 1:
        print(f"{prog} search: -n must be 1 or more", file=sys.stderr)
        return 2
    services = await _open(settings)
    if services is None:
        return 1
    parsed = parse_search(query)
    try:
        if not isinstance(parsed, Refusal) and parsed.handles:  # `from:HANDLE`: feeds by id
            book = await services.chats.sources()
            parsed = book.resolve_search(parsed)
            if isinstance(parsed, Refusal):
                handles = ", ".join(f"from:{h}" for h in book.handles()) or "none yet"
                print(f"{parsed.message} The feeds' handles: {handles}.")
                return 1
        page = (
            None
            if isinstance(parsed, Refusal)
            else await services.headlines.search(parsed, limit=min(limit, MAX_SHOWN))
        )
    finally:
        await close_services(services)
    if page is None:
        print(f"no words to search for: try e.g. {prog} search lithium")
        return 1
    if not page.hits:
        print(search_heading(query, 0, 0))
        return 0
    total = max(page.total, len(page.hits))
    print(search_heading(query, len(page.hits), total) + ":")
    for hit in page.hits:
        h = hit.headline
        print(f"- {h.title}\n  {format_date(h.published_at)} · {h.link or '(no link)'}")
    hint = search_more_hint(query, len(page.hits), total, prog=prog)
    if hint:
        print(hint)
    return 0


async def stats(settings: Settings) -> int:
    """Print the /stats report as plain text."""
    services = await _open(settings)
    if services is None:
        return 1
    try:
        report = await collect_stats(services.storage)
    finally:
        await close_services(services)
    print(html_to_text(render_stats(report)))
    return 0


async def check(settings: Settings) -> int:
    """One line per check; non-zero exit when any fails."""
    failures = 0

    def line(ok: bool, what: str) -> None:
        nonlocal failures
        failures += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {what}")

    feeds = len(settings.feed_urls)
    line(
        True,
        f"settings: {feeds} {'feed' if feeds == 1 else 'feeds'}, database {settings.database_name}",
    )
    services = await _open(settings)
    line(services is not None, f"database {settings.database_name} opened and migrated")
    if services is not None:
        await close_services(services)
    fetcher = feed_fetcher(settings)  # the feeds are checked even when the database is not
    try:
        for url in settings.feed_urls:
            result = await fetcher.fetch(url)
            if result.status != "ok":
                line(False, f"feed {url}: {result.error}")
                continue
            parsed = parse_feed(
                result.body,
                url=result.final_url or url,
                fetched_at=time.time(),
                content_type=result.content_type,
            )
            if parsed.error:
                line(False, f"feed {url}: {parsed.error}")
            else:
                line(True, f"feed {url}: {len(parsed.entries)} entries")
    finally:
        await fetcher.aclose()
    if not settings.has_token:
        line(False, "BOT_TOKEN is not set (see config.example.env)")
    else:
        try:
            async with Bot(settings.token, base_url=settings.base_url) as bot:
                line(True, f"token accepted by {settings.telegram_api_url}: @{bot.username}")
        except InvalidToken:
            line(False, f"BOT_TOKEN was refused by {settings.telegram_api_url} (wrong or revoked)")
        except TelegramError as exc:
            line(False, f"Bot API at {settings.telegram_api_url} not reachable: {exc}")
    return 1 if failures else 0


async def feeds(settings: Settings, action: str, args: list[str]) -> int:
    """`feeds list|add URL [NAME]|remove|pause|resume URL|N|import FILE|export FILE`."""
    from bot.feeds.admin import (
        render_added,
        render_change,
        render_feeds,
        render_import,
    )

    services = await _open(settings)
    if services is None:
        return 1
    admin = services.feed_admin
    out: list[str] = []
    code = 0
    try:
        await admin.feeds.ensure_configured(settings.feed_urls, now=time.time())
        if action == "list":
            health = await admin.health()
            out = render_feeds(health, configured=admin.configured, now=time.time(), hints=False)
        elif action == "add":
            result = await admin.add(args[0], " ".join(args[1:]) or None)
            out, code = [render_added(result)], 0 if result.outcome != "refused" else 1
        elif action in ("remove", "pause", "resume"):
            change = {"remove": admin.remove, "pause": admin.pause, "resume": admin.resume}
            changed = await change[action](args[0])
            out = [render_change(changed, action)]  # type: ignore[arg-type]
            code = 0 if changed.outcome in ("done", "unchanged") else 1
        elif action == "import":
            try:
                data = Path(args[0]).read_bytes()  # noqa: ASYNC240 (a one-shot command)
            except OSError as exc:
                print(f"{args[0]}: {exc.strerror or exc}", file=sys.stderr)
                return 1
            report = await admin.import_opml(data)
            out, code = render_import(report), 1 if report.error else 0
        elif action == "export":
            data = await admin.export_opml()
            Path(args[0]).write_bytes(data)  # noqa: ASYNC240 (a one-shot command)
            count = len(await admin.feeds.records())
            out = [f"{count} {'feed' if count == 1 else 'feeds'} written to {args[0]} (OPML 2.0)"]
    finally:
        await close_services(services)
    for text in out:
        print(html_to_text(text))
    return code


async def copy_db(settings: Settings, target: str) -> int:
    """Copy every table of the settings' database into the empty `target`, with a progress
    line, and check the row counts; 0 when copied, 1 when refused or failed."""
    from storage.copy import CopyError, copy_database, describe

    tty = sys.stderr.isatty()

    def progress(table: str, done: int, total: int) -> None:
        if tty:  # one line, rewritten in place
            share = f" ({100 * done // total} %)" if total else ""
            end = "\n" if done == total else ""
            print(
                f"\r\033[Kcopying {table}: {done:,} of {total:,} rows{share}",
                end=end,
                file=sys.stderr,
            )
        elif done == total:
            print(f"copied {table}: {total:,} {'row' if total == 1 else 'rows'}", file=sys.stderr)

    print(f"copying {settings.database_name} to {describe(target)}", file=sys.stderr)
    try:
        report = await copy_database(settings.database, target, progress=progress)
    except (CopyError, OSError, SchemaTooNewError) as exc:
        if tty:
            print(file=sys.stderr)
        print(f"copy-db: {exc}; nothing was copied", file=sys.stderr)
        return 1
    tables = len(report.rows)
    print(
        f"copied {report.total:,} rows in {tables} tables from {report.source} to "
        f"{report.target} in {report.seconds:.1f} s; every table's row count matches; "
        f"{report.indexed:,} headlines indexed for search"
    )
    if target.startswith(("postgresql://", "postgres://")):
        print("to run the bot on the copy, set DATABASE_URL to it")
    else:
        unset = " and remove DATABASE_URL" if settings.database_url is not None else ""
        print(f"to run the bot on the copy, set DATABASE_PATH={target}{unset}")
    return 0
