"""Both Twilio webhooks under attack: forged, missing or foreign signatures, every parameter tampered
after signing, parameters added, removed or doubled, the wrong URL (another delivery, host, scheme,
query), forwarded headers from outside the proxy, and replays: 0 accepted, 0 processed twice.

"Accepted" is judged on the whole database: a refused request must leave every row of every table
as it was; a replay must leave the database exactly as the first request left it."""

from __future__ import annotations

import base64
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.datastructures import MultiDict

from alerts.channels.sms import texts
from alerts.models import CapUrgency, Delivery, DeliveryState, InboundMessage, ReplyKind
from consular.audit.models import AuditEntry
from consular.cases.models import Case
from consular.db import db, utcnow
from consular.registry.models import Registrant, RegistrantStatus
from tests.conftest import base_overrides, close_app, isolated_app
from tests.support.dispatch import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SERVICE_SID,
    TwilioSetup,
    deliveries,
    make_alert,
    make_registrant,
)
from tests.support.replies import OUR_NUMBER, answer_of
from tests.support.webhooks import TWILIO, a_delivery, new_sid, state_of, status_params, twilio_signature

INBOUND = "/webhooks/twilio/inbound"
PUBLIC = "https://alerts.example.org"


# --- the whole database, to prove that nothing changed -------------------------------------------


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as stored (sealed values as their ciphertext, which is rewritten on
    any update because each seal has a fresh nonce)."""
    db.session.expire_all()
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(sa.text(f'SELECT * FROM "{table.name}"')).all()  # noqa: S608 (our tables)
        tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    db.session.commit()
    return tables


def count(model: type[Any], *where: Any) -> int:
    db.session.expire_all()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


# --- requests signed the way Twilio signs them ----------------------------------------------------


@dataclass
class Signed:
    """One webhook request: what is posted, and what the signature was computed over."""

    path: str
    params: dict[str, str]
    url: str  # the URL the signature covers
    signed: dict[str, str]  # the parameters the signature covers
    token: str = AUTH_TOKEN
    signature: str | None = None  # None: computed from url/signed/token; "": header left out
    form: MultiDict[str, str] | None = None  # sent instead of params (e.g. a parameter twice)
    headers: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"
    as_json: bool = False

    def post(self, app: Flask) -> Any:
        signature = self.signature
        if signature is None:
            signature = twilio_signature(self.url, self.signed, self.token)
        headers = dict(self.headers)
        if signature:
            headers["X-Twilio-Signature"] = signature
        client = app.test_client()
        base = f"{self.scheme}://localhost"
        if self.as_json:
            return client.post(self.path, json=self.params, headers=headers, base_url=base)
        return client.post(self.path, data=self.form if self.form is not None else self.params,
                           headers=headers, base_url=base)


def genuine(path: str, params: dict[str, str], base: str = "http://localhost") -> Signed:
    return Signed(path=path, params=dict(params), url=base + path, signed=dict(params))


def inbound_params(sender: str, body: str, sid: str | None = None) -> dict[str, str]:
    """An inbound SMS webhook's parameters, as Twilio posts them."""
    sid = sid or new_sid()
    return {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "Body": body, "From": sender,
            "MessageSid": sid, "MessagingServiceSid": SERVICE_SID, "NumMedia": "0", "NumSegments": "1",
            "SmsMessageSid": sid, "SmsSid": sid, "SmsStatus": "received", "To": OUR_NUMBER}


# What an attacker would change each parameter to (anything else: the value with a digit added).
TAMPERED = {
    "MessageStatus": "delivered", "SmsStatus": "delivered", "ErrorCode": "30005", "Body": "2",
    "AccountSid": "AC" + "0" * 32, "MessagingServiceSid": "MG" + "0" * 32, "To": "+15005550009",
}


def tampered_value(key: str, value: str, other_phone: str) -> str:
    if key == "From":
        return other_phone
    if key in ("MessageSid", "SmsSid", "SmsMessageSid"):
        return new_sid()
    return TAMPERED.get(key, value + "1")


@dataclass
class Scene:
    """A genuine request that would change things, and what an attacker can reach for."""

    request: Signed
    other_path: str  # a genuine address of the same kind for something else
    other_phone: str  # another registrant's number
    check_effect: Callable[[], None]  # asserts what the genuine request does


