"""Feed parsing and normalisation on small fixture feeds (no I/O beyond reading them)."""

from __future__ import annotations

import io
import re
from importlib import resources
from pathlib import Path

import feedparser
import pytest

from bot.feeds import (
    MAX_CATEGORIES,
    MAX_SUMMARY_CHARS,
    ParsedFeed,
    clean_text,
    first_sentence,
    parse_feed,
)

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
URL = "https://feeds.example.com/dir/feed.xml"
# 30 Apr 2024 14:00 UTC: after every fixture's sensible dates, before the "future" ones.
FETCHED = 1714485600.0
TAG_RE = re.compile(r"<[a-zA-Z/][^>]*>")


def parse(name: str, content_type: str | None = None, url: str = URL) -> ParsedFeed:
    return parse_feed(
        (FEEDS / name).read_bytes(), url=url, fetched_at=FETCHED, content_type=content_type
    )


def test_rss2_basic_normalises_entries() -> None:
    feed = parse("rss2_basic.xml")
    assert (feed.bozo, feed.error) == (False, None)
    assert feed.title == "Example & Co. News"
    first, second, third = feed.entries
    assert first.key == "urn:example:1001"
    assert first.title == "Rates rise & markets fall"
    assert first.link == "https://news.example.com/2024/rates"
    assert first.summary == "Central bank raises rates. Markets react."
    # Duplicates differing only in case are dropped and the terms are trimmed.
    assert first.categories == ("Economy", "Markets")
    assert first.published_at == FETCHED - 6 * 3600  # 10:00 +0200 is 08:00 UTC
    assert second.key == "https://news.example.com/2024/second"
    assert second.summary == "Plain summary with a line break & an ampersand."
    # With no description the summary comes from content:encoded, scripts dropped.
    assert third.summary == "Taken from content:encoded."
    assert third.published_at == FETCHED


def test_atom_resolves_xml_base_and_reads_content() -> None:
    feed = parse("atom.xml")
    assert (feed.bozo, feed.error) == (False, None)
    assert feed.title == "Atom fixture"
    one, two = feed.entries
    assert one.title == "An Atom entry"
    assert one.link == "https://blog.example.org/posts/one.html"
    assert one.categories == ("tech", "python")
    # published wins over updated: 2024-04-29T08:30+01:00 is 07:30 UTC.
    assert one.published_at == 1714375800.0
    assert two.title == "XHTML title"
    assert two.link == "https://other.example.net/archive/two.html"
    assert two.summary == "Content only, no summary."


def test_rdf_rss1() -> None:
    feed = parse("rdf.xml")
    assert (feed.bozo, feed.error, feed.title) == (False, None, "RDF fixture")
    first, second = feed.entries
    assert first.key == "https://rdf.example.com/a"
    assert first.categories == ("Science",)
    assert first.published_at == 1714456800.0
    assert second.summary == ""
    assert second.published_at == FETCHED


def test_missing_guid_title_and_link() -> None:
    feed = parse("missing_fields.xml")
    keys = [e.key for e in feed.entries]
    # An entry with only a guid and a category has nothing to show: skipped.
    assert "nothing-but-a-guid" not in keys
    assert len(feed.entries) == 5
    link_only, no_link, untitled, long_untitled, bare_link = feed.entries
    assert link_only.key == "https://missing.example.com/no-guid"
    assert no_link.key.startswith("sha1:")
    assert len(no_link.key) == 45
    assert no_link.link is None
    # No title: the first sentence of the summary stands in ("U.S." does not end it).
    assert untitled.title == "Meta has been at it again."
    assert long_untitled.title.endswith("…")
    assert len(long_untitled.title) <= 120
    assert not long_untitled.title[:-1].endswith(" ")
    assert long_untitled.summary.startswith(long_untitled.title[:-1])
    assert bare_link.title == "https://missing.example.com/only-a-link"


def test_sha1_key_is_stable_across_parses() -> None:
    first = parse("missing_fields.xml")
    second = parse("missing_fields.xml")
    assert [e.key for e in first.entries] == [e.key for e in second.entries]


