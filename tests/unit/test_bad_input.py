"""Bad input on every form and endpoint that takes input: empty, huge, malformed, wrong-type,
wrong-encoding and hostile values get a clear 4xx in the user's language (never a 500) and write
nothing, and hostile text that is valid (a name with markup) is stored as typed and shown escaped.

The forms are found on the pages that show them (so every field a user can send is tried) and the
write routes come from the app's URL map: a new write route fails this file until the sweep knows
how to reach it or the list of exempt routes says why it needs no sweep."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts import targeting
from alerts.authoring import break_glass as break_glass_ops
from alerts.authoring import operations as alert_ops
from alerts.authoring.demo_templates import load_demo_templates
from alerts.authoring.models import AlertTemplate
from alerts.models import Delivery, DeliveryState
from consular.activities import operations as activity_ops
from consular.activities import risks as risk_ops
from consular.audit.models import AuditEntry
from consular.auth.models import Role, User
from consular.auth.operations import create_api_token
from consular.cases import operations as case_ops
from consular.cases.models import Case
from consular.db import db, utcnow
from consular.network.models import CoordinationCentre, DivisionLevel
from consular.registry import operations as registry_ops
from consular.registry.models import Registrant, RegistrantImport
from consular.webhooks import operations as webhook_ops
from tests.conftest import Browser, api_headers
from tests.hostile import (
    GBK,
    HOSTILE_TEXT,
    INVALID_UTF8,
    JSON_BODIES,
    SCRIPT,
    WRONG_TYPES,
    encode_form,
    has_cjk,
)
from tests.support.alerts import alert_input, approved_alert, texts
from tests.support.built_once import built_once
from tests.support.cases import advance

# --- reading forms off a page -------------------------------------------------------------------


@dataclass
class Form:
    action: str
    multipart: bool
    # (name, kind, value) in page order; kind is the input type, "select" or "textarea".
    fields: list[tuple[str, str, str]] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """What the browser would send as the page stands (first option of a select, checked boxes)."""
        data: dict[str, list[str]] = {}
        for name, kind, value in self.fields:
            if kind == "select" and not value:
                value = next(iter(self.options.get(name, [])), "")
            data.setdefault(name, []).append(value)
        return {name: values[0] if len(values) == 1 else values for name, values in data.items()}


class _FormReader(HTMLParser):
    def __init__(self, page_url: str, method: str = "post") -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.method = method
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == self.method:
                self._form = Form(a.get("action") or self.page_url,
                                  a.get("enctype", "") == "multipart/form-data")
                self.forms.append(self._form)
            return
        form = self._form
        if form is None or "name" not in a and tag != "option":
            return
        name = a.get("name", "")
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                form.options.setdefault(name, []).append(a.get("value", "y"))
                return
            form.fields.append((name, kind, a.get("value", "y" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select = name
            form.fields.append((name, "select", ""))
            form.options.setdefault(name, [])
        elif tag == "option" and self._select is not None:
            form.options[self._select].append(a.get("value", ""))
            if "selected" in a:
                form.fields = [(n, k, a.get("value", "") if n == self._select and k == "select" else v)
                               for n, k, v in form.fields]
        elif tag == "textarea":
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.fields.append((self._textarea, "textarea", "".join(self._text).strip("\n")))
            self._textarea = None


def forms_on(html: str, page_url: str, method: str = "post") -> list[Form]:
    reader = _FormReader(page_url, method)
    reader.feed(html)
    return reader.forms


_MESSAGE_RE = re.compile(
    r'<(?P<tag>div|p|span|li|td)(?![^>]*data-testid="worker-down")[^>]*'
    r'(?:class="[^"]*(?:invalid-feedback|alert-danger|alert-warning|text-danger)[^"]*"'
    r'|data-testid="error-message")[^>]*>(?P<text>.*?)</(?P=tag)>', re.S)


def messages_in(response: Any) -> list[str]:
    """The error messages a user reads on the page or in the JSON answer."""
    if response.is_json:
        body = response.get_json(silent=True)
        if not isinstance(body, dict):
            return []
        found = [str(body.get("message", ""))] + [str(v) for v in (body.get("fields") or {}).values()]
        return [m for m in found if m]
    html = response.get_data(as_text=True)
    return [t for t in (unescape(re.sub(r"<[^>]+>", " ", m.group("text"))).strip()
                        for m in _MESSAGE_RE.finditer(html)) if t]


# --- what must not change when input is refused -------------------------------------------------

# Audit actions that record a read, a login or a refused attempt: they are written on purpose even
# when the input is refused, so they are not half-written changes; nor are failed logins counted
# for throttling, or a token's last use.
NOT_WRITES = ("case.view", "incident.view", "registrant.view", "registrant.list", "alert.call_round.view",
              "activity.view", "risk_point.view",
              "login.", "password_change.failed", "report.export", "registrant.export", "access.refused")
_WRITE_RE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.I)


class WriteLog:
    """The data changes each request committed, seen at the database driver (so nothing the
    application does escapes it, and it costs nothing per request)."""

    def __init__(self) -> None:
        self._pending: dict[int, list[str]] = {}
        self._committed: list[str] = []

    def statement(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                  executemany: bool) -> None:
        match = _WRITE_RE.match(statement)
        if not match:
            return
        table = match.group(1).lower()
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        if table == "login_attempt" or (table == "api_token" and "last_used_at" in statement
                                        and "revoked_at" not in statement):
            return
        if table == AuditEntry.__tablename__ and any(
                isinstance(v, str) and v.startswith(NOT_WRITES) for v in values):
            return
        self._pending.setdefault(id(conn), []).append(table)

    def commit(self, conn: Any) -> None:
        self._committed += self._pending.pop(id(conn), [])

    def rollback(self, conn: Any) -> None:
        self._pending.pop(id(conn), None)

    def take(self) -> list[str]:
        """The tables written (and committed) since the last call."""
        taken, self._committed = self._committed, []
        return sorted(set(taken))


@pytest.fixture
def writes(app: Flask) -> Iterator[WriteLog]:
    log = WriteLog()
    engine = db.engine
    hooks = [("before_cursor_execute", log.statement), ("commit", log.commit),
             ("rollback", log.rollback)]
    for name, hook in hooks:
        sa.event.listen(engine, name, hook)
    yield log
    for name, hook in hooks:
        sa.event.remove(engine, name, hook)


# --- the world the sweep works in ---------------------------------------------------------------


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, int]
    token: str


@pytest.fixture
def world(app: Flask, make_user: Callable[..., User], make_division: Callable[..., Any],
          make_point: Callable[..., Any], make_station: Callable[..., Any],
          make_mission: Callable[..., Any]) -> World:
    """One of everything a write route acts on, in a state where its form is offered: built by the
    first test of the database, its rows put back for each later one."""
    user_ids, ids, token = built_once("bad_input", lambda: _build_world(
        make_user, make_division, make_point, make_station, make_mission))
    users = {who: db.session.get_one(User, user_id) for who, user_id in user_ids.items()}
    return World(users, ids, token)


def _build_world(make_user: Callable[..., User], make_division: Callable[..., Any],
                 make_point: Callable[..., Any], make_station: Callable[..., Any],
                 make_mission: Callable[..., Any]) -> tuple[dict[str, int], dict[str, int], str]:
    """The world's rows: (the users' ids, the other ids, an admin's API token)."""
    county = make_division("某区", level=DivisionLevel.county, code="Q")
    town = make_division("某镇", parent=county, code="Q1")
    point, station, mission = make_point("某镇联络点", division=town), make_station("普拉托服务站"), \
        make_mission()
    db.session.add(CoordinationCentre(name="协调中心", city="温州", timezone="Asia/Shanghai"))
    users = {
        "admin": make_user(Role.admin, username="root", locale="en"),
        "coordinator": make_user(Role.coordinator, username="zhang", locale="en"),
        "approver": make_user(Role.coordinator, username="li", locale="en"),
        "officer": make_user(Role.liaison_officer, username="officer", liaison_point_id=point.id,
                             locale="en"),
        "volunteer": make_user(Role.station_volunteer, username="vol", station_id=station.id,
                               locale="en"),
        "other": make_user(Role.liaison_officer, username="other", liaison_point_id=point.id,
                           locale="en"),
    }
    coordinator, officer = users["coordinator"], users["officer"]

    def new_case(summary: str, *steps: str) -> Case:
        case = case_ops.create_case(
            {"country_code": "IT", "city": "Prato", "category": "detained", "summary": summary,
             "priority": "P2"},
            [{"role": "involved", "name_zh": "陈一", "name_latin": "CHEN YI",
              "phone": "+393310000001"}], user=officer)
        db.session.commit()
        return advance(case, coordinator, *steps, station=station, volunteer=users["volunteer"],
                       priority="P2", instructions="请了解情况")

    triaged = new_case("已分诊", "triage")
    case_ops.refer(triaged, user=coordinator, target="police", target_name="普拉托警察局")
    db.session.commit()
    offered = new_case("待接受", "triage", "assign")
    working = new_case("处理中", "triage", "assign", "accept")
    resolved = new_case("已解决", "triage", "assign", "accept", "resolve")
    incident = case_ops.create_incident({"title": "演练事件", "country_code": "IT"}, user=coordinator)
    draft = case_ops.save_draft(officer, {"summary": "草稿"})
    registrant = registry_ops.register(
        {"name": "王伟", "phone": "+39 312 345 6701", "country_code": "IT", "city": "Prato",
         "language": "zh_Hans", "consent_method": "written"}, user=coordinator)
    draft_alert = alert_ops.create_alert(alert_input(), texts(), [{"country_code": "IT", "city": ""}],
                                         user=coordinator)
    waiting = alert_ops.create_alert(alert_input(), texts(), [{"country_code": "IT", "city": ""}],
                                     user=users["approver"])
    alert_ops.submit_for_approval(waiting, user=users["approver"])
    waiting_too = alert_ops.create_alert(alert_input(), texts(), [{"country_code": "IT", "city": ""}],
                                         user=users["approver"])
    alert_ops.submit_for_approval(waiting_too, user=users["approver"])
    approved = alert_ops.create_alert(
        alert_input(send_at=utcnow() + timedelta(days=2), expires_at=utcnow() + timedelta(days=3)), texts(),
        [{"country_code": "IT", "city": ""}], user=users["approver"])
    alert_ops.submit_for_approval(approved, user=users["approver"])
    alert_ops.approve(approved, user=coordinator)
    extreme = alert_ops.create_alert(alert_input(severity="Extreme"), texts(),
                                     [{"country_code": "IT", "city": ""}], user=coordinator)
    glass = alert_ops.create_alert(alert_input(severity="Extreme"), texts(),
                                   [{"country_code": "IT", "city": ""}], user=users["approver"])
    break_glass_ops.break_glass(glass, user=users["approver"], reason="值班只有一人")
    # A safety check nobody answered an hour after it went out: its call round lists the registrant.
    check = approved_alert(users["approver"], coordinator, safety_check=True, safety_check_minutes=30)
    targeting.fan_out(check)
    db.session.execute(sa.update(Delivery).where(Delivery.alert_id == check.id).values(
        state=DeliveryState.delivered, submitted_at=utcnow() - timedelta(hours=1)))
    load_demo_templates()
    template = db.session.scalar(sa.select(sa.func.min(AlertTemplate.id)))
    api_token, _secret = create_api_token(coordinator, "sweep")
    _admin_token, admin_secret = create_api_token(users["admin"], "sweep")
    db.session.commit()
    talk = activity_ops.log_activity(
        {"kind": "talk", "title": "高校宣讲", "held_on": "2026-01-15", "place_kind": "home",
         "division_id": town.id, "audience": "students", "setting": "university", "head_count": 120},
        user=officer)
    patrol = activity_ops.log_activity(
        {"kind": "patrol", "title": "巡查普拉托服务站", "held_on": "2026-01-20", "place_kind": "station",
         "station_id": station.id, "audience": "volunteers", "head_count": 6}, user=coordinator)
    follow_up = activity_ops.add_follow_up(talk, {"action": "寄送材料", "owner": "中心",
                                                  "due_on": "2026-02-01"}, user=coordinator)
    risk = risk_ops.report_risk({"title": "假警察电话", "kind": "scam", "level": "medium",
                                 "found_on": "2026-01-10"}, user=users["volunteer"])
    measure = risk_ops.add_measure(risk, {"action": "发布提醒", "owner": "中心", "due_on": "2026-02-01"},
                                   user=coordinator)
    subscription, _hook_secret = webhook_ops.create_subscription(
        url="http://127.0.0.1:9/hooks", description="省级平台", events=["alert.sent"], active=True,
        user=users["admin"])
    db.session.commit()
    ids = {"county": county.id, "town": town.id, "point": point.id, "station": station.id,
           "mission": mission.id, "triaged": triaged.id, "offered": offered.id,
           "working": working.id, "resolved": resolved.id, "incident": incident.id,
           "draft": draft.id, "registrant": registrant.id,
           "draft_alert": draft_alert.id, "waiting_alert": waiting.id, "waiting_too": waiting_too.id,
           "approved_alert": approved.id, "extreme_alert": extreme.id, "break_glass_alert": glass.id,
           "safety_check": check.id,
           "template": template,
           "token": api_token.id, "referral": triaged.referrals[0].id,
           "other_user": users["other"].id, "talk": talk.id, "patrol": patrol.id,
           "follow_up": follow_up.id, "risk": risk.id, "measure": measure.id,
           "subscription": subscription.id}
    return {who: user.id for who, user in users.items()}, ids, admin_secret


