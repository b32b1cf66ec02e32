"""Pure rendering of headlines and results as Telegram HTML, split under the message limit.

Every piece of feed or user text goes through escape(); links only ever carry http(s) URLs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import ClassVar
from urllib.parse import urlsplit

from bot.text import template as templates
from bot.text.i18n import Translator, translator
from bot.text.template import CAPTION_LIMIT, TEXT_LIMIT, PostValues, Template, hashtags
from storage.models import SNIPPET_CLOSE, SNIPPET_OPEN, Headline, SearchPage

__all__ = [
    "MESSAGE_LIMIT",
    "Post",
    "escape",
    "format_date",
    "format_datetime",
    "headline_block",
    "html_to_console",
    "html_to_text",
    "more_buttons",
    "more_data",
    "parse_more_data",
    "push_page_size",
    "push_pages",
    "render_latest",
    "render_post",
    "render_push",
    "render_search",
    "safe_url",
    "sources_of",
    "split_messages",
    "tg_len",
    "truncate",
]

MESSAGE_LIMIT = 4096
# Headroom under Telegram's 4096 so a caller may add a line without re-splitting.
DEFAULT_LIMIT = 4000
TITLE_CHARS = 300
SNIPPET_CHARS = 300
URL_CHARS = 2048
SOURCES_CHARS = 120
BLOCK_SEPARATOR = "\n\n"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# C0/C1 controls (bar tab and newline), lone surrogates and non-characters: Telegram rejects
# or mangles them, and a lone surrogate cannot even be encoded for the request.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _clean(text: str) -> str:
    return _UNSAFE.sub("", text)


def escape(text: str) -> str:
    """Escape text for Telegram HTML (and drop characters Telegram cannot take)."""
    return html.escape(_clean(text), quote=False)


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", _clean(text)).strip()


def truncate(text: str, limit: int) -> str:
    """Cut text to at most limit characters on a word boundary, ending with '…'."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[: max(limit, 0)]
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" \n\t,;:-–—") + "…"


