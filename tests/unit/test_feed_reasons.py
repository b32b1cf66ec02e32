"""Why a feed was refused or fails, said in the admin's language; stored reasons stay English."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.feeds import parse_feed
from bot.feeds.admin import (
    AddResult,
    ChangeResult,
    ImportReport,
    render_added,
    render_change,
    render_feeds,
    render_import,
)
from bot.feeds.failures import (
    FeedFailure,
    Reason,
    address_refusal,
    describe,
    stored_failure,
)
from bot.feeds.opml import OpmlError, read_opml
from bot.text.i18n import translator
from storage.models import FeedHealth, FeedRecord, FeedState

ES = translator("es")
EN = translator("en")
PRIVATE_TAIL = "; feeds on private networks are refused unless ALLOW_PRIVATE_FEEDS=true"
ES_PRIVATE_TAIL = "; las fuentes en redes privadas se rechazan salvo con ALLOW_PRIVATE_FEEDS=true"
F = FeedFailure
R = Reason


def _parser_failure(data: bytes) -> FeedFailure:
    failure = parse_feed(data, url="https://example.org/feed.xml", fetched_at=0.0).failure
    assert failure is not None
    return failure


def _opml_failure(data: bytes) -> FeedFailure:
    with pytest.raises(OpmlError) as caught:
        read_opml(data)
    assert str(caught.value) == caught.value.failure.text
    return caught.value.failure


def _private(host: str, address: str) -> FeedFailure:
    return F(R.PRIVATE_ADDRESS, address, host=host)


# One failure per reason, as the code that makes it makes it: its English (logs,
# last_error) and its Spanish.
SPANISH: list[tuple[FeedFailure, str, str | None]] = [
    (F(R.BAD_URL), "not a valid URL", "no es una URL válida"),
    (
        F(R.SCHEME_REFUSED),
        "only http:// and https:// feeds can be added",
        "solo se pueden añadir fuentes http:// y https://",
    ),
    (F(R.NO_HOST), "the URL has no host", "la URL no tiene servidor"),
    (
        F(R.URL_TOO_LONG, "2048"),
        "the URL is longer than 2048 characters",
        "la URL tiene más de 2.048 caracteres",
    ),
    (
        F(R.DNS, "feeds.example"),
        "host not found: feeds.example",
        "no se encontró el servidor: feeds.example",
    ),
    (
        _private("localhost", "127.0.0.1"),
        f"localhost is a loopback address (127.0.0.1){PRIVATE_TAIL}",
        f"localhost es una dirección de bucle local (loopback) (127.0.0.1){ES_PRIVATE_TAIL}",
    ),
    (
        _private("fe80.example", "fe80::1"),
        f"fe80.example is a link-local address (fe80::1){PRIVATE_TAIL}",
        f"fe80.example es una dirección de enlace local (fe80::1){ES_PRIVATE_TAIL}",
    ),
    (
        _private("m.example", "224.0.0.1"),
        f"m.example is a multicast address (224.0.0.1){PRIVATE_TAIL}",
        f"m.example es una dirección de multidifusión (224.0.0.1){ES_PRIVATE_TAIL}",
    ),
    (
        _private("r.example", "240.0.0.1"),
        f"r.example is a reserved address (240.0.0.1){PRIVATE_TAIL}",
        f"r.example es una dirección reservada (240.0.0.1){ES_PRIVATE_TAIL}",
    ),
    (
        _private("intranet", "10.0.0.8"),
        f"intranet is a private address (10.0.0.8){PRIVATE_TAIL}",
        f"intranet es una dirección privada (10.0.0.8){ES_PRIVATE_TAIL}",
    ),
    (F(R.FETCH_FAILED), "fetch failed", "no se pudo descargar"),
    (
        F(R.CONFIGURED),
        "it is in FEED_URLS and would come back at the next start: pause it, "
        "or take it out of FEED_URLS",
        "está en FEED_URLS y volvería en el próximo arranque: páusala o quítala de FEED_URLS",
    ),
    (
        F(R.UNSUPPORTED_SCHEME, "ftp"),
        "unsupported URL scheme 'ftp'",
        "esquema de URL no admitido: 'ftp'",
    ),
    (F(R.TIMEOUT, "2.5"), "timed out after 2.5 s", "sin respuesta tras 2,5 s"),
    (
        F(R.CONNECT_TIMEOUT, "10"),
        "connect timed out after 10 s",
        "la conexión no se estableció en 10 s",
    ),
    (F(R.HTTP_STATUS, "503"), "HTTP 503", "el servidor respondió HTTP 503"),
    (F(R.TOO_LARGE, "10 MB"), "body larger than 10 MB", "el contenido supera 10 MB"),
    (F(R.FILE_NOT_FOUND), "file not found", "archivo no encontrado"),
    (F(R.PERMISSION_DENIED), "permission denied", "permiso denegado"),
    (F(R.IS_A_DIRECTORY), "is a directory", "es una carpeta"),
    (
        F(R.FILE_UNREADABLE, "Input/output error"),
        "cannot read file: Input/output error",
        "no se puede leer el archivo: Input/output error",
    ),
    (
        F(R.INVALID_URL, "Invalid port"),
        "invalid URL: Invalid port",
        "URL no válida: Invalid port",
    ),
    (F(R.REDIRECT_LOOP), "redirect loop", "bucle de redirecciones"),
    (F(R.TOO_MANY_REDIRECTS), "too many redirects", "demasiadas redirecciones"),
    (
        F(R.PROTOCOL_ERROR, "peer closed"),
        "protocol error: peer closed",
        "error de protocolo: peer closed",
    ),
    (F(R.BAD_ENCODING), "bad content encoding", "codificación del contenido incorrecta"),
    (
        F(R.CONNECTION_LOST, "reset by peer"),
        "connection lost: reset by peer",
        "se perdió la conexión: reset by peer",
    ),
    (F(R.CONNECTION_REFUSED), "connection refused", "conexión rechazada"),
    (F(R.DNS), "host not found", "no se encontró el servidor"),
    (
        F(R.TLS, "certificate verify failed"),
        "TLS error: certificate verify failed",
        "error de TLS: certificate verify failed",
    ),
    (
        F(R.CONNECTION_FAILED, "ReadError"),
        "connection failed: ReadError",
        "falló la conexión: ReadError",
    ),
    (
        F(R.ENTITIES),
        "not a feed: XML entities expand beyond the safe limit",
        "no es una fuente: las entidades XML se expanden más allá del límite seguro",
    ),
    (
        _parser_failure(b""),
        "not a feed: empty document",
        "no es una fuente: documento vacío",
    ),
    (F(R.NO_FEED), "not a feed: no feed found", "no es una fuente: no se encontró ninguna fuente"),
    (
        F(R.UNRECOGNISED),
        "not a feed: unrecognised document",
        "no es una fuente: documento no reconocido",
    ),
    (
        F(R.NOT_A_FEED, "line 3: mismatched tag"),
        "not a feed: line 3: mismatched tag",
        "no es una fuente: line 3: mismatched tag",
    ),
    (
        F(R.INTERNAL, "KeyError: 'x'"),
        "internal error: KeyError: 'x'",
        "error interno: KeyError: 'x'",
    ),
    (F(R.OPML_TOO_LARGE, "2"), "larger than 2 MB", "supera 2 MB"),
    (
        _opml_failure(b'<!DOCTYPE x [<!ENTITY a "b">]><opml/>'),
        "declares XML entities, which an OPML file never needs",
        "declara entidades XML, que un archivo OPML nunca necesita",
    ),
    (
        _opml_failure(b"<rss/>"),
        "not OPML (the root element is <rss>)",
        "no es OPML (el elemento raíz es <rss>)",
    ),
    (_opml_failure(b'<opml version="2.0"/>'), "not OPML (no <body>)", "no es OPML (falta <body>)"),
    (F(R.TOO_MANY_FEEDS, "1000"), "more than 1000 feeds", "más de 1.000 fuentes"),
]
# Made by a library: only the frame of the message is known here.
LIBRARY = [
    _parser_failure(b"<html><body><p>hi</p></body></html>"),  # bozo or no feed
    _opml_failure(b"not xml at all"),
]


@pytest.mark.parametrize(("failure", "english", "spanish"), SPANISH)
def test_each_failure_is_said_in_spanish(
    failure: FeedFailure, english: str, spanish: str | None
) -> None:
    assert describe(failure, ES) == spanish


@pytest.mark.parametrize("failure", LIBRARY)
def test_a_librarys_message_is_framed_in_spanish(failure: FeedFailure) -> None:
    said = describe(failure, ES)
    assert said != failure.text and said.startswith("no es "), said


@pytest.mark.parametrize(("failure", "english", "spanish"), SPANISH)
def test_the_english_text_is_what_logs_and_last_error_keep(
    failure: FeedFailure, english: str, spanish: str | None
) -> None:
    assert failure.text == english == str(failure)


def test_every_reason_has_a_sample() -> None:
    sampled = {failure.reason for failure, _, _ in SPANISH} | {f.reason for f in LIBRARY}
    assert set(Reason) - sampled == {Reason.OTHER}


@pytest.mark.parametrize(("failure", "english", "spanish"), SPANISH)
def test_english_reads_as_the_reason_was_written(
    failure: FeedFailure, english: str, spanish: str | None
) -> None:
    # numbers are grouped the language's way
    expected = english.replace("2048", "2,048").replace("1000", "1,000")
    assert describe(failure, EN) == expected


@pytest.mark.parametrize(
    "failure",
    [
        F(R.OTHER, "something nobody wrote a message for"),
        F(R.PRIVATE_ADDRESS, "8.8.8.8", host="x.example"),  # no kind of refused address
        F(R.TIMEOUT, "1.2.3"),  # not a number
        F(R.OTHER, ""),
    ],
)
def test_a_failure_without_words_is_shown_in_english(failure: FeedFailure) -> None:
    assert describe(failure, ES) == failure.text


def test_address_kinds_have_their_words() -> None:
    for address in ("127.0.0.1", "fe80::1", "224.0.0.1", "240.0.0.1", "10.0.0.8"):
        assert address_refusal(address) is not None
        said = describe(_private("h.example", address), ES)
        assert said.startswith("h.example es una dirección ")


def _record(failure: FeedFailure | None, *, text: str | None = None) -> FeedRecord:
    """A failing feed as storage returns it: the failure's text, reason and detail."""
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
        last_error=failure.text if failure else text,
        baseline_done=True,
        alerted=False,
        last_error_reason=failure.reason if failure else None,
        last_error_detail=failure.detail if failure else None,
    )
    return FeedRecord(
        state=state, name=None, paused=False, added_at=0.0, added_by=None, interval_seconds=None
    )


