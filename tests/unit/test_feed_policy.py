"""Polite polling and safe feeds as plain decisions: server hints, backoff, addresses,
the same story across feeds, and feed text that keeps an escaped <tag>."""

from __future__ import annotations

import email.utils

import pytest

from bot.feeds import USER_AGENT, clean_text, parse_feed
from bot.feeds.admin import address_refusal
from bot.feeds.policy import (
    MAX_STRETCH_SECONDS,
    failure_delay,
    interval_after_429,
    interval_after_read,
    parse_max_age,
    parse_retry_after,
)
from storage.sqlite.headlines import canonical_link, title_key

NOW = 1_750_000_000.0
BASE = 300.0


def test_user_agent_names_the_bot_and_its_version() -> None:
    name, _, rest = USER_AGENT.partition("/")
    assert name == "headline-bot"
    assert rest.split(" ", 1)[0][0].isdigit()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        (email.utils.formatdate(NOW + 600, usegmt=True), 600.0),
        (email.utils.formatdate(NOW - 600, usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("-3", None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=900", 900.0),
        ("public, max-age=600, s-maxage=1200", 1200.0),
        ('max-age="60"', 60.0),
        ("no-cache", None),
        ("no-store, max-age=0", 0.0),
        (None, None),
    ],
)
def test_max_age(value: str | None, expected: float | None) -> None:
    assert parse_max_age(value) == expected


def test_hints_stretch_the_interval_but_never_shorten_it() -> None:
    assert interval_after_read(BASE, None) is None  # the default
    assert interval_after_read(BASE, None, max_age=60, ttl=120) is None  # below the default
    assert interval_after_read(BASE, None, max_age=900) == 900
    assert interval_after_read(BASE, None, ttl=3600, max_age=900) == 3600
    assert interval_after_read(BASE, None, retry_after=10**9) == MAX_STRETCH_SECONDS


def test_a_stretch_without_hints_halves_back_to_the_default() -> None:
    assert interval_after_read(BASE, 2400) == 1200
    assert interval_after_read(BASE, 1200) == 600
    assert interval_after_read(BASE, 600) is None


def test_429_doubles_the_interval_or_waits_as_asked() -> None:
    assert interval_after_429(BASE, None, retry_after=None) == 600
    assert interval_after_429(BASE, 600, retry_after=None) == 1200
    assert interval_after_429(BASE, None, retry_after=7200) == 7200
    assert interval_after_429(BASE, 50_000, retry_after=None) == MAX_STRETCH_SECONDS


def test_failure_waits_for_the_longer_of_backoff_and_retry_after() -> None:
    assert failure_delay(60, retry_after=None) == 60
    assert failure_delay(60, retry_after=10) == 60
    assert failure_delay(60, retry_after=900) == 900
    assert failure_delay(60, retry_after=10**9) == MAX_STRETCH_SECONDS


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT: not on the public internet
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fd00::1", "private"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_address_refusal(address: str, kind: str | None) -> None:
    assert address_refusal(address) == kind


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://News.Example/story/1/", "https://news.example/story/1"),
        ("HTTPS://news.example:443/story/1", "https://news.example/story/1"),
        (
            "https://news.example/story/1?utm_source=rss&utm_medium=feed",
            "https://news.example/story/1",
        ),
        ("https://news.example/story/1?fbclid=abc#comments", "https://news.example/story/1"),
        ("https://news.example/s?id=7&gclid=x&UTM_campaign=y", "https://news.example/s?id=7"),
    ],
)
def test_the_same_link_whatever_its_dressing(a: str, b: str) -> None:
    assert canonical_link(a) == canonical_link(b)


def test_links_that_differ_stay_apart() -> None:
    assert canonical_link("https://news.example/story/1") != canonical_link(
        "https://news.example/story/2"
    )
    assert canonical_link("https://news.example/s?id=7") != canonical_link(
        "https://news.example/s?id=8"
    )
    assert canonical_link("https://news.example/Story") != canonical_link(
        "https://news.example/story"
    )  # paths are case-sensitive
    assert canonical_link(None) is None
    assert canonical_link("not a url") is None


def test_title_key_folds_case_accents_punctuation_and_spacing() -> None:
    assert title_key("Bolivia’s  Élection: RESULTS!") == title_key("bolivia s election results")
    assert title_key("Open thread") is None  # too short to tell stories apart
    assert title_key("Lithium deal signed") != title_key("Lithium deal cancelled")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Use the &lt;tag&gt; element", "Use the <tag> element"),
        ("The &lt;video&gt; element plays media", "The <video> element plays media"),
        ("Set &lt;b&gt;bold&lt;/b&gt; text", "Set bold text"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;kept", "kept"),
        ("line&lt;br&gt;break", "line break"),
        ("<p>real <b>markup</b></p> and <tag>", "real markup and <tag>"),
    ],
)
def test_escaped_tags_that_are_no_markup_stay_text(raw: str, shown: str) -> None:
    assert clean_text(raw) == shown


def test_a_summary_keeps_its_escaped_tag_through_parsing() -> None:
    rss = (
        b'<rss version="2.0"><channel><title>t</title><ttl>90</ttl><item><title>HTML tips</title>'
        b"<description>Use the &amp;lt;tag&amp;gt; element</description><guid>1</guid>"
        b"</item></channel></rss>"
    )
    feed = parse_feed(rss, url="https://x.example/", fetched_at=NOW)
    assert feed.entries[0].summary == "Use the <tag> element"
    assert feed.ttl_seconds == 90 * 60
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><title>a</title>'
        b'<id>1</id><summary type="text">Write &lt;tag&gt; here</summary></entry></feed>'
    )
    (entry,) = parse_feed(atom, url="https://x.example/", fetched_at=NOW).entries
    assert entry.summary == "Write <tag> here"