def status_scene(app: Flask) -> Scene:
    """A submitted delivery; the genuine callback says "undelivered, 30003" (phone off)."""
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    other = a_delivery(provider_id=new_sid())
    other_phone = db.session.get(Registrant, other.registrant_id).phone  # type: ignore[union-attr]

    def effect() -> None:
        after = state_of(row.id)
        assert (after.state, after.error_code) == (DeliveryState.undelivered, 30003)

    return Scene(genuine(f"/webhooks/twilio/status/{row.id}", status_params(sid, "undelivered", 30003)),
                 f"/webhooks/twilio/status/{other.id}", other_phone, effect)


def safety_check_to(person: Registrant) -> Delivery:
    """A safety check that went out to ``person`` and waits for an answer."""
    alert = make_alert(languages=("zh_Hans", "en"), urgency=CapUrgency.Immediate, safety_check=True,
                       event="Earthquake")
    from alerts.targeting import fan_out

    fan_out(alert, utcnow())
    [row] = [d for d in deliveries(alert.id) if d.registrant_id == person.id]
    row.state, row.provider_id, row.submitted_at = DeliveryState.submitted, new_sid(), utcnow()
    row.claimed_by, row.claimed_at, row.attempts = "w", utcnow(), 1
    db.session.commit()
    return row


def inbound_scene(app: Flask) -> Scene:
    """Two people with an open safety check; the genuine text is the first one's "1" (safe)."""
    person, other = make_registrant(language="en"), make_registrant(language="en")
    check = safety_check_to(person)
    safety_check_to(other)

    def effect() -> None:
        assert count(InboundMessage) == 1
        assert state_of(check.id).reply_kind == ReplyKind.safe

    return Scene(genuine(INBOUND, inbound_params(person.phone, "1")),
                 f"/webhooks/twilio/status/{check.id}", other.phone, effect)


SCENES = {"status": status_scene, "inbound": inbound_scene}


ATTACKS: dict[str, Callable[[Scene], Signed]] = {
    "forged_signature": lambda s: replace(s.request, signature=base64.b64encode(os.urandom(20)).decode()),
    "missing_signature": lambda s: replace(s.request, signature=""),
    "other_auth_token": lambda s: replace(s.request, token="another-accounts-auth-token"),
    "token_with_a_typo": lambda s: replace(s.request, token=AUTH_TOKEN + "x"),
    "signature_for_other_params": lambda s: replace(
        s.request, signed={**s.request.params, "MessageSid": new_sid()} if "Body" not in s.request.params
        else inbound_params(s.other_phone, "2")),
    "signature_for_no_params": lambda s: replace(s.request, signed={}),
    "parameter_added": lambda s: replace(s.request, params={**s.request.params, "OptOutType": "STOP",
                                                            "ErrorCode": "30005"}),
    "parameter_removed": lambda s: replace(s.request, params={k: v for k, v in s.request.params.items()
                                                              if k != "ApiVersion"}),
    "parameter_doubled": lambda s: replace(s.request, form=MultiDict(
        [("MessageStatus" if "MessageStatus" in s.request.params else "Body",
          "delivered" if "MessageStatus" in s.request.params else "2"), *s.request.params.items()])),
    "other_address": lambda s: replace(s.request, url="http://localhost" + s.other_path),
    "other_host": lambda s: replace(s.request, url="http://alerts.example.org" + s.request.path),
    "https_signed_http_sent": lambda s: replace(s.request, url="https://localhost" + s.request.path),
    "http_signed_https_sent": lambda s: replace(s.request, scheme="https"),
    "query_added": lambda s: replace(s.request, path=s.request.path + "?attempt=1"),
    "query_removed": lambda s: replace(s.request, url=s.request.url + "?attempt=1"),
    "json_instead_of_form": lambda s: replace(s.request, as_json=True, signed={}),
}


@pytest.fixture(scope="module")
def twilio_apps(_session_app: Flask,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Flask]]:
    """``twilio_apps(**settings)``: the app on Twilio with these settings, on the test database; one
    per set of settings for the whole module (building an app is most of a test's time here)."""
    made: dict[tuple[tuple[str, Any], ...], Flask] = {}

    def make(**overrides: Any) -> Flask:
        key = tuple(sorted(overrides.items()))
        if key not in made:
            url = _session_app.config["SQLALCHEMY_DATABASE_URI"]
            folder = tmp_path_factory.mktemp("hooks")
            made[key] = isolated_app({**base_overrides(folder, url), **TWILIO, **overrides})
        return made[key]

    yield make
    for other in made.values():
        close_app(other)


@pytest.fixture
def hooks(app: Flask, twilio_apps: Callable[..., Flask]) -> Flask:
    """The app on Twilio, without PUBLIC_BASE_URL or a proxy: the signature covers the request's URL."""
    return twilio_apps()