def test_every_reply_says_the_reason_in_the_admins_language() -> None:
    url = "https://example.org/feed.xml"
    added = render_added(AddResult(url, "refused", failure=F(R.HTTP_STATUS, "404")), ES)
    assert "el servidor respondió HTTP 404" in added
    assert "rechazada" in render_added(AddResult(url, "refused"), ES)
    redirected = AddResult(
        url, "refused", failure=_private("intranet", "10.0.0.8"), redirected=True
    )
    assert (
        f"redirigida: intranet es una dirección privada (10.0.0.8){ES_PRIVATE_TAIL}"
        in render_added(redirected, ES)
    )
    assert f"redirected: intranet is a private address (10.0.0.8){PRIVATE_TAIL}" in render_added(
        redirected, EN
    )
    change = render_change(
        ChangeResult("refused", _record(F(R.HTTP_STATUS, "500")), F(R.CONFIGURED)), "remove", ES
    )
    assert "volvería en el próximo arranque" in change
    report = ImportReport(refused=[AddResult(url, "refused", failure=F(R.TIMEOUT, "20"))])
    assert "sin respuesta tras 20 s" in "".join(render_import(report, ES))
    failed = ImportReport(error=_opml_failure(b"<rss/>"))
    assert "el elemento raíz es &lt;rss&gt;" in render_import(failed, ES)[0]  # escaped
    health = [
        FeedHealth(_record(F(R.HTTP_STATUS, "503")), last_new_at=None, new_recent=0, stored=0)
    ]
    listing = "".join(render_feeds(health, configured=frozenset(), now=300.0, t=ES))
    assert "el servidor respondió HTTP 503" in listing


