"""A chat's own post template: what is refused and why, how values fill it, how a post is cut
to its limit as Telegram counts it, and the hashtags made from topics as typed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.formatting import html_to_text, render_post
from bot.text.i18n import translator
from bot.text.template import (
    CAPTION_LIMIT,
    DEFAULT_TEMPLATE,
    MAX_TEMPLATE_CHARS,
    PostValues,
    TemplateError,
    default_template,
    hashtag,
    hashtags,
    parse,
    render,
    tg_len,
    visible_text,
)
from storage.models import Headline
from tests.fakes.telegram import tg_html

LINK = "https://news.example/1"


def values(**overrides: str | None) -> PostValues:
    base: dict[str, str | None] = {
        "title": "Bolivia votes",
        "link": LINK,
        "summary": "A vote in Bolivia.",
        "source": "Popular Resistance",
        "date": "Nov 27, 2026",
        "topics": "bolivia",
        "hashtags": "#Bolivia",
    }
    base.update(overrides)
    return PostValues(**base)  # type: ignore[arg-type]


def shown(html: str) -> str:
    """What Telegram shows for this HTML, checked as its parser would."""
    assert tg_html.check_html(html) == [], html
    return tg_html.visible_text(html).strip()


# --- what a template may hold ------------------------------------------------------------------


def test_the_default_template_is_a_template() -> None:
    template = default_template()
    assert template.source == DEFAULT_TEMPLATE
    assert template.fields == {"title", "link", "summary", "date", "source", "hashtags"}


def test_every_placeholder_tag_and_literal_brace() -> None:
    source = (
        "<b>{title}</b> <i>{date}</i> <u>{source}</u> <s>{topics}</s>\n"
        "<blockquote expandable>{summary}</blockquote>\n<code>{hashtags}</code> "
        '<pre>{link}</pre> <a href="{link}">read</a> <a href="https://site.example/">site</a>'
        " {{not a placeholder}} <strong>x</strong><em>y</em>"
    )
    html = render(parse(source), values())
    text = shown(html)
    assert "{not a placeholder}" in text
    assert '<a href="https://news.example/1">read</a>' in html
    assert '<a href="https://site.example/">site</a>' in html
    assert "<blockquote expandable>A vote in Bolivia.</blockquote>" in html
    assert "<b>x</b><i>y</i>" in html  # the other names of b and i, as Telegram reads them


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{titel}", "Unknown placeholder {titel}"),
        ("{ title }", "opens no placeholder"),
        ("{title} }", "closes no placeholder"),
        ("<b>{title}", "<b> is never closed"),
        ("{title}</i>", "</i> closes no tag"),
        ("<b><i>{title}</b></i>", "</b> closes <i>"),
        ("<img src=x>{title}", "Unsupported tag <img>"),
        ("<span>{title}</span>", "Unsupported tag <span>"),
        ('<a href="javascript:alert(1)">{title}</a>', "must be {link} or an http or https address"),
        ('<a href="{title}">x</a>', "must be {link} or an http or https address"),
        ("<a>{title}</a>", 'written <a href="{link}">'),
        ('<b class="x">{title}</b>', "<b> takes no attributes"),
        ("<code><b>{title}</b></code>", "inside <code> or <pre>"),
        ("<b><b>{title}</b></b>", "<b> stands inside another <b>"),
        ("   ", "empty"),
        ("x" * (MAX_TEMPLATE_CHARS + 1), "1001 characters long"),
    ],
)
def test_refused_templates_say_why(source: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(source)
    assert reason in caught.value.describe()


def test_a_template_of_a_thousand_characters_is_taken() -> None:
    assert parse("{title} " + "x" * (MAX_TEMPLATE_CHARS - 8)).source.startswith("{title}")


def test_refusals_in_spanish() -> None:
    with pytest.raises(TemplateError) as caught:
        parse("{titel}")
    assert caught.value.describe(translator("es")).startswith("Marcador desconocido {titel}")


# --- filling -----------------------------------------------------------------------------------


def test_values_are_escaped_and_the_template_text_is_kept() -> None:
    html = render(
        parse("<b>{title}</b> &amp; {summary} <3"),
        values(title="AT&T <b>buys</b>", summary='a "quote" > b'),
    )
    assert html.startswith("<b>AT&amp;T &lt;b&gt;buys&lt;/b&gt;</b> &amp; ")
    assert shown(html) == 'AT&T <b>buys</b> & a "quote" > b <3'


def test_a_headline_without_a_link_keeps_its_title_without_the_link() -> None:
    html = render(parse('<b><a href="{link}">{title}</a></b> {link}'), values(link=None))
    assert html == "<b>Bolivia votes</b>"
    unsafe = render(parse('<a href="{link}">{title}</a>'), values(link="javascript:x"))
    assert unsafe == "Bolivia votes"


def test_a_line_left_empty_by_its_values_is_left_out() -> None:
    template = parse("<b>{title}</b>\n<i>{summary}</i>\n\n{hashtags}\nend")
    html = render(template, values(summary="", hashtags=""))
    assert html == "<b>Bolivia votes</b>\n\nend"


def test_long_posts_cut_the_summary_first_on_a_word_title_and_link_whole() -> None:
    summary = " ".join(f"word{i}" for i in range(400))
    title = "A long title " * 20
    html = render(default_template(), values(summary=summary, title=title), limit=CAPTION_LIMIT)
    text = shown(html)
    assert tg_len(text) <= CAPTION_LIMIT
    assert title.strip() in text and f'href="{LINK}"' in html
    cut = text.split("\n")[1]
    assert cut.endswith("…") and cut[:-1].split()[-1] in summary.split()
    assert "#Bolivia" in text and "Popular Resistance" in text


def test_the_limit_is_counted_in_utf16_units_after_entities() -> None:
    # every 🇧🇴 is four UTF-16 units, every &amp; in the template one character
    summary = "🇧🇴 " * 400
    template = parse("&amp;&amp; {title}\n{summary}")
    html = render(template, values(summary=summary), limit=CAPTION_LIMIT)
    text = shown(html)
    assert text.startswith("&& Bolivia votes")
    assert tg_len(text) <= CAPTION_LIMIT < tg_len(text) + 6  # as full as whole flags allow
    assert len(text) < 700  # in code points it is far shorter


def test_visible_text_is_what_telegram_shows() -> None:
    assert visible_text(parse("<b>{title}</b> &lt;{{x}}&gt;"), values()) == "Bolivia votes <{x}>"


@settings(max_examples=300, deadline=None)
@given(
    title=st.text(min_size=1, max_size=400),
    summary=st.text(max_size=3000),
    topics=st.lists(st.text(max_size=30), max_size=5),
)
def test_any_values_make_valid_html_within_the_caption(
    title: str, summary: str, topics: list[str]
) -> None:
    tags = " ".join(hashtags(topics))
    html = render(
        default_template(),
        values(title=title, summary=summary, hashtags=tags, topics=", ".join(topics)),
        limit=CAPTION_LIMIT,
    )
    assert tg_html.check_html(html) == []
    assert tg_len(tg_html.visible_text(html).strip()) <= CAPTION_LIMIT


def test_render_post_gives_a_text_and_a_caption() -> None:
    headline = Headline(
        1,
        1,
        "Bolivia & Chile",
        LINK,
        "word " * 600,
        (),
        1_795_000_000.0,
        0.0,
        False,
        picture="https://img.example/p.jpg",
    )
    post = render_post(headline, topics=("lithium + chile", "Bogotá"), source="Feed")
    assert post.picture == "https://img.example/p.jpg" and post.link == LINK
    assert tg_len(html_to_text(post.caption).strip()) <= CAPTION_LIMIT
    assert len(post.text) > len(post.caption)
    assert "#LithiumChile #Bogotá" in post.caption and "Feed" in post.caption


# --- hashtags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "tag"),
    [
        ("bolivia", "#Bolivia"),
        ("south africa", "#SouthAfrica"),
        ("lithium + chile", "#LithiumChile"),
        ("Bogotá", "#Bogotá"),
        ("Bogota\u0301", "#Bogotá"),  # a decomposed accent is kept, composed
        ('"bolivian" election', "#BolivianElection"),
        ("lithium -mining", "#Lithium"),
        ("lithium -open pit + chile", "#LithiumChile"),
        ("bolivia from:popular-resistance", "#Bolivia"),
        ("AT&T", "#ATT"),
        ("co-operation", "#CoOperation"),
        ("g20 summit", "#G20Summit"),
        ("*", None),
        ("from:popular-resistance", None),
        ("-israel", None),
        ("2024", None),
        ("", None),
    ],
)
def test_hashtag_of_a_topic_as_typed(topic: str, tag: str | None) -> None:
    assert hashtag(topic) == tag


def test_hashtags_each_once_in_order() -> None:
    topics = ["south africa", "South Africa", "*", "bolivia"]
    assert hashtags(topics) == ["#SouthAfrica", "#Bolivia"]
