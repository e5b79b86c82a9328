"""One careful GET of a hazard feed: conditional (If-None-Match, If-Modified-Since), bounded in time
(connect and read timeouts) and in size (the body is read in pieces and reading stops past the
cap), and refused unless its content type is one the feed's kind is published as."""

from __future__ import annotations

from dataclasses import dataclass

import requests

CHUNK = 64 * 1024
MAX_REDIRECTS = 3
# What each kind of feed is served as (the part before any ";charset=…").
CONTENT_TYPES = {
    "cap": ("application/atom+xml", "application/rss+xml", "application/cap+xml", "application/xml",
            "text/xml"),
    "usgs": ("application/json", "application/geo+json", "application/vnd.geo+json"),
}
USER_AGENT = "consular-hazard-watch/1"


class FetchError(Exception):
    """Why a feed could not be read (its words are shown on the hazard page as the feed's error)."""


@dataclass
class Fetched:
    """A feed's answer: its body (None when unchanged since the last poll: 304) and the validators
    to send next time."""

    body: bytes | None
    etag: str | None
    last_modified: str | None


def new_session() -> requests.Session:
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    session.headers["User-Agent"] = USER_AGENT
    return session


def fetch(session: requests.Session, url: str, kind: str, *, etag: str | None = None,
          last_modified: str | None = None, timeout: float = 20, max_bytes: int = 10 * 1024 * 1024,
          accepted: tuple[str, ...] | None = None) -> Fetched:
    """GET ``url`` as a feed of ``kind``; ``FetchError`` for a timeout, a refused connection, an
    answer other than 200 or 304, a wrong content type or a body larger than ``max_bytes``."""
    headers = {"Accept": ", ".join(accepted or CONTENT_TYPES[kind])}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with session.get(url, headers=headers, timeout=(timeout, timeout), stream=True) as response:
            if response.status_code == 304:
                return Fetched(None, etag, last_modified)
            if response.status_code != 200:
                raise FetchError(f"HTTP {response.status_code}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type not in (accepted or CONTENT_TYPES[kind]):
                raise FetchError(f"unexpected content type {content_type[:60] or '(none)'}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"larger than {max_bytes // (1024 * 1024)} MiB")
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"larger than {max_bytes // (1024 * 1024)} MiB")
            return Fetched(bytes(body), response.headers.get("ETag"),
                           response.headers.get("Last-Modified"))
    except requests.Timeout as exc:
        raise FetchError("timed out") from exc
    except requests.TooManyRedirects as exc:
        raise FetchError("too many redirects") from exc
    except requests.RequestException as exc:
        raise FetchError(f"cannot be reached ({type(exc).__name__})") from exc