# --- which page shows the form of each write route ----------------------------------------------

# endpoint → (who uses it, the page that shows its form). The page is formatted with the world's ids.
FORM_PAGES: dict[str, tuple[str, str]] = {
    "auth.login": ("guest", "/login"),
    "auth.change_password": ("coordinator", "/account"),
    "auth.create_token": ("coordinator", "/account"),
    "auth.revoke_token": ("coordinator", "/account"),
    "auth.setup_2fa": ("coordinator", "/account/2fa"),
    "auth.user_new": ("admin", "/admin/users/new"),
    "auth.user_edit": ("admin", "/admin/users/{other_user}"),
    "auth.user_password": ("admin", "/admin/users/{other_user}/password"),
    "auth.user_deactivate": ("admin", "/admin/users/{other_user}"),
    "web.set_language": ("coordinator", "/"),
    "cases.new_case": ("officer", "/cases/new"),
    "cases.edit_case": ("coordinator", "/cases/{triaged}/edit"),
    "cases.act": ("coordinator", "/cases/{triaged}"),
    "cases.incidents": ("coordinator", "/cases/incidents"),
    "cases.incident_mass": ("coordinator", "/cases/incidents/{incident}"),
    "cases.discard_draft": ("officer", "/cases/drafts"),
    "cases.notifications_read": ("coordinator", "/notifications"),
    "registry.new": ("coordinator", "/registrants/new"),
    "registry.edit": ("coordinator", "/registrants/{registrant}/edit"),
    "registry.status": ("coordinator", "/registrants/{registrant}"),
    "registry.end": ("coordinator", "/registrants/{registrant}"),
    "registry.legal_hold": ("coordinator", "/registrants/{registrant}"),
    "registry.erase": ("coordinator", "/registrants/{registrant}/erase"),
    "registry.import_upload": ("coordinator", "/registrants/import"),
    "alert_pages.new": ("coordinator", "/alerts/new"),
    "alert_pages.edit": ("coordinator", "/alerts/{draft_alert}/edit"),
    "alert_pages.reject": ("coordinator", "/alerts/{waiting_alert}"),
    "alert_pages.approve": ("coordinator", "/alerts/{waiting_too}"),
    "alert_pages.submit": ("coordinator", "/alerts/{draft_alert}"),
    "alert_pages.cancel": ("coordinator", "/alerts/{approved_alert}"),
    "alert_pages.break_glass": ("coordinator", "/alerts/{extreme_alert}"),
    "alert_pages.break_glass_review": ("coordinator", "/alerts/{break_glass_alert}"),
    "alert_pages.call_outcome": ("coordinator", "/alerts/{safety_check}/call-round"),
    "alert_pages.template_new": ("coordinator", "/alerts/templates/new"),
    "alert_pages.template_edit": ("coordinator", "/alerts/templates/{template}/edit"),
    "webhook_admin.subscription_new": ("admin", "/admin/webhooks/new"),
    "webhook_admin.subscription_edit": ("admin", "/admin/webhooks/{subscription}"),
    "webhook_admin.subscription_rotate": ("admin", "/admin/webhooks/{subscription}"),
    "network.liaison_point_new": ("admin", "/network/liaison-points/new"),
    "network.liaison_point_edit": ("admin", "/network/liaison-points/{point}/edit"),
    "network.liaison_point_deactivate": ("admin", "/network/liaison-points/{point}"),
    "network.station_new": ("admin", "/network/stations/new"),
    "network.station_edit": ("admin", "/network/stations/{station}/edit"),
    "network.station_deactivate": ("admin", "/network/stations/{station}"),
    "network.mission_new": ("admin", "/network/missions/new"),
    "network.mission_edit": ("admin", "/network/missions/{mission}/edit"),
    "network.mission_deactivate": ("admin", "/network/missions/{mission}"),
    "network.division_new": ("admin", "/network/divisions/new"),
    "network.division_edit": ("admin", "/network/divisions/{town}/edit"),
    "network.division_deactivate": ("admin", "/network/divisions/{town}"),
    "network.centre_edit": ("admin", "/network/centre/edit"),
    "activities.activity_new": ("officer", "/activities/new?kind=talk"),
    "activities.activity_edit": ("coordinator", "/activities/{talk}/edit"),
    "activities.patrol_check": ("coordinator", "/activities/{patrol}"),
    "activities.attachment_upload": ("coordinator", "/activities/{talk}"),
    "activities.follow_up_new": ("coordinator", "/activities/{talk}"),
    "activities.follow_up_done": ("coordinator", "/activities/{talk}"),
    "activities.risk_new": ("volunteer", "/risks/new"),
    "activities.risk_edit": ("coordinator", "/risks/{risk}/edit"),
    "activities.measure_new": ("coordinator", "/risks/{risk}"),
    "activities.measure_update": ("coordinator", "/risks/{risk}"),
    "activities.risk_link": ("coordinator", "/risks/{risk}"),
    "activities.risk_decide": ("coordinator", "/risks/{risk}"),
    "enrol.request_code": ("guest", "/enrol/"),
}