def test_relative_links_resolve_and_unsafe_schemes_drop() -> None:
    links = {e.key: e.link for e in parse("relative_links.xml").entries}
    assert links == {
        "r1": "https://feeds.example.com/news/1",
        "r2": "https://feeds.example.com/dir/2.html",
        "r3": "https://rel.example.com/3",
        "r4": None,
        "r5": None,
        "r6": "https://cdn.example.net/6",
    }


def test_html_and_entities_in_titles() -> None:
    feed = parse("html_titles.xml")
    assert feed.title == "HTML in titles"
    titles = {e.key: e.title for e in feed.entries}
    assert titles == {
        "h1": "Bold claim",
        "h2": "CDATA & markup",
        "h3": "Double escaped tags",
        "h4": "AT&T’s “deal”",
        "h5": "Café culture and tabs",
        "h6": "Control char and 5 < 6",
    }
    assert not any(TAG_RE.search(t) for t in titles.values())


def test_dates_bad_missing_and_future() -> None:
    got = {e.key: e.published_at for e in parse("dates.xml").entries}
    assert got["d1"] == FETCHED - 4 * 3600
    assert got["d2"] == FETCHED  # unparseable
    assert got["d3"] == FETCHED  # tomorrow: never later than the fetch
    assert got["d4"] == FETCHED  # 2099
    assert got["d5"] == FETCHED  # missing
    assert got["d6"] == FETCHED - 6 * 3600  # dc:date with an offset


def test_huge_summary_is_cut_on_a_word_boundary() -> None:
    (entry,) = parse("huge_summary.xml").entries
    assert len(entry.summary) <= MAX_SUMMARY_CHARS
    assert entry.summary.endswith("…")
    last_word = entry.summary[:-1].split()[-1]
    assert re.fullmatch(r"word\d+", last_word)


def test_latin1_declared_in_xml() -> None:
    feed = parse("latin1.xml")
    assert (feed.bozo, feed.title) == (False, "Café du Monde")
    (entry,) = feed.entries
    assert entry.title == "Été à Montréal"
    assert entry.summary == "Crème brûlée naïve ½"


def test_latin1_served_as_text_xml_still_decodes() -> None:
    # text/xml without a charset means US-ASCII by RFC 3023; feedparser falls back to the
    # declared encoding and flags the override, and the entry is still ingested.
    feed = parse("latin1.xml", content_type="text/xml")
    assert feed.error is None
    assert feed.entries[0].title == "Été à Montréal"


def test_charset_from_content_type_header() -> None:
    feed = parse("cp1251_no_declaration.xml", "application/rss+xml; charset=windows-1251")
    assert (feed.bozo, feed.title) == (False, "Новости")
    assert feed.entries[0].title == "Привет, мир"


def test_bozo_feed_with_entries_is_ingested() -> None:
    feed = parse("bozo_with_entries.xml")
    assert feed.bozo is True
    assert feed.error is None
    assert [e.title for e in feed.entries] == ["Cats & mice", "Second & last"]


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("broken.xml", None), ("not_a_feed.html", "text/html; charset=utf-8")],
)
def test_documents_that_are_not_feeds(name: str, content_type: str | None) -> None:
    feed = parse(name, content_type)
    assert feed.entries == ()
    assert feed.error is not None
    assert feed.error.startswith("not a feed: ")
    assert len(feed.error) < 140


def test_empty_document() -> None:
    feed = parse_feed(b"", url=URL, fetched_at=FETCHED)
    assert feed.error == "not a feed: empty document"


def test_valid_feed_with_no_items_is_not_an_error() -> None:
    body = b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    feed = parse_feed(body, url=URL, fetched_at=FETCHED)
    assert (feed.error, feed.title, feed.entries) == (None, "Quiet", ())


def test_bytes_that_look_like_a_path_are_not_opened() -> None:
    feed = parse_feed(str(FEEDS / "rss2_basic.xml").encode(), url=URL, fetched_at=FETCHED)
    assert feed.entries == ()
    assert feed.error is not None


