"""Telegram HTML rendering: escaping, snippets, splitting, and validity on arbitrary text."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.formatting import (
    MESSAGE_LIMIT,
    escape,
    format_date,
    format_datetime,
    headline_block,
    html_to_console,
    html_to_text,
    render_latest,
    render_push,
    render_search,
    safe_url,
    split_messages,
    tg_len,
    truncate,
)
from storage.models import SNIPPET_CLOSE, SNIPPET_OPEN, Headline, SearchHit, SearchPage

# --- a strict checker for what Telegram's HTML parse mode accepts -----------------------------

_ALLOWED = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "a": {"href"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
    "tg-spoiler": set(),
}
_TOKEN = re.compile(
    r"""<(?P<close>/)?(?P<tag>[a-z-]+)(?P<attrs>(?:\s+[a-z-]+="[^"<>]*")*)\s*>"""
    r"|&(?:lt|gt|amp|quot|\#[0-9]+|\#x[0-9a-fA-F]+);"
    r"|[^<>&]+"
)
_ATTR = re.compile(r'([a-z-]+)="([^"]*)"')


def assert_valid_telegram_html(text: str) -> None:
    """Allowed tags only, properly nested, every < > & in text escaped, Telegram's length."""
    assert text.strip(), "Telegram refuses empty messages"
    assert tg_len(text) <= MESSAGE_LIMIT
    assert not re.search(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]", text)
    stack: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"unescaped markup at {position}: {text[position : position + 40]!r}"
        position = match.end()
        tag = match.group("tag")
        if tag is None:
            continue
        assert tag in _ALLOWED, f"tag <{tag}> is not allowed"
        if match.group("close"):
            assert stack, f"</{tag}> closes nothing"
            assert stack[-1] == tag, f"</{tag}> closes {stack}"
            stack.pop()
            continue
        attrs = dict(_ATTR.findall(match.group("attrs")))
        assert set(attrs) <= _ALLOWED[tag]
        if tag == "a":
            assert re.match(r"https?://", attrs["href"])
        stack.append(tag)
    assert not stack, f"unclosed {stack}"


def test_checker_rejects_bad_markup() -> None:
    for bad in ["a < b", "x & y", "<div>x</div>", "<b><i>x</b></i>", "<b>x", "&nbsp;", ""]:
        with pytest.raises(AssertionError):
            assert_valid_telegram_html(bad)
    assert_valid_telegram_html('<b><a href="https://e.com/?a=1&amp;b=2">x &amp; y</a></b>')


# --- fixtures ----------------------------------------------------------------------------------

NOV_27 = 1_795_815_600.0  # 27 Nov 2026 21:40 UTC


def headline(
    title: str = "Bolivia votes",
    *,
    link: str | None = "https://news.example/bolivia",
    summary: str = "Voters queue across La Paz.",
    hid: int = 1,
    published_at: float = NOV_27,
) -> Headline:
    return Headline(
        id=hid,
        feed_id=1,
        title=title,
        link=link,
        summary=summary,
        categories=("Politics",),
        published_at=published_at,
        first_seen_at=published_at,
        baseline=False,
    )


# --- small functions ---------------------------------------------------------------------------


def test_escape() -> None:
    assert escape('<b> & "q" \'s') == '&lt;b&gt; &amp; "q" \'s'
    assert escape("a\x00b\x0bc\ud800d\ne") == "abcd\ne"


def test_dates() -> None:
    assert format_date(NOV_27) == "27 Nov 2026"
    assert format_datetime(NOV_27) == "27 Nov 2026 21:40 UTC"
    assert format_date(1e300) == ""


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("hello world foo bar", 12, "hello world…"),
        ("abcdefghijklmnop", 6, "abcde…"),
        ("hello, world again", 9, "hello…"),
        ("anything", 1, "…"),
        ("anything", 0, ""),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= max(limit, 0)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://e.com/a?b=1&c=2", True),
        ("http://e.com", True),
        ("javascript:alert(1)", False),
        ("ftp://e.com/x", False),
        ("/relative/path", False),
        ("https://e.com/a b", False),
        ("https://", False),
        ("https://e.com/" + "x" * 3000, False),
        (None, False),
    ],
)
def test_safe_url(url: str | None, ok: bool) -> None:
    assert (safe_url(url) is not None) is ok