def test_english_replies_keep_the_stored_text() -> None:
    record = _record(F(R.NOT_A_FEED, "line 3: mismatched tag"))
    health = [FeedHealth(record, last_new_at=None, new_recent=0, stored=0)]
    listing = "".join(render_feeds(health, configured=frozenset(), now=300.0, t=EN))
    assert "not a feed: line 3: mismatched tag" in listing
    assert record.state.last_error == "not a feed: line 3: mismatched tag"


@pytest.mark.parametrize(("failure", "english", "spanish"), SPANISH)
def test_a_stored_failure_comes_back_as_the_same_value(
    failure: FeedFailure, english: str, spanish: str | None
) -> None:
    if failure.host:  # only /feeds add's replies name a host; the poller never stores one
        return
    assert stored_failure(_record(failure).state) == failure


def test_a_stored_text_without_a_reason_is_shown_as_it_is() -> None:
    assert stored_failure(_record(None).state) is None
    old = _record(None, text="something from an older version").state
    assert stored_failure(old) == F(R.OTHER, "something from an older version")
    health = [
        FeedHealth(_record(None, text="odd failure"), last_new_at=None, new_recent=0, stored=0)
    ]
    assert "odd failure" in "".join(render_feeds(health, configured=frozenset(), now=300.0, t=ES))
    # a reason code this version does not know (written by a newer one): its text, as it is
    newer = replace(_record(F(R.HTTP_STATUS, "500")).state, last_error_reason="quantum_flux")
    assert stored_failure(newer) == F(R.OTHER, "HTTP 500")
