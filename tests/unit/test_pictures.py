"""The parser keeps each item's picture: the first found of a media:content or media:group
image, a media:thumbnail, an image enclosure, the first <img> of its content or summary; as an
absolute http(s) URL, a relative one resolved against the item's link."""

from __future__ import annotations

import pytest

from bot.feeds import parse_feed

FEED_URL = "https://feeds.example/rss"
MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'
CONTENT = 'xmlns:content="http://purl.org/rss/1.0/modules/content/"'


def rss_item(inner: str, *, link: str = "https://news.example/story/1/") -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0" {MEDIA} {CONTENT}><channel><title>t</title>'
        f"<item><title>A story</title><link>{link}</link><guid>g1</guid>{inner}</item>"
        "</channel></rss>"
    ).encode()


def picture(document: bytes) -> str | None:
    [entry] = parse_feed(document, url=FEED_URL, fetched_at=1_800_000_000.0).entries
    return entry.picture


@pytest.mark.parametrize(
    ("inner", "found"),
    [
        ('<media:content url="https://img.example/a.jpg" medium="image"/>', "a.jpg"),
        ('<media:content url="https://img.example/a" type="image/png"/>', "a"),
        ('<media:content url="https://img.example/a.webp"/>', "a.webp"),
        ('<media:content url="https://img.example/a.mp4" type="video/mp4"/>', None),
        ('<media:content url="https://img.example/a.mp3"/>', None),
        (
            '<media:group><media:content url="https://img.example/v.mp4" medium="video"/>'
            '<media:content url="https://img.example/g.jpg" type="image/jpeg"/></media:group>',
            "g.jpg",
        ),
        ('<media:thumbnail url="https://img.example/t.png"/>', "t.png"),
        ('<enclosure url="https://img.example/e.gif" type="image/gif" length="9"/>', "e.gif"),
        ('<enclosure url="https://img.example/e.mp3" type="audio/mpeg" length="9"/>', None),
        (
            '<content:encoded><![CDATA[<p>x <img src="https://img.example/c.png"></p>]]>'
            "</content:encoded>",
            "c.png",
        ),
        ('<description>&lt;img src="https://img.example/s.jpg"&gt; text</description>', "s.jpg"),
        ("<description>no picture here</description>", None),
    ],
)
def test_each_form_of_picture(inner: str, found: str | None) -> None:
    got = picture(rss_item(inner))
    if found is None:
        assert got is None
    else:
        assert got == f"https://img.example/{found}"


def test_the_first_form_found_wins() -> None:
    inner = (
        '<description>&lt;img src="https://img.example/html.jpg"&gt;</description>'
        '<enclosure url="https://img.example/enc.jpg" type="image/jpeg" length="1"/>'
        '<media:thumbnail url="https://img.example/thumb.jpg"/>'
        '<media:content url="https://img.example/media.jpg" medium="image"/>'
    )
    assert picture(rss_item(inner)) == "https://img.example/media.jpg"
    without_media = inner.rsplit("<media:content", 1)[0]
    assert picture(rss_item(without_media)) == "https://img.example/thumb.jpg"
    assert picture(rss_item(without_media.rsplit("<media:thumbnail", 1)[0])) == (
        "https://img.example/enc.jpg"
    )


def test_relative_pictures_are_resolved_against_the_items_link() -> None:
    html = '<description>&lt;img src="pic.jpg"&gt;</description>'
    assert picture(rss_item(html)) == "https://news.example/story/1/pic.jpg"
    rooted = '<media:thumbnail url="/img/t.png"/>'
    assert picture(rss_item(rooted)) == "https://news.example/img/t.png"
    # an item without a link: the feed's own address
    no_link = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        b'<title>x</title><description>&lt;img src="p.png"&gt;</description></item>'
        b"</channel></rss>"
    )
    assert picture(no_link) == "https://feeds.example/p.png"


def test_what_is_no_picture() -> None:
    pixel = (
        '<description>&lt;img src="https://t.example/p.gif" width="1" height="1"&gt;'
        '&lt;img src="data:image/png;base64,AAAA"&gt;'
        '&lt;img src="javascript:alert(1)"&gt;'
        '&lt;img src="https://img.example/real.png"&gt;</description>'
    )
    assert picture(rss_item(pixel)) == "https://img.example/real.png"
    long_url = "https://img.example/" + "a" * 3000 + ".jpg"
    assert picture(rss_item(f'<media:content url="{long_url}" medium="image"/>')) is None
    assert (
        picture(rss_item('<media:content url="ftp://img.example/a.jpg" medium="image"/>')) is None
    )


def test_atom_enclosures_and_xhtml_content() -> None:
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
    <entry><title>one</title><id>1</id><link href="https://news.example/1"/>
    <link rel="enclosure" type="image/jpeg" href="https://img.example/atom.jpg"/></entry>
    <entry><title>two</title><id>2</id><link href="https://news.example/2/"/>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><img src="x.png"/></div>
    </content></entry></feed>"""
    entries = parse_feed(atom, url=FEED_URL, fetched_at=1_800_000_000.0).entries
    assert [e.picture for e in entries] == [
        "https://img.example/atom.jpg",
        "https://news.example/2/x.png",
    ]