# --- blocks ------------------------------------------------------------------------------------


def test_headline_block_layout() -> None:
    block = headline_block(
        headline('Morales & "Arce" <live>', link='https://e.com/a?x=1&y="2"'),
        topics=("bolivia", "south africa"),
    )
    assert block == (
        '<b><a href="https://e.com/a?x=1&amp;y=&quot;2&quot;">'
        'Morales &amp; "Arce" &lt;live&gt;</a></b>\n'
        "Voters queue across La Paz.\n"
        "<i>27 Nov 2026</i> · 🏷 bolivia, south africa"
    )
    assert_valid_telegram_html(block)


def test_headline_block_without_a_safe_link_is_bold_text() -> None:
    block = headline_block(headline(link="javascript:alert(1)"))
    assert block.startswith("<b>Bolivia votes</b>\n")
    assert "href" not in block


def test_headline_block_truncates_summary_on_a_word() -> None:
    block = headline_block(headline(summary="word " * 100), summary_chars=23)
    assert "\nword word word word…\n" in block


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (f"the {SNIPPET_OPEN}Bolivia{SNIPPET_CLOSE} vote", "the <b>Bolivia</b> vote"),
        (f"{SNIPPET_OPEN}a<b{SNIPPET_CLOSE} & c", "<b>a&lt;b</b> &amp; c"),
        (f"x {SNIPPET_OPEN}unclosed", "x <b>unclosed</b>"),
        (f"stray{SNIPPET_CLOSE} close", "stray close"),
        (
            f"{SNIPPET_OPEN}{SNIPPET_OPEN}in{SNIPPET_CLOSE}ner{SNIPPET_CLOSE} out",
            "<b>inner</b> out",
        ),
        (f"{SNIPPET_OPEN}{SNIPPET_CLOSE}empty", "empty"),
    ],
)
def test_snippet_markers_become_balanced_bold(snippet: str, expected: str) -> None:
    block = headline_block(headline(), snippet=snippet)
    assert block.split("\n")[1] == expected
    assert_valid_telegram_html(block)


def test_snippet_is_truncated_by_visible_text() -> None:
    snippet = " ".join(f"{SNIPPET_OPEN}w{i}{SNIPPET_CLOSE}" for i in range(200))
    body = headline_block(headline(), snippet=snippet, summary_chars=20).split("\n")[1]
    assert body == "<b>w0</b> <b>w1</b> <b>w2</b> <b>w3</b> <b>w4</b> <b>w5</b>…"


# --- splitting ---------------------------------------------------------------------------------


def test_split_packs_blocks_greedily() -> None:
    blocks = ["<b>" + "x" * 90 + "</b>"] * 10
    messages = split_messages(blocks, header="H", footer="F", limit=250)
    assert all(tg_len(m) <= 250 for m in messages)
    assert messages[0].startswith("H\n\n<b>")
    assert messages[-1].endswith("\n\nF")
    assert sum(m.count("<b>") for m in messages) == 10
    assert len(messages) == 5


def test_split_cuts_an_oversized_block_to_plain_text() -> None:
    block = "<b>" + "&amp; word " * 2000 + "</b>"
    messages = split_messages([block], limit=1000)
    assert len(messages) > 1
    for message in messages:
        assert tg_len(message) <= 1000
        assert "<b>" not in message
        assert_valid_telegram_html(message)
    assert "".join(html_to_text(m) for m in messages).count("&") == 2000


def test_split_counts_utf16_units() -> None:
    messages = split_messages(["😀" * 3000], limit=4096)
    assert all(tg_len(m) <= 4096 for m in messages)
    assert len(messages) == 2


def test_split_of_nothing_is_nothing() -> None:
    assert split_messages([]) == []
    assert split_messages(["", "  "]) == []


# --- replies -----------------------------------------------------------------------------------


def test_render_push_single_and_several() -> None:
    [single] = render_push([(headline(), ("bolivia",))])
    assert single.startswith("<b><a href=")
    assert "🏷 bolivia" in single
    [several] = render_push(
        [(headline(hid=i), ("bolivia",)) for i in range(3)],
        more=7,
    )
    assert several.startswith("📰 <b>New on your topics</b>\n\n")
    assert several.endswith("7 older headlines were not kept."), "never a pointer to /latest"