def test_shared_guids_get_distinct_stable_keys() -> None:
    feed = parse("duplicates.xml")
    titles = [e.title for e in feed.entries]
    # The exact repeat is dropped; distinct items sharing a guid are all kept.
    assert titles == ["Newest", "Middle", "Oldest", "Repeated"]
    keys = [e.key for e in feed.entries]
    assert len(set(keys)) == len(keys)
    # The last (oldest) holder keeps the guid, so adding items on top leaves it alone.
    assert keys[2] == "https://dup.example.com/"
    assert keys[0].startswith("https://dup.example.com/#")
    assert keys == [e.key for e in parse("duplicates.xml").entries]


def test_shared_guid_keys_survive_new_items_and_edits() -> None:
    def doc(items: list[tuple[str, str, str]]) -> bytes:
        body = "".join(
            f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
            "<guid>https://dup.example.com/</guid></item>"
            for t, link, d in items
        )
        return f'<rss version="2.0"><channel>{body}</channel></rss>'.encode()

    site = "https://dup.example.com/"
    old = [("B", site + "b", "b"), ("A", site + "a", "a")]
    new = [("C", site + "c", "c"), ("B", site + "b", "edited"), *old[1:]]
    before = {e.title: e.key for e in parse_feed(doc(old), url=URL, fetched_at=FETCHED).entries}
    after = {e.title: e.key for e in parse_feed(doc(new), url=URL, fetched_at=FETCHED).entries}
    assert after["A"] == before["A"] == "https://dup.example.com/"
    assert after["B"] == before["B"]  # a new item on top and an edited summary change nothing
    assert len(set(after.values())) == 3


def test_very_long_ids_are_hashed() -> None:
    guid = "x" * 5000
    body = f'<rss version="2.0"><channel><item><title>t</title><guid>{guid}</guid></item>'
    (entry,) = parse_feed(f"{body}</channel></rss>".encode(), url=URL, fetched_at=FETCHED).entries
    assert entry.key.startswith("sha1:")
    assert len(entry.key) == 45


def test_categories_are_capped() -> None:
    cats = "".join(f"<category>&lt;b&gt;Topic {i}&lt;/b&gt;</category>" for i in range(40))
    body = f'<rss version="2.0"><channel><item><title>t</title>{cats}</item></channel></rss>'
    (entry,) = parse_feed(body.encode(), url=URL, fetched_at=FETCHED).entries
    assert len(entry.categories) == MAX_CATEGORIES
    assert entry.categories[0] == "Topic 0"