# endpoint → why the form sweep does not post to it.
EXEMPT: dict[str, str] = {
    "auth.logout": "takes no input but the CSRF token (tests/unit/test_security_csrf.py)",
    "auth.login_code": "the second login step, reached only with a pending 2FA login "
                       "(tests/unit/test_auth_2fa.py)",
    "auth.login_enrol": "the 2FA enrolment step, reached only with a pending login (test_auth_2fa.py)",
    "auth.user_reactivate": "no input; offered only for a deactivated account (same form as deactivate)",
    "auth.user_reset_2fa": "no input; offered only for an account with 2FA (tests/unit/test_auth_2fa.py)",
    "registry.import_confirm": "no input; shown only in the upload's answer (test_registry_import.py)",
    "registry.import_discard": "no input; shown only in the upload's answer (test_registry_import.py)",
    "alert_pages.write_update": "no input; offered once an alert went out (test_alerts_compose.py)",
    "alert_pages.write_cancel_notice": "no input; offered once an alert went out (test_alerts_compose.py)",
    "auth.api_revoke_token": "no body; revokes the caller's own token (tests/unit/test_auth_tokens.py)",
    "network.liaison_point_reactivate": "no input; the twin of deactivate, offered once inactive",
    "network.station_reactivate": "no input; the twin of deactivate, offered once inactive",
    "network.mission_reactivate": "no input; the twin of deactivate, offered once inactive",
    "network.division_reactivate": "no input; the twin of deactivate, offered once inactive",
    "cases.save_draft": "JSON for the case form's script: test_page_scripts_json_refuses_bad_bodies",
    "alert_pages.estimate": "JSON for the compose page: test_page_scripts_json_refuses_bad_bodies",
    "enrol.check": "reached only with a code sent (test_enrolment.py: the forms behind a code)",
    "enrol.save": "reached only with a proved number (test_enrolment.py: the forms behind a code)",
    "enrol.end": "reached only with a proved number (test_enrolment.py: the forms behind a code)",
    "webhooks.inbound": "Twilio-signed: test_webhooks_refuse_junk",
    "webhooks.status_callback": "Twilio-signed: test_webhooks_refuse_junk",
    "voice_webhooks.twiml": "Twilio-signed: test_webhooks_refuse_junk",
    "voice_webhooks.answer": "Twilio-signed: test_webhooks_refuse_junk",
    "voice_webhooks.call_status": "Twilio-signed: test_webhooks_refuse_junk",
}

