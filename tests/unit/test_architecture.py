"""The house's seams, read from the code itself (ast): imports run one way, and the database's
dialect stays in storage/.

handlers -> bot core -> storage -> pure text (bot/text/). Only storage/ knows SQLite: no
aiosqlite or sqlite3 import, no SQL statement and no FTS5 expression anywhere else, and
nothing above storage/ names its implementation (storage.sqlite). The pure text modules
import no I/O library at all, so they are tested without any.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage")

# What a pure text module may import besides the standard library and bot.text itself.
PURE_ALLOWED = {"babel", "Stemmer"}
PURE = "bot.text"
# SQL statements and FTS5 expressions, as they would appear in a string constant.
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(TABLE|INDEX|TRIGGER|VIEW)|PRAGMA\s+\w+\s*(=|\(|;|$)|BEGIN\s+IMMEDIATE)",
    re.DOTALL,  # SQL keywords are written in capitals here; prose is not
)
FTS5 = re.compile(r"\bMATCH\b|\bbm25\s*\(|\b(stems|words)\s*:\s*[\"(]|headlines_fts")


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


MODULES = dict(_modules())


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at any depth (lazy imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from bot.feeds import poller` imports the submodule
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if f"{node.module}.{alias.name}" in MODULES
            )
    return found


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _docstrings(path: Path) -> set[int]:
    """Line numbers of docstrings, which may describe SQL in words."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                lines.add(body[0].value.lineno)
    return lines


OUTSIDE_STORAGE = [(m, p) for m, p in MODULES.items() if not _under(m, "storage")]


@pytest.mark.parametrize(("module", "path"), OUTSIDE_STORAGE, ids=[m for m, _ in OUTSIDE_STORAGE])
def test_only_storage_knows_the_database(module: str, path: Path) -> None:
    imported = _imports(path)
    drivers = {i for i in imported if i.split(".")[0] in ("aiosqlite", "sqlite3")}
    assert not drivers, f"{module} imports a database driver: {sorted(drivers)}"
    inner = {i for i in imported if _under(i, "storage.sqlite")}
    assert not inner, f"{module} names storage's implementation: {sorted(inner)}"
    docs = _docstrings(path)
    for line, text in _strings(path):
        if line in docs:
            continue
        assert not SQL.search(text), f"{module}:{line} holds SQL: {text[:80]!r}"
        assert not FTS5.search(text), f"{module}:{line} holds FTS5 syntax: {text[:80]!r}"


PURE_MODULES = [(m, p) for m, p in MODULES.items() if _under(m, PURE)]


@pytest.mark.parametrize(("module", "path"), PURE_MODULES, ids=[m for m, _ in PURE_MODULES])
def test_pure_text_imports_no_io(module: str, path: Path) -> None:
    for imported in _imports(path):
        top = imported.split(".")[0]
        if _under(imported, PURE) or top in PURE_ALLOWED or top == "__future__":
            continue
        assert top in sys.stdlib_module_names, f"{module} imports {imported}"
        assert top not in {"asyncio", "socket", "sqlite3", "http", "urllib"} or (
            imported == "urllib.parse"
        ), f"{module} imports I/O: {imported}"
        assert not _under(imported, "bot"), f"{module} imports the bot core: {imported}"


def _layer(module: str) -> int:
    """handlers 3, bot core 2, storage 1, pure text 0 (bot/__main__ and the assembly top)."""
    if _under(module, PURE):
        return 0
    if _under(module, "storage"):
        return 1
    if _under(module, "handlers"):
        return 3
    return 2


# The assembly builds every part and registers the handlers; the process modules run it.
ABOVE_HANDLERS = {"bot.app", "bot.__main__"} | {m for m in MODULES if _under(m, "bot.process")}


@pytest.mark.parametrize(("module", "path"), list(MODULES.items()), ids=list(MODULES))
def test_imports_run_one_way(module: str, path: Path) -> None:
    for imported in _imports(path):
        if imported.split(".")[0] not in PACKAGES or imported not in MODULES:
            continue
        if module in ABOVE_HANDLERS:
            continue
        assert _layer(imported) <= _layer(module), (
            f"{module} (layer {_layer(module)}) imports {imported} (layer {_layer(imported)})"
        )
        assert imported not in ABOVE_HANDLERS or module in ABOVE_HANDLERS, (
            f"{module} imports the assembly or the process: {imported}"
        )


def test_no_import_circles() -> None:
    graph = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    for module in graph:  # a package's face importing its own modules is not a circle
        graph[module] = {i for i in graph[module] if not _under(i, module)}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT id FROM headlines WHERE id = ?",
        "INSERT OR IGNORE INTO chats (id) VALUES (?)",
        "UPDATE outbox SET status = 'sent'",
        "DELETE FROM outbox",
        "PRAGMA user_version",
        "PRAGMA busy_timeout = 5000",
        "BEGIN IMMEDIATE",
        "headlines_fts MATCH ?",
        'stems : "bolivia"',
        "bm25(headlines_fts)",
    ],
)
def test_the_patterns_see_sql_and_fts5(text: str) -> None:
    assert SQL.search(text) or FTS5.search(text)


@pytest.mark.parametrize(
    "text",
    ["Select a topic from the list", "Update your settings", "check it with PRAGMA x and print"],
)
def test_the_patterns_leave_prose_alone(text: str) -> None:
    assert not SQL.search(text) and not FTS5.search(text)
