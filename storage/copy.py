"""Copy every table of one database into another, empty one: SQLite to PostgreSQL or back.

Both backends keep the same tables and columns with the same values (0/1 flags as integers,
times as epoch seconds, JSON and line lists as text: storage/postgres/migrations/010), so a
copy is a plain row copy, table by table, parents first, a chunk of rows at a time. Only
what each backend derives is left out and rebuilt the way its repositories expect: SQLite's
FTS5 index is filled by its insert trigger as each headline arrives; PostgreSQL's
`headlines.search` vectors are filled after the rows (storage/postgres/fts.py's reindex),
and its identity sequences are moved past the copied ids.

The source is read in one transaction (one consistent snapshot) and the target written in
one, so a failed copy leaves the target as empty as it was. Both databases' guards are held
throughout: no bot runs on either while it copies. At the end every table's rows are
counted on both sides, inside the target's transaction, before it commits.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from storage.lock import Claim, claim, holder, is_postgres

# Parents before children (the foreign keys). feed_languages comes after headlines: SQLite's
# insert trigger gives a new headline its feed's declared language, and a copied headline
# must keep the language it was indexed in.
TABLES = (
    "feeds",
    "headlines",
    "feed_languages",
    "chats",
    "chat_settings",
    "subscriptions",
    "broadcasts",
    "outbox",
    "outbox_chunks",
    "more_lists",
    "counters",
    "runs",
)
# Tables of a backend's own bookkeeping, never copied: PostgreSQL's migration record (SQLite
# keeps its version in PRAGMA user_version).
OWN_TABLES = frozenset({"schema_version"})
CHUNK = 5_000

Row = Sequence[Any]
Progress = Callable[[str, int, int], None]  # table, rows copied, rows in the table


class CopyError(RuntimeError):
    """The copy cannot be made, or did not come out whole; the target was left unchanged."""


@dataclass(frozen=True)
class CopyReport:
    """What a copy wrote: every table's rows (counted on both sides), and how long it took."""

    source: str
    target: str
    rows: tuple[tuple[str, int], ...]
    indexed: int
    seconds: float

    @property
    def total(self) -> int:
        """Rows copied in all."""
        return sum(n for _, n in self.rows)


# Column kinds, as both backends declare them.
INT, FLOAT, TEXT, DERIVED = "int", "float", "text", "derived"


class _Source(Protocol):
    async def version(self) -> int: ...
    async def tables(self) -> set[str]: ...
    async def columns(self, table: str) -> dict[str, str]: ...
    async def count(self, table: str) -> int: ...
    def rows(self, table: str, columns: Sequence[str]) -> AsyncIterator[list[Row]]: ...


class _Target(_Source, Protocol):
    async def insert(self, table: str, columns: Sequence[str], rows: list[Row]) -> None: ...
    async def finish(self) -> int: ...


def _kind(declared: str) -> str:
    text = declared.lower()
    if "int" in text:
        return INT
    if any(word in text for word in ("real", "double", "float", "numeric")):
        return FLOAT
    if "tsvector" in text:
        return DERIVED
    return TEXT


# --- SQLite ----------------------------------------------------------------------------------


