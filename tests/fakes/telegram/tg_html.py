"""Telegram's HTML parse mode, as the Bot API server applies it to `parse_mode=HTML`.

Pure functions over one string. Problems are worded like the text that follows
"Bad Request: can't parse entities: " in the server's answer, with byte offsets
counted in UTF-8 as the server counts them.

Two checks are stricter than the server: a bare `&` or `>` and a named entity other
than `&lt; &gt; &amp; &quot;` are reported, although Telegram would show them as
literal text. They almost always mean that feed text reached the message unescaped,
and the next feed item will then hold a `<` that does break the send.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["ParsedHtml", "check_html", "links", "parse_html", "visible_text"]

# Tags the server knows; every other start tag is "Unsupported".
SUPPORTED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_SPACE = " \t\r\n\f\v"
_ENTITY_RE = re.compile(r"&(?:#[xX]([0-9a-fA-F]*)|#([0-9]*)|([A-Za-z]*));?")
_NAME_TOKEN_RE = re.compile(r"[A-Za-z0-9.\-]*")
_TAG_NAME_END_RE = re.compile(r"[ \t\r\n\f\v>]")
_ATTR_NAME_END_RE = re.compile(r"[ \t\r\n\f\v=>]")
_PLAIN_RE = re.compile(r"[^<>&]+")


@dataclass(frozen=True, slots=True)
class ParsedHtml:
    """The outcome of parsing: visible text, links and problems (empty when valid)."""

    text: str
    links: tuple[tuple[str, str], ...]
    problems: tuple[str, ...]


class _ParseError(Exception):
    pass


def _byte_offset(html: str, index: int) -> int:
    return len(html[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(html: str, i: int, problems: list[str]) -> tuple[str, int]:
    """Decode the entity at html[i] == '&'; return (text, next index)."""
    m = _ENTITY_RE.match(html, i)
    assert m is not None  # the pattern matches any "&"
    hex_digits, dec_digits, name = m.group(1), m.group(2), m.group(3)
    raw = m.group(0)
    if hex_digits is not None or dec_digits is not None:
        digits = hex_digits if hex_digits is not None else dec_digits
        base = 16 if hex_digits is not None else 10
        value = int(digits, base) if digits else 0
        if 0 < value < 0x10FFFF and len(raw.rstrip(";")) < 10:
            return chr(value), m.end()
        problems.append(f'Invalid numeric entity "{raw}" at byte offset {_byte_offset(html, i)}')
        return raw, m.end()
    if name and name in NAMED_ENTITIES:
        return NAMED_ENTITIES[name], m.end()
    if name:
        problems.append(
            f'Unsupported named entity "{raw}" at byte offset {_byte_offset(html, i)}; '
            "only &lt; &gt; &amp; &quot; are known"
        )
        return raw, m.end()
    problems.append(f'Unescaped "&" at byte offset {_byte_offset(html, i)}')
    return "&", i + 1


def _skip_spaces(html: str, i: int) -> int:
    n = len(html)
    while i < n and html[i] in _SPACE:
        i += 1
    return i


def _parse_start_tag(html: str, begin: int) -> tuple[str, dict[str, str], int]:
    """Parse `<name attr=...>` starting at html[begin] == '<'; return (name, attrs, end)."""
    n = len(html)
    at = _byte_offset(html, begin)
    m = _TAG_NAME_END_RE.search(html, begin + 1)
    if m is None:
        raise _ParseError(f"Unclosed start tag at byte offset {at}")
    name = html[begin + 1 : m.start()].lower()
    if name not in SUPPORTED_TAGS:
        raise _ParseError(f'Unsupported start tag "{name}" at byte offset {at}')
    i = m.start()
    attrs: dict[str, str] = {}
    while True:
        i = _skip_spaces(html, i)
        if i >= n:
            raise _ParseError(f"Unclosed start tag at byte offset {at}")
        if html[i] == ">":
            return name, attrs, i + 1
        am = _ATTR_NAME_END_RE.search(html, i)
        if am is None:
            raise _ParseError(f"Unclosed start tag at byte offset {at}")
        attr = html[i : am.start()].lower()
        if not attr:
            raise _ParseError(f'Empty attribute name in the tag "{name}" at byte offset {at}')
        i = _skip_spaces(html, am.start())
        if i >= n:
            raise _ParseError(f"Unclosed start tag at byte offset {at}")
        if html[i] != "=":
            if name == "blockquote" and attr == "expandable":
                attrs[attr] = ""
                continue
            raise _ParseError(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{name}" at byte offset {at}'
            )
        i = _skip_spaces(html, i + 1)
        if i >= n:
            raise _ParseError(f"Unclosed start tag at byte offset {at}")
        quote = html[i]
        if quote in "\"'":
            j = i + 1
            value: list[str] = []
            while j < n and html[j] != quote:
                if html[j] == "&":
                    decoded, j = _decode_entity(html, j, [])
                    value.append(decoded)
                else:
                    value.append(html[j])
                    j += 1
            if j >= n:
                raise _ParseError(f"Unclosed start tag at byte offset {at}")
            attrs[attr] = "".join(value)
            i = j + 1
        else:
            tm = _NAME_TOKEN_RE.match(html, i)
            assert tm is not None
            j = tm.end()
            if j >= n:
                raise _ParseError(f"Unclosed start tag at byte offset {at}")
            if html[j] not in _SPACE and html[j] != ">":
                raise _ParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(html, i)}"
                )
            attrs[attr] = html[i:j].lower()
            i = j


def _check_tag_attributes(name: str, attrs: dict[str, str], at: int) -> None:
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
    if name == "tg-emoji":
        emoji_id = attrs.get("emoji-id", "")
        if not emoji_id.isdigit() or int(emoji_id) == 0:
            raise _ParseError("Invalid custom emoji identifier specified")


@functools.lru_cache(maxsize=4096)
def parse_html(html: str) -> ParsedHtml:
    """Parse Telegram HTML; problems hold the server's complaint (plus strict extras)."""
    out: list[str] = []
    found_links: list[tuple[str, str]] = []
    problems: list[str] = []
    # (tag name, href or None, index in `out` where the tag's text starts)
    stack: list[tuple[str, str | None, int]] = []
    n = len(html)
    i = 0
    try:
        while i < n:
            m = _PLAIN_RE.match(html, i)
            if m is not None:
                out.append(m.group(0))
                i = m.end()
                continue
            c = html[i]
            if c == "&":
                decoded, i = _decode_entity(html, i, problems)
                out.append(decoded)
                continue
            if c == ">":
                problems.append(f'Unescaped ">" at byte offset {_byte_offset(html, i)}')
                out.append(">")
                i += 1
                continue
            # c == "<"
            begin = i
            at = _byte_offset(html, begin)
            if i + 1 < n and html[i + 1] == "/":
                j = i + 2
                while j < n and html[j] not in _SPACE and html[j] != ">":
                    j += 1
                end_name = html[i + 2 : j].lower()
                j = _skip_spaces(html, j)
                if j >= n or html[j] != ">":
                    raise _ParseError(f"Unclosed end tag at byte offset {at}")
                if not stack:
                    raise _ParseError(f"Unexpected end tag at byte offset {at}")
                open_name, href, start = stack[-1]
                if end_name and end_name != open_name:
                    raise _ParseError(
                        f'Unmatched end tag at byte offset {at}, expected "</{open_name}>", '
                        f'found "</{end_name}>"'
                    )
                stack.pop()
                if open_name == "a":
                    inner = "".join(out[start:])
                    found_links.append((href if href else inner, inner))
                i = j + 1
                continue
            name, attrs, i = _parse_start_tag(html, begin)
            _check_tag_attributes(name, attrs, at)
            stack.append((name, attrs.get("href") if name == "a" else None, len(out)))
        if stack:
            raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    except _ParseError as exc:
        problems.insert(0, str(exc))
    return ParsedHtml("".join(out), tuple(found_links), tuple(problems))


def check_html(html: str) -> list[str]:
    """Problems Telegram's HTML parser would raise (empty list when the markup is fine)."""
    return list(parse_html(html).problems)


def visible_text(html: str) -> str:
    """The message text after entity parsing: tags dropped, entities decoded."""
    return parse_html(html).text


def links(html: str) -> list[tuple[str, str]]:
    """Every `<a>` as (href, visible text); a missing href means the text is the URL."""
    return list(parse_html(html).links)
