"""Why a feed was refused or fails, said in the admin's language; stored reasons stay English."""

from __future__ import annotations

import pytest

from bot.feeds import parse_feed
from bot.feeds.admin import (
    _REASONS,
    AddResult,
    ChangeResult,
    ImportReport,
    address_refusal,
    describe_reason,
    render_added,
    render_change,
    render_feeds,
    render_import,
)
from bot.feeds.opml import OpmlError, read_opml
from bot.text.i18n import translator
from storage.models import FeedState
from storage.sqlite.feeds import FeedHealth, FeedRecord

ES = translator("es")
EN = translator("en")
PRIVATE_TAIL = "; feeds on private networks are refused unless ALLOW_PRIVATE_FEEDS=true"
ES_PRIVATE_TAIL = "; las fuentes en redes privadas se rechazan salvo con ALLOW_PRIVATE_FEEDS=true"


def _parser_error(data: bytes) -> str:
    error = parse_feed(data, url="https://example.org/feed.xml", fetched_at=0.0).error
    assert error is not None
    return error


def _opml_error(data: bytes) -> str:
    with pytest.raises(OpmlError) as caught:
        read_opml(data)
    return str(caught.value)


# One reason per pattern, as the code that makes it writes it, with its Spanish.
SPANISH = [
    ("not a valid URL", "no es una URL válida"),
    (
        "only http:// and https:// feeds can be added",
        "solo se pueden añadir fuentes http:// y https://",
    ),
    ("the URL has no host", "la URL no tiene servidor"),
    ("the URL is longer than 2048 characters", "la URL tiene más de 2.048 caracteres"),
    ("host not found: feeds.example", "no se encontró el servidor: feeds.example"),
    (
        f"localhost is a loopback address (127.0.0.1){PRIVATE_TAIL}",
        f"localhost es una dirección de bucle local (loopback) (127.0.0.1){ES_PRIVATE_TAIL}",
    ),
    (
        f"fe80.example is a link-local address (fe80::1){PRIVATE_TAIL}",
        f"fe80.example es una dirección de enlace local (fe80::1){ES_PRIVATE_TAIL}",
    ),
    (
        f"m.example is a multicast address (224.0.0.1){PRIVATE_TAIL}",
        f"m.example es una dirección de multidifusión (224.0.0.1){ES_PRIVATE_TAIL}",
    ),
    (
        f"r.example is a reserved address (240.0.0.1){PRIVATE_TAIL}",
        f"r.example es una dirección reservada (240.0.0.1){ES_PRIVATE_TAIL}",
    ),
    (
        f"intranet is a private address (10.0.0.8){PRIVATE_TAIL}",
        f"intranet es una dirección privada (10.0.0.8){ES_PRIVATE_TAIL}",
    ),
    (
        f"redirected: intranet is a private address (10.0.0.8){PRIVATE_TAIL}",
        f"redirigida: intranet es una dirección privada (10.0.0.8){ES_PRIVATE_TAIL}",
    ),
    ("fetch failed", "no se pudo descargar"),
    ("refused", "rechazada"),
    (
        "it is in FEED_URLS and would come back at the next start: pause it, "
        "or take it out of FEED_URLS",
        "está en FEED_URLS y volvería en el próximo arranque: páusala o quítala de FEED_URLS",
    ),
    ("unsupported URL scheme 'ftp'", "esquema de URL no admitido: 'ftp'"),
    ("timed out after 2.5 s", "sin respuesta tras 2,5 s"),
    ("connect timed out after 10 s", "la conexión no se estableció en 10 s"),
    ("HTTP 503", "el servidor respondió HTTP 503"),
    ("body larger than 10 MB", "el contenido supera 10 MB"),
    ("file not found", "archivo no encontrado"),
    ("permission denied", "permiso denegado"),
    ("is a directory", "es una carpeta"),
    (
        "cannot read file: Input/output error",
        "no se puede leer el archivo: Input/output error",
    ),
    ("invalid URL: Invalid port", "URL no válida: Invalid port"),
    ("redirect loop", "bucle de redirecciones"),
    ("too many redirects", "demasiadas redirecciones"),
    ("protocol error: peer closed", "error de protocolo: peer closed"),
    ("bad content encoding", "codificación del contenido incorrecta"),
    ("connection lost: reset by peer", "se perdió la conexión: reset by peer"),
    ("connection refused", "conexión rechazada"),
    ("host not found", "no se encontró el servidor"),
    ("TLS error: certificate verify failed", "error de TLS: certificate verify failed"),
    ("connection failed: ReadError", "falló la conexión: ReadError"),
    (
        "not a feed: XML entities expand beyond the safe limit",
        "no es una fuente: las entidades XML se expanden más allá del límite seguro",
    ),
    (_parser_error(b""), "no es una fuente: documento vacío"),
    (_parser_error(b"<html><body><p>hi</p></body></html>"), None),  # bozo or no feed
    ("not a feed: no feed found", "no es una fuente: no se encontró ninguna fuente"),
    ("not a feed: unrecognised document", "no es una fuente: documento no reconocido"),
    (
        "not a feed: line 3: mismatched tag",
        "no es una fuente: line 3: mismatched tag",
    ),
    (
        "internal error: KeyError: 'x'",
        "error interno: KeyError: 'x'",
    ),
    ("larger than 2 MB", "supera 2 MB"),
    (
        _opml_error(b'<!DOCTYPE x [<!ENTITY a "b">]><opml/>'),
        "declara entidades XML, que un archivo OPML nunca necesita",
    ),
    (_opml_error(b"not xml at all"), None),
    (_opml_error(b"<rss/>"), "no es OPML (el elemento raíz es <rss>)"),
    (_opml_error(b'<opml version="2.0"/>'), "no es OPML (falta <body>)"),
    ("more than 1000 feeds", "más de 1.000 fuentes"),
]


