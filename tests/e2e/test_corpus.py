"""Every file of the shared feed corpus, served over HTTP, fetched and parsed.

The corpus (395 feeds other projects publish as parser test data) lives beside the
repository in ../shared/corpus/feeds; the test skips when it is absent.

Entry counts are compared with what feedparser itself finds in the same bytes, served with
the same headers: feedparser runs once per file (feedparser_result, the call parse_feed
makes) and normalise() turns that result into headlines, so the two views are of the very
same parse. Files up to 64 KB also go through parse_feed twice, to check that keys are
stable and that the public path agrees. feedparser's count over HTTP must equal the
MANIFEST's (computed from the files on disk). parse_feed keeps every entry except two
kinds, which this test counts on its own from feedparser's raw output:
  * entries with nothing to show: no title text, no summary or content text, and no
    http(s) link to the entry itself (a lone <guid> or <enclosure>, or a title that is
    only an <img>);
  * exact repeats: an entry whose id, title, link and text equal an earlier entry's.
Entries that only share an id with another are all kept (under distinct keys).
"""

from __future__ import annotations

import asyncio
import csv
import html
import multiprocessing
import re
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.feeds import FeedFetcher, feedparser_result, normalise, parse_feed
from tests.fakes.feed_server import FeedServer

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "feeds"
TAG_RE = re.compile(r"<[a-zA-Z/][^>]*>")
# Generous: the largest file (1.6 MB, 730 items) parses in about 2 s on an idle core.
PER_FEED_SECONDS = 20.0
# Files up to this size are parsed a second time to check that keys are stable.
REPARSE_MAX_BYTES = 64 * 1024

pytestmark = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"feed corpus not found at {CORPUS}"
)


@dataclass(frozen=True)
class FileReport:
    path: str
    raw_entries: int
    empty: int
    repeats: int
    parsed_entries: int
    error: str | None
    bad_titles: tuple[str, ...]
    duplicate_keys: int
    stable: bool
    seconds: float


def _text(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(html.unescape(TAG_RE.sub(" ", value)).split())


def _has_link(entry: Any, base: str) -> bool:
    hrefs = [entry.get("link")] + [
        link.get("href")
        for link in entry.get("links") or ()
        if link.get("rel", "alternate") == "alternate"
    ]
    for href in hrefs:
        if isinstance(href, str) and href.strip():
            absolute = urllib.parse.urljoin(base, href.strip())
            if urllib.parse.urlsplit(absolute).scheme in ("http", "https"):
                return True
    return False


def check_file(path: str, body: bytes, url: str, content_type: str | None) -> FileReport:
    """Runs in a worker process: feedparser's own view, then parse_feed's, compared."""
    started = time.perf_counter()
    raw = feedparser_result(body, url=url, content_type=content_type)
    empty = repeats = 0
    seen: set[tuple[str, ...]] = set()
    for entry in raw.entries:
        content = " ".join(_text(c.get("value")) for c in entry.get("content") or ())
        summary = _text(entry.get("summary")) or content
        title = _text(entry.get("title"))
        if not title and not summary and not _has_link(entry, url):
            empty += 1
            continue
        identity = (str(entry.get("id") or ""), title, str(entry.get("link") or ""), summary)
        if identity in seen:
            repeats += 1
        seen.add(identity)

    parsed = normalise(raw, url=url, fetched_at=time.time())
    seconds = time.perf_counter() - started
    keys = [e.key for e in parsed.entries]
    stable = True
    if len(body) <= REPARSE_MAX_BYTES:
        again = parse_feed(body, url=url, fetched_at=time.time(), content_type=content_type)
        stable = keys == [e.key for e in again.entries] and again.error == parsed.error
    return FileReport(
        path=path,
        raw_entries=len(raw.entries),
        empty=empty,
        repeats=repeats,
        parsed_entries=len(parsed.entries),
        error=parsed.error,
        bad_titles=tuple(e.title for e in parsed.entries if TAG_RE.search(e.title)),
        duplicate_keys=len(keys) - len(set(keys)),
        stable=stable,
        seconds=seconds,
    )


def _manifest() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


async def test_corpus_fetch_and_parse(feed_server: FeedServer) -> None:
    rows = _manifest()
    assert len(rows) > 300
    feed_server.serve_directory(CORPUS, "/corpus")

    gate = asyncio.Semaphore(8)
    async with FeedFetcher(timeout=20) as fetcher:

        async def fetch(path: str) -> Any:
            async with gate:
                return await fetcher.fetch(feed_server.url("/corpus/" + urllib.parse.quote(path)))

        fetched = await asyncio.gather(*(fetch(row["path"]) for row in rows))

    for row, result in zip(rows, fetched, strict=True):
        assert result.status == "ok", (row["path"], result.error)
        assert len(result.body) == int(row["size_bytes"]), row["path"]

    # feedparser is CPU-bound: two processes use both cores. spawn, because forking a
    # process that runs an event loop and threads is unsafe.
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    # Largest first, so one big file does not finish alone at the end.
    order = sorted(range(len(rows)), key=lambda i: -len(fetched[i].body))
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        done = await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool,
                    check_file,
                    rows[i]["path"],
                    fetched[i].body,
                    fetched[i].final_url,
                    fetched[i].content_type,
                )
                for i in order
            )
        )
    by_path = {report.path: report for report in done}
    reports = [by_path[row["path"]] for row in rows]

    problems: list[str] = []
    for row, report in zip(rows, reports, strict=True):
        expected = report.raw_entries - report.empty - report.repeats
        if report.raw_entries != int(row["fp_entries"]):
            problems.append(f"{report.path}: feedparser saw {report.raw_entries} over HTTP")
        if report.parsed_entries != expected:
            problems.append(f"{report.path}: {report.parsed_entries} entries, expected {expected}")
        if report.bad_titles:
            problems.append(f"{report.path}: HTML in titles {report.bad_titles[:2]}")
        if report.duplicate_keys or not report.stable:
            problems.append(f"{report.path}: keys not unique or not stable")
        if report.seconds > PER_FEED_SECONDS:
            problems.append(f"{report.path}: took {report.seconds:.1f} s")
    assert not problems, "\n".join(problems)

    with_entries = sum(1 for r in reports if r.parsed_entries)
    errors = sum(1 for r in reports if r.error)
    total = sum(r.parsed_entries for r in reports)
    slowest = max(reports, key=lambda r: r.seconds)
    print(
        f"\ncorpus: {len(reports)} files, {with_entries} yielded entries ({total} in all), "
        f"{errors} rejected as not a feed, "
        f"{sum(r.empty for r in reports)} empty and {sum(r.repeats for r in reports)} repeated "
        f"entries skipped; slowest {slowest.path} {slowest.seconds:.2f} s"
    )
    assert with_entries > 0
    assert with_entries >= 250  # 263 when this was written; a big drop means a regression