def refused(app: Flask, attack: Signed) -> None:
    """The request is answered 403 and the database is exactly as before."""
    before = snapshot()
    why = why_accepted(app, attack, before)
    assert why is None, why


def why_accepted(app: Flask, attack: Signed, before: dict[str, list[tuple[Any, ...]]]) -> str | None:
    """None when the request is refused (403, no SMS answer) and no row changed; else what happened."""
    response = attack.post(app)
    text = response.get_data(as_text=True)
    if response.status_code != 403 or "Forbidden" not in text or "<Message>" in text:
        return f"answered {response.status_code}: {text[:80]!r}"
    after = snapshot()
    if after != before:
        return "changed " + ", ".join(t for t in before if before[t] != after[t])
    return None


def attempts(scene: Scene) -> dict[str, Signed]:
    """Every attack on the scene's genuine request, and each of its parameters tampered after signing."""
    tried = {name: attack(scene) for name, attack in ATTACKS.items()}
    for key, value in scene.request.params.items():
        params = {**scene.request.params, key: tampered_value(key, value, scene.other_phone)}
        assert params != scene.request.params
        tried[f"tampered {key}"] = replace(scene.request, params=params)
    return tried


@pytest.mark.parametrize("hook", list(SCENES))
def test_no_forged_altered_or_misaddressed_request_is_accepted(app: Flask, hooks: Flask, hook: str) -> None:
    scene = SCENES[hook](app)
    before = snapshot()
    tried = attempts(scene)
    assert len(tried) >= 25
    accepted = {name: why for name, attack in tried.items()
                if (why := why_accepted(hooks, attack, before)) is not None}
    assert accepted == {}
    # The same request, unaltered, is accepted: each refusal was the attack's doing.
    response = scene.request.post(hooks)
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    scene.check_effect()


# --- replays: processed once ----------------------------------------------------------------------


def test_a_replayed_status_callback_is_processed_once(app: Flask, hooks: Flask) -> None:
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    path = f"/webhooks/twilio/status/{row.id}"
    undelivered = genuine(path, status_params(sid, "undelivered", 30005))  # the number does not exist
    assert undelivered.post(hooks).status_code == 204
    once = snapshot()
    final = state_of(row.id)
    assert (final.state, final.error_code, final.skip_reason) == (DeliveryState.undelivered, 30005,
                                                                  "invalid_number")
    # Twilio retries, an attacker replays, older reports arrive late: the database stays as it was.
    for replay in (undelivered, undelivered, genuine(path, status_params(sid, "sent")),
                   genuine(path, status_params(sid, "queued")), undelivered):
        assert replay.post(hooks).status_code == 204
    assert snapshot() == once
    assert count(AuditEntry, AuditEntry.action == "registrant.status") == 1
    assert db.session.get(Registrant, final.registrant_id).status == RegistrantStatus.invalid_number  # type: ignore[union-attr]


def test_an_old_status_after_a_newer_one_does_not_move_the_state_back(app: Flask, hooks: Flask) -> None:
    sid = new_sid()
    row = a_delivery(provider_id=sid)
    path = f"/webhooks/twilio/status/{row.id}"
    seen = []
    for status in ("delivered", "sent", "queued", "sending", "accepted", "sent"):
        assert genuine(path, status_params(sid, status)).post(hooks).status_code == 204
        seen.append(state_of(row.id).state)
    assert seen == [DeliveryState.delivered] * 6
    assert state_of(row.id).provider_status == "delivered"


def test_a_replayed_need_help_answer_opens_one_case(app: Flask, hooks: Flask) -> None:
    person = make_registrant(language="en")
    check = safety_check_to(person)
    need_help = genuine(INBOUND, inbound_params(person.phone, "2"))
    first = need_help.post(hooks)
    assert answer_of(first.get_data(as_text=True)) == texts.safety_ack_help("en")
    once = snapshot()
    for _ in range(3):
        again = need_help.post(hooks)
        assert again.status_code == 200
        assert answer_of(again.get_data(as_text=True)) is None  # no second SMS to the person
    assert snapshot() == once
    assert count(Case, Case.registrant_id == person.id) == 1
    assert count(InboundMessage) == 1
    assert state_of(check.id).reply_kind == ReplyKind.need_help


