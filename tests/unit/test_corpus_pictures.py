"""Pictures in the shared feed corpus: which feeds carry them, and for how many of their items
the parser finds one.

The corpus (feeds other projects publish as parser test data) lives beside the repository in
../shared/corpus/feeds; the test skips when it is absent. An item carries a picture, as this
test reads feedparser's own output on its own, when it has a media:content that is an image
(medium, type or extension), a media:thumbnail, an image enclosure, or an <img> in its content
or summary that is not a 1x1 tracking pixel. The parser must find a picture for every such
item it keeps, as an absolute http(s) URL, and for no other.
"""

from __future__ import annotations

import csv
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.feeds import feedparser_result, normalise

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "feeds"
IMAGE_PATH = re.compile(r"\.(jpe?g|jpe|png|gif|webp|bmp|avif)$", re.IGNORECASE)
IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
SRC = re.compile(r"\bsrc\s*=", re.IGNORECASE)
PIXEL = re.compile(r"\b(width|height)\s*=\s*[\"']?[01][\"'\s/>]", re.IGNORECASE)

pytestmark = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"feed corpus not found at {CORPUS}"
)


def carries_picture(entry: Any) -> bool:
    """Whether a feedparser entry holds a picture in one of the forms the parser reads."""
    for media in entry.get("media_content") or ():
        kind = str(media.get("type") or "")
        path = urllib.parse.urlsplit(str(media.get("url") or "")).path
        if media.get("medium") == "image" or kind.startswith("image/"):
            return True
        if not media.get("medium") and not kind and IMAGE_PATH.search(path):
            return True
    if any(t.get("url") for t in entry.get("media_thumbnail") or ()):
        return True
    if any(str(e.get("type") or "").startswith("image/") for e in entry.get("enclosures") or ()):
        return True
    texts = [c.get("value") or "" for c in entry.get("content") or ()]
    texts.append(entry.get("summary") or "")
    tags = [tag for text in texts for tag in IMG_TAG.findall(text)]
    return any(SRC.search(tag) and not PIXEL.search(tag) for tag in tags)


@dataclass(frozen=True)
class Pictures:
    path: str
    raw: int  # entries feedparser found
    carrying: int  # of those, entries that carry a picture
    kept: int  # entries the parser kept
    found: int  # kept entries the parser found a picture for
    bad: tuple[str, ...]  # pictures that are no absolute http(s) URL


def pictures_of(path: str) -> Pictures:
    data = (CORPUS / path).read_bytes()
    url = f"http://127.0.0.1:8000/{path}"
    result = feedparser_result(data, url=url)
    parsed = normalise(result, url=url, fetched_at=1_800_000_000.0)
    pictures = [e.picture for e in parsed.entries if e.picture]
    bad = tuple(p for p in pictures if urllib.parse.urlsplit(p).scheme not in ("http", "https"))
    return Pictures(
        path=path,
        raw=len(result.entries),
        carrying=sum(1 for e in result.entries if carries_picture(e)),
        kept=len(parsed.entries),
        found=len(pictures),
        bad=bad,
    )


def test_the_parser_finds_the_picture_of_every_item_that_carries_one() -> None:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        paths = [row["path"] for row in csv.DictReader(fh, delimiter="\t")]
    reports = [pictures_of(path) for path in paths]
    with_pictures = [r for r in reports if r.carrying]
    items = sum(r.kept for r in with_pictures)
    carrying = sum(r.carrying for r in with_pictures)
    found = sum(r.found for r in reports)
    print(
        f"\n{len(with_pictures)} of {len(reports)} feeds carry pictures; of their {items} items,"
        f" {carrying} carry one and the parser finds {found}"
    )
    assert [r.path for r in reports if r.bad] == []
    assert [r.path for r in reports if r.found > r.carrying] == [], "a picture from nowhere"
    # where the parser kept every entry, it found every picture
    missed = [r for r in reports if r.kept == r.raw and r.found != r.carrying]
    assert missed == []
    # the others only leave out entries with nothing to show (see test_corpus.py)
    assert found >= carrying - sum(r.raw - r.kept for r in with_pictures)
    assert len(with_pictures) >= 50 and found >= 500  # the corpus's own figures, give or take