def _feedparser_must_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if feedparser is handed the feed: the entity guard refuses it first, unexpanded.

    That is what keeps a refusal quick; benchmarks/limits.py prints how quick.
    """

    def expand(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("feedparser was handed a feed the entity guard must refuse")

    monkeypatch.setattr(feedparser, "parse", expand)


def test_entity_bomb_is_refused_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    _feedparser_must_not_run(monkeypatch)
    feed = parse("entity_bomb.xml")
    assert feed.entries == ()
    assert feed.error is not None
    assert "entities" in feed.error


def _quadratic_blowup(refs: int) -> str:
    big = "A" * 100_000
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n'
        f'<!ENTITY a "{big}">\n]>\n'
        f'<rss version="2.0"><channel><item><title>{"&a;" * refs}</title>'
        "<guid>q</guid></item></channel></rss>"
    )


def test_feedparser_alone_expands_declared_entities_without_limit() -> None:
    # Why parse_feed checks entities first: expat (2.4+) stops the strict parse with
    # "limit on input amplification factor", and feedparser then falls back to its loose
    # parser, which expands the entity with no limit at all.
    raw = feedparser.parse(io.BytesIO(_quadratic_blowup(100).encode()))
    assert raw.bozo
    assert len(raw.entries[0].title) == 100 * 100_000


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_quadratic_entity_blowup_is_refused(encoding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Expat stops this on its own, but feedparser then retries with its loose parser, which
    # expands the declared entity without limit (10,000 refs would make a 1 GB title).
    _feedparser_must_not_run(monkeypatch)
    feed = parse_feed(_quadratic_blowup(10_000).encode(encoding), url=URL, fetched_at=FETCHED)
    assert feed.entries == ()
    assert feed.error is not None
    assert "entities" in feed.error


@pytest.mark.parametrize(
    "doctype",
    [
        # A chain far deeper than any real feed uses, each link small.
        "".join(f'<!ENTITY e{i} "&e{i + 1};&e{i + 1};">\n' for i in range(2000))
        + '<!ENTITY e2000 "x">\n',
        # Entities that refer to each other.
        '<!ENTITY a "&b;">\n<!ENTITY b "&a;">\n',
        # A declaration whose value never ends (no other ' follows): unreadable, so refused.
        "<!ENTITY a '" + "A" * 200_000 + "\n",
        # Many declarations, each small.
        "".join(f'<!ENTITY n{i} "x">\n' for i in range(20_000)),
    ],
    ids=["deep-chain", "cycle", "unterminated", "too-many"],
)
def test_hostile_entity_declarations_are_refused(
    doctype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{doctype}]>\n'
        '<rss version="2.0"><channel><item><title>&e0;&a;&n1;</title>'
        "<guid>x</guid></item></channel></rss>"
    )
    _feedparser_must_not_run(monkeypatch)
    feed = parse_feed(body.encode(), url=URL, fetched_at=FETCHED)
    assert feed.entries == ()
    assert feed.error is not None
    assert "entities" in feed.error


def test_entity_text_in_an_article_is_not_a_declaration() -> None:
    body = (
        '<rss version="2.0"><channel><item><title>XML tips</title><guid>t</guid>'
        "<description><![CDATA[Write <!ENTITY like this (and never finish it]]></description>"
        "</item></channel></rss>"
    )
    feed = parse_feed(body.encode(), url=URL, fetched_at=FETCHED)
    assert [e.title for e in feed.entries] == ["XML tips"]


def test_small_declared_entities_still_work() -> None:
    feed = parse("safe_entity.xml")
    assert (feed.bozo, feed.error) == (False, None)
    assert feed.title == "Entities at example.com"
    assert feed.entries[0].title == "News from example.com"
    assert feed.entries[0].key == "tag:example.com,2024:1"


def test_sample_digest() -> None:
    data = resources.files("bot.data").joinpath("sample_digest.xml").read_bytes()
    feed = parse_feed(data, url="https://popularresistance.org/feed/", fetched_at=FETCHED)
    assert (feed.bozo, feed.error) == (False, None)
    assert feed.title == "Popular Resistance Daily Digest (sample)"
    assert len(feed.entries) >= 14
    assert len({e.key for e in feed.entries}) == len(feed.entries)
    assert all(e.link and e.link.startswith("https://popularresistance.org/") for e in feed.entries)
    assert all(e.summary and e.categories for e in feed.entries)
    titles = [e.title for e in feed.entries]
    assert "Washington Is Trying To Divide Revolutionary Forces In Bolivia" in titles
    assert "Skip to content" not in titles
    assert "Sign Up To Our Daily Digest" not in titles
    (meta,) = [e for e in feed.entries if e.summary.startswith("Meta has been")]
    assert meta.title == "Meta has been at it again."
    stamps = [e.published_at for e in feed.entries]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps)) == len(stamps)
    assert max(stamps) - min(stamps) < 86400


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>One</p><p>Two</p>", "One Two"),
        ("a&nbsp;&amp;&nbsp;b", "a & b"),
        ("x<br>y", "x y"),
        ("<style>p{}</style><script>1<2</script>kept", "kept"),
        ("back\x08space\x00", "back space"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;ok", "ok"),
        ("  lots \n\t of   space ", "lots of space"),
        ("", ""),
        (None, ""),
    ],
)
def test_clean_text(raw: str | None, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two.", "One."),
        ("Dr. Who arrived. Then left.", "Dr. Who arrived."),
        ("Is it? Yes.", "Is it?"),
        ("No sentence end here", "No sentence end here"),
        ("“Quoted.” Next one.", "“Quoted.”"),
    ],
)
def test_first_sentence(text: str, expected: str) -> None:
    assert first_sentence(text) == expected


def test_first_sentence_cut_on_word_boundary() -> None:
    text = "word " * 60
    title = first_sentence(text.strip())
    assert len(title) <= 120
    assert title.endswith("word…")
