"""A chat's own post template: parsed and checked once, filled for each headline (pure).

A template is Telegram HTML with placeholders: `{title}`, `{link}`, `{summary}`, `{source}`,
`{date}`, `{topics}`, `{hashtags}`; `{{` and `}}` are literal braces. The tags allowed are
`b`, `i`, `u`, `s` (and their other names `strong`, `em`, `ins`, `strike`, `del`), `code`,
`pre`, `blockquote` (optionally `expandable`) and `a href` with `{link}` or an http(s) URL.

`parse()` reads a template into parts or raises TemplateError with the reason. `render()`
fills the parts with escaped values and cuts `{summary}` first (on a word), then the topic
and source values, until the post fits a limit counted as Telegram counts it: the text shown
once entities are parsed, in UTF-16 code units. A line left empty by empty values is left
out. `hashtags()` turns the topics a headline matched, as the chat typed them, into tags.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from bot.text.i18n import N_, Translator, translator

__all__ = [
    "CAPTION_LIMIT",
    "DEFAULT_TEMPLATE",
    "MAX_TEMPLATE_CHARS",
    "PLACEHOLDERS",
    "PLACEHOLDER_HELP",
    "TEXT_LIMIT",
    "PostValues",
    "Template",
    "TemplateError",
    "default_template",
    "hashtag",
    "hashtags",
    "parse",
    "render",
    "tg_len",
    "visible_text",
]

MAX_TEMPLATE_CHARS = 1000  # of a template as typed
CAPTION_LIMIT = 1024  # a photo's caption, as Telegram counts it
TEXT_LIMIT = 4096  # a text message
PLACEHOLDERS = ("title", "link", "summary", "source", "date", "topics", "hashtags")
# What each placeholder holds, for /template's help (message ids).
PLACEHOLDER_HELP: dict[str, str] = {
    "title": N_("the headline"),
    "link": N_("the article's address"),
    "summary": N_("its summary (cut first when a post is too long)"),
    "source": N_("the feed it comes from"),
    "date": N_("its date, in the chat's language and time zone"),
    "topics": N_("the chat's topics it matched, as typed"),
    "hashtags": N_("a hashtag for each topic it matched: #Bolivia #SouthAfrica"),
}
DEFAULT_TEMPLATE = (
    '<b><a href="{link}">{title}</a></b>\n{summary}\n\n<i>{date}</i> · {source}\n{hashtags}'
)

# Telegram's names for each tag, by the name kept.
_TAGS = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "a",
}
_NO_INNER_TAGS = ("code", "pre")  # Telegram takes no other entity inside these
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
_ATTR = re.compile(r"""\s*([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_PLACEHOLDER = re.compile(r"\{([^{}\s]{0,40})\}")
# Letters (accents kept) and digits: what a hashtag is made of.
_TAG_WORD = re.compile(r"[^\W_]+")
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_QUOTES = '"\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\uff02'
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class TemplateError(ValueError):
    """Why a template was refused: a message id and what it names."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.message = message
        self.params = params

    def describe(self, t: Translator | None = None) -> str:
        """The reason in t's language (plain text: escape it for HTML)."""
        t = t or translator(None)
        return t._(self.message).format(**{k: str(v) for k, v in self.params.items()})


# --- parts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    text: str  # as shown: entities decoded


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


@dataclass(frozen=True, slots=True)
class _Open:
    tag: str
    href: str | None = None  # a literal URL; None with link_field
    link_field: bool = False  # <a href="{link}">
    expandable: bool = False  # <blockquote expandable>


@dataclass(frozen=True, slots=True)
class _Close:
    tag: str


_Part = _Text | _Field | _Open | _Close


@dataclass(frozen=True, slots=True)
class Template:
    """A checked template: its text as typed and its lines of parts."""

    source: str
    lines: tuple[tuple[_Part, ...], ...]

    @property
    def fields(self) -> frozenset[str]:
        """The placeholders it uses ({link} in a link's address too)."""
        parts = [p for line in self.lines for p in line]
        names = {p.name for p in parts if isinstance(p, _Field)}
        if any(isinstance(p, _Open) and p.link_field for p in parts):
            names.add("link")
        return frozenset(names)


@dataclass(frozen=True, slots=True)
class PostValues:
    """What fills a template for one headline (plain text; escaped when filled)."""

    title: str
    link: str | None
    summary: str = ""
    source: str = ""
    date: str = ""
    topics: str = ""
    hashtags: str = ""

    def get(self, name: str) -> str:
        """The value of a placeholder."""
        value = getattr(self, name)
        return "" if value is None else str(value)


# --- parsing -------------------------------------------------------------------------------


def _decode(text: str) -> str:
    """Literal template text as shown: the entities Telegram knows decoded, the rest kept."""
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)


def _safe_href(url: str) -> str | None:
    url = url.strip()
    if not url or len(url) > 2048 or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _open_tag(name: str, attrs_text: str, stack: list[str]) -> _Open:
    tag = _TAGS.get(name.lower())
    if tag is None:
        raise TemplateError(
            N_("Unsupported tag <{tag}>: use b, i, u, s, code, pre, blockquote or a href."),
            tag=name.lower(),
        )
    if any(inner in stack for inner in _NO_INNER_TAGS):
        raise TemplateError(N_("No tag may stand inside <code> or <pre>: <{tag}> does."), tag=tag)
    if tag in stack:
        raise TemplateError(N_("<{tag}> stands inside another <{tag}>."), tag=tag)
    attrs: dict[str, str | None] = {}
    rest = attrs_text
    while rest.strip():
        m = _ATTR.match(rest)
        if m is None or not m.group(0).strip():
            raise TemplateError(N_("The attributes of <{tag}> cannot be read."), tag=tag)
        value = next((v for v in m.group(2, 3, 4) if v is not None), None)
        attrs[m.group(1).lower()] = value
        rest = rest[m.end() :]
    if tag == "a":
        if set(attrs) != {"href"} or attrs["href"] is None:
            raise TemplateError(
                N_('A link is written <a href="{link}">, or with an http or https address.'),
                link="{link}",
            )
        href = _decode(attrs["href"]).strip()
        if href == "{link}":
            return _Open("a", link_field=True)
        safe = _safe_href(href)
        if safe is None:
            raise TemplateError(
                N_("A link's address must be {link} or an http or https address, not “{href}”."),
                link="{link}",
                href=href[:80],
            )
        return _Open("a", href=safe)
    if tag == "blockquote" and set(attrs) <= {"expandable"}:
        return _Open(tag, expandable="expandable" in attrs)
    if attrs:
        raise TemplateError(N_("<{tag}> takes no attributes."), tag=tag)
    return _Open(tag)


def _text_parts(text: str) -> list[_Part]:
    """Literal text with its placeholders and doubled braces."""
    parts: list[_Part] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "{}" and text.startswith(c * 2, i):
            literal.append(c)
            i += 2
            continue
        if c == "{":
            m = _PLACEHOLDER.match(text, i)
            if m is None:
                raise TemplateError(
                    N_("A “{brace}” opens no placeholder: write {braces} for a brace."),
                    brace="{",
                    braces="{{",
                )
            name = m.group(1)
            if name not in PLACEHOLDERS:
                raise TemplateError(
                    N_("Unknown placeholder {name}: use {known}."),
                    name="{" + name + "}",
                    known=", ".join("{" + p + "}" for p in PLACEHOLDERS),
                )
            if literal:
                parts.append(_Text(_decode("".join(literal))))
                literal = []
            parts.append(_Field(name))
            i = m.end()
            continue
        if c == "}":
            raise TemplateError(
                N_("A “{brace}” closes no placeholder: write {braces} for a brace."),
                brace="}",
                braces="}}",
            )
        literal.append(c)
        i += 1
    if literal:
        parts.append(_Text(_decode("".join(literal))))
    return parts


def parse(source: str) -> Template:
    """Read and check a template; TemplateError says why one is refused."""
    text = source.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise TemplateError(N_("The template is empty."))
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateError(
            N_("The template is {n} characters long: keep it to {limit} or fewer."),
            n=len(text),
            limit=MAX_TEMPLATE_CHARS,
        )
    parts: list[_Part] = []
    stack: list[str] = []
    pos = 0
    for m in _TAG.finditer(text):
        parts += _text_parts(text[pos : m.start()])
        pos = m.end()
        closing, name, attrs = m.group(1), m.group(2), m.group(3)
        if closing:
            tag = _TAGS.get(name.lower())
            if tag is None:
                raise TemplateError(
                    N_("Unsupported tag <{tag}>: use b, i, u, s, code, pre, blockquote or a href."),
                    tag=name.lower(),
                )
            if not stack:
                raise TemplateError(N_("</{tag}> closes no tag."), tag=tag)
            if stack[-1] != tag:
                raise TemplateError(
                    N_("</{found}> closes <{expected}>: close the inner tag first."),
                    found=tag,
                    expected=stack[-1],
                )
            stack.pop()
            parts.append(_Close(tag))
        else:
            opened = _open_tag(name, attrs, stack)
            stack.append(opened.tag)
            parts.append(opened)
    parts += _text_parts(text[pos:])
    if stack:
        raise TemplateError(N_("<{tag}> is never closed."), tag=stack[-1])
    return Template(text, _lines(parts))


def _lines(parts: Sequence[_Part]) -> tuple[tuple[_Part, ...], ...]:
    lines: list[list[_Part]] = [[]]
    for part in parts:
        if isinstance(part, _Text) and "\n" in part.text:
            pieces = part.text.split("\n")
            for k, piece in enumerate(pieces):
                if k:
                    lines.append([])
                if piece:
                    lines[-1].append(_Text(piece))
        else:
            lines[-1].append(part)
    return tuple(tuple(line) for line in lines)


def default_template() -> Template:
    """The template a chat has until it sets its own."""
    return parse(DEFAULT_TEMPLATE)


# --- rendering -----------------------------------------------------------------------------


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _clean(value: str) -> str:
    return _UNSAFE.sub("", value)


def _escape(text: str) -> str:
    return html.escape(_clean(text), quote=False)


def _balanced(line: Sequence[_Part]) -> bool:
    depth = 0
    for part in line:
        if isinstance(part, _Open):
            depth += 1
        elif isinstance(part, _Close):
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _fill(template: Template, values: PostValues) -> tuple[str, str]:
    """The post as HTML and as Telegram shows it (entities parsed)."""
    out_html: list[str] = []
    out_text: list[str] = []
    link = _safe_href(values.link or "")
    # the tags open, each with whether it was left out: an <a href="{link}"> without a link
    # keeps its text and loses the tag
    stack: list[bool] = []
    kept_lines = 0
    for line in template.lines:
        fields = [p.name for p in line if isinstance(p, _Field)]
        if fields and all(not _value(values, name, link).strip() for name in fields):
            literal = "".join(p.text for p in line if isinstance(p, _Text))
            if not literal.strip() and _balanced(line):
                continue  # a line that only held empty values
        if kept_lines:
            out_html.append("\n")
            out_text.append("\n")
        kept_lines += 1
        for part in line:
            if isinstance(part, _Text):
                out_html.append(_escape(part.text))
                out_text.append(_clean(part.text))
            elif isinstance(part, _Field):
                value = _clean(_value(values, part.name, link))
                out_html.append(html.escape(value, quote=False))
                out_text.append(value)
            elif isinstance(part, _Open):
                left_out = part.tag == "a" and part.link_field and link is None
                stack.append(left_out)
                if left_out:
                    continue
                if part.tag == "a":
                    href = link if part.link_field else part.href
                    out_html.append(f'<a href="{html.escape(href or "", quote=True)}">')
                elif part.expandable:
                    out_html.append("<blockquote expandable>")
                else:
                    out_html.append(f"<{part.tag}>")
            elif not stack.pop():
                out_html.append(f"</{part.tag}>")
    # blank lines left by values empty in the middle of a line group fold to one
    rendered = re.sub(r"\n{3,}", "\n\n", "".join(out_html)).strip()
    shown = re.sub(r"\n{3,}", "\n\n", "".join(out_text)).strip()
    return rendered, shown


def _value(values: PostValues, name: str, link: str | None) -> str:
    return (link or "") if name == "link" else values.get(name)


def visible_text(template: Template, values: PostValues) -> str:
    """The post as Telegram shows it."""
    return _fill(template, values)[1]


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut on a word boundary and ending with '…'."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ""
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" \n\t,;:-–—") + "…"