class _SqliteEnd:
    """One end of a copy on a SQLite file, inside one transaction of its connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def version(self) -> int:
        cur = await self._conn.execute("PRAGMA user_version")
        row = await cur.fetchone()
        return int(row[0])

    async def tables(self) -> set[str]:
        cur = await self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'headlines_fts%'"
        )
        return {str(r[0]) for r in await cur.fetchall()}

    async def columns(self, table: str) -> dict[str, str]:
        cur = await self._conn.execute(f"PRAGMA table_info({table})")
        return {str(r[1]): _kind(str(r[2])) for r in await cur.fetchall()}

    async def count(self, table: str) -> int:
        cur = await self._conn.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (our names)
        row = await cur.fetchone()
        return int(row[0])

    async def rows(self, table: str, columns: Sequence[str]) -> AsyncIterator[list[Row]]:
        names = ", ".join(columns)
        cur = await self._conn.execute(f"SELECT {names} FROM {table} ORDER BY rowid")  # noqa: S608
        while batch := await cur.fetchmany(CHUNK):
            yield [tuple(r) for r in batch]

    async def insert(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        marks = ", ".join("?" for _ in columns)
        await self._conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            rows,
        )

    async def finish(self) -> int:
        # the insert trigger filled the full-text index row by row
        return await self.count("headlines")


@asynccontextmanager
async def _sqlite(path: Path, *, create: bool) -> AsyncIterator[_SqliteEnd]:
    from storage.sqlite.db import Database

    if not create and not path.is_file():  # noqa: ASYNC240 (a one-shot command)
        raise CopyError(f"{path}: no such database")
    try:
        db = await Database.open(path)
    except Exception as exc:  # e.g. sqlite3.DatabaseError: file is not a database
        raise CopyError(f"{path}: {type(exc).__name__}: {exc}") from None
    try:
        async with db.connection() as conn:
            yield _SqliteEnd(conn)
    finally:
        await db.close()


# --- PostgreSQL ------------------------------------------------------------------------------


class _PgEnd:
    """One end of a copy on a PostgreSQL database, inside one transaction of a connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def version(self) -> int:
        return int(
            await self._conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        )

    async def tables(self) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        return {str(r[0]) for r in rows}

    async def columns(self, table: str) -> dict[str, str]:
        rows = await self._conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        return {str(r[0]): _kind(str(r[1])) for r in rows}

    async def count(self, table: str) -> int:
        return int(await self._conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608

    async def rows(self, table: str, columns: Sequence[str]) -> AsyncIterator[list[Row]]:
        names = ", ".join(columns)
        order = "id" if "id" in columns else "1"
        cursor = await self._conn.cursor(f"SELECT {names} FROM {table} ORDER BY {order}")  # noqa: S608
        while batch := await cursor.fetch(CHUNK):
            yield [tuple(r) for r in batch]

    async def insert(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def finish(self) -> int:
        from storage.postgres import fts

        # ids given out from now on start past the copied ones
        identities = await self._conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'"
        )
        for table, column in identities:
            sequence = f"pg_get_serial_sequence('{table}', '{column}')"
            top = f"max({column})"
            await self._conn.execute(
                f"SELECT setval({sequence}, {top}) FROM {table}"  # noqa: S608 (catalog names)
                f" HAVING {top} IS NOT NULL"
            )
        return await fts.reindex(self._conn)


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[_PgEnd]:
    from storage.postgres.db import PgDatabase

    db = await PgDatabase.open(url)
    try:
        async with db.connection() as conn:
            # one snapshot for every table read, as SQLite's transaction gives
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield _PgEnd(conn)
        async with db.connection() as conn:  # fresh statistics for the planner
            await conn.execute("ANALYZE")
    finally:
        await db.close()


def _open(database: str | Path, *, create: bool) -> AbstractAsyncContextManager[Any]:
    if is_postgres(database):
        return _postgres(str(database))
    return _sqlite(Path(database), create=create)


# --- the copy --------------------------------------------------------------------------------


def describe(database: str | Path) -> str:
    """The database, safe to print: a path, or a URL without its password."""
    if not is_postgres(database):
        return str(database)
    from storage.postgres.db import redacted

    return redacted(str(database))


def same_database(a: str | Path, b: str | Path) -> bool:
    """Whether two names point at one database (one file, or one server's one database)."""
    if is_postgres(a) != is_postgres(b):
        return False
    if not is_postgres(a):
        return os.path.realpath(a) == os.path.realpath(b)
    pa, pb = urlsplit(str(a)), urlsplit(str(b))
    return (pa.hostname, pa.port or 5432, pa.path) == (pb.hostname, pb.port or 5432, pb.path)


async def _guard(stack: AsyncExitStack, database: str | Path, role: str) -> None:
    try:
        taken: Claim | None = await claim(database)
    except OSError as exc:
        raise CopyError(f"{role} {describe(database)}: {exc}") from None
    if taken is None:
        who = await holder(database)
        raise CopyError(
            f"a headline-bot ({who}) is running on the {role} {describe(database)}; stop it first"
        )
    stack.push_async_callback(taken.release)


def _converter(kind: str) -> Callable[[Any], Any] | None:
    """What makes a value fit the target's column (None: it fits as it is)."""
    if kind == FLOAT:
        return lambda v: None if v is None else float(v)
    if kind == INT:
        return lambda v: v if v is None or isinstance(v, int) else int(v)
    return None


async def _plan(source: _Source, target: _Target) -> list[tuple[str, list[str], int]]:
    """(table, columns, source rows) for every table; refuse what cannot be copied whole."""
    have, want = await source.version(), await target.version()
    if have != want:
        raise CopyError(
            f"the source's schema is version {have} and the target's {want}: "
            "upgrade headline-bot so that both are the same"
        )
    known = set(TABLES) | OWN_TABLES
    unknown = sorted((await source.tables()) - known)
    if unknown:
        raise CopyError(f"copy-db does not know the table(s) {', '.join(unknown)}")
    missing = sorted(set(TABLES) - await target.tables())
    if missing:
        raise CopyError(f"the target has no table(s) {', '.join(missing)}")
    full = [t for t in TABLES if await target.count(t)]
    if full:
        raise CopyError(f"the target is not empty (rows in {', '.join(full)}); give an empty one")
    plan = []
    for table in TABLES:
        theirs, ours = await source.columns(table), await target.columns(table)
        columns = [c for c, kind in theirs.items() if kind != DERIVED]
        lacking = [c for c in columns if c not in ours]
        if lacking:
            raise CopyError(f"the target's {table} has no column(s) {', '.join(lacking)}")
        plan.append((table, columns, await source.count(table)))
    return plan


async def copy_database(
    source: str | Path, target: str | Path, *, progress: Progress | None = None
) -> CopyReport:
    """Copy every table of `source` into the empty `target` (a SQLite path or a
    postgresql:// URL); raise CopyError, leaving the target unchanged, when it cannot."""
    if same_database(source, target):
        raise CopyError(f"{describe(target)} is the source database itself")
    if not is_postgres(source) and not Path(source).is_file():  # noqa: ASYNC240
        raise CopyError(f"{source}: no such database")  # before its guard makes a lock file
    began = time.monotonic()
    fresh = not is_postgres(target) and not Path(target).exists()  # noqa: ASYNC240
    created = Path(target) if fresh else None
    try:
        report = await _copy(source, target, progress)
    except BaseException:
        if created is not None:  # a file this copy made is not left behind half-written
            for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
                Path(f"{created}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
        raise
    return dataclasses.replace(report, seconds=time.monotonic() - began)


async def _copy(source: str | Path, target: str | Path, progress: Progress | None) -> CopyReport:
    async with AsyncExitStack() as stack:
        await _guard(stack, source, "source")
        await _guard(stack, target, "target")
        src: _Source = await stack.enter_async_context(_open(source, create=False))
        dst: _Target = await stack.enter_async_context(_open(target, create=True))
        plan = await _plan(src, dst)
        target_kinds = {t: await dst.columns(t) for t, _, _ in plan}
        copied: list[tuple[str, int]] = []
        for table, columns, total in plan:
            fits = [_converter(target_kinds[table][c]) for c in columns]
            done = 0
            if progress is not None:
                progress(table, 0, total)
            async for chunk in src.rows(table, columns):
                if any(fits):
                    chunk = [
                        tuple(v if f is None else f(v) for f, v in zip(fits, row, strict=True))
                        for row in chunk
                    ]
                await dst.insert(table, columns, chunk)
                done += len(chunk)
                if progress is not None:
                    progress(table, done, total)
            counted = await dst.count(table)
            if not done == counted == total:
                raise CopyError(
                    f"{table}: {total} rows in the source, {done} read, {counted} in the target"
                )
            copied.append((table, counted))
        indexed = await dst.finish()
    return CopyReport(
        source=describe(source),
        target=describe(target),
        rows=tuple(copied),
        indexed=indexed,
        seconds=0.0,
    )
