"""The template library's pages for coordinators (on the alert pages' blueprint): the list, a
template with its texts in every language and its history, and the form that creates or edits one
(every edit kept as a revision). "New alert from template" is the compose page with
``?template=``. Everyone else gets 404, as for the alert pages."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

import i18n
from alerts.authoring import library, placeholders
from alerts.authoring.forms import (
    CATEGORY_LABELS,
    CERTAINTY_LABELS,
    SEVERITY_LABELS,
    URGENCY_LABELS,
    label,
)
from alerts.authoring.models import AlertTemplate, Hazard
from alerts.authoring.operations import AlertActionRefused, AlertInputError
from alerts.authoring.views import _coordinator, _users, bp
from alerts.channels.sms.texts import SMS_LOCALES
from consular.db import db, row_or_404

TEXT_PARTS = ("headline", "body", "instruction")


def hazard_labels() -> dict[str, str]:
    return {
        Hazard.earthquake.value: _("Earthquake"),
        Hazard.flood_typhoon.value: _("Flood or typhoon"),
        Hazard.fire.value: _("Fire"),
        Hazard.unrest.value: _("Unrest"),
        Hazard.attack.value: _("Attack"),
        Hazard.epidemic.value: _("Epidemic"),
        Hazard.transport_accident.value: _("Transport accident"),
        Hazard.scam.value: _("Scam warning"),
        Hazard.holiday_travel.value: _("Travel reminder before holidays"),
        Hazard.student_season.value: _("Student season"),
        Hazard.other.value: _("Other"),
    }


def _template_or_404(template_id: int) -> AlertTemplate:
    return row_or_404(AlertTemplate, template_id)


def _read(form: Any) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    data: dict[str, Any] = {key: form.get(key, "") for key in
                            ("name", "hazard", "category", "event", "urgency", "severity", "certainty",
                             "base_language")}
    data["safety_check"] = form.get("safety_check", "") in ("y", "1", "on", "true")
    data["active"] = form.get("active", "") in ("y", "1", "on", "true")
    texts: dict[str, dict[str, str]] = {}
    for lang in SMS_LOCALES:
        fields = {part: form.get(f"{part}-{lang}", "") for part in TEXT_PARTS}
        if any(value.strip() for value in fields.values()):
            texts[lang] = {**fields, "event": form.get(f"event-{lang}", "")}
    return data, texts


def _form_context(data: dict[str, Any], texts: dict[str, dict[str, str]], errors: dict[str, str],
                  template: AlertTemplate | None) -> dict[str, Any]:
    return {
        "data": data, "texts": texts, "errors": errors, "template": template,
        "languages": SMS_LOCALES, "hazards": hazard_labels(),
        "categories": {k.value: str(v) for k, v in CATEGORY_LABELS.items()},
        "urgencies": {k.value: str(v) for k, v in URGENCY_LABELS.items()},
        "severities": {k.value: str(v) for k, v in SEVERITY_LABELS.items()},
        "certainties": {k.value: str(v) for k, v in CERTAINTY_LABELS.items()},
        "placeholder_labels": placeholders.LABELS,
        "language_name": i18n.language_name,
    }


@bp.get("/alerts/templates")
def template_list() -> str:
    _coordinator()
    templates = list(db.session.scalars(
        sa.select(AlertTemplate).order_by(AlertTemplate.active.desc(), AlertTemplate.hazard,
                                          AlertTemplate.name)))
    return render_template("alerts/templates_list.html", templates=templates, hazards=hazard_labels(),
                           total_languages=len(SMS_LOCALES),
                           severity_label=lambda s: label(SEVERITY_LABELS, s),
                           urgency_label=lambda s: label(URGENCY_LABELS, s))


@bp.get("/alerts/templates/<int:template_id>")
def template_page(template_id: int) -> str:
    _coordinator()
    template = _template_or_404(template_id)
    users = _users(template.created_by_id, template.updated_by_id,
                   *[r.edited_by_id for r in template.revisions])
    texts = {t.language: t for t in template.texts}
    return render_template("alerts/template_page.html", template=template, users=users, texts=texts,
                           languages=[code for code in SMS_LOCALES if code in texts],
                           missing=[code for code in SMS_LOCALES if code not in texts],
                           hazards=hazard_labels(), placeholder_labels=placeholders.LABELS,
                           category_label=lambda s: label(CATEGORY_LABELS, s),
                           severity_label=lambda s: label(SEVERITY_LABELS, s),
                           urgency_label=lambda s: label(URGENCY_LABELS, s),
                           certainty_label=lambda s: label(CERTAINTY_LABELS, s))


def _save(template: AlertTemplate | None) -> Any:
    user = _coordinator()
    if request.method == "GET":
        if template is None:
            data: dict[str, Any] = {"hazard": "", "category": "Safety", "urgency": "Expected",
                                    "severity": "Moderate", "certainty": "Likely",
                                    "base_language": "zh_Hans", "safety_check": False, "active": True}
            texts: dict[str, dict[str, str]] = {}
        else:
            snap = library.snapshot(template)
            texts = snap.pop("texts")
            data = snap
        return render_template("alerts/template_form.html", **_form_context(data, texts, {}, template))
    data, texts = _read(request.form)
    raw_version = request.form.get("version", "")
    version = int(raw_version) if raw_version.isascii() and raw_version.isdigit() \
        and len(raw_version) < 10 else None
    try:
        if template is None:
            saved = library.create_template(data, texts, user=user)
        else:
            saved = library.update_template(template, data, texts, user=user,
                                            expected_version=version if version is not None else -1)
        db.session.flush()
    except AlertInputError as exc:
        db.session.rollback()
        return render_template("alerts/template_form.html",
                               **_form_context(data, texts, exc.errors, template)), 400
    except AlertActionRefused as exc:
        db.session.rollback()
        return render_template("alerts/template_form.html",
                               **_form_context(data, texts, {"": exc.message}, template)), exc.status_code
    except StaleDataError:
        db.session.rollback()
        return render_template("error.html", code=409, message=_(
            "Someone else changed this template in the meantime. Reload it, then make your change "
            "again.")), 409
    flash(_("Template saved."), "success")
    return redirect(url_for("alert_pages.template_page", template_id=saved.id), code=303)


@bp.route("/alerts/templates/new", methods=["GET", "POST"])
def template_new() -> Any:
    return _save(None)


@bp.route("/alerts/templates/<int:template_id>/edit", methods=["GET", "POST"])
def template_edit(template_id: int) -> Any:
    _coordinator()
    return _save(_template_or_404(template_id))