@pytest.mark.parametrize(("reason", "spanish"), SPANISH)
def test_each_reason_is_said_in_spanish(reason: str, spanish: str | None) -> None:
    said = describe_reason(reason, ES)
    if spanish is None:  # made by a library: only the frame is known here
        assert said != reason and said.startswith("no es "), said
    else:
        assert said == spanish


def test_every_pattern_has_a_sample() -> None:
    reasons = [reason for reason, _ in SPANISH]
    for pattern, message in _REASONS:
        assert any(pattern.fullmatch(r) for r in reasons), message


@pytest.mark.parametrize(("reason", "spanish"), SPANISH)
def test_english_reads_as_the_reason_was_written(reason: str, spanish: str | None) -> None:
    # numbers are grouped the language's way
    expected = reason.replace("2048", "2,048").replace("1000", "1,000")
    assert describe_reason(reason, EN) == expected


@pytest.mark.parametrize(
    "reason",
    [
        "something nobody wrote a message for",
        f"x.example is a weird address (1.2.3.4){PRIVATE_TAIL}",  # an unknown kind
        "HTTP 50",  # not a status
        "timed out after 1.2.3 s",  # not a number
        "",
    ],
)
def test_an_unknown_reason_is_shown_as_it_is(reason: str) -> None:
    assert describe_reason(reason, ES) == reason


def test_address_kinds_have_their_words() -> None:
    for address in ("127.0.0.1", "fe80::1", "224.0.0.1", "240.0.0.1", "10.0.0.8"):
        kind = address_refusal(address)
        reason = f"h.example is a {kind} address ({address}){PRIVATE_TAIL}"
        assert describe_reason(reason, ES).startswith("h.example es una dirección ")


def _record(last_error: str) -> FeedRecord:
    state = FeedState(
        id=1,
        url="https://example.org/feed.xml",
        title="Example",
        etag=None,
        last_modified=None,
        last_attempt_at=100.0,
        last_success_at=50.0,
        consecutive_failures=3,
        failing_since=60.0,
        next_attempt_at=200.0,
        last_error=last_error,
        baseline_done=True,
        alerted=False,
    )
    return FeedRecord(
        state=state, name=None, paused=False, added_at=0.0, added_by=None, interval_seconds=None
    )


def test_every_reply_says_the_reason_in_the_admins_language() -> None:
    url = "https://example.org/feed.xml"
    added = render_added(AddResult(url, "refused", reason="HTTP 404"), ES)
    assert "el servidor respondió HTTP 404" in added
    assert "rechazada" in render_added(AddResult(url, "refused"), ES)
    change = render_change(
        ChangeResult(
            "refused",
            _record("HTTP 500"),
            "it is in FEED_URLS and would come back at the next start: pause it, "
            "or take it out of FEED_URLS",
        ),
        "remove",
        ES,
    )
    assert "volvería en el próximo arranque" in change
    report = ImportReport(refused=[AddResult(url, "refused", reason="timed out after 20 s")])
    assert "sin respuesta tras 20 s" in "".join(render_import(report, ES))
    failed = ImportReport(error=_opml_error(b"<rss/>"))
    assert "el elemento raíz es &lt;rss&gt;" in render_import(failed, ES)[0]  # escaped
    health = [FeedHealth(_record("HTTP 503"), last_new_at=None, new_recent=0, stored=0)]
    listing = "".join(render_feeds(health, configured=frozenset(), now=300.0, t=ES))
    assert "el servidor respondió HTTP 503" in listing


def test_english_replies_keep_the_stored_text() -> None:
    record = _record("not a feed: line 3: mismatched tag")
    health = [FeedHealth(record, last_new_at=None, new_recent=0, stored=0)]
    listing = "".join(render_feeds(health, configured=frozenset(), now=300.0, t=EN))
    assert "not a feed: line 3: mismatched tag" in listing
    assert record.state.last_error == "not a feed: line 3: mismatched tag"
