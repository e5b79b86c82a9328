"""How the alerts side joins the application, called once by ``consular.app.create_app``: its pages,
feeds, provider webhooks and worker page, what it adds to the operations side (``ops_hooks``), and
its demo alerts after the rest of the demo."""

from __future__ import annotations

from flask import Flask

from alerts import demo, ops_hooks
from alerts.authoring import (  # noqa: F401  (their routes)
    alert_views,
    api_follow,
    call_round_views,
    library_views,
)
from alerts.authoring.api import bp as alerts_api_bp
from alerts.authoring.feeds import bp as alert_feeds_bp
from alerts.authoring.views import bp as alert_pages_bp
from alerts.enrolment.views import bp as enrol_bp
from alerts.gateways.views import bp as dev_sms_bp
from alerts.hazards.views import bp as hazard_pages_bp
from alerts.replies.voice import bp as voice_webhooks_bp
from alerts.replies.webhooks import bp as webhooks_bp
from alerts.workers import bp as workers_bp
from consular.auth.session import signed_webhooks_under
from consular.demo import register_demo_loader


def _load_demo_alerts() -> None:
    demo.load_demo_alerts()  # read from the module when called, so that it can be replaced


def init_app(app: Flask) -> None:
    from alerts.authoring.placeholders import marked, with_place

    app.jinja_env.filters["with_place"] = with_place
    app.jinja_env.filters["placeholders_marked"] = marked
    for bp in (workers_bp, dev_sms_bp):
        app.register_blueprint(bp)
    app.register_blueprint(alert_feeds_bp)  # before the pages: /alerts/feed.atom is a fixed path
    app.register_blueprint(hazard_pages_bp)  # before the alert pages, as the feed is
    app.register_blueprint(alert_pages_bp)
    app.register_blueprint(alerts_api_bp)  # /api/v1/alerts: the pages' operations as JSON
    app.register_blueprint(webhooks_bp)  # Twilio's callbacks: signature-checked, CSRF-exempt
    app.register_blueprint(voice_webhooks_bp)  # calls' TwiML, keys and statuses: signed likewise
    for signed in (webhooks_bp, voice_webhooks_bp):  # no session to open or save for Twilio's calls
        signed_webhooks_under(app, signed.url_prefix)
    app.register_blueprint(enrol_bp)  # the public self-enrolment pages (no login)
    ops_hooks.register()
    register_demo_loader("alerts", _load_demo_alerts)
