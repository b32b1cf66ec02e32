"""A feed that answers 200 with the very document it answered last time (no ETag, no
Last-Modified) is bookkept like a 304: not parsed, not stored again (new validators with the
same bytes are kept); any other document is read in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.feeds import FeedFetcher
from bot.feeds.parsing import ParsedFeed, parse_feed
from bot.feeds.poller import Poller, document_hash
from bot.routing import TopicIndex
from bot.routing.router import Router
from storage.sqlite import repositories
from storage.sqlite.db import Database
from tests.fakes.feed_server import FeedServer, rss

FEED = "/same.xml"


def items(n: int) -> list[dict[str, Any]]:
    return [
        {
            "title": f"Lithium report {i}",
            "link": f"https://example.org/{i}",
            "guid": f"same-{i}",
            "description": f"Item {i}.",
        }
        for i in range(n)
    ]


class CountingParser:
    """Parses in process, counting the documents it is given."""

    def __init__(self) -> None:
        self.calls = 0

    async def parse(
        self, data: bytes, *, url: str, fetched_at: float, content_type: str | None = None
    ) -> ParsedFeed:
        self.calls += 1
        return parse_feed(data, url=url, fetched_at=fetched_at, content_type=content_type)


async def test_the_same_document_again_is_not_read_again(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    fetcher = FeedFetcher(timeout=10)
    parser = CountingParser()
    async with FeedServer() as server:
        url = server.url(FEED)
        storage = repositories(db)
        poller = Poller(
            storage,
            fetcher,
            Router(storage, TopicIndex()),
            urls=[url],
            interval=60,
            parser=parser,  # type: ignore[arg-type]
        )
        try:
            first = rss(items(3), title="Same")
            server.set_feed(FEED, first, etag=False, last_modified=False)
            (report,) = await poller.poll_all(force=True)
            assert (report.outcome, report.new, parser.calls) == ("new", 3, 1)
            record = await storage.feeds.record(url)
            assert record is not None and record.state.body_hash == document_hash(first)

            (report,) = await poller.poll_all(force=True)  # the same bytes
            assert (report.outcome, parser.calls) == ("not modified", 1)
            assert await storage.headlines.count() == 3

            second = rss(items(4), title="Same")
            server.set_feed(FEED, second, etag=False, last_modified=False)
            (report,) = await poller.poll_all(force=True)
            assert (report.outcome, report.new, parser.calls) == ("new", 1, 2)
            record = await storage.feeds.record(url)
            assert record is not None and record.state.body_hash == document_hash(second)

            server.set_feed(FEED, second)  # the same bytes, with validators now: kept
            (report,) = await poller.poll_all(force=True)
            assert (report.outcome, parser.calls) == ("not modified", 2)
            record = await storage.feeds.record(url)
            assert record is not None and record.state.etag is not None
        finally:
            await fetcher.aclose()
            await db.close()
