"""Claims of SECURITY.md that are checked on the source and the log formatter."""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

from bot.process.logs import RedactingFormatter

ROOT = Path(__file__).resolve().parents[2]
SQL_METHODS = {"execute", "executemany", "executescript", "fetchall", "fetchone", "scalar"}
# Constant-only exceptions: the busy timeout is a module constant; migrations are files
# shipped with the package.
ALLOWED = {
    ("storage/sqlite/db.py", "execute"),
    ("storage/sqlite/migrate.py", "executescript"),
    # PRAGMA user_version takes no placeholder; the number comes from a migration's file name
    ("storage/sqlite/migrate.py", "execute"),
    # copy-db walks the schema's own tables and columns (read from the catalogs, never from
    # input); every value is a placeholder
    ("storage/copy.py", "execute"),
    ("storage/copy.py", "executemany"),
    # a session setting's name and number, both constants of the module
    ("storage/postgres/lock.py", "execute"),
    # the index's own column names
    ("storage/sqlite/fts.py", "execute"),
    # WHERE clauses chosen from fixed pieces (a feed filter, a story filter); every value a
    # placeholder
    ("storage/sqlite/headlines.py", "fetchall"),
    ("storage/sqlite/headlines.py", "scalar"),
}


def _dynamic_sql_calls() -> list[str]:
    found = []
    for folder in ("bot", "handlers", "storage"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in SQL_METHODS or not node.args:
                    continue
                sql = node.args[0]
                dynamic = isinstance(sql, (ast.JoinedStr, ast.BinOp)) or (
                    isinstance(sql, ast.Call)
                    and isinstance(sql.func, ast.Attribute)
                    and sql.func.attr == "format"
                )
                if dynamic and (rel, node.func.attr) not in ALLOWED:
                    found.append(f"{rel}:{node.lineno}")
    return found


def test_every_sql_statement_is_a_literal_with_placeholders() -> None:
    assert _dynamic_sql_calls() == []


def test_sql_lives_only_in_storage() -> None:
    offenders = []
    for folder in ("bot", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SQL_METHODS
                ):
                    names = ["sql call"]
                if any(n in ("aiosqlite", "sqlite3", "sql call") for n in names):
                    offenders.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    assert offenders == []


def test_the_token_is_redacted_from_messages_and_tracebacks() -> None:
    token = "123456:SECRET-token"
    formatter = RedactingFormatter([token])
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{token}/getMe failed")
    except RuntimeError:
        record = logging.LogRecord(
            "httpx", logging.ERROR, __file__, 1, "calling %s", (f"/bot{token}/x",), sys.exc_info()
        )
    text = formatter.format(record)
    assert token not in text and "<redacted>" in text
    json_text = RedactingFormatter([token], as_json=True).format(record)
    assert token not in json_text
