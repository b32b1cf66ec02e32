"""Why a feed failed or was refused, as a value: a reason and its detail. Pure.

The fetcher, the parser, the OPML reader, the URL checks of /feeds add and the poller each
return a :class:`FeedFailure`; nothing parses a sentence back. :attr:`FeedFailure.text` is
the English sentence the logs, ``feeds.last_error`` and /healthz keep; :func:`describe` says
the same in a reader's language, where it is shown (/feeds, /stats, the feed-health alerts).
The feeds table keeps the reason and detail beside the text, so a stored failure comes back
as the same value after a restart (:func:`stored_failure`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from bot.text.marks import N_

if TYPE_CHECKING:
    from bot.text.i18n import Translator

__all__ = [
    "PRIVATE_NETWORKS_HINT",
    "FeedFailure",
    "Reason",
    "StoredFailure",
    "address_refusal",
    "describe",
    "stored_failure",
]


class Reason(StrEnum):
    """Why a feed failed or was refused; the values are what ``feeds.last_error_reason`` keeps."""

    # the URL checks of /feeds add, and its other refusals
    BAD_URL = "bad_url"  # not a valid URL at all
    SCHEME_REFUSED = "scheme_refused"  # not http:// or https://
    NO_HOST = "no_host"
    URL_TOO_LONG = "url_too_long"  # detail: the limit in characters
    PRIVATE_ADDRESS = "private_address"  # host: the URL's host; detail: the address it named
    CONFIGURED = "configured"  # in FEED_URLS: not removed, it would come back
    # the fetcher
    UNSUPPORTED_SCHEME = "unsupported_scheme"  # detail: the scheme
    TIMEOUT = "timeout"  # detail: seconds
    CONNECT_TIMEOUT = "connect_timeout"  # detail: seconds
    HTTP_STATUS = "http_status"  # detail: the status code
    TOO_LARGE = "too_large"  # detail: the limit ("10 MB")
    FILE_NOT_FOUND = "file_not_found"
    PERMISSION_DENIED = "permission_denied"
    IS_A_DIRECTORY = "is_a_directory"
    FILE_UNREADABLE = "file_unreadable"  # detail: the system's message
    INVALID_URL = "invalid_url"  # detail: httpx's message
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    PROTOCOL_ERROR = "protocol_error"  # detail: httpx's message
    BAD_ENCODING = "bad_encoding"
    CONNECTION_LOST = "connection_lost"  # detail: the library's message
    CONNECTION_REFUSED = "connection_refused"
    DNS = "host_not_found"  # detail: the host, when the URL checks name it
    TLS = "tls"  # detail: the library's message
    CONNECTION_FAILED = "connection_failed"  # detail: the library's message
    FETCH_FAILED = "fetch_failed"  # a fetch that failed without saying why
    # the parser
    ENTITIES = "entities"  # XML entities expand beyond the safe limit
    EMPTY_DOCUMENT = "empty_document"
    NO_FEED = "no_feed"
    UNRECOGNISED = "unrecognised"
    NOT_A_FEED = "not_a_feed"  # detail: what the XML parser said
    # the poller
    INTERNAL = "internal"  # detail: the exception
    # the OPML reader (a file, not a feed: refused before any feed is read)
    OPML_TOO_LARGE = "opml_too_large"  # detail: the limit in MB
    OPML_ENTITIES = "opml_entities"
    NOT_XML = "not_xml"  # detail: what the XML parser said
    NOT_OPML = "not_opml"  # detail: the root element ("<rss>")
    OPML_NO_BODY = "opml_no_body"
    TOO_MANY_FEEDS = "too_many_feeds"  # detail: the limit
    # a stored text from before reasons were kept, that no reason matched: detail is the text
    OTHER = "other"


PRIVATE_NETWORKS_HINT = "feeds on private networks are refused unless ALLOW_PRIVATE_FEEDS=true"

# The English text of each reason, for logs and `last_error` ({detail}, {host}, {kind} filled).
_TEXT: dict[Reason, str] = {
    Reason.BAD_URL: "not a valid URL",
    Reason.SCHEME_REFUSED: "only http:// and https:// feeds can be added",
    Reason.NO_HOST: "the URL has no host",
    Reason.URL_TOO_LONG: "the URL is longer than {detail} characters",
    Reason.PRIVATE_ADDRESS: "{host} is a {kind} address ({detail}); " + PRIVATE_NETWORKS_HINT,
    Reason.CONFIGURED: (
        "it is in FEED_URLS and would come back at the next start: pause it, "
        "or take it out of FEED_URLS"
    ),
    Reason.UNSUPPORTED_SCHEME: "unsupported URL scheme {scheme}",
    Reason.TIMEOUT: "timed out after {detail} s",
    Reason.CONNECT_TIMEOUT: "connect timed out after {detail} s",
    Reason.HTTP_STATUS: "HTTP {detail}",
    Reason.TOO_LARGE: "body larger than {detail}",
    Reason.FILE_NOT_FOUND: "file not found",
    Reason.PERMISSION_DENIED: "permission denied",
    Reason.IS_A_DIRECTORY: "is a directory",
    Reason.FILE_UNREADABLE: "cannot read file: {detail}",
    Reason.INVALID_URL: "invalid URL: {detail}",
    Reason.REDIRECT_LOOP: "redirect loop",
    Reason.TOO_MANY_REDIRECTS: "too many redirects",
    Reason.PROTOCOL_ERROR: "protocol error: {detail}",
    Reason.BAD_ENCODING: "bad content encoding",
    Reason.CONNECTION_LOST: "connection lost: {detail}",
    Reason.CONNECTION_REFUSED: "connection refused",
    Reason.DNS: "host not found",
    Reason.TLS: "TLS error: {detail}",
    Reason.CONNECTION_FAILED: "connection failed: {detail}",
    Reason.FETCH_FAILED: "fetch failed",
    Reason.ENTITIES: "not a feed: XML entities expand beyond the safe limit",
    Reason.EMPTY_DOCUMENT: "not a feed: empty document",
    Reason.NO_FEED: "not a feed: no feed found",
    Reason.UNRECOGNISED: "not a feed: unrecognised document",
    Reason.NOT_A_FEED: "not a feed: {detail}",
    Reason.INTERNAL: "internal error: {detail}",
    Reason.OPML_TOO_LARGE: "larger than {detail} MB",
    Reason.OPML_ENTITIES: "declares XML entities, which an OPML file never needs",
    Reason.NOT_XML: "not XML ({detail})",
    Reason.NOT_OPML: "not OPML (the root element is {detail})",
    Reason.OPML_NO_BODY: "not OPML (no <body>)",
    Reason.TOO_MANY_FEEDS: "more than {detail} feeds",
    Reason.OTHER: "{detail}",
}

# The catalog message of each reason (the message id is the English; see bot/locale).
_MESSAGE: dict[Reason, str] = {
    Reason.BAD_URL: N_("not a valid URL"),
    Reason.SCHEME_REFUSED: N_("only http:// and https:// feeds can be added"),
    Reason.NO_HOST: N_("the URL has no host"),
    Reason.URL_TOO_LONG: N_("the URL is longer than {n} characters"),
    Reason.PRIVATE_ADDRESS: N_(
        "{host} is {kind} ({address}); feeds on private networks are refused "
        "unless ALLOW_PRIVATE_FEEDS=true"
    ),
    Reason.CONFIGURED: N_(
        "it is in FEED_URLS and would come back at the next start: pause it, "
        "or take it out of FEED_URLS"
    ),
    Reason.UNSUPPORTED_SCHEME: N_("unsupported URL scheme {scheme}"),
    Reason.TIMEOUT: N_("timed out after {seconds} s"),
    Reason.CONNECT_TIMEOUT: N_("connect timed out after {seconds} s"),
    Reason.HTTP_STATUS: N_("HTTP {status}"),
    Reason.TOO_LARGE: N_("body larger than {size}"),
    Reason.FILE_NOT_FOUND: N_("file not found"),
    Reason.PERMISSION_DENIED: N_("permission denied"),
    Reason.IS_A_DIRECTORY: N_("is a directory"),
    Reason.FILE_UNREADABLE: N_("cannot read file: {detail}"),
    Reason.INVALID_URL: N_("invalid URL: {detail}"),
    Reason.REDIRECT_LOOP: N_("redirect loop"),
    Reason.TOO_MANY_REDIRECTS: N_("too many redirects"),
    Reason.PROTOCOL_ERROR: N_("protocol error: {detail}"),
    Reason.BAD_ENCODING: N_("bad content encoding"),
    Reason.CONNECTION_LOST: N_("connection lost: {detail}"),
    Reason.CONNECTION_REFUSED: N_("connection refused"),
    Reason.DNS: N_("host not found"),
    Reason.TLS: N_("TLS error: {detail}"),
    Reason.CONNECTION_FAILED: N_("connection failed: {detail}"),
    Reason.FETCH_FAILED: N_("fetch failed"),
    Reason.ENTITIES: N_("not a feed: XML entities expand beyond the safe limit"),
    Reason.EMPTY_DOCUMENT: N_("not a feed: empty document"),
    Reason.NO_FEED: N_("not a feed: no feed found"),
    Reason.UNRECOGNISED: N_("not a feed: unrecognised document"),
    Reason.NOT_A_FEED: N_("not a feed: {detail}"),
    Reason.INTERNAL: N_("internal error: {detail}"),
    Reason.OPML_TOO_LARGE: N_("larger than {n} MB"),
    Reason.OPML_ENTITIES: N_("declares XML entities, which an OPML file never needs"),
    Reason.NOT_XML: N_("not XML ({detail})"),
    Reason.NOT_OPML: N_("not OPML (the root element is {element})"),
    Reason.OPML_NO_BODY: N_("not OPML (no {element})"),
    Reason.TOO_MANY_FEEDS: N_("more than {n} feeds"),
}
_HOST_NOT_FOUND = N_("host not found: {host}")  # DNS with the host the URL checks named
_NUMBERS = {  # reasons whose detail is a number, written the reader's way (and its field)
    Reason.URL_TOO_LONG: "n",
    Reason.OPML_TOO_LARGE: "n",
    Reason.TOO_MANY_FEEDS: "n",
    Reason.TIMEOUT: "seconds",
    Reason.CONNECT_TIMEOUT: "seconds",
}
_ADDRESS_KINDS = {
    "loopback": N_("a loopback address"),
    "link-local": N_("a link-local address"),
    "multicast": N_("a multicast address"),
    "reserved": N_("a reserved address"),
    "private": N_("a private address"),
}


def address_refusal(address: str) -> str | None:
    """Why an IP address may not be fetched from (loopback, private ...), or None. Pure."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


