"""OPML 2.0: the feed lists feed readers import and export. Pure: bytes in, bytes out.

Reading takes every ``<outline>`` with an ``xmlUrl``, at any depth (folders are flattened),
after the XML entity guard (bot/feeds/entities.py) has refused documents whose entities
would expand too far; a DOCTYPE that declares entities is refused outright, since feeds
lists never need one. Writing gives one flat list of ``type="rss"`` outlines.
"""

from __future__ import annotations

import email.utils
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from bot.feeds.entities import MAX_ENTITY_EXPANSION, entity_expansion
from bot.feeds.failures import FeedFailure, Reason

__all__ = ["MAX_OPML_BYTES", "MAX_OPML_FEEDS", "OpmlError", "OpmlFeed", "read_opml", "write_opml"]

MAX_OPML_BYTES = 2 * 1024 * 1024
MAX_OPML_FEEDS = 1000
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


class OpmlError(ValueError):
    """The document is not an OPML list of feeds; ``failure`` says why (its message too)."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.failure = FeedFailure(reason, detail)
        super().__init__(self.failure.text)


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed of an OPML list: its URL and the title the list gives it (if any)."""

    url: str
    title: str | None = None
    html_url: str | None = None


def _attr(element: ET.Element, name: str) -> str | None:
    # OPML in the wild spells attributes in any case (xmlurl, XMLURL)
    for key, value in element.attrib.items():
        if key.lower() == name.lower():
            value = " ".join(value.split())
            return value or None
    return None


def read_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds an OPML document lists, each URL once, in document order."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(Reason.OPML_TOO_LARGE, str(MAX_OPML_BYTES // (1024 * 1024)))
    if _ENTITY_DECLARATION.search(data) or entity_expansion(data) > MAX_ENTITY_EXPANSION:
        raise OpmlError(Reason.OPML_ENTITIES)
    try:
        root = ET.fromstring(data)  # noqa: S314 (entities refused above; expat fetches nothing)
    except ET.ParseError as exc:
        raise OpmlError(Reason.NOT_XML, str(exc)) from None
    if root.tag.lower() != "opml":
        raise OpmlError(Reason.NOT_OPML, f"<{root.tag[:40]}>")
    body = next((child for child in root if child.tag.lower() == "body"), None)
    if body is None:
        raise OpmlError(Reason.OPML_NO_BODY)
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for outline in body.iter():
        if outline.tag.lower() != "outline":
            continue
        url = _attr(outline, "xmlUrl")
        if url is None or url in seen:
            continue
        seen.add(url)
        title = _attr(outline, "title") or _attr(outline, "text")
        feeds.append(OpmlFeed(url=url, title=title, html_url=_attr(outline, "htmlUrl")))
        if len(feeds) > MAX_OPML_FEEDS:
            raise OpmlError(Reason.TOO_MANY_FEEDS, str(MAX_OPML_FEEDS))
    return feeds


def write_opml(feeds: Sequence[OpmlFeed], *, title: str, created: float) -> bytes:
    """An OPML 2.0 document listing the feeds (UTF-8, with its XML declaration)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = email.utils.formatdate(created, usegmt=True)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        name = feed.title or feed.url
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": feed.url}
        if feed.html_url:
            attrs["htmlUrl"] = feed.html_url
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