def test_render_push_of_ten_long_headlines_splits() -> None:
    items = [(headline("T" * 300 + str(i), summary="s " * 300, hid=i), ("x",)) for i in range(10)]
    messages = render_push(items)
    assert len(messages) >= 2
    for message in messages:
        assert_valid_telegram_html(message)


def test_render_latest() -> None:
    [text] = render_latest([headline(hid=1), headline("Peru <b>", hid=2)], query="Peru <b>")
    assert text.startswith("<b>Latest on Peru &lt;b&gt;</b>\n\n1. <b><a href=")
    assert "\n\n2. <b><a href" in text
    assert render_latest([]) == ["No headlines yet."]
    assert render_latest([], query="x<") == ["Nothing on <b>x&lt;</b> yet."]


def test_render_search() -> None:
    hits = tuple(
        SearchHit(headline(hid=i), f"about {SNIPPET_OPEN}Bolivia{SNIPPET_CLOSE}") for i in range(5)
    )
    text = render_search(SearchPage(hits, 12), query="bolivia", offset=5, per_page=5)
    assert text.startswith("Results 6–10 of 12 for <b>bolivia</b>\n\n6. <b><a href=")
    assert "about <b>Bolivia</b>" in text
    assert_valid_telegram_html(text)
    empty = SearchPage((), 0)
    assert render_search(empty, query="q&", offset=0, per_page=5) == "No results for <b>q&amp;</b>."
    later = SearchPage((), 3)
    assert render_search(later, query="q", offset=5, per_page=5).startswith("No more results")


def test_render_search_shrinks_to_fit() -> None:
    long_link = "https://e.com/" + "p" * 2000
    hits = tuple(
        SearchHit(
            headline("&" * 300, link=long_link, hid=i),
            (SNIPPET_OPEN + "&<>" + SNIPPET_CLOSE) * 200,
        )
        for i in range(20)
    )
    text = render_search(SearchPage(hits, 100), query="&" * 100, offset=0, per_page=20)
    assert_valid_telegram_html(text)


# --- back to text ------------------------------------------------------------------------------


def test_html_to_text_and_console() -> None:
    block = headline_block(headline("A & B <c>"), topics=("bolivia",))
    assert html_to_text(block) == (
        "A & B <c>\nVoters queue across La Paz.\n27 Nov 2026 · 🏷 bolivia"
    )
    assert html_to_console(block).splitlines()[0] == (
        "**A & B <c> <https://news.example/bolivia>**"
    )
    assert html_to_console("<i>x</i> <code>y</code>") == "_x_ `y`"
    assert html_to_text("1 &lt; 2 &amp;&amp; <b>bold</b> &#128512;") == "1 < 2 && bold 😀"


# --- properties on arbitrary text --------------------------------------------------------------

_nasty = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(["<", ">", "&", '"', "'", "&amp;", "<b>", "</a>", "😀", "\n", " "]),
        st.sampled_from([SNIPPET_OPEN, SNIPPET_CLOSE]),
    ),
    max_size=60,
).map("".join)
_text = st.one_of(_nasty, st.builds(lambda s, n: s * n, _nasty, st.integers(1, 25)))
_links = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.builds(lambda s: "https://e.com/" + s, st.text(max_size=3000)),
)
_headlines = st.builds(
    headline,
    _text,
    link=_links,
    summary=_text,
    published_at=st.floats(allow_nan=False),
)
_topics = st.lists(st.text(max_size=64), max_size=6).map(tuple)
_fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fast
@given(_headlines, _topics, st.one_of(st.none(), _text))
def test_headline_block_is_always_valid(
    h: Headline, topics: tuple[str, ...], snippet: str | None
) -> None:
    block = headline_block(h, topics=topics, snippet=snippet)
    assert_valid_telegram_html(block)


@_fast
@given(st.lists(st.tuples(_headlines, _topics), min_size=1, max_size=10), st.integers(0, 500))
def test_render_push_is_always_valid(
    items: list[tuple[Headline, tuple[str, ...]]], more: int
) -> None:
    for message in render_push(items, more=more):
        assert_valid_telegram_html(message)


