"""create_app: the only place that wires configuration, extensions, blueprints and request hooks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.json.provider import DefaultJSONProvider
from flask_babel import Babel, get_translations
from flask_babel import gettext as _
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import i18n
from config import EXTENSION, ConfigError, Settings, check_names, current_settings, load_settings
from consular import api
from consular.api import error_message, wants_json
from consular.db import KeyRing, commit_apart, db, end_request, unsaved_writes
from consular.logs import configure_logging

# The revisions travel with the package (migrations/ is installed beside consular/), so
# `consular db upgrade` works from an installed wheel in any working directory.
MIGRATIONS_DIR = str(files("migrations"))

TRANSACTION_ENDED = "consular.transaction_ended"  # in the WSGI environ: the request's hook has run

migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()


class _JSONProvider(DefaultJSONProvider):
    """A body nested deeper than the parser can follow is malformed JSON, as any other: callers of
    ``get_json`` then answer their 400 instead of a crash."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        try:  # geographic aim needs sin, cos and power (SQLite has them when built with math)
            cursor.execute("SELECT sin(0), cos(0), power(2, 2)")
        except Exception:  # noqa: BLE001 (an SQLite built without its math functions)
            import math

            for name, fn in (("sin", math.sin), ("cos", math.cos), ("power", math.pow)):
                dbapi_connection.create_function(name, 1 if name != "power" else 2,
                                                 _null_safe(fn), deterministic=True)
        cursor.close()


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL (a map tile template: where the maps' images come from)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _null_safe(fn: Any) -> Any:
    def call(*args: Any) -> Any:
        return None if any(a is None for a in args) else fn(*args)
    return call


def _check_start_up(settings: Settings) -> None:
    """What the loader leaves to start-up: the case categories the settings name (the models are
    imported here), and an embedded install's secrets, made by an explicit step."""
    from consular.cases import models as _case_models  # noqa: F401  (registers the case categories)

    check_names(settings)
    missing = settings.missing_secrets()
    if missing:
        raise ConfigError(
            f"{missing[0]}: not set, and {settings.instance_path}/secrets.toml does not exist: run "
            "`consular init` once (the consular command and `make run` do it for an embedded "
            "install), or set it")


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    settings = config if isinstance(config, Settings) else load_settings(config)
    _check_start_up(settings)
    app = Flask(
        __name__,
        instance_path=settings.instance_path,
        template_folder="web/templates",
        static_folder="web/static",
    )
    app.json = _JSONProvider(app)
    Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        SESSION_COOKIE_NAME="consular_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=settings.session_absolute_hours * 3600,
        # The largest attachment plus room for the form around it; the size check itself names the limit.
        MAX_CONTENT_LENGTH=(settings.attachment_max_mb + 1) * 1024 * 1024,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in before_request, except for bearer-token API calls
        WTF_CSRF_TIME_LIMIT=None,  # bounded by the session's own lifetime
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(i18n.TRANSLATIONS_DIR),
        TESTING=settings.env == "test",
    )
    app.extensions[EXTENSION] = settings
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions["consular.keyring"] = KeyRing(settings.field_encryption_keys,
                                                 settings.search_hash_key)

    configure_logging(settings.log_format)  # before app.logger exists: Flask then adds none

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True,
                     compare_type=True)
    babel.init_app(app, locale_selector=i18n.select_locale)
    # The same callables Flask-Babel installs, except that a template's fixed messages are
    # translated once per locale, not on every use.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.remembered_gettext(),
        ngettext=lambda s, p, n: get_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: get_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: get_translations().unpgettext(c, s, p, n),
    )
    csrf.init_app(app)

    # Model modules must be imported so metadata knows every table.
    from alerts import models as _alert_models  # noqa: F401
    from alerts.authoring import models as _alert_template_models  # noqa: F401
    from alerts.enrolment import models as _enrolment_models  # noqa: F401
    from consular.activities import models as _activity_models  # noqa: F401
    from consular.audit import models as _audit_models  # noqa: F401
    from consular.auth import models as _auth_models  # noqa: F401
    from consular.cases import models as _case_models  # noqa: F401
    from consular.network import models as _network_models  # noqa: F401
    from consular.registry import models as _registry_models  # noqa: F401
    from consular.webhooks import models as _webhook_models  # noqa: F401

    _register_hooks(app)
    _register_errors(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    from consular.web import assets

    assets.init_app(app)
    return app


def warm_up(app: Flask, connections: int) -> None:
    """Open the database connections a web worker's threads will use, before the worker takes its
    first request (gunicorn's ``post_worker_init``): a fresh or recycled worker otherwise answers its
    first requests only after connecting, which a burst of status callbacks sees as a stall. A
    database that does not answer yet is not an error here: the requests will say so."""
    with app.app_context():
        engine = db.engine
        opened = []
        try:
            for _ in range(max(1, connections)):
                connection = engine.connect()
                opened.append(connection)
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            logging.getLogger(__name__).warning("warm-up: the database did not answer: %s", exc)
        finally:
            for connection in opened:
                connection.close()


def _register_blueprints(app: Flask) -> None:
    from consular.audit.views import bp as audit_bp
    from consular.auth.views import bp as auth_bp
    from consular.network.api import bp as network_api_bp
    from consular.network.views import bp as network_bp
    from consular.web.views import bp as web_bp

    for bp in (web_bp, auth_bp, network_bp, network_api_bp, audit_bp):
        app.register_blueprint(bp)

    from consular.api_docs import bp as api_docs_bp
    from consular.cases.api import bp as cases_api_bp
    from consular.cases.reports import bp as reports_bp

    for bp in (cases_api_bp, reports_bp, api_docs_bp):
        app.register_blueprint(bp)

    from consular.cases.views import bp as cases_bp

    app.register_blueprint(cases_bp)

    from consular.registry.api import bp as registry_api_bp
    from consular.registry.views import bp as registry_bp

    for bp in (registry_bp, registry_api_bp):
        app.register_blueprint(bp)

    from consular.activities import risk_views as _risk_views  # noqa: F401 (its routes join bp)
    from consular.activities import summary as _summary  # noqa: F401 (its route joins bp)
    from consular.activities.api import bp as activities_api_bp
    from consular.activities.views import bp as activities_bp

    for bp in (activities_bp, activities_api_bp):
        app.register_blueprint(bp)

    from consular.webhooks.views import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)

    from alerts.app import init_app as init_alerts
    from consular.ops import health, metrics

    init_alerts(app)  # its pages, feeds, webhooks and worker page; its checks, figures and data hooks

    from consular.activities.demo import load_demo_activities
    from consular.demo import register_demo_loader

    register_demo_loader("activities", load_demo_activities)  # after the alerts': a drill names one

    health.init_app(app)
    metrics.init_app(app)