# JSON endpoints called by the pages' scripts (session cookie + X-CSRFToken), not the /api/v1 API.
PAGE_JSON: dict[str, tuple[str, str]] = {
    "cases.save_draft": ("officer", "/cases/drafts"),
    "alert_pages.estimate": ("coordinator", "/alerts/estimate"),
}

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def api_write_endpoints(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/v1/") and rule.methods & WRITE_METHODS}


def test_every_write_route_is_swept_or_exempt(app: Flask) -> None:
    writes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.methods & WRITE_METHODS}
    known = set(FORM_PAGES) | set(EXEMPT) | api_write_endpoints(app)
    assert not writes - known, f"write routes the bad-input sweep does not know: {sorted(writes - known)}"
    assert not (set(FORM_PAGES) | set(EXEMPT)) - writes, "routes that no longer exist are listed"
    assert set(PAGE_JSON) <= set(EXEMPT)


# --- the form sweep -----------------------------------------------------------------------------


def _browser(app: Flask, world: World, who: str) -> Browser:
    browser = Browser(app.test_client())
    if who != "guest":
        response = browser.login(world.users[who].username)
        assert response.status_code == 302
    return browser


def _forms_for(app: Flask, browser: Browser, page: str, endpoint: str) -> tuple[list[Form], str]:
    """The forms on ``page`` that post to ``endpoint``, and the page (empty when it is gone)."""
    response = browser.get(page)
    if response.status_code != 200:
        return [], ""
    adapter = app.url_map.bind("localhost")
    found = []
    for form in forms_on(response.get_data(as_text=True), page):
        path = urlsplit(form.action).path
        try:
            matched, _args = adapter.match(path, method="POST")
        except Exception:  # noqa: S112 (a form posting elsewhere, e.g. to another site)
            continue
        if matched == endpoint:
            found.append(form)
    return found, response.get_data(as_text=True)


TEXT_KINDS = {"text", "textarea", "select", "email", "tel", "number", "date", "datetime-local",
              "time", "password", "search", "url", "checkbox", "radio", ""}


TEXT_ROUNDS = 2
ONE_FIELD_ROUNDS = 5


def _repeated(base: dict[str, Any], name: str, times: int) -> bytes:
    """``encode_form({**base, name: ["x"] * times})``, with the one pair encoded once."""
    return b"&".join(b"&".join([encode_form({key: "x"})] * times) if key == name
                     else encode_form({key: value}) for key, value in {**base, name: "x"}.items())


