"""The XML entity guard: refuses documents whose entities would expand too far.

Real feeds declare a handful of short entities; a "billion laughs" or a quadratic blow-up
declares big or nested ones. feedparser's fallback (loose) parser expands the entities it
keeps without any limit, so the bound is checked before feedparser sees the bytes. Pure.
"""

from __future__ import annotations

import math
import re
from collections import Counter

__all__ = ["MAX_ENTITY_EXPANSION", "entity_expansion"]

# Upper bound on the characters that entity references in one document may expand to.
MAX_ENTITY_EXPANSION = 1_000_000

_ENTITY_HEAD_RE = re.compile(r"<!ENTITY\s+(%\s+)?([^\s\"'>%&;]+)\s+")
_FIRST_ELEMENT_RE = re.compile(r"<\w")
_ENTITY_REF_RE = re.compile(r"[&%]([^\s&%;<>\"'#]{1,200});")
_ENTITY_MARK = "<!ENTITY"


def _entity_declarations(text: str) -> dict[str, str] | None:
    """Entity names (with their "&" or "%") mapped to their replacement text.

    External entities map to "" (they are never fetched). None means a declaration in the
    prolog could not be read, which is refused rather than guessed at. Declarations after
    the first element have no effect on either of feedparser's parsers; the scan stops at
    the first one it cannot read. Each character is looked at a bounded number of times.
    """
    first_element = _FIRST_ELEMENT_RE.search(text)
    prolog_end = first_element.start() if first_element else len(text)
    values: dict[str, str] = {}
    pos = text.find(_ENTITY_MARK)
    while pos != -1:
        head = _ENTITY_HEAD_RE.match(text, pos)
        end = -1
        value = ""
        if head is not None:
            start = head.end()
            quote = text[start : start + 1]
            if quote in ('"', "'"):
                close = text.find(quote, start + 1)
                if close != -1:
                    value = text[start + 1 : close]
                    end = close + 1
            elif text.startswith(("SYSTEM", "PUBLIC"), start):
                close = text.find(">", start)
                end = close + 1 if close != -1 else -1
        if head is None or end == -1:
            return None if pos < prolog_end else values
        prefix = "%" if head.group(1) else "&"
        values.setdefault(prefix + head.group(2), value)
        if len(values) > 10_000:
            return None
        pos = text.find(_ENTITY_MARK, end)
    return values


def entity_expansion(data: bytes) -> int:
    """An upper bound on how many characters entity references in ``data`` expand to.

    Works on the text in whatever encoding the declarations are visible in (feedparser
    re-encodes UTF-16/32 and EBCDIC documents to UTF-8 before parsing, so searching the raw
    bytes only for ASCII would miss those).
    """
    text: str | None = None
    for encoding in ("latin-1", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp037"):
        if _ENTITY_MARK.encode(encoding) in data:
            text = data.decode(encoding, errors="replace")
            break
    if text is None:
        return 0
    values = _entity_declarations(text)
    if values is None:
        return MAX_ENTITY_EXPANSION + 1
    if not values:
        return 0

    sizes: dict[str, float] = {}

    def size(name: str, stack: frozenset[str]) -> float:
        if name in sizes:
            return sizes[name]
        if name in stack or len(stack) > 32:  # a cycle expands forever; deep chains are refused
            return math.inf
        value = values[name]
        total: float = 0.0
        end = 0
        for ref in _ENTITY_REF_RE.finditer(value):
            total += ref.start() - end
            end = ref.end()
            ref_name = ref.group(0)[0] + ref.group(1)
            total += size(ref_name, stack | {name}) if ref_name in values else len(ref.group(0))
            if total > MAX_ENTITY_EXPANSION:
                break
        total += len(value) - end
        sizes[name] = total
        return total

    refs = Counter(m.group(0)[0] + m.group(1) for m in _ENTITY_REF_RE.finditer(text))
    expansion: float = 0.0
    for name, count in refs.items():
        if name in values:
            expansion += count * size(name, frozenset())
            if expansion > MAX_ENTITY_EXPANSION:
                return MAX_ENTITY_EXPANSION + 1
    return int(expansion)