def _fits(template: Template, values: PostValues, limit: int) -> str | None:
    rendered, shown = _fill(template, values)
    return rendered if tg_len(shown) <= limit else None


def _shrink(
    template: Template, values: PostValues, name: str, limit: int
) -> tuple[PostValues, str | None]:
    """Cut one value (on a word) to the longest that lets the post fit, or to nothing."""
    full = values.get(name)
    emptied = replace(values, **{name: ""})
    if _fits(template, emptied, limit) is None:
        return emptied, None
    low, high = 0, len(full)  # low always fits
    while low < high:
        mid = (low + high + 1) // 2
        if _fits(template, replace(values, **{name: _cut(full, mid)}), limit) is not None:
            low = mid
        else:
            high = mid - 1
    fitted = replace(values, **{name: _cut(full, low)})
    return fitted, _fits(template, fitted, limit)


def render(template: Template, values: PostValues, *, limit: int = TEXT_LIMIT) -> str:
    """The post for one headline as Telegram HTML, within `limit` as Telegram counts it.

    When it is longer, `{summary}` is cut first, on a word; then the hashtags, topics and
    source; the title and link stay whole unless nothing else is left to cut.
    """
    fitted = _fits(template, values, limit)
    if fitted is not None:
        return fitted
    current = values
    for name in ("summary", "hashtags", "topics", "source", "date", "title"):
        current, fitted = _shrink(template, current, name, limit)
        if fitted is not None:
            return fitted
    # the template's own text is over the limit (it never is for a template parse() took)
    rendered, _ = _fill(template, current)
    return rendered


