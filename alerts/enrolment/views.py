"""The public self-enrolment pages (no login): ask for a code, type it, then register, change or
end the registration of the proved number. Every refusal is a 4xx page in the visitor's language
that writes nothing but the count of tries and codes the throttle needs."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import available_timezones

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

import i18n
from alerts.enrolment import codes, operations
from alerts.enrolment.models import EnrolmentCode
from consular.db import commit_apart
from consular.registry import self_service
from consular.registry.languages import SMS_LOCALES, language_label
from consular.registry.models import Registrant
from consular.registry.operations import RegistryInputError

bp = Blueprint("enrol", __name__, url_prefix="/enrol", template_folder="templates")

CODE_KEY = "enrol_code"  # the id of the code last sent to this visitor
PROOF_KEY = "enrol_proof"  # the id of the code this visitor typed right
FORM_FIELDS = ("name", "language", "country_code", "city", "timezone", "stay_from", "stay_until",
               "kin_name", "kin_phone", "kin_language", "consent")


def _locale() -> str:
    return str(get_locale() or "en")


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    locale = _locale()
    context.setdefault("errors", {})
    return render_template(
        f"enrol/{template}", locales=i18n.PUBLIC_LOCALES, locale=locale,
        html_lang=locale.replace("_", "-"), **context), status


def _session_id(key: str) -> int | None:
    value = session.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@bp.get("/")
def start() -> tuple[str, int]:
    return _page("start.html")


@bp.post("/code")
def request_code() -> Response | tuple[str, int]:
    raw = request.form.get("phone", "")
    try:
        phone = self_service.check_mobile(raw)
    except RegistryInputError as exc:
        return _page("start.html", 400, errors=exc.errors, phone=raw[:60])
    try:
        issued = codes.issue_code(phone, request.remote_addr, _sms_locale())
    except codes.Throttled:
        return _page("start.html", 429, phone=raw[:60], errors={"phone": _(
            "Too many codes were asked for this number or from this connection. Wait an hour and "
            "try again.")})
    # The code's row is committed before the message leaves (it must exist when the code comes
    # back), and the message is sent the same way for a registered number and an unknown one.
    commit_apart()
    codes.send_code(issued)
    session[CODE_KEY] = issued.code_id
    session.pop(PROOF_KEY, None)
    return redirect(url_for("enrol.verify"))


def _sms_locale() -> str:
    locale = _locale()
    return locale if locale in SMS_LOCALES else "en"


@bp.get("/verify")
def verify() -> Response | tuple[str, int]:
    if _session_id(CODE_KEY) is None:
        return redirect(url_for("enrol.start"))
    return _page("verify.html")


@bp.post("/verify")
def check() -> Response | tuple[str, int]:
    typed = request.form.get("code", "")
    proof = codes.check_code(_session_id(CODE_KEY), typed if isinstance(typed, str) else "")
    commit_apart()  # the try counts, right or wrong
    if proof is None:
        return _page("verify.html", 400, errors={"code": _(
            "This code is wrong, expired or already used. Check the message, or ask for a new "
            "code.")})
    session[PROOF_KEY] = proof.id
    session.pop(CODE_KEY, None)
    return redirect(url_for("enrol.details"))


def _proof() -> EnrolmentCode | None:
    return codes.verified_code(_session_id(PROOF_KEY))


def _expired() -> tuple[str, int]:
    return _page("start.html", 400, errors={"phone": _(
        "Your code has expired or was already used. Ask for a new code to continue.")})


def _form_of(registrant: Registrant | None) -> dict[str, Any]:
    if registrant is None:
        return {"language": _sms_locale(), "channels": list(operations.DEFAULT_CHANNELS)}
    extra = operations.enrolment_of(registrant)
    return {"name": registrant.name or "", "language": registrant.language,
            "country_code": registrant.country_code, "city": registrant.city,
            "timezone": registrant.timezone,
            "stay_from": registrant.stay_from.isoformat() if registrant.stay_from else "",
            "stay_until": registrant.stay_until.isoformat() if registrant.stay_until else "",
            "kin_name": (extra.next_of_kin_name or "") if extra else "",
            "kin_phone": (extra.next_of_kin_phone or "") if extra else "",
            "kin_language": (extra.next_of_kin_language or "") if extra else "",
            "channels": list(extra.channels) if extra else list(operations.DEFAULT_CHANNELS)}


def _details_page(proof: EnrolmentCode, form: dict[str, Any], status: int = 200,
                  errors: dict[str, str] | None = None, existing: bool = False) -> tuple[str, int]:
    locale = _locale()
    return _page("details.html", status, form=form, errors=errors or {}, existing=existing,
                 phone=proof.phone, countries=i18n.country_choices(locale),
                 languages=[(code, language_label(code, locale)) for code in SMS_LOCALES],
                 zones=sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc")),
                 channels=operations.CHANNELS, consent=operations.consent_text(locale),
                 consent_version=operations.CONSENT_VERSION, today=date.today().isoformat())


@bp.get("/details")
def details() -> Response | tuple[str, int]:
    proof = _proof()
    if proof is None:
        return redirect(url_for("enrol.start"))
    existing = self_service.own_registration(proof.phone)
    return _details_page(proof, _form_of(existing), existing=existing is not None)


@bp.post("/details")
def save() -> Response | tuple[str, int]:
    proof = _proof()
    if proof is None:
        return _expired()
    data: dict[str, Any] = {key: request.form[key] for key in FORM_FIELDS if key in request.form}
    data["channels"] = request.form.getlist("channels")
    try:
        _registrant, new = operations.save_enrolment(proof, data, locale=_locale())
    except operations.EnrolmentError as exc:
        form = {**data}
        return _details_page(proof, form, 400, exc.errors,
                             existing=self_service.own_registration(proof.phone) is not None)
    session.pop(PROOF_KEY, None)
    session["enrol_done"] = "saved" if new else "updated"
    return redirect(url_for("enrol.done"))


@bp.post("/end")
def end() -> Response | tuple[str, int]:
    proof = _proof()
    if proof is None:
        return _expired()
    if request.form.get("confirm") != "yes":
        existing = self_service.own_registration(proof.phone)
        commit_apart()  # shown beside the refused form: the owner's read stands all the same
        return _details_page(proof, _form_of(existing), 400, {"confirm": _(
            "Tick the box to confirm that you want to end your registration.")},
            existing=existing is not None)
    operations.end_enrolment(proof)
    session.pop(PROOF_KEY, None)
    session["enrol_done"] = "ended"
    return redirect(url_for("enrol.done"))


@bp.get("/done")
def done() -> tuple[str, int]:
    return _page("done.html", outcome=session.get("enrol_done", "saved"))