@dataclass(frozen=True, slots=True)
class FeedFailure:
    """Why a feed failed or was refused: a reason, and the number or short text it carries."""

    reason: Reason
    detail: str = ""  # a number, a scheme, a host, a library's message ("" when none)
    host: str = ""  # PRIVATE_ADDRESS: the URL's host (detail is the address it resolved to)

    @property
    def text(self) -> str:
        """The failure in English, for logs, ``feeds.last_error`` and /healthz."""
        if self.reason is Reason.DNS and self.detail:
            return f"host not found: {self.detail}"
        return _TEXT[self.reason].format(
            detail=self.detail,
            host=self.host,
            scheme=repr(self.detail),
            kind=address_refusal(self.detail) or "public",
        )

    def __str__(self) -> str:
        return self.text


def describe(failure: FeedFailure, t: Translator) -> str:
    """The failure said in the translator's language (plain text, not HTML). Pure."""
    reason, detail = failure.reason, failure.detail
    if reason is Reason.DNS and detail:
        return t._(_HOST_NOT_FOUND).format(host=detail)
    message = _MESSAGE.get(reason)
    if message is None:  # OTHER: a stored text no reason matched, shown as it is
        return failure.text
    values = {
        "detail": detail,
        "status": detail,
        "size": detail,
        "scheme": repr(detail),
        "element": "<body>" if reason is Reason.OPML_NO_BODY else detail,
        "host": failure.host,
        "address": detail,
    }
    if reason in _NUMBERS:
        try:
            values[_NUMBERS[reason]] = t.format_number(float(detail))
        except ValueError:  # a stored detail that is no number: the English is still exact
            return failure.text
    if reason is Reason.PRIVATE_ADDRESS:
        kind = _ADDRESS_KINDS.get(address_refusal(detail) or "")
        if kind is None:  # a kind with no words yet: the English is still exact
            return failure.text
        values["kind"] = t._(kind)
    return t._(message).format(**values)


class StoredFailure(Protocol):
    """The fields of a feed's stored state that hold its last failure (FeedState has them)."""

    @property
    def last_error(self) -> str | None: ...
    @property
    def last_error_reason(self) -> str | None: ...
    @property
    def last_error_detail(self) -> str | None: ...


def stored_failure(state: StoredFailure) -> FeedFailure | None:
    """A feed's last failure as it was recorded, or None when it has none.

    A row whose reason is missing (written before reasons were kept, and not recognised
    when they were mapped) or unknown comes back as OTHER with its stored text.
    """
    if not state.last_error and not state.last_error_reason:
        return None
    try:
        reason = Reason(state.last_error_reason or "")
    except ValueError:
        return FeedFailure(Reason.OTHER, state.last_error or "")
    if reason is Reason.OTHER:
        return FeedFailure(Reason.OTHER, state.last_error_detail or state.last_error or "")
    return FeedFailure(reason, state.last_error_detail or "")