def _register_hooks(app: Flask) -> None:
    from consular.auth.scoping import record_refusal
    from consular.auth.session import load_current_user

    @app.before_request
    def _identify() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming[:40] if incoming.isascii() and incoming.isprintable() and incoming \
            else secrets.token_hex(8)
        load_current_user()
        view = app.view_functions.get(request.endpoint or "")
        if (request.method not in ("GET", "HEAD", "OPTIONS") and not g.via_token
                and not getattr(view, "csrf_exempt", False)):
            csrf.protect()

    @app.after_request
    def _security_headers(response: Response) -> Response:
        settings: Settings = current_settings(app)
        h = response.headers
        tiles = f" {_origin(settings.map_tile_url)}" if settings.map_tile_url else ""
        h.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; "
            "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'",
        )
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "same-origin"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        if settings.secure_cookies:
            h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        # Static files may be cached; an error page under /static/ is a page like any other.
        if not request.path.startswith("/static/") or response.status_code >= 400:
            h["Cache-Control"] = "no-store"
        h["X-Request-ID"] = getattr(g, "request_id", "")
        return response

    @app.after_request
    def _end_transaction(response: Response) -> Response:
        """The request's one commit: what a success or a redirect wrote is committed before its
        body is sent (a streamed body included); any other answer writes nothing. A commit that
        fails (someone else's write came first) answers 409, or 500, instead of the success.
        Registered after ``_security_headers``, so that it runs before them (Flask runs these
        hooks last-registered first) and an error answered here gets the headers too.

        Every 403 and 404 a logged-in user gets, pages and API alike, is then an entry of its own
        in the audit trail (an officer trying other people's records leaves a trace), committed
        apart: whatever the refused request left unsaved is dropped first."""
        request.environ[TRANSACTION_ENDED] = True
        try:
            end_request(response.status_code < 400)
        except SQLAlchemyError as exc:
            conflict = isinstance(exc, IntegrityError | StaleDataError)
            app.logger.log(logging.WARNING if conflict else logging.ERROR,
                           "commit failed (request %s)", g.get("request_id", "-"), exc_info=exc)
            return _error_response(409 if conflict else 500)
        if response.status_code in (403, 404) and g.get("user") is not None:
            try:
                record_refusal(response.status_code)
                commit_apart()
            except SQLAlchemyError:  # the answer stands even when the trail cannot be written
                db.session.rollback()
                app.logger.exception("refused access not recorded (request %s)",
                                     g.get("request_id", "-"))
        return response

    @app.teardown_request
    def _rollback_on_error(exc: BaseException | None) -> None:
        late = request.environ.get(TRANSACTION_ENDED, False) and unsaved_writes()
        if late and exc is None:
            # Written after the request's commit (by a streamed body): not kept, and said so.
            app.logger.error("writes made after the request's commit were dropped (request %s)",
                             g.get("request_id", "-"))
        if exc is not None or late:
            db.session.rollback()


