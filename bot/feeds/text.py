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


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment; block elements become spaces."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
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


def clean_text(value: str | None) -> str:
    """Plain text from HTML or text: tags stripped, entities decoded, spaces collapsed."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return collapse(value)
    text = _strip_html_once(value)
    # Publishers often escape their markup twice ("&amp;lt;b&amp;gt;"): one decoding leaves
    # literal tags behind, so strip again while tags remain.
    for _ in range(2):
        if not _TAG_RE.search(text):
            break
        text = _strip_html_once(text)
    if _TAG_RE.search(text):
        text = _TAG_RE.sub(" ", text)
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
