"""Feed text made plain: HTML stripped, entities decoded, spaces folded, cut on a word.

Pure functions, shared by parsing (titles, summaries, categories) and fetching (short
error reasons).
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

__all__ = ["MAX_TITLE_CHARS", "clean_text", "collapse", "first_sentence", "truncate"]

MAX_TITLE_CHARS = 120  # a title made from a summary's first sentence

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
_TAG_RE = re.compile(r"<[a-zA-Z/][^>]*>")
# The elements of HTML (and a few of SVG/MathML that feeds embed). A tag of any other name,
# such as "<tag>" in "the &lt;tag&gt; element", is text, not markup.
_HTML_ELEMENTS = frozenset(
    {
        "a", "abbr", "acronym", "address", "area", "article", "aside", "audio", "b", "base",
        "bdi", "bdo", "big", "blink", "blockquote", "body", "br", "button", "canvas",
        "caption", "center", "cite", "code", "col", "colgroup", "data", "datalist", "dd",
        "del", "details", "dfn", "dialog", "dir", "div", "dl", "dt", "em", "embed",
        "fieldset", "figcaption", "figure", "font", "footer", "form", "frame", "frameset",
        "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr", "html", "i",
        "iframe", "img", "input", "ins", "kbd", "label", "legend", "li", "link", "main",
        "map", "mark", "marquee", "math", "menu", "meta", "meter", "nav", "nobr", "noscript",
        "object", "ol", "optgroup", "option", "output", "p", "param", "picture", "pre",
        "progress", "q", "rp", "rt", "ruby", "s", "samp", "script", "section", "select",
        "small", "source", "span", "strike", "strong", "style", "sub", "summary", "sup",
        "svg", "table", "tbody", "td", "template", "textarea", "tfoot", "th", "thead",
        "time", "title", "tr", "track", "tt", "u", "ul", "var", "video", "wbr",
    }
)  # fmt: skip
_VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
# A tag as text shows it once an escaped one is decoded: "<b>", "</b>", "<a href=...>".
_ESCAPED_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)(\s[^<>]*)?/?>")


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment; block elements become spaces."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def _as_text(self, tag: str) -> bool:
        """A tag that is no HTML element ("<tag>") is text; namespaced ones (o:p) are not."""
        if tag in _HTML_ELEMENTS or ":" in tag:
            return False
        if not self._skip_depth:
            self.parts.append(self.get_starttag_text() or "")
        return True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._as_text(tag):
            return
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._as_text(tag):
            return
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag not in _HTML_ELEMENTS and ":" not in tag:
            if not self._skip_depth:
                self.parts.append(f"</{tag}>")
            return
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def _strip_html_once(text: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(text)
    extractor.close()
    return "".join(extractor.parts)


def collapse(text: str) -> str:
    """Whitespace runs folded to one space, control characters dropped."""
    # Control characters (a stray 0x08 in a title) would break Telegram messages; drop them
    # along with the whitespace runs that str.split() folds (including NBSP).
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(text.split())


def _escaped_markup(text: str) -> list[re.Match[str]]:
    """The tags in decoded text that are markup escaped once too often, not text.

    "<b>x</b>", "<br>", "<a href=...>" and "<script>...</script>" are markup; "<tag>", or a
    lone "<video>" in "the &lt;video&gt; element", is text that names a tag.
    """
    found = [m for m in _ESCAPED_TAG_RE.finditer(text) if m.group(2).lower() in _HTML_ELEMENTS]
    opened = {m.group(2).lower() for m in found if not m.group(1)}
    closed = {m.group(2).lower() for m in found if m.group(1)}
    return [
        m
        for m in found
        if m.group(2).lower() in _VOID_ELEMENTS
        or (m.group(3) or "").strip()
        or (m.group(2).lower() in opened and m.group(2).lower() in closed)
    ]


def _strip_escaped_markup(text: str) -> str:
    """One more pass over decoded text: its markup stripped, any other "<tag>" kept."""
    markup = {m.start() for m in _escaped_markup(text)}
    # "<" of a tag that is text is escaped again, so the HTML pass gives it back as it is
    protected = _TAG_RE.sub(
        lambda m: m.group(0) if m.start() in markup else "&lt;" + m.group(0)[1:], text
    )
    return _strip_html_once(protected)


def clean_text(value: str | None, *, plain: bool = False) -> str:
    """Plain text from HTML or text: tags stripped, entities decoded, spaces collapsed.

    Only markup goes: a "<tag>" that is no HTML element, or an escaped "&lt;tag&gt;" that
    does not form markup once decoded, is text and stays "<tag>". With `plain`, the value
    is text already (an Atom type="text" summary): only markup escaped into it is stripped.
    """
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return collapse(value)
    text = value if plain else _strip_html_once(value)
    # Publishers often escape their markup twice ("&amp;lt;b&amp;gt;"): one decoding leaves
    # literal tags behind, so strip again while markup remains.
    for _ in range(3):
        if not _escaped_markup(text):
            break
        text = _strip_escaped_markup(text)
    return collapse(text)


def truncate(text: str, limit: int) -> str:
    """Cut to at most ``limit`` characters on a word boundary, marking the cut with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


# A sentence ends at . ! ? or … (optionally closed by a quote or bracket) followed by space
# and an upper-case letter, digit or opening quote.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+(?=[A-Z0-9\"“‘'(¿¡À-Ý])")
_ABBREVIATION = re.compile(
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Gen|Sen|Rep|Gov|Col|Lt|Mt|No|vs|etc|Inc|"
    r"Ltd|Co|Corp|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|approx|e\.g|i\.e))\.$"
)


def first_sentence(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    """The first sentence of plain text, cut to ``limit`` characters on a word boundary."""
    for match in _SENTENCE_END.finditer(text):
        head = text[: match.start() + 1]
        if _ABBREVIATION.search(head):
            continue
        text = text[: match.end()].rstrip()
        break
    return truncate(text, limit)


# The head of a declaration: "<!ENTITY", an optional "%", the name and the space after it.
# No part can run into the next, so matching is linear.
