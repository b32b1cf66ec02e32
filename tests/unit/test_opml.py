"""OPML 2.0: reading the lists feed readers export, writing one they import."""

from __future__ import annotations

import pytest

from bot.feeds.opml import MAX_OPML_FEEDS, OpmlError, OpmlFeed, read_opml, write_opml

READER_EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="News" title="News">
      <outline type="rss" text="Digest" title="The Digest" xmlUrl="https://a.example/feed"
               htmlUrl="https://a.example/"/>
      <outline text="Deeper">
        <outline type="rss" text="Only text" xmlurl="https://b.example/rss.xml"/>
      </outline>
    </outline>
    <outline type="rss" text="Again" xmlUrl="https://a.example/feed"/>
    <outline text="A folder without feeds"/>
    <outline type="link" text="No xmlUrl" url="https://c.example/"/>
  </body>
</opml>
"""


def test_nested_outlines_are_flattened_each_url_once() -> None:
    assert read_opml(READER_EXPORT) == [
        OpmlFeed("https://a.example/feed", "The Digest", "https://a.example/"),
        OpmlFeed("https://b.example/rss.xml", "Only text"),
    ]


def test_write_then_read_is_the_same_list() -> None:
    feeds = [
        OpmlFeed("https://a.example/feed?x=1&y=2", "A & B <news>"),
        OpmlFeed("https://b.example/rss", "Café"),
        OpmlFeed("https://c.example/atom"),
    ]
    data = write_opml(feeds, title="headline-bot feeds", created=1_750_000_000)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert b'version="2.0"' in data and b"<dateCreated>" in data
    # a feed without a title is written with its URL as its text (OPML requires one)
    assert read_opml(data) == [*feeds[:2], OpmlFeed("https://c.example/atom", feeds[2].url)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not XML"),
        (b"<html><body>hi</body></html>", "not OPML"),
        (b"<opml version='2.0'><head/></opml>", "no <body>"),
        (b"this is not xml at all", "not XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<opml><body><outline xmlUrl="https://x.example/&b;"/></body></opml>',
            "entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<opml><body><outline xmlUrl="https://x.example/&e;"/></body></opml>',
            "entities",
        ),
    ],
)
def test_what_is_not_an_opml_list_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(OpmlError, match=reason):
        read_opml(data)


def test_too_many_feeds_are_refused() -> None:
    outlines = "".join(
        f'<outline xmlUrl="https://x.example/{i}"/>' for i in range(MAX_OPML_FEEDS + 1)
    )
    with pytest.raises(OpmlError, match="more than"):
        read_opml(f"<opml><body>{outlines}</body></opml>".encode())


def test_empty_body_is_an_empty_list() -> None:
    assert read_opml(b"<opml version='2.0'><head/><body/></opml>") == []