@_fast
@given(st.lists(_headlines, max_size=10), st.one_of(st.none(), _text))
def test_render_latest_is_always_valid(headlines: list[Headline], query: str | None) -> None:
    for message in render_latest(headlines, query=query):
        assert_valid_telegram_html(message)


@_fast
@given(
    st.lists(st.tuples(_headlines, _text), max_size=10),
    _text,
    st.integers(0, 1000),
    st.integers(1, 10),
)
def test_render_search_is_always_one_valid_message(
    hits: list[tuple[Headline, str]], query: str, offset: int, per_page: int
) -> None:
    page = SearchPage(tuple(SearchHit(h, s) for h, s in hits), len(hits) + offset)
    assert_valid_telegram_html(render_search(page, query=query, offset=offset, per_page=per_page))


@_fast
@given(st.lists(_text, max_size=8), _text, _text, st.integers(1, 4096))
def test_split_messages_respects_any_limit(
    texts: list[str], header: str, footer: str, limit: int
) -> None:
    blocks = [escape(t) for t in texts]
    messages = split_messages(blocks, header=escape(header), footer=escape(footer), limit=limit)
    for message in messages:
        assert tg_len(message) <= max(limit, 5)  # one escaped character may need 5
        assert message.strip()


# --- pushes and digests in a chat's format and language ----------------------------------


def test_a_digest_is_grouped_by_topic_in_the_chats_language() -> None:
    from bot.text.i18n import translator

    items = [
        (headline("Bolivia votes", hid=1), ("bolivia",)),
        (headline("Lithium climbs", hid=2), ("lithium",)),
        (headline("Bolivia and lithium", hid=3), ("bolivia", "lithium")),
    ]
    [text] = render_push(items, digest=True)
    assert text.startswith("🗞 <b>Your digest</b> · 3 headlines")
    bolivia, lithium = text.index("🏷 <b>bolivia</b>"), text.index("🏷 <b>lithium</b>")
    assert bolivia < text.index("Bolivia votes") < text.index("Bolivia and lithium") < lithium
    assert text.index("Lithium climbs") > lithium
    [spanish] = render_push(items[:1], digest=True, t=translator("es"))
    assert spanish.startswith("🗞 <b>Tu resumen</b> · 1 titular")
    assert_valid_telegram_html(text)


def test_compact_pushes_are_linked_titles_many_to_a_message() -> None:
    items = [(headline(f"Story {i}", hid=i, summary="s " * 100), ("x",)) for i in range(30)]
    [text] = render_push(items, fmt="compact", paged=True)
    assert text.count("• <a href=") == 30 and "s s" not in text
    assert_valid_telegram_html(text)


def test_a_paged_push_is_one_message_with_what_follows_counted() -> None:
    items = [(headline("T" * 300 + str(i), summary="s " * 300, hid=i), ("x",)) for i in range(14)]
    [first] = render_push(items, paged=True, more=5)
    assert "Headlines 1–10 of 14" in first and first.endswith("+4 more")
    [last] = render_push(items, paged=True, page=1, more=5)
    assert "Headlines 11–14 of 14" in last and last.endswith("5 older headlines were not kept.")
    for text in (first, last):
        assert tg_len(text) <= 4096
        assert_valid_telegram_html(text)


def test_more_buttons_and_their_data() -> None:
    from bot.formatting import more_buttons, parse_more_data

    assert more_buttons(None, 7, 0, 1) == []
    [(label, data)] = more_buttons(None, 7, 0, 3)
    assert label == "More ▶" and parse_more_data(data) == (7, 1)
    assert [label for label, _ in more_buttons(None, 7, 1, 3)] == ["◀ Previous", "More ▶"]
    with pytest.raises(ValueError, match="s:1:2"):
        parse_more_data("s:1:2")


def test_a_push_dates_its_headlines_in_the_chats_language_and_zone() -> None:
    """00:40 UTC on 28 November is still the 27th in La Paz; the month is in Spanish."""
    from bot.text.i18n import translator

    item = [(headline(published_at=NOV_27 + 3 * 3600), ("bolivia",))]
    [spanish] = render_push(item, t=translator("es"), tz="America/La_Paz")
    [english] = render_push(item)
    assert "27 nov 2026" in spanish, spanish
    assert "Nov 28, 2026" in english, english