def _utc(ts: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def format_date(ts: float) -> str:
    """'27 Nov 2026' (UTC); empty for an impossible timestamp."""
    moment = _utc(ts)
    if moment is None:
        return ""
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def format_datetime(ts: float) -> str:
    """'27 Nov 2026 21:40 UTC'; empty for an impossible timestamp."""
    moment = _utc(ts)
    if moment is None:
        return ""
    return f"{format_date(ts)} {moment:%H:%M} UTC"


def safe_url(url: str | None, max_chars: int = URL_CHARS) -> str | None:
    """The URL if it is a plain absolute http(s) link Telegram will take, else None."""
    if not url or len(url) > max_chars:
        return None
    url = url.strip()
    if any(c.isspace() for c in url) or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _snippet_segments(snippet: str) -> list[tuple[str, bool]]:
    """Split a marked snippet into (text, bold) runs; stray or nested markers are absorbed."""
    segments: list[tuple[str, bool]] = []
    depth = 0
    for part in re.split(f"([{SNIPPET_OPEN}{SNIPPET_CLOSE}])", snippet):
        if part == SNIPPET_OPEN:
            depth += 1
        elif part == SNIPPET_CLOSE:
            depth = max(depth - 1, 0)
        elif part:
            bold = depth > 0
            if segments and segments[-1][1] == bold:
                segments[-1] = (segments[-1][0] + part, bold)
            else:
                segments.append((part, bold))
    return segments


def render_snippet(snippet: str, limit: int = SNIPPET_CHARS) -> str:
    """A marked snippet as HTML with matches in bold, cut to limit visible characters."""
    segments = [(_SPACES.sub(" ", _clean(text)), bold) for text, bold in _snippet_segments(snippet)]
    plain = "".join(text for text, _ in segments)
    shown = truncate(plain.strip(), limit)
    # Map the truncated plain text back onto the runs it came from.
    lead = len(plain) - len(plain.lstrip())
    keep = len(shown) - 1 if shown.endswith("…") and shown != plain.strip() else len(shown)
    start, end = lead, lead + keep
    out: list[str] = []
    position = 0
    for text, bold in segments:
        piece = text[max(start - position, 0) : max(end - position, 0)]
        position += len(text)
        if not piece:
            continue
        out.append(f"<b>{escape(piece)}</b>" if bold else escape(piece))
    if keep < len(shown):
        out.append("…")
    return "".join(out)


def sources_of(h: Headline) -> tuple[str, ...]:
    """The feeds a headline's story came from, when the store named them (several feeds)."""
    sources = getattr(h, "sources", ())
    return tuple(str(name) for name in sources if name) if isinstance(sources, tuple) else ()


def _block(
    h: Headline,
    *,
    topics: Sequence[str],
    summary_chars: int,
    snippet: str | None,
    title_chars: int = TITLE_CHARS,
    url_chars: int = URL_CHARS,
    prefix: str = "",
    t: Translator | None = None,
    tz: str = "UTC",
) -> str:
    untitled = t._("(untitled)") if t is not None else "(untitled)"
    title = escape(truncate(_one_line(h.title), title_chars) or untitled)
    url = safe_url(h.link, url_chars)
    if url is not None:
        title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
    lines = [f"{prefix}<b>{title}</b>"]
    if snippet is not None:
        body = render_snippet(snippet, summary_chars) if summary_chars > 0 else ""
    else:
        body = escape(truncate(_one_line(h.summary), summary_chars)) if summary_chars > 0 else ""
    if body:
        lines.append(body)
    meta = []
    date = _date_in(t, h.published_at, tz)
    if date:
        meta.append(f"<i>{date}</i>")
    sources = sources_of(h)
    if sources:
        meta.append("📡 " + escape(truncate(_one_line(", ".join(sources)), SOURCES_CHARS)))
    shown_topics = [t for t in topics if t and not t.startswith("-")]
    if shown_topics:
        meta.append("🏷 " + escape(truncate(", ".join(shown_topics), 200)))
    if meta:
        lines.append(" · ".join(meta))
    return "\n".join(lines)


def headline_block(
    h: Headline,
    *,
    topics: Sequence[str] = (),
    summary_chars: int = 200,
    snippet: str | None = None,
    t: Translator | None = None,
    tz: str = "UTC",
) -> str:
    """One headline: linked bold title, summary (or marked snippet), date and topics.

    With a translator, the date is Babel's, in its language and the time zone `tz`.
    """
    return _block(h, topics=topics, summary_chars=summary_chars, snippet=snippet, t=t, tz=tz)


def _date_in(t: Translator | None, ts: float, tz: str) -> str:
    """A headline's date: in t's language and zone ('Nov 27, 2026' / '27 nov 2026'), or
    '27 Nov 2026' (UTC) without a translator; empty for an impossible timestamp."""
    if t is None:
        return format_date(ts)
    if _utc(ts) is None:
        return ""
    return t.format_date(ts, tz)


# --- splitting ---------------------------------------------------------------------------------


def _cut_plain(html_text: str, limit: int) -> list[str]:
    """Degrade an over-long block to escaped plain text in pieces of at most limit."""
    plain = html_to_text(html_text).strip()
    pieces: list[str] = []
    while plain:
        # Escaping can grow text up to 5x ('&' -> '&amp;'); shrink until the piece fits.
        end = min(len(plain), limit)
        while end > 1 and tg_len(escape(plain[:end])) > limit:
            end = max(1, min(end - 1, end * limit // max(tg_len(escape(plain[:end])), 1)))
        if end < len(plain):
            space = max(plain.rfind(" ", 0, end + 1), plain.rfind("\n", 0, end + 1))
            if space > end // 2:
                end = space
        piece = escape(plain[:end].strip())
        if piece:
            pieces.append(piece)
        plain = plain[end:].lstrip()
    return pieces


def split_messages(
    blocks: Sequence[str],
    *,
    header: str = "",
    footer: str = "",
    limit: int = DEFAULT_LIMIT,
) -> list[str]:
    """Pack header, blocks and footer into as few messages as fit in limit each."""
    limit = max(min(limit, MESSAGE_LIMIT), 1)
    parts = [p for p in (header, *blocks, footer) if p.strip()]
    messages: list[str] = []
    current = ""
    for part in parts:
        if current:
            candidate = current + BLOCK_SEPARATOR + part
            if tg_len(candidate) <= limit:
                current = candidate
                continue
            messages.append(current)
            current = ""
        if tg_len(part) <= limit:
            current = part
        else:
            pieces = _cut_plain(part, limit)
            if pieces:
                messages.extend(pieces[:-1])
                current = pieces[-1]
    if current:
        messages.append(current)
    return messages


# --- whole replies ---------------------------------------------------------------------------


PUSH_PAGE_FULL = 10  # headlines a push or digest page shows in the full format
PUSH_PAGE_COMPACT = 30  # ... and in the compact format (linked titles only)
COMPACT = "compact"  # storage.sqlite.preferences.MessageFormat.COMPACT, spelled here to stay pure
MORE_PREFIX = "more"  # callback data of the More button: more:<list id>:<page>

PushItems = Sequence[tuple[Headline, tuple[str, ...]]]


def push_page_size(fmt: str) -> int:
    """Headlines on one page of a push or digest in this format."""
    return PUSH_PAGE_COMPACT if fmt == COMPACT else PUSH_PAGE_FULL


def push_pages(count: int, fmt: str) -> int:
    """Pages a push or digest of `count` kept headlines takes."""
    size = push_page_size(fmt)
    return max(1, -(-count // size))


def more_data(list_id: int, page: int) -> str:
    """The More button's callback data (a few bytes, far below Telegram's 64)."""
    return f"{MORE_PREFIX}:{list_id}:{page}"


def parse_more_data(data: str) -> tuple[int, int]:
    """(list id, page) from a More button's data; ValueError when it is not one."""
    prefix, list_id, page = data.split(":")
    if prefix != MORE_PREFIX or int(page) < 0:
        raise ValueError(data)
    return int(list_id), int(page)


def more_buttons(
    t: Translator | None, list_id: int, page: int, pages: int
) -> list[tuple[str, str]]:
    """(label, callback data) of the paging buttons under page `page` of `pages`."""
    t = t or translator(None)
    buttons: list[tuple[str, str]] = []
    if page > 0:
        buttons.append((t._("◀ Previous"), more_data(list_id, page - 1)))
    if page + 1 < pages:
        buttons.append((t._("More ▶"), more_data(list_id, page + 1)))
    return buttons


def _topic_of(topics: Sequence[str]) -> str:
    """The topic a digest files a headline under: its first matched topic (not a mute)."""
    return next((t for t in topics if t and not t.startswith("-")), "")


def _compact_line(h: Headline, t: Translator) -> str:
    title = escape(truncate(_one_line(h.title), 200) or t._("(untitled)"))
    url = safe_url(h.link)
    line = f'• <a href="{html.escape(url, quote=True)}">{title}</a>' if url else f"• {title}"
    sources = sources_of(h)
    if sources:
        line += " · 📡 " + escape(truncate(_one_line(", ".join(sources)), 60))
    return line


def _pack(lines: Sequence[str], head: str, limit: int) -> list[str]:
    """Lines (one headline each) packed into blocks of at most `limit`, `head` first."""
    blocks: list[str] = []
    current = head
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if current and tg_len(candidate) > limit:
            blocks.append(current)
            current = line
        else:
            current = candidate
    if current:
        blocks.append(current)
    return blocks


def _push_blocks(
    items: PushItems,
    *,
    fmt: str,
    digest: bool,
    summary_chars: int,
    limit: int,
    t: Translator,
    tz: str,
) -> list[str]:
    """The page's headlines as blocks: a digest grouped by topic, compact as linked lines."""
    groups: dict[str, list[tuple[Headline, tuple[str, ...]]]] = {}
    for h, topics in items:
        groups.setdefault(_topic_of(topics) if digest else "", []).append((h, topics))
    blocks: list[str] = []
    for topic, members in groups.items():
        head = f"🏷 <b>{escape(truncate(_one_line(topic), 64))}</b>" if digest and topic else ""
        if fmt == COMPACT:
            blocks.extend(_pack([_compact_line(h, t) for h, _ in members], head, limit))
            continue
        if head:
            blocks.append(head)
        for h, topics in members:
            rest = [t for t in topics if t != topic] if digest else list(topics)
            blocks.append(
                _block(h, topics=rest, summary_chars=summary_chars, snippet=None, t=t, tz=tz)
            )
    return blocks


def render_push(
    items: PushItems,
    *,
    more: int = 0,
    t: Translator | None = None,
    fmt: str = "full",
    digest: bool = False,
    page: int = 0,
    paged: bool = False,
    limit: int = DEFAULT_LIMIT,
    tz: str = "UTC",
) -> list[str]:
    """A push (or digest) of held headlines for one chat, in its language, time zone and format.

    `items` are every headline the message holds, in headline order; `more` counts older
    ones that were not kept. Unpaged, all of them are shown, split below the message limit.
    Paged, page `page` of push_page_size(fmt) headlines is shown in one message (summaries
    shortened until it fits), for a More button to page through the rest in place.
    """
    t = t or translator(None)
    size = push_page_size(fmt) if paged else max(len(items), 1)
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 0), pages - 1)
    shown = items[page * size : (page + 1) * size]
    total = len(items) + more
    lines: list[str] = []
    if digest:
        lines.append(
            t.ngettext(
                "🗞 <b>Your digest</b> · {n} headline",
                "🗞 <b>Your digest</b> · {n} headlines",
                total,
            ).format(n=total)
        )
    elif total > 1:
        lines.append(t._("📰 <b>New on your topics</b>"))
    if pages > 1:
        first = page * size + 1
        lines.append(
            t._("Headlines {first}–{last} of {count}").format(
                first=first, last=first + len(shown) - 1, count=len(items)
            )
        )
    header = "\n".join(lines)
    later = len(items) - page * size - len(shown)
    footer = []
    if later > 0:
        footer.append(t.ngettext("+{n} more", "+{n} more", later).format(n=later))
    if more > 0 and later <= 0:
        footer.append(
            t.ngettext(
                "{n} older headline was not kept.", "{n} older headlines were not kept.", more
            ).format(n=more)
        )
    tail = "\n".join(footer)
    if not paged:
        blocks = _push_blocks(
            shown, fmt=fmt, digest=digest, summary_chars=200, limit=limit, t=t, tz=tz
        )
        return split_messages(blocks, header=header, footer=tail, limit=limit)
    texts: list[str] = []
    for summary_chars, style in ((200, fmt), (80, fmt), (0, fmt), (0, COMPACT)):
        blocks = _push_blocks(
            shown,
            fmt=style,
            digest=digest,
            summary_chars=summary_chars,
            limit=limit,
            t=t,
            tz=tz,
        )
        texts = split_messages(blocks, header=header, footer=tail, limit=limit)
        if len(texts) <= 1:
            return texts
    return texts[:1]


def render_push_page(
    items: PushItems,
    list_id: int,
    page: int,
    *,
    more: int = 0,
    t: Translator | None = None,
    fmt: str = "full",
    digest: bool = False,
    tz: str = "UTC",
) -> tuple[str, list[tuple[str, str]]]:
    """Page `page` of a push or digest kept as More list `list_id`, and (label, callback data)
    of its paging buttons: the page a push sends first, and those its More button shows."""
    t = t or translator(None)
    pages = push_pages(len(items), fmt)
    page = min(max(page, 0), pages - 1)
    [text, *_] = render_push(
        items, more=more, t=t, fmt=fmt, digest=digest, page=page, paged=True, tz=tz
    )
    return text, more_buttons(t, list_id, page, pages)


def render_latest(
    headlines: Sequence[Headline],
    *,
    query: str | None = None,
    t: Translator | None = None,
    tz: str = "UTC",
) -> list[str]:
    """A numbered list of recent headlines, optionally on one topic, in t's language."""
    tr = t or translator(None)
    shown_query = escape(truncate(_one_line(query), 64)) if query else ""
    if not headlines:
        if shown_query:
            return [tr._("Nothing on <b>{query}</b> yet.").format(query=shown_query)]
        return [escape(tr._("No headlines yet."))]
    if shown_query:
        header = tr._("<b>Latest on {query}</b>").format(query=shown_query)
    else:
        header = tr._("<b>Latest headlines</b>")
    blocks = [
        _block(h, topics=(), summary_chars=160, snippet=None, prefix=f"{i}. ", t=t, tz=tz)
        for i, h in enumerate(headlines, start=1)
    ]
    return split_messages(blocks, header=header)


# Progressively smaller renderings until a page of results fits in one message.
_SEARCH_LEVELS = (
    (SNIPPET_CHARS, TITLE_CHARS, URL_CHARS),
    (150, 200, 1024),
    (60, 120, 300),
    (0, 80, 0),
)


def render_search(
    page: SearchPage,
    *,
    query: str,
    offset: int,
    per_page: int,
    t: Translator | None = None,
    tz: str = "UTC",
) -> str:
    """One page of search results with matches in bold; always one message."""
    tr = t or translator(None)
    shown_query = escape(truncate(_one_line(query), 64)) or escape(tr._("your search"))
    if not page.hits:
        if offset > 0 and page.total > 0:
            return tr._("No more results for <b>{query}</b>.").format(query=shown_query)
        return tr._("No results for <b>{query}</b>.").format(query=shown_query)
    first = offset + 1
    last = offset + len(page.hits)
    header = tr._("Results {first}–{last} of {total} for <b>{query}</b>").format(
        first=tr.format_number(first),
        last=tr.format_number(last),
        total=tr.format_number(max(page.total, last)),
        query=shown_query,
    )
    hits = page.hits[: max(per_page, 1)]
    blocks: list[str] = []
    for snippet_chars, title_chars, url_chars in _SEARCH_LEVELS:
        blocks = [
            _block(
                hit.headline,
                topics=(),
                summary_chars=snippet_chars,
                snippet=hit.snippet,
                title_chars=title_chars,
                url_chars=url_chars,
                prefix=f"{first + i}. ",
                t=t,
                tz=tz,
            )
            for i, hit in enumerate(hits)
        ]
        text = BLOCK_SEPARATOR.join([header, *blocks])
        if tg_len(text) <= DEFAULT_LIMIT:
            return text
    # Too many hits for one message even at the smallest size: show the ones that fit.
    return split_messages(blocks, header=header)[0]


# --- one post per headline ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Post:
    """One headline as a post: its text (a message), its caption (under its picture), the
    picture's URL and the article's link (for the text's link preview)."""

    text: str
    caption: str
    picture: str | None
    link: str | None


def post_values(
    h: Headline,
    *,
    topics: Sequence[str] = (),
    source: str = "",
    t: Translator | None = None,
    tz: str = "UTC",
) -> PostValues:
    """What fills a template for a headline; `topics` are the chat's topics it matched, as
    the chat typed them, and `source` its feed's name when the story names none."""
    t = t or translator(None)
    shown = [topic for topic in topics if topic and not topic.startswith("-")]
    sources = sources_of(h)
    return PostValues(
        title=truncate(_one_line(h.title), TITLE_CHARS) or t._("(untitled)"),
        link=safe_url(h.link),
        summary=_clean(h.summary).strip(),
        source=_one_line(", ".join(sources)) if sources else _one_line(source),
        date=_date_in(t, h.published_at, tz),
        topics=", ".join(_one_line(topic) for topic in shown),
        hashtags=" ".join(hashtags(shown)),
    )


def render_post(
    h: Headline,
    *,
    template: Template | None = None,
    topics: Sequence[str] = (),
    source: str = "",
    t: Translator | None = None,
    tz: str = "UTC",
) -> Post:
    """A headline as one post, shaped by the chat's template (else the default): as a text
    message and as a photo's caption, each cut to its limit ({summary} first)."""
    values = post_values(h, topics=topics, source=source, t=t, tz=tz)
    shape = template or templates.default_template()
    text = templates.render(shape, values, limit=TEXT_LIMIT)
    caption = templates.render(shape, values, limit=CAPTION_LIMIT)
    if not html_to_text(text).strip():  # a template of empty values only: say the title
        fallback = templates.default_template()
        text = templates.render(fallback, values, limit=TEXT_LIMIT)
        caption = templates.render(fallback, values, limit=CAPTION_LIMIT)
    return Post(text=text, caption=caption, picture=h.picture, link=values.link)


# --- back to plain text ------------------------------------------------------------------------


class _TextParser(HTMLParser):
    def __init__(self, console: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.console = console
        self.out: list[str] = []
        self.links: list[str | None] = []

    _MARKS: ClassVar[dict[str, str]] = {
        "b": "**",
        "strong": "**",
        "i": "_",
        "em": "_",
        "code": "`",
        "pre": "```",
    }

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.console:
            return
        if tag == "a":
            self.links.append(dict(attrs).get("href"))
        elif tag in self._MARKS:
            self.out.append(self._MARKS[tag])

    def handle_endtag(self, tag: str) -> None:
        if not self.console:
            return
        if tag == "a" and self.links:
            href = self.links.pop()
            if href:
                self.out.append(f" <{href}>")
        elif tag in self._MARKS:
            self.out.append(self._MARKS[tag])

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def _parse(html_text: str, *, console: bool) -> str:
    parser = _TextParser(console)
    parser.feed(html_text)
    parser.close()
    return "".join(parser.out)


def html_to_text(html_text: str) -> str:
    """The plain text Telegram would show for this HTML (tags dropped, entities decoded)."""
    return _parse(html_text, console=False)


def html_to_console(html_text: str) -> str:
    """A terminal rendering: **bold**, _italic_, `code`, links as 'text <url>'."""
    return _parse(html_text, console=True)
