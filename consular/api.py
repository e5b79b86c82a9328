"""The JSON API layer every ``/api/`` blueprint shares: the refusal (:class:`ApiError`) and its
body, reading a JSON body, the message of each HTTP status in the user's language, and whether a
request wants JSON. ``init_app`` registers the refusal's handler once, for every API blueprint;
each blueprint adds only the handlers of its own domain's errors (which answer with ``refusal``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Blueprint, Flask, Response, jsonify, request
from flask_babel import gettext as _

from config import current_settings
from consular.db import db, settle

if TYPE_CHECKING:
    from consular.network.queries import Page

T = TypeVar("T")


class ApiError(Exception):
    """A request refused before (or instead of) an operation."""

    def __init__(self, status: int, error: str, message: str,
                 fields: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.fields = dict(fields or {})
        self.extra = extra


def refusal(status: int, error: str, message: str, fields: Mapping[str, str] | None = None,
            **extra: object) -> tuple[Response, int]:
    """The body of every refusal: ``{"error", "message", "fields"}`` and any details beside."""
    return jsonify(error=error, message=message, fields=dict(fields or {}), **extra), status


def answer_domain_errors(bp: Blueprint, *, invalid: type[Exception] | None = None,
                         conflict: type[Exception] | None = None) -> None:
    """Registers on ``bp`` the refusals of a domain's own errors, after rolling back: its input
    error (an ``errors`` mapping of field to message) as 422 "invalid", its conflict (a message for
    the user) as 409 "conflict"."""

    def answer_invalid(exc: Any) -> tuple[Response, int]:
        db.session.rollback()
        return refusal(422, "invalid", error_message(422), exc.errors)

    def answer_conflict(exc: Exception) -> tuple[Response, int]:
        db.session.rollback()
        return refusal(409, "conflict", str(exc), {})

    if invalid is not None:
        bp.register_error_handler(invalid, answer_invalid)
    if conflict is not None:
        bp.register_error_handler(conflict, answer_conflict)


def json_body() -> dict[str, Any]:
    """The request's JSON object: 415 when it is not sent as JSON, 400 when it is not an object."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       _("Send a JSON object with Content-Type: application/json."))
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # absurdly deep nesting
        data = None
    if data is None:
        raise ApiError(400, "bad_json", _("The body is not valid JSON."))
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", _("The body must be a JSON object."))
    return data


DEFAULT_LIMIT = 50  # a list's page when the caller names no limit
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000


class QueryArgs:
    """A list's query string read one parameter at a time: each malformed value is noted under its
    name, and :meth:`check` then refuses the request with a 400 naming every one at once."""

    def __init__(self) -> None:
        self.args = request.args
        self.errors: dict[str, str] = {}

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        """A whole number from ``low`` to ``high``; ``default`` when absent or malformed."""
        raw = self.args.get(name, "").strip()
        if not raw:
            return default
        if not (raw.isascii() and raw.isdigit() and len(raw) < 12) or not low <= int(raw) <= high:
            self.errors[name] = _("A whole number from %(low)d to %(high)d.", low=low, high=high)
            return default
        return int(raw)

    def choice(self, name: str, options: list[str]) -> str:
        """One of ``options``, or "" when absent or not one of them."""
        raw = self.args.get(name, "").strip()
        if raw and raw not in options:
            self.errors[name] = _("Choose one of: %(choices)s.", choices=", ".join(options))
            return ""
        return raw

    def paging(self) -> tuple[int, int]:
        """``limit`` (1 to MAX_LIMIT, DEFAULT_LIMIT when absent) and ``offset`` (0 when absent)."""
        limit = self.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
        offset = self.integer("offset", 0, 0, MAX_OFFSET) or 0
        return limit, offset

    def check(self) -> None:
        if self.errors:
            raise ApiError(400, "bad_query", error_message(400), self.errors)


def written(item: Callable[..., Any], *args: Any) -> Response:
    """A write's answer: its changes flushed and what the session held forgotten (``settle``), then
    ``item(*args)`` read back as stored, as JSON."""
    settle()
    return jsonify(item(*args))


def unknown_fields(body: Mapping[str, Any], allowed: Iterable[str]) -> dict[str, str]:
    """A refusal for each key of ``body`` that is not one of ``allowed``, by name (cut to 60
    characters), in sorted order."""
    return {key[:60]: _("Unknown or read-only field.") for key in sorted(set(body) - set(allowed))}


def page_json(page: Page[T], item: Callable[[T], Any]) -> Response:
    """A list's answer (``api_fields.Page``): each item of the page as ``item`` serialises it, the
    total, and the limit and offset the page was asked for."""
    return jsonify(items=[item(x) for x in page.items], total=page.total, limit=page.limit,
                   offset=page.offset)


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def error_message(code: int) -> str:
    messages = {
        400: _("The request was not understood. Please check what you entered."),
        401: _("Please log in."),
        403: _("You are not allowed to do this."),
        404: _("Not found, or you do not have access to it."),
        405: _("This action is not allowed here."),
        409: _("Someone else changed this in the meantime. Reload and try again."),
        413: _("What you sent is too large: at most %(mb)s MB in all (files included). Go back, "
               "leave out a file or send smaller ones, and try again.",
               mb=current_settings().attachment_max_mb),
        415: _("This type of content is not accepted."),
        422: _("Some values are not valid."),
        429: _("Too many attempts. Please wait and try again later."),
        500: _("Something went wrong on our side. The error was logged."),
    }
    return messages.get(code, _("The request could not be completed."))


def _api_error(exc: ApiError) -> tuple[Response, int]:
    db.session.rollback()
    return refusal(exc.status, exc.error, exc.message, exc.fields, **exc.extra)


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