def _error_response(code: int) -> Response:
    """The error answer of ``code`` (a page, or JSON for an API call), as the handlers give it."""
    message = error_message(code)
    if wants_json():
        return make_response(jsonify(error=code, message=message), code)
    return make_response(render_template("error.html", code=code, message=message), code)


def _back_url() -> str | None:
    """The page of this site the refused form was sent from (the browser names it: our
    Referrer-Policy is same-origin), so the error page can lead back to it."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if not referrer or parts.scheme not in ("http", "https") or parts.netloc != request.host:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else None


def _register_errors(app: Flask) -> None:
    api.init_app(app)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        message = _("Your form expired or was not sent from this site. Please reload the page and "
                    "try again.")
        if wants_json():
            return jsonify(error="csrf", message=message), 400
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if code == 401 and not wants_json():
            # Tell the login page when a session timed out or was ended, so it can say so.
            values: dict[str, Any] = {"next": request.full_path.rstrip("?")}
            if getattr(g, "session_expired", False):
                values["expired"] = 1
            return redirect(url_for("auth.login", **values))
        message = error_message(code)
        detail = exc.description if getattr(exc, "_consular_user_message", False) else None
        # A 405 names the methods the path does take (RFC 9110), as werkzeug's own answer would.
        valid = getattr(exc, "valid_methods", None)
        headers = {"Allow": ", ".join(sorted(valid))} if valid else {}
        if wants_json():
            body: dict[str, Any] = {"error": code, "message": detail or message}
            return jsonify(body), code, headers
        return render_template("error.html", code=code, message=detail or message,
                               back_url=_back_url() if code in (400, 409, 413) else None), code, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error (request %s)", getattr(g, "request_id", "-"))
        db.session.rollback()
        if wants_json():
            return jsonify(error=500, message=error_message(500)), 500
        return render_template("error.html", code=500, message=error_message(500)), 500


def _register_template_helpers(app: Flask) -> None:
    from consular.audit.labels import action_label, object_label
    from consular.auth.models import Role
    from consular.auth.session import current_user
    from consular.web.a11y import in_lang

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {
            "current_user": current_user(),
            "Role": Role,
            "ui_locales": i18n.UI_LOCALES,
            "current_locale": str(i18n.current_locale()),
            "settings": current_settings(app),
        }

    app.jinja_env.filters["country"] = i18n.country_name
    app.jinja_env.filters["dt"] = i18n.format_dt
    app.jinja_env.filters["day"] = i18n.format_day
    app.jinja_env.filters["num"] = i18n.format_number
    app.jinja_env.filters["plural_count"] = i18n.plural_count
    app.jinja_env.filters["language"] = i18n.language_name
    # A point, station, mission or the centre by its name in the reader's language.
    # Its Chinese name on an English page (no English one given) carries lang="zh-Hans", so a
    # screen reader reads it with a Chinese voice; ``place_text`` is the bare name (options).
    app.jinja_env.filters["place_text"] = lambda place: place.name_in(str(i18n.current_locale()))
    app.jinja_env.filters["place"] = lambda place: in_lang(place.name_in(str(i18n.current_locale())))
    app.jinja_env.filters["audit_action"] = action_label
    app.jinja_env.filters["audit_object"] = object_label
