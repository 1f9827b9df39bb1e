"""Which URLs an inquiry may call back: one rule for the allow-list and one for each URL.

Why one module: the allow-list is written in two places (`CALLBACK_ALLOWED_HOSTS`, read by
app/config/settings.py, and `app.callback_allowed_hosts` of an environment file, read by
infra/config.py) and a URL is checked twice (when the inquiry is opened, and by the sender
just before it calls). Two parsers that disagree let a URL pass one check and reach another
host: `https://attacker.tld\\.partner.example/cb` passed a check made with `urlsplit` (host
`attacker.tld\\.partner.example`), while requests connected to `attacker.tld`. So:

- An allow-list entry is `name`, `*.domain` (its subdomains, not the domain itself) or either
  with `:port`: lowercase DNS labels, no IP address, no wildcard over a top-level domain.
  Without a port an entry allows 443 only. `normalize_allowed_host` is the whole rule, and
  the app and infra call it and nothing else.
- A URL is parsed once, by requests itself: `PreparedRequest.prepare_url`, then the host and
  port its `HTTPAdapter` opens a connection to. That result is checked, and the prepared URL
  is what is stored and sent. Backslashes, whitespace, control characters, non-ASCII and
  user info are refused before any parser is asked.

Where the host's addresses point (loopback, private, metadata) is checked by the sender on
the address it connects to (app/adapters/http_callback.py), since DNS can change after this.
requests is imported at the first URL checked, not with this module: the settings and infra
only read the allow-list, and an instance's cold start should not pay for it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from requests.adapters import HTTPAdapter

HTTPS_PORT = 443
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ENTRY = re.compile(r"(?P<wildcard>\*\.)?(?P<name>[^:]*)(?::(?P<port>[1-9][0-9]{0,4}))?")
ENTRY_FORMS = (
    "a host name, *.domain (of two labels at least), or either with :port (1-65535):"
    " letters, digits, hyphens and dots, not an IP address"
)


@functools.cache
def _adapter() -> HTTPAdapter:
    """requests' adapter; only its URL-to-connection step is used, it opens no connection."""
    from requests.adapters import HTTPAdapter

    return HTTPAdapter()


class CallbackUrlError(ValueError):
    """A callback URL or allow-list entry outside the rule; the message says what is allowed."""


def is_dns_name(name: str) -> bool:
    """A DNS name of lowercase labels, at most 253 characters, whose last label is not all
    digits (so `10.0.0.1` is not a name)."""
    return (
        len(name) <= 253
        and _NAME.fullmatch(name) is not None
        and not name.rsplit(".", 1)[-1].isdigit()
    )


@dataclass(frozen=True)
class AllowedHost:
    """One allow-list entry: a name (or, for a wildcard, the domain its subdomains end in)
    and the one port it allows."""

    name: str
    wildcard: bool
    port: int

    def matches(self, host: str, port: int) -> bool:
        if port != self.port:
            return False
        if self.wildcard:
            return host.endswith("." + self.name)
        return host == self.name


def parse_allowed_host(entry: str) -> AllowedHost:
    """The entry (surrounding blanks dropped, case folded), or CallbackUrlError."""
    text = entry.strip().lower()
    found = _ENTRY.fullmatch(text)
    if found is None or not is_dns_name(found["name"]):
        raise CallbackUrlError(f"must be {ENTRY_FORMS}, got {entry!r}")
    wildcard = found["wildcard"] is not None
    port = int(found["port"]) if found["port"] else HTTPS_PORT
    if (wildcard and "." not in found["name"]) or port > 65535:
        raise CallbackUrlError(f"must be {ENTRY_FORMS}, got {entry!r}")
    return AllowedHost(found["name"], wildcard, port)


def normalize_allowed_host(entry: str) -> str:
    """The entry as the app and infra both store it: stripped, lowercase, checked."""
    parse_allowed_host(entry)
    return entry.strip().lower()


def parse_allow_list(raw: str) -> tuple[str, ...]:
    """A comma-separated allow-list (`CALLBACK_ALLOWED_HOSTS`); an empty entry is an error."""
    return tuple(normalize_allowed_host(entry) for entry in raw.split(","))


def allowed_callback_url(url: str, allowed_hosts: Iterable[str]) -> str:
    """The URL as requests sends it, when it is https on an allowed host and port; else
    CallbackUrlError saying why."""
    if any(not "!" <= ch <= "~" or ch == "\\" for ch in url):
        raise CallbackUrlError(
            "callback_url must be printable ASCII without spaces, backslashes or control"
            " characters (percent-encode anything else)"
        )
    from requests.exceptions import RequestException
    from requests.models import PreparedRequest
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    prepared = PreparedRequest()
    try:
        prepared.prepare_url(url, None)
        parsed = parse_url(prepared.url or "")
        target, _ = _adapter().build_connection_pool_key_attributes(prepared, True)
    except (RequestException, LocationParseError, ValueError):
        raise CallbackUrlError("callback_url is not a valid URL") from None
    if target["scheme"] != "https" or parsed.scheme != "https":
        raise CallbackUrlError("callback_url must use https")
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    if parsed.auth is not None or "@" in authority:
        raise CallbackUrlError("callback_url must not carry user info (user:password@)")
    host = target["host"] or ""
    if host != parsed.host or not is_dns_name(host):
        raise CallbackUrlError(f"callback_url host {host!r} must be a DNS name")
    port = target["port"] or HTTPS_PORT
    allowed = tuple(allowed_hosts)
    if not any(parse_allowed_host(entry).matches(host, port) for entry in allowed):
        named = ", ".join(allowed) if allowed else "none (CALLBACK_ALLOWED_HOSTS is empty)"
        where = host if port == HTTPS_PORT else f"{host}:{port}"
        raise CallbackUrlError(
            f"callback_url host {where!r} is not allowed (a port other than 443 must be named"
            f" in the entry); allowed hosts: {named}"
        )
    return prepared.url or url