def test_a_replayed_stop_is_processed_once_even_after_a_start(app: Flask, hooks: Flask) -> None:
    person = make_registrant(language="en")
    stop = genuine(INBOUND, inbound_params(person.phone, "STOP"))
    assert answer_of(stop.post(hooks).get_data(as_text=True)) == texts.stop_confirmation("en")
    once = snapshot()
    assert answer_of(stop.post(hooks).get_data(as_text=True)) is None
    assert snapshot() == once
    db.session.expire_all()
    assert db.session.get(Registrant, person.id).status == RegistrantStatus.opted_out  # type: ignore[union-attr]

    # The person comes back; an old STOP replayed afterwards does not opt them out again.
    assert genuine(INBOUND, inbound_params(person.phone, "START")).post(hooks).status_code == 200
    assert stop.post(hooks).status_code == 200
    db.session.expire_all()
    assert db.session.get(Registrant, person.id).status == RegistrantStatus.active  # type: ignore[union-attr]
    assert count(InboundMessage) == 2
    moves = list(db.session.scalars(sa.select(AuditEntry.detail).where(
        AuditEntry.action == "registrant.status", AuditEntry.object_id == str(person.id))
        .order_by(AuditEntry.id)))
    assert [(m["from"], m["to"]) for m in moves] == [("active", "opted_out"), ("opted_out", "active")]


# --- behind a reverse proxy -----------------------------------------------------------------------


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "alerts.example.org",
             "X-Forwarded-For": "54.172.60.1"}


def as_forwarded(scene: Scene) -> Signed:
    """The scene's genuine request as it reaches the app through a proxy: signed for the public
    address, with the headers nginx adds."""
    return replace(scene.request, url=PUBLIC + scene.request.path, headers=FORWARDED)


@pytest.mark.parametrize("hook", list(SCENES))
def test_behind_one_trusted_proxy_the_public_url_is_what_is_checked(
        app: Flask, twilio_apps: Callable[..., Flask], hook: str) -> None:
    behind_nginx = twilio_apps(TRUSTED_PROXIES=1)
    scene = SCENES[hook](app)
    public = as_forwarded(scene)
    # What nginx forwards must still be for this address, this scheme, these parameters.
    refused(behind_nginx, replace(public, url="http://alerts.example.org" + scene.request.path))
    refused(behind_nginx, replace(public, url=PUBLIC + scene.other_path))
    refused(behind_nginx, replace(public, url=scene.request.url))  # the app's inner address
    refused(behind_nginx, replace(public, headers={**FORWARDED, "X-Forwarded-Host": "evil.example.org"}))
    response = public.post(behind_nginx)
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    scene.check_effect()


@pytest.mark.parametrize("hook", list(SCENES))
def test_trusting_no_proxy_forged_forwarded_headers_do_not_help(
        app: Flask, twilio_apps: Callable[..., Flask], hook: str) -> None:
    direct = twilio_apps(TRUSTED_PROXIES=0)
    scene = SCENES[hook](app)
    # A genuine request captured on its way to the public address, replayed straight at the app with
    # forwarded headers that would make the URLs agree if the app believed them.
    captured = as_forwarded(scene)
    refused(direct, captured)
    refused(direct, replace(captured, headers={**FORWARDED, "Host": "alerts.example.org:443",
                                               "X-Forwarded-Port": "443"}))
    # With PUBLIC_BASE_URL the checked URL is the configured one, whatever Host or forwarded headers say.
    configured = twilio_apps(PUBLIC_BASE_URL=PUBLIC)
    refused(configured, replace(scene.request, headers={"X-Forwarded-Host": "localhost"}))
    response = replace(captured, headers={"Host": "evil.example.org", **FORWARDED}).post(configured)
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    scene.check_effect()


def test_the_same_need_help_posted_at_once_several_times_opens_one_case(
        app: Flask, make_twilio: Callable[..., TwilioSetup]) -> None:
    """Twilio retries while the first request is still running: concurrent copies over real HTTP to
    the app's threaded server; one is handled, the others answer nothing and change nothing."""
    setup = make_twilio()
    person = make_registrant(language="en")
    check = safety_check_to(person)
    url = f"{setup.base_url}{INBOUND}"
    params = inbound_params(person.phone, "2")
    body = urlencode(params).encode()
    headers = {"X-Twilio-Signature": twilio_signature(url, params),
               "Content-Type": "application/x-www-form-urlencoded"}
    start = threading.Barrier(4)

    def post() -> tuple[int, str]:
        start.wait(5)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(), range(4)))
    assert [status for status, _ in answers] == [200] * 4
    assert [answer_of(text) for _, text in answers].count(texts.safety_ack_help("en")) == 1
    assert count(InboundMessage) == 1
    assert count(Case, Case.registrant_id == person.id) == 1
    assert state_of(check.id).reply_kind == ReplyKind.need_help