def _bad_bodies(form: Form, first: bool) -> Iterator[tuple[str, bytes, str]]:
    """(class of trouble, body, content type) for one form. Each text round gives every visible
    field a different class of trouble (the classes rotate from round to round, and most forms check
    every field before refusing), one round sends raw bytes that are not UTF-8 (invalid bytes and
    GBK, alternately). The first form of a route also gets its fields missing, hidden fields
    tampered with, one value over the request size limit and one field repeated 10,000 times."""
    base = form.values()
    visible = list(dict.fromkeys(n for n, kind, _v in form.fields
                                 if kind in TEXT_KINDS and n != "csrf_token"))
    hidden = [n for n, kind, _v in form.fields if kind == "hidden" and n != "csrf_token"]
    classes = list(HOSTILE_TEXT)
    ctype = "application/x-www-form-urlencoded"
    rounds = TEXT_ROUNDS if len(visible) > 1 else ONE_FIELD_ROUNDS
    step = 1 if len(visible) == 1 else -(-len(classes) // TEXT_ROUNDS)
    for k in range(rounds if visible else 1):
        chosen = {name: classes[(i + k * step) % len(classes)] for i, name in enumerate(visible)}
        label = "+".join(sorted(set(chosen.values()))) or "as_shown"
        yield label, encode_form({**base, **{n: HOSTILE_TEXT[c] for n, c in chosen.items()}}), ctype
    if visible:
        raw = {n: INVALID_UTF8 if i % 2 == 0 else GBK for i, n in enumerate(visible)}
        yield "invalid_utf8+gbk", encode_form({**base, **raw}), ctype
    if not first:
        return
    yield "missing_fields", encode_form({"csrf_token": base.get("csrf_token", "")}), ctype
    if visible:
        yield "huge", encode_form({**base, visible[0]: "x" * 1_100_000}), ctype
        yield "repeated", _repeated(base, visible[0], 10_000), ctype
    if hidden:
        yield "hidden_tampered", encode_form({**base, **{n: ("abc\x00", "9" * 30)[i % 2]
                                                       for i, n in enumerate(hidden)}}), ctype


def _check_answer(response: Any, where: str, problems: list[str]) -> None:
    if response.status_code >= 500:
        problems.append(f"{where}: {response.status_code}")
    elif response.status_code >= 400 and not messages_in(response):
        problems.append(f"{where}: {response.status_code} without a message for the user")


def _area(endpoint: str) -> str:
    blueprint = endpoint.split(".")[0]
    if blueprint == "webhook_admin":
        return "webhooks"
    return blueprint.replace("alert_pages", "alerts").replace("web", "auth")


@pytest.mark.parametrize("area", ["auth", "cases", "registry", "alerts", "network", "activities",
                                  "webhooks", "enrol"])
def test_every_form_refuses_bad_input_cleanly(app: Flask, world: World, writes: WriteLog,
                                              area: str) -> None:
    """Each area's forms in the order of FORM_PAGES (what ends a thing comes last), in one world."""
    problems: list[str] = []
    browsers: dict[str, Browser] = {}
    for endpoint, (who, page_pattern) in FORM_PAGES.items():
        if _area(endpoint) == area:
            browser = browsers.get(who) or browsers.setdefault(who, _browser(app, world, who))
            _sweep_form(app, world, writes, browser, who, endpoint, page_pattern.format(**world.ids),
                        problems)
    assert not problems, "\n".join(problems)


def _sweep_form(app: Flask, world: World, writes: WriteLog, browser: Browser, who: str, endpoint: str,
                page: str, problems: list[str]) -> None:
    forms, _html = _forms_for(app, browser, page, endpoint)
    if not forms:
        problems.append(f"{page} shows no form posting to {endpoint}")
        return
    refused: list[tuple[str, bytes, str]] = []
    writes.take()
    for index in range(len(forms)):
        for trouble, body, ctype in _bad_bodies(forms[index], first=index == 0):
            url = forms[index].action
            response = browser.client.post(url, data=body, content_type=ctype)
            where = f"{endpoint} {url} {trouble}"
            _check_answer(response, where, problems)
            written = writes.take()
            if 400 <= response.status_code < 500:
                if written:
                    problems.append(f"{where}: refused but wrote {written}")
                if response.status_code not in (409, 413) and "csrf" not in trouble:
                    refused.append((url, body, ctype))
            elif response.status_code in (302, 303) and not written and index == 0 \
                    and _flashed_refusal(browser, response):
                # The small forms on a record's page refuse with a message at the top of the page
                # they return to (as their own tests expect), having written nothing.
                refused.append((url, body, ctype))
            elif response.status_code < 400:
                # Accepted (valid hostile text, or a form with nothing to refuse): the next try
                # starts from the page as it now stands, which shows the text escaped.
                fresh, html = _forms_for(app, browser, page, endpoint)
                if SCRIPT in html:
                    problems.append(f"{page}: {SCRIPT} shown unescaped after {where}")
                if len(fresh) != len(forms):
                    return  # the thing is gone (erased, discarded): nothing left to send
                forms = fresh
                writes.take()
    if refused and who != "guest":
        _says_it_in_the_users_language(browser, world.users[who], refused[0], problems)


def _flashed_refusal(browser: Browser, response: Any) -> bool:
    back = browser.get(response.headers["Location"])
    return back.status_code == 200 and bool(messages_in(back))


def _says_it_in_the_users_language(browser: Browser, user: User, sample: tuple[str, bytes, str],
                                   problems: list[str]) -> None:
    url, body, ctype = sample
    said: dict[str, list[str]] = {}
    for locale in ("en", "zh_Hans"):
        user.locale = locale
        db.session.commit()
        said[locale] = messages_in(browser.client.post(url, data=body, content_type=ctype,
                                                       follow_redirects=True))
    if not said["en"] or said["en"] == said["zh_Hans"]:
        problems.append(f"{url}: the message is the same in English and Chinese: {said}")
    elif not any(has_cjk(m) for m in said["zh_Hans"]):
        problems.append(f"{url}: no Chinese in the message for a Chinese user: {said['zh_Hans']}")


def test_the_sweep_sees_a_committed_change(app: Flask, world: World, writes: WriteLog) -> None:
    """The write log the sweeps rely on sees what an accepted form commits."""
    browser = _browser(app, world, "coordinator")
    page = f"/cases/{world.ids['triaged']}"
    [note] = [f for f in _forms_for(app, browser, page, "cases.act")[0] if f.action.endswith("/add_note")]
    writes.take()
    response = browser.client.post(note.action, data={**note.values(), "add_note-text": SCRIPT})
    assert response.status_code == 303
    assert "timeline_entry" in writes.take()
    _forms, html = _forms_for(app, browser, page, "cases.act")
    assert SCRIPT not in html and "&lt;script&gt;" in html


# --- one rule for every text field: no bidirectional overrides ----------------------------------

# Reads "Pratoexe.png" on screen; stored, it would disguise a name or a file (consular/validation.py).
BIDI = "Prato\u202egnp.exe"
TYPED_KINDS = {"text", "textarea", "email", "tel", "search", "url", ""}  # a password may hold anything


def _says_bidi(messages: list[str]) -> bool:
    """The rule's message, in English (the sweep's users) or Chinese (a guest's default)."""
    return any("text-direction overrides" in m or "文字方向" in m for m in messages)


@pytest.mark.parametrize("area", ["auth", "cases", "registry", "alerts", "network", "activities",
                                  "webhooks", "enrol"])
def test_a_bidi_override_in_any_text_field_of_any_form_is_refused(app: Flask, world: World,
                                                                  writes: WriteLog, area: str) -> None:
    """Every form, every field a person types into, one at a time: the form as the page shows it with
    that one field holding a right-to-left override is refused with the rule's message, writing
    nothing (a station's name and an alert's text as much as a case's)."""
    problems: list[str] = []
    browsers: dict[str, Browser] = {}
    tried = 0
    for endpoint, (who, page_pattern) in FORM_PAGES.items():
        if _area(endpoint) != area:
            continue
        browser = browsers.get(who) or browsers.setdefault(who, _browser(app, world, who))
        page = page_pattern.format(**world.ids)
        forms, _html = _forms_for(app, browser, page, endpoint)
        writes.take()
        for form in forms:
            # (A person row's "__index__" copy is the script's template, never sent as it is.)
            typed = dict.fromkeys(n for n, kind, _v in form.fields
                                  if kind in TYPED_KINDS and "__index__" not in n)
            for name in typed:
                tried += 1
                response = browser.client.post(
                    form.action, data=encode_form({**form.values(), name: BIDI}),
                    content_type="application/x-www-form-urlencoded")
                where = f"{endpoint} {form.action} {name}"
                written = writes.take()
                said = messages_in(response)
                if response.status_code in (302, 303):
                    said = messages_in(browser.get(response.headers["Location"]))
                elif not 400 <= response.status_code < 500:
                    problems.append(f"{where}: accepted ({response.status_code})")
                if written:
                    problems.append(f"{where}: wrote {written}")
                if not _says_bidi(said):
                    problems.append(f"{where}: {response.status_code} without the rule's message: {said}")
    assert tried, f"no text field found in the {area} forms"
    assert not problems, "\n".join(problems)


# --- the JSON API -------------------------------------------------------------------------------

# Fields of the bodies the OpenAPI document does not spell out (it names the case schemas only).
REGISTRANT_FIELDS = ["name", "phone", "language", "country_code", "city", "kind", "timezone", "stay_from",
                     "stay_until", "consent_method", "consent_at", "consent_note", "consent", "status",
                     "reason", "liaison_point_id", "station_id"]
NETWORK_FIELDS = ["name", "name_en", "division_id", "address", "phone", "country_code", "city",
                  "host_organisation", "host_kind", "timezone", "languages", "contact_name",
                  "contact_phone", "contact_email", "kind", "emergency_phone", "code", "level",
                  "parent_id", "hotline_24h", "active", "names"]


def _api_url(rule: Any, world: World) -> str:
    """The rule's URL with the world's ids (object_id: the object of that collection)."""
    by_collection = {"divisions": "town", "liaison-points": "point", "missions": "mission",
                     "stations": "station"}
    values: dict[str, int] = {}
    for arg in rule.arguments:
        if arg == "object_id":
            values[arg] = world.ids[by_collection[rule.rule.split("/")[3]]]
        else:
            values[arg] = world.ids[{"case_id": "working", "referral_id": "referral",
                                     "registrant_id": "registrant", "incident_id": "incident",
                                     "activity_id": "talk", "follow_up_id": "follow_up",
                                     "risk_id": "risk", "measure_id": "measure",
                                     "alert_id": "draft_alert"}[arg]]
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule.rule)


def _body_fields(doc: dict[str, Any], path: str, method: str) -> list[str]:
    template = re.sub(r"/\d+", "/{id}", path)
    for doc_path, operations in doc["paths"].items():
        if re.sub(r"\{\w+\}", "{id}", doc_path) == template and method.lower() in operations:
            body = operations[method.lower()].get("requestBody", {})
            ref = body.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
            schema = doc["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
            if schema.get("properties"):
                return list(schema["properties"])
    return REGISTRANT_FIELDS if "/registrants" in path else NETWORK_FIELDS


def _typed_rounds(fields: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Bodies in which every field has a wrong type or hostile text, rotating from round to round."""
    values: list[tuple[str, Any]] = [*WRONG_TYPES.items(), *HOSTILE_TEXT.items()]
    for k in range(4):
        chosen = {name: values[(i + k * 5) % len(values)] for i, name in enumerate(fields)}
        yield "+".join(sorted({label for label, _v in chosen.values()})), \
            {name: value for name, (_label, value) in chosen.items()}
    yield "huge_string", {fields[0]: "长" * 400_000}
    yield "unknown_fields", {f"x{i}": i for i in range(200)}


WORK_COLLECTIONS = ("activities", "risks")


@pytest.mark.parametrize("area", ["cases", "registrants", "network", "activities", "alerts"])
def test_every_api_write_refuses_bad_bodies_cleanly(app: Flask, world: World, writes: WriteLog,
                                                    area: str) -> None:
    users = {"cases": "coordinator", "registrants": "coordinator", "network": "admin",
             "activities": "coordinator", "alerts": "coordinator"}
    user = world.users[users[area]]
    headers = api_headers(user, "bad input")
    client = app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    problems: list[str] = []
    writes.take()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint not in api_write_endpoints(app) or rule.endpoint in EXEMPT:
            continue
        collection = rule.rule.split("/")[3]
        if {"cases": collection == "cases", "registrants": collection == "registrants",
            "activities": collection in WORK_COLLECTIONS, "alerts": collection == "alerts"}.get(
                area, collection not in ("cases", "registrants", "alerts", *WORK_COLLECTIONS)) is False:
            continue
        url = _api_url(rule, world)
        for method in sorted(rule.methods & WRITE_METHODS):
            bodies: list[tuple[str, bytes, str]] = [
                (name, raw, ctype) for name, (raw, ctype) in JSON_BODIES.items()]
            for name, body in _typed_rounds(_body_fields(doc, url, method)):
                bodies.append((name, _json_bytes(body), "application/json"))
            for trouble, raw, ctype in bodies:
                response = client.open(url, method=method, data=raw, content_type=ctype,
                                       headers=headers)
                where = f"{method} {url} {trouble[:60]}"
                written = writes.take()
                payload = response.get_json(silent=True)
                if response.status_code >= 500:
                    problems.append(f"{where}: {response.status_code}")
                elif response.status_code >= 400:
                    if not isinstance(payload, dict) or not payload.get("message"):
                        problems.append(f"{where}: {response.status_code} without a JSON message")
                    if written:
                        problems.append(f"{where}: refused but wrote {written}")
    assert not problems, "\n".join(problems)
    said = {}
    target = {"registrants": "/api/v1/registrants", "cases": "/api/v1/cases",
              "activities": "/api/v1/activities", "alerts": "/api/v1/alerts"}.get(area, "/api/v1/stations")
    for locale in ("en", "zh_Hans"):
        user.locale = locale
        db.session.commit()
        said[locale] = messages_in(client.post(target, data=b'{"name": ', content_type="application/json",
                                               headers=headers))
    assert said["en"] and said["en"] != said["zh_Hans"] and any(has_cjk(m) for m in said["zh_Hans"])


# The network registry's text fields per collection (its bodies are one open object in the document).
NETWORK_TEXT = {
    "divisions": ["code", "name", "name_en"],
    "liaison-points": ["name", "name_en", "address", "phone"],
    "stations": ["name", "name_en", "city", "host_organisation", "timezone", "languages",
                 "contact_name", "contact_phone", "contact_email"],
    "missions": ["name", "name_en", "city", "emergency_phone", "phone", "address"],
    "centre": ["name", "name_en", "city", "address", "phone", "hotline_24h", "timezone"],
}


def _text_bodies(doc: dict[str, Any], path: str, method: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, body) with a right-to-left override in each text field of the body, one at a time
    (those the document marks with the text rule's pattern, in people's rows too)."""
    schemas = doc["components"]["schemas"]
    template = re.sub(r"/\d+", "/{id}", path)
    for doc_path, operations in doc["paths"].items():
        if re.sub(r"\{\w+\}", "{id}", doc_path) != template or method.lower() not in operations:
            continue
        body = operations[method.lower()].get("requestBody", {})
        ref = body.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        properties = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        for name, prop in properties.items():
            if "pattern" in prop:
                yield name, {name: BIDI}
            item_ref = prop.get("items", {}).get("$ref", "")
            for sub, sub_prop in schemas.get(item_ref.rsplit("/", 1)[-1], {}).get("properties", {}).items():
                if "pattern" in sub_prop:
                    yield f"{name}.0.{sub}", {name: [{sub: BIDI}]}
    collection = path.split("/")[3]
    if collection in NETWORK_TEXT and not path.endswith("activate"):
        for name in NETWORK_TEXT[collection]:
            yield name, {name: BIDI}


def test_a_bidi_override_in_any_text_field_of_the_api_is_refused(app: Flask, world: World,
                                                                 writes: WriteLog) -> None:
    """The API's every write, every text field of its body, one at a time: a 4xx that names the
    rule, nothing written (cases, registrants and the network's registers alike)."""
    client = app.test_client()
    secrets_by_role = {}
    for who in ("coordinator", "admin"):
        _token, secrets_by_role[who] = create_api_token(world.users[who], "bidi")
    db.session.commit()
    doc = client.get("/api/openapi.json").get_json()
    problems: list[str] = []
    tried = 0
    writes.take()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint not in api_write_endpoints(app) or rule.endpoint in EXEMPT:
            continue
        url = _api_url(rule, world)
        if "referral_id" in rule.arguments:  # the referral is the triaged case's
            url = url.replace(f"/cases/{world.ids['working']}/", f"/cases/{world.ids['triaged']}/")
        who = "coordinator" if url.split("/")[3] in ("cases", "registrants", "alerts", *WORK_COLLECTIONS) \
            else "admin"
        for method in sorted(rule.methods & WRITE_METHODS):
            for name, body in _text_bodies(doc, url, method):
                tried += 1
                response = client.open(url, method=method, json=body,
                                       headers={"Authorization": f"Bearer {secrets_by_role[who]}"})
                where = f"{method} {url} {name}"
                if writes.take():
                    problems.append(f"{where}: wrote something")
                if not 400 <= response.status_code < 500:
                    problems.append(f"{where}: {response.status_code}")
                elif not _says_bidi(messages_in(response)):
                    problems.append(f"{where}: {response.status_code} without the rule's message: "
                                    f"{response.get_json(silent=True)}")
    assert tried > 60
    assert not problems, "\n".join(problems)


def _json_bytes(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body, ensure_ascii=False).encode("utf-8")


# --- JSON for the pages' own scripts ------------------------------------------------------------


def test_page_scripts_json_refuses_bad_bodies(app: Flask, world: World, writes: WriteLog) -> None:
    """The draft autosave (JSON) and the compose estimate (the compose form) called as the pages'
    scripts call them: with the session cookie and the X-CSRFToken header."""
    problems: list[str] = []
    officer, coordinator = _browser(app, world, "officer"), _browser(app, world, "coordinator")
    headers = {"X-CSRFToken": officer.token()}
    forms, _html = _forms_for(app, coordinator, "/alerts/new", "alert_pages.new")
    writes.take()  # the logins
    drafts: list[tuple[str, bytes, str]] = [(n, raw, ct) for n, (raw, ct) in JSON_BODIES.items()]
    drafts += [(name, _json_bytes({"payload": body, "draft_id": body.get("draft_id")}),
                "application/json")
               for name, body in _typed_rounds(["summary", "persons-0-name_zh", "draft_id", "x"])]
    drafts += [(f"payload {label}", _json_bytes({"payload": value}), "application/json")
               for label, value in WRONG_TYPES.items()]
    for trouble, raw, ctype in drafts:
        response = officer.client.post("/cases/drafts", data=raw, content_type=ctype, headers=headers)
        _check_api_answer(response, writes.take(), f"/cases/drafts {trouble[:60]}", problems)

    for trouble, body, ctype in _bad_bodies(forms[0], first=True):
        response = coordinator.client.post("/alerts/estimate", data=body, content_type=ctype,
                                           headers={"X-CSRFToken": coordinator.token()})
        _check_api_answer(response, writes.take(), f"/alerts/estimate {trouble[:60]}", problems)
    assert not problems, "\n".join(problems)


def _check_api_answer(response: Any, written: list[str], where: str, problems: list[str]) -> None:
    if response.status_code >= 500:
        problems.append(f"{where}: {response.status_code}")
    elif response.status_code >= 400:
        if not messages_in(response):
            problems.append(f"{where}: {response.status_code} without a message")
        if written:
            problems.append(f"{where}: refused but wrote {written}")


# --- webhooks: validly signed, badly filled -----------------------------------------------------


def test_webhooks_refuse_junk(app: Flask, same_db_app: Callable[..., Flask], world: World,
                              writes: WriteLog) -> None:
    """What Twilio signs is still outside input: signed junk in every parameter is a 4xx or a
    harmless 2xx, never a 500 (forged and tampered requests: tests/unit/test_webhook_attacks.py)."""
    from tests.support.webhooks import TWILIO, a_delivery, post_signed, status_params

    client = same_db_app(**TWILIO).test_client()
    problems: list[str] = []
    junk = [*HOSTILE_TEXT.values(), "\ufffd\ufffd", "长" * 5000]
    called = a_delivery(channel="voice")  # a safety check's call: its TwiML and keys get junk
    called.alert.safety_check = True
    db.session.commit()
    for i, value in enumerate(junk):
        for path, params in (
                ("/webhooks/twilio/status/1", status_params(value or "SMx", value)),
                ("/webhooks/twilio/status/999999999", {**status_params("SM" + "1" * 32, "delivered"),
                                                       "ErrorCode": value}),
                ("/webhooks/twilio/inbound", {"MessageSid": "SM" + f"{i:032d}", "From": value,
                                              "To": "+15005550006", "Body": value,
                                              "AccountSid": "AC" + "d" * 32}),
                ("/webhooks/twilio/inbound", {"MessageSid": value, "From": "+393331234567",
                                              "To": value, "Body": "2 " + value,
                                              "AccountSid": "AC" + "d" * 32})):
            response = post_signed(client, path, params)
            if response.status_code >= 500:
                problems.append(f"{path} {value[:20]!r}: {response.status_code}")
        call = "CA" + f"{i:032x}"
        for path, params in (  # voice calls: TwiML, keys, statuses
                (f"/webhooks/twilio/voice/{called.id}", {"CallSid": value, "CallStatus": "in-progress"}),
                (f"/webhooks/twilio/voice/{called.id}", {"CallSid": call, "CallStatus": value}),
                ("/webhooks/twilio/voice/999999999", {"CallSid": call, "CallStatus": value}),
                (f"/webhooks/twilio/voice/{called.id}/answer", {"CallSid": call, "Digits": value}),
                (f"/webhooks/twilio/voice/{called.id}/answer", {"CallSid": value, "Digits": "2"}),
                (f"/webhooks/twilio/call-status/{called.id}", {"CallSid": call, "CallStatus": value}),
                (f"/webhooks/twilio/call-status/{called.id}", {"CallSid": value, "CallStatus": "completed"})):
            response = post_signed(client, path, params)
            if response.status_code >= 500:
                problems.append(f"{path} {value[:20]!r}: {response.status_code}")
    assert not problems, "\n".join(problems)


# --- filters and search of the lists ------------------------------------------------------------

# List pages (their filter forms are read off the page) and who reads them.
LIST_PAGES = [("coordinator", "/cases/queue"), ("coordinator", "/registrants"), ("coordinator", "/alerts"),
              ("officer", "/cases/mine"), ("volunteer", "/cases/inbox"), ("admin", "/admin/audit"),
              ("admin", "/admin/users"), ("admin", "/network/liaison-points"), ("admin", "/network/stations"),
              ("admin", "/network/missions"), ("admin", "/network/divisions"), ("coordinator", "/reports"),
              ("coordinator", "/alerts/hazards")]
REGISTRANT_PARAMS = ["q", "country", "language", "status", "kind", "liaison_point_id", "station_id",
                     "current", "batch", "limit", "offset"]


def _junk_queries(params: list[str]) -> Iterator[tuple[str, bytes]]:
    """(class, query string): every parameter with hostile text (rotating), invalid UTF-8 bytes,
    a parameter repeated 1,000 times, one nobody knows."""
    classes = list(HOSTILE_TEXT)
    for k in range(3):
        chosen = {name: HOSTILE_TEXT[classes[(i + k * 3) % len(classes)]] for i, name in enumerate(params)}
        yield f"round {k}", encode_form(chosen)
    yield "invalid_utf8+gbk", encode_form({n: (INVALID_UTF8, GBK)[i % 2] for i, n in enumerate(params)})
    if params:
        yield "repeated", encode_form({params[0]: ["x"] * 1000})
    yield "unknown", encode_form({"nonsense": "1", "offset": "-5", "limit": "10000000000"})


def test_every_list_filter_and_search_refuses_junk_cleanly(app: Flask, world: World) -> None:
    problems: list[str] = []
    browsers: dict[str, Browser] = {}
    for who, page in LIST_PAGES:
        browser = browsers.get(who) or browsers.setdefault(who, _browser(app, world, who))
        response = browser.get(page, follow_redirects=True)
        assert response.status_code == 200, page
        params = list(dict.fromkeys(name for form in forms_on(response.get_data(as_text=True), page, "get")
                                    for name, _kind, _value in form.fields))
        for trouble, query in _junk_queries(params or ["q"]):
            answer = browser.get(f"{page}?{query.decode()}")
            _check_answer(answer, f"{page} {trouble}", problems)
    # The API lists: their parameters as the OpenAPI document names them.
    _token, secret = create_api_token(world.users["coordinator"], "lists")
    _token, admin_secret = create_api_token(world.users["admin"], "lists")
    db.session.commit()
    client = app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    lists = {path: [p["name"] for p in ops["get"].get("parameters", []) if p["in"] == "query"]
             for path, ops in doc["paths"].items() if "get" in ops and "{" not in path
             and path.startswith("/api/v1/")}
    lists["/api/v1/registrants"] = REGISTRANT_PARAMS
    for path, params in lists.items():
        secret_for = admin_secret if not path.startswith(("/api/v1/cases", "/api/v1/registrants",
                                                          "/api/v1/alerts")) else secret
        for trouble, query in _junk_queries(params):
            answer = client.get(f"{path}?{query.decode()}", headers={"Authorization": f"Bearer {secret_for}"})
            if answer.status_code >= 500 or (answer.status_code >= 400 and not messages_in(answer)):
                problems.append(f"{path} {trouble}: {answer.status_code} {answer.text[:99]}")
    assert not problems, "\n".join(problems)


# --- a broken CSV import (the gaps tests/unit/test_registry_import.py leaves) ------------------


def _multipart(fields: dict[str, str], content: bytes, filename: str) -> tuple[bytes, str]:
    boundary = "----bad-input-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + content + f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _imported() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) or 0


@pytest.mark.parametrize(("content", "says_en"), [
    ("姓名,手机号,国家,城市\n".encode(), "Nothing in this file can be imported."),
    ("\ufeff姓名,手机号,国家\n".encode(), "Nothing in this file can be imported."),
    ("姓名|手机号|国家\n王伟|+39 312 345 6701|IT\n".encode(), "must be the mobile number"),
    (b"name,phone\n" + b"x" * (10 * 1024 * 1024), "The file is larger than 5 MB."),
], ids=["header_only", "bom_and_header_only", "wrong_delimiter", "ten_mb"])
def test_a_csv_that_cannot_be_imported_says_why_in_the_users_language(
        logged_in: Callable[[User], Browser], make_user: Callable[..., User], content: bytes,
        says_en: str) -> None:
    from tests.support.registry import upload

    said: dict[str, str] = {}
    for locale in ("en", "zh_Hans"):
        browser = logged_in(make_user(Role.coordinator, locale=locale))
        if len(content) > 500_000:  # the test client would spool it to a file it never closes
            body, ctype = _multipart({"csrf_token": browser.token(), "language": "zh_Hans",
                                      "kind": "citizen_abroad", "consent_note": "登记表",
                                      "consent_given": "y"}, content, "list.csv")
            response = browser.client.post("/registrants/import", data=body, content_type=ctype)
        else:
            response = upload(browser, content, "list.csv")
        html = unescape(response.get_data(as_text=True))
        assert response.status_code in (200, 400)
        assert "/confirm" not in html  # nothing offered for import
        said[locale] = " ".join(messages_in(response)) or html
    assert says_en in said["en"], said["en"][:2000]
    assert says_en not in said["zh_Hans"] and has_cjk(said["zh_Hans"])
    assert _imported() == 0 and db.session.scalar(sa.select(sa.func.count()).select_from(
        RegistrantImport)) == 0


def test_a_gbk_file_with_bad_duplicate_and_hostile_rows_imports_the_good_ones_once(
        logged_in: Callable[[User], Browser], make_user: Callable[..., User]) -> None:
    from tests.support.registry import confirm, rows_of, upload

    browser = logged_in(make_user(Role.coordinator, locale="en"))
    # Chinese Excel's CSV: GBK, CRLF. Row 3 repeats row 2; rows 4 and 7 are odd but valid names.
    lines = ["姓名,手机号,国家,城市", "王伟,+39 312 345 6701,IT,Milano", "王伟,+39 312 345 6701,IT,Milano",
             "<script>alert(1)</script>,+39 312 345 6702,IT,Roma", "李娜,+39 312 abc,IT,Roma",
             "赵强,+39 312 345 6703,ZZ,Roma", "'; DROP TABLE registrant; --,+39 312 345 6704,IT,Roma"]
    content = "\r\n".join(lines).encode("gbk")
    preview = upload(browser, content, "名单.csv")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html[:2000]
    assert [(row, column) for row, column, _m in rows_of(html, "problems")] == [("5", "手机号"),
                                                                                 ("6", "国家")]
    assert [row[0] for row in rows_of(html, "skipped-rows")] == ["3"]
    assert SCRIPT not in html and "<script>alert(1)</script>" not in html
    confirm(browser, preview)
    names = sorted(r.name for r in db.session.scalars(sa.select(Registrant)))
    assert names == sorted(["王伟", "<script>alert(1)</script>", "'; DROP TABLE registrant; --"])
    listing = browser.get("/registrants").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in listing and "&lt;script&gt;alert(1)&lt;/script&gt;" in listing

    again = upload(browser, content, "名单.csv")  # the same file again: nothing twice
    assert "/confirm" not in again.get_data(as_text=True)
    assert _imported() == 3
