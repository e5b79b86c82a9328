"""Where webhooks may go: only to the URL a subscription names, over http(s), to public addresses.

A receiver's host is resolved and every address it resolves to is checked, when the subscription
is saved and again before each send; and the address the worker's socket actually connected to is
checked once more (a name that resolves to a public address for the check and to a private one a
moment later, DNS rebinding, is refused at the connection). Private, loopback, link-local and other
non-public addresses are refused unless they are in WEBHOOK_ALLOW_NETWORKS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from flask_babel import gettext as _
from flask_babel import ngettext
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from config.parsers import Network

MAX_URL = 500
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ReceiverRefused(ValueError):
    """A URL or an address webhooks may not go to; the message says why."""


def _public(address: IpAddress) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


def address_allowed(address: str | IpAddress, allowed: Iterable[Network]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    return _public(ip) or any(ip in network for network in allowed if ip.version == network.version)


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable receiver URL, else ``ReceiverRefused``."""
    url = (url or "").strip()
    if not url:
        raise ReceiverRefused(_("Enter the receiver's URL."))
    if len(url) > MAX_URL:
        raise ReceiverRefused(ngettext("The URL is too long (at most %(num)d character).",
                                       "The URL is too long (at most %(num)d characters).", MAX_URL))
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ReceiverRefused(_("The URL may not contain spaces or control characters."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ReceiverRefused(_("This is not a valid URL.")) from None
    if parts.scheme not in ("http", "https"):
        raise ReceiverRefused(_("The URL must begin with https:// (or http://)."))
    if parts.username is not None or parts.password is not None:
        raise ReceiverRefused(_("The URL may not contain a user name or password: the signature "
                                "proves who sends."))
    if parts.fragment:
        raise ReceiverRefused(_("The URL may not contain a fragment (#…)."))
    host = parts.hostname or ""
    if not host:
        raise ReceiverRefused(_("The URL has no host name."))
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ReceiverRefused(_("The host name %(host)s could not be resolved.", host=host)) from None
    return sorted({str(info[4][0]) for info in infos})


def check_receiver(url: str, allowed: Iterable[Network]) -> list[str]:
    """Refuse ``url`` unless every address its host resolves to may receive webhooks; returns the
    addresses."""
    _scheme, host, port = split_url(url)
    allowed = tuple(allowed)
    addresses = resolve(host, port)
    refused = [a for a in addresses if not address_allowed(a, allowed)]
    if refused:
        raise ReceiverRefused(_(
            "%(host)s resolves to %(address)s, a private, loopback or link-local address: webhooks "
            "go only to public addresses (an administrator may allow a network with "
            "WEBHOOK_ALLOW_NETWORKS).", host=host, address=", ".join(refused)))
    return addresses


def _checked_session(allowed: tuple[Network, ...]) -> requests.Session:
    """A ``requests`` session whose every connection is refused unless the address it reached is
    allowed; no proxies or netrc from the environment."""

    def checked(sock: Any) -> Any:
        peer = sock.getpeername()[0]
        if not address_allowed(peer, allowed):
            sock.close()
            raise ReceiverRefused(f"connected to {peer}, a private, loopback or link-local address")
        return sock

    class Http(HTTPConnection):
        def _new_conn(self) -> Any:
            return checked(super()._new_conn())

    class Https(HTTPSConnection):
        def _new_conn(self) -> Any:
            return checked(super()._new_conn())

    class HttpPool(HTTPConnectionPool):
        ConnectionCls = Http

    class HttpsPool(HTTPSConnectionPool):
        ConnectionCls = Https

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}

    session = requests.Session()
    session.trust_env = False
    adapter = Adapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def checked_session(allowed: Iterable[Network]) -> requests.Session:
    return _checked_session(tuple(allowed))