# --- hashtags ------------------------------------------------------------------------------


def _tag_tokens(display: str) -> Iterable[str]:
    """The words a topic follows, as typed: not its exclusions, `from:` handles or `*`."""
    text = display.strip()
    if not text or text == "*" or text[0] in _DASHES:  # everything, or a mute
        return
    excluded = False
    for token in re.findall(rf"[{_QUOTES}][^{_QUOTES}]*[{_QUOTES}]?|\S+", text):
        bare = token.lstrip(_DASHES)
        if bare.lower().startswith("from:"):
            continue
        pieces = token.split("+") if token[0] not in _QUOTES else [token]
        for k, piece in enumerate(pieces):
            if k:
                excluded = False  # a `+` starts a part of its own
            if not piece:
                continue
            if piece[0] in _DASHES:
                if len(piece) == 1:
                    continue  # a dash standing alone is punctuation
                excluded = True
                piece = piece[1:]
            if not excluded:
                yield piece


def hashtag(display: str) -> str | None:
    """A topic as typed, as one hashtag: its words capitalised and joined, letters (accents
    kept) and digits only: `south africa` -> `#SouthAfrica`. None for `*`, a `from:`
    topic, a mute, or a tag of digits only."""
    words: list[str] = []
    for token in _tag_tokens(unicodedata.normalize("NFC", display)):
        for word in _TAG_WORD.findall(token):
            words.append(word[0].upper() + word[1:])
    tag = "".join(words)
    if not tag or tag.isdigit():
        return None
    return "#" + tag


def hashtags(displays: Iterable[str]) -> list[str]:
    """One hashtag for each topic (as typed), each once, in order."""
    seen: set[str] = set()
    tags: list[str] = []
    for display in displays:
        tag = hashtag(display)
        if tag is not None and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags
