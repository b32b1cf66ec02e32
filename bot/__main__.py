"""The command line: run the bot, poll, search, stats, check, backups, copy-db, feeds, or chat
offline in a console."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import Settings, SettingsError, load_settings

PROG = "headline-bot"
MAX_SEARCH_SHOWN = 100  # bot.process.cli.MAX_SHOWN, spelled here so that --help needs no import
NO_TOKEN = (
    f"{PROG}: BOT_TOKEN is not set. Create a bot with @BotFather and put its token in "
    "BOT_TOKEN (see config.example.env for every setting), or try the bot offline first: "
    "python -m bot console"
)


def prog_name(argv0: str | None = None) -> str:
    """How the program was invoked: `headline-bot` (the script), or `python -m bot`."""
    name = Path(argv0 if argv0 is not None else sys.argv[0]).name
    if not name or name in ("__main__.py", "-c", "-m") or name.startswith("python"):
        return "python -m bot"
    return name


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _parser(prog: str = "python -m bot") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A Telegram bot that turns news digest feeds into a personal, "
        "searchable headline service. Settings come from the environment or a .env file "
        "(see config.example.env).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "run",
        help="run the bot (the default)",
        description="Run the bot: long polling, or a webhook when WEBHOOK_URL is set.",
    )
    sub.add_parser(
        "poll",
        help="poll every feed once into the database",
        description="Poll every configured feed once into the database and print "
        "one line per feed. Exit 0 when every feed was read, 1 otherwise.",
    )
    search = sub.add_parser(
        "search",
        help="search the stored headlines",
        description="Print the best matches from the database.",
    )
    search.add_argument("query", nargs="+", help='words, "quoted phrases", prefix*')
    search.add_argument(
        "-n",
        "--limit",
        type=positive_int,
        default=10,
        help=f"how many to show, 1 to {MAX_SEARCH_SHOWN} (default 10)",
    )
    sub.add_parser(
        "stats",
        help="print the figures /stats shows",
        description="Print chats, topics, headlines, feed health and delivery figures.",
    )
    sub.add_parser(
        "check",
        help="check settings, database, feeds and the token",
        description="Validate settings, open (and migrate) the database, fetch each "
        "feed once without storing, call getMe. Exit non-zero if any check fails.",
    )
    console = sub.add_parser(
        "console",
        help="chat with the bot offline in this terminal",
        description="Chat with the real bot offline: typed lines are "
        "messages; ':help' lists console commands. It runs on a temporary database and a "
        "copy of the bundled sample feed, whatever the settings or .env say, unless "
        "--database or --feed is given.",
    )
    console.add_argument("--admin", action="store_true", help="be a bot admin in the console")
    console.add_argument(
        "--database",
        type=Path,
        metavar="PATH",
        help="use this SQLite file instead of a temporary one (it is kept)",
    )
    console.add_argument(
        "--feed",
        action="append",
        default=[],
        dest="feeds",
        metavar="URL",
        help="poll this feed (URL or file path) instead of the sample; may be repeated",
    )
    backup = sub.add_parser(
        "backup",
        help="copy the database while the bot runs",
        description="Write a consistent copy of DATABASE_PATH to PATH while the bot keeps "
        "running (SQLite's online backup), check it with PRAGMA integrity_check and print "
        "its size and counts. PATH is replaced if it exists. Exit 1 on failure. On "
        "PostgreSQL (DATABASE_URL) it says how to use pg_dump instead (exit 2).",
    )
    backup.add_argument("path", metavar="PATH", help="the backup file to write")
    restore = sub.add_parser(
        "restore",
        help="replace the database from a backup (the bot stopped)",
        description="Check the backup at PATH, then replace DATABASE_PATH with it "
        "atomically; the replaced database is kept as DATABASE_PATH.pre-restore. Refuses "
        "(exit 1) while a bot runs on the database. On PostgreSQL (DATABASE_URL) it says "
        "how to use pg_restore instead (exit 2).",
    )
    restore.add_argument("path", metavar="PATH", help="a file written by `backup`")
    copy_db = sub.add_parser(
        "copy-db",
        help="copy the database into another, empty one (SQLite <-> PostgreSQL)",
        description="Copy every table of the database the settings name (DATABASE_URL, "
        "else DATABASE_PATH) into the empty TARGET, in chunks with a progress line, and "
        "check every table's row count. Refuses (exit 1) while a bot runs on either "
        "database, or when TARGET holds any rows. Then run the bot on TARGET.",
    )
    copy_db.add_argument(
        "target",
        metavar="TARGET",
        help="a postgresql:// URL, or a SQLite file path (created when missing)",
    )
    feeds = sub.add_parser(
        "feeds",
        help="list, add, remove, pause, resume, import or export the feeds",
        description="Manage the feeds in the database, as /feeds does in Telegram. "
        "`add` fetches the URL first (its entries become the baseline, never pushed); "
        "`import` and `export` read and write OPML 2.0. A configured feed (FEED_URLS) can be "
        "paused, not removed. Exit 1 when the feed or file is refused.",
    )
    feed_actions = feeds.add_subparsers(dest="feeds_action", metavar="ACTION", required=True)
    feed_actions.add_parser("list", help="every feed with its status")
    add = feed_actions.add_parser("add", help="fetch a feed and add it")
    add.add_argument("url", metavar="URL")
    add.add_argument("name", nargs="*", metavar="NAME", help="the name pushes show")
    for verb, text in (
        ("remove", "stop polling a feed for good"),
        ("pause", "stop polling a feed for now"),
        ("resume", "poll a paused feed again"),
    ):
        feed_actions.add_parser(verb, help=text).add_argument(
            "ref", metavar="URL|N", help="the URL, or the number `list` shows"
        )
    feed_actions.add_parser("import", help="add the feeds of an OPML file").add_argument(
        "file", metavar="FILE"
    )
    feed_actions.add_parser("export", help="write every feed to an OPML file").add_argument(
        "file", metavar="FILE"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot` and the `headline-bot` script."""
    prog = prog_name()
    args = _parser(prog).parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    from bot.process.logs import configure_logging

    secrets = [
        secret.get_secret_value()
        for secret in (settings.bot_token, settings.webhook_secret, settings.database_url)
        if secret is not None
    ]
    urls = [settings.database_url.get_secret_value()] if settings.database_url else []
    if command == "copy-db" and args.target.startswith(("postgresql://", "postgres://")):
        urls.append(args.target)
        secrets.append(args.target)
    for url in urls:  # the password alone too, as a driver may quote it
        password = urlsplit(url).password
        secrets += [password] if password else []
    # The one-shot commands print their own results; their logs say only what went wrong
    # unless LOG_LEVEL asks for more.
    quiet = command != "run" and "log_level" not in settings.model_fields_set
    level = "WARNING" if quiet else settings.log_level
    configure_logging(level, fmt=settings.log_format, secrets=secrets)
    # RetryAfter.retry_after as a timedelta, without a deprecation warning on every 429
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    if command == "run":
        return _run(settings)
    if command == "console":
        return _console(args, settings, secrets)
    if command in ("backup", "restore"):
        from bot.ops.backup import run_backup, run_restore

        return (run_backup if command == "backup" else run_restore)(settings, args.path)
    from bot.process import cli

    if command == "poll":
        return asyncio.run(cli.poll(settings))
    if command == "search":
        query = " ".join(args.query)
        return asyncio.run(cli.search(settings, query, limit=args.limit, prog=prog))
    if command == "stats":
        return asyncio.run(cli.stats(settings))
    if command == "copy-db":
        return asyncio.run(cli.copy_db(settings, args.target))
    if command == "feeds":
        action = args.feeds_action
        rest = {
            "list": [],
            "add": [getattr(args, "url", ""), *getattr(args, "name", [])],
            "import": [getattr(args, "file", "")],
            "export": [getattr(args, "file", "")],
        }.get(action, [getattr(args, "ref", "")])
        return asyncio.run(cli.feeds(settings, action, rest))
    return asyncio.run(cli.check(settings))


def _console(args: argparse.Namespace, settings: Settings, secrets: list[str]) -> int:
    from bot.process.console import EXIT_INTERRUPTED, run_console
    from bot.process.logs import configure_console_logging

    # log lines would break into the conversation: only warnings and errors, marked
    configure_console_logging(settings.log_level, secrets=secrets)
    console = run_console(settings, admin=args.admin, database=args.database, feeds=args.feeds)
    try:
        return asyncio.run(console)
    except KeyboardInterrupt:  # Ctrl-C before the console's own handler is in place
        return EXIT_INTERRUPTED


def _run(settings: Settings) -> int:
    if not settings.has_token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot.process.runner import run_bot

    return run_bot(settings)


if __name__ == "__main__":
    sys.exit(main())
