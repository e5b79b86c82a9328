"""Static assets under names that carry a hash of their content (``css/app.css`` is linked as
``css/app.3f2a9c1b04d5.css``), so browsers and nginx may keep them for a year: a changed file gets a
new name, and every page links the new one at once. Nothing is copied or built: the name is made
by ``url_for`` and taken apart again when the file is served (here, or by nginx's site)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from stat import S_ISREG
from typing import Any

from flask import Flask, Request, request, send_from_directory
from flask import Response as FlaskResponse
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from werkzeug.wrappers import Response

from consular.auth.session import SIGNED_WEBHOOK_PREFIXES

HASH_LENGTH = 12
HASHED = re.compile(rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<ext>\.[A-Za-z0-9]+)$")
YEAR = 365 * 24 * 3600


class AssetHashes:
    """The content hash of each static file, read once per version of the file."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self._known: dict[str, tuple[tuple[int, int], str]] = {}

    def hash_of(self, filename: str) -> str | None:
        path = self.folder / filename
        known = self._known.get(filename)
        try:
            # Resolving the path walks every folder of it: done once per name (a page links the
            # same few files on every request); a name already known is only checked for a change.
            if known is None and (self.folder.resolve() not in path.resolve().parents
                                  or not path.is_file()):
                return None
            stat = path.stat()
        except (OSError, ValueError):
            return None
        if not S_ISREG(stat.st_mode):
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        if known is None or known[0] != version:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
            known = (version, digest)
            self._known[filename] = known
        return known[1]

    def hashed_name(self, filename: str) -> str:
        """``css/app.css`` → ``css/app.<hash>.css``; a file that does not exist keeps its name."""
        digest = self.hash_of(filename)
        stem, ext = os.path.splitext(filename)
        if digest is None or not ext:
            return filename
        return f"{stem}.{digest}{ext}"


class UnsavedSession(SecureCookieSession):
    """The session of a provider's signed webhook called without the cookie: empty, for this request
    only (an error page may still put a CSRF token in it), never signed or sent back."""


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a static file never sets the cookie: a file
    kept a year must not carry anyone's session, and a late request for one (the tab's icon) must
    not bring back a session the browser has just dropped. And a provider's signed webhook called
    without the cookie (``consular.auth.session.signed_webhooks_under``) gets an ``UnsavedSession``:
    nothing to verify, sign or save on the busiest requests the app takes."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        prefixes: tuple[str, ...] = app.extensions.get(SIGNED_WEBHOOK_PREFIXES, ())
        if (prefixes and request.path.startswith(prefixes)
                and self.get_cookie_name(app) not in request.cookies):
            return UnsavedSession()
        return super().open_session(app, request)

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if request.endpoint == "static":
            return False
        return super().should_set_cookie(app, session)

    def save_session(self, app: Flask, session: SessionMixin, response: FlaskResponse) -> None:
        if isinstance(session, UnsavedSession):
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    assert app.static_folder is not None
    app.session_interface = SessionInterface()
    hashes = AssetHashes(app.static_folder)
    app.extensions["consular.assets"] = hashes

    @app.url_defaults
    def _hashed_static(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and isinstance(values.get("filename"), str):
            values["filename"] = hashes.hashed_name(values["filename"])

    def static(filename: str) -> Response:
        match = HASHED.match(filename)
        if match:
            real = match["stem"] + match["ext"]
            digest = hashes.hash_of(real)
            if digest is not None:
                current = digest == match["hash"]
                # An old hash (a page from before a deploy) still gets the file, not for long.
                response = send_from_directory(app.static_folder or "", real,
                                               max_age=YEAR if current else None)
                if current:
                    response.cache_control.immutable = True
                    response.cache_control.public = True
                return response
        return app.send_static_file(filename)

    app.view_functions["static"] = static
