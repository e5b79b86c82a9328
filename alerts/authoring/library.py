"""The template library (预警模板): operations that create and edit alert templates, each edit kept
as a revision, and the compose form's first values for a new alert written from one.

Like ``alerts.authoring.operations``: every input is checked before a row is touched (a refusal
leaves nothing half-written), the operation flushes and records an audit entry, the caller commits.
A template's texts are checked as an alert's are (``alerts.authoring.validation``), plus its
placeholders (``alerts.authoring.placeholders``): only known ones, the same in every language. Their
length in SMS segments is checked when an alert is written from it, once the place and the
recipients' contacts are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from alerts.authoring import placeholders
from alerts.authoring.models import AlertTemplate, AlertTemplateRevision, AlertTemplateText, Hazard
from alerts.authoring.operations import AlertActionRefused, _require_coordinator, sync_texts
from alerts.authoring.validation import AlertInputError, Check, _check_texts, check_cap_info
from consular.audit.operations import record
from consular.auth.models import User
from consular.db import db, utcnow

TEMPLATE_FIELDS = ("name", "hazard", "category", "event", "urgency", "severity", "certainty",
                   "base_language", "safety_check", "active")
MAX_NAME = 120


def clean_template_input(data: Mapping[str, Any], texts: Any, *,
                         template: AlertTemplate | None = None) -> tuple[dict[str, Any],
                                                                          dict[str, dict[str, str]]]:
    """The template's fields and texts as they will be saved, or ``AlertInputError``."""
    if not isinstance(data, Mapping):
        raise AlertInputError({"": _("The request was not understood. Please check what you entered.")})
    check = Check(utcnow())
    for key in data:
        if key not in TEMPLATE_FIELDS:
            check.fail(str(key)[:60], _("Unknown or read-only field."))
    name = check.line("name", data.get("name"), MAX_NAME, required=True)
    if name is not None:
        clash = db.session.scalar(sa.select(AlertTemplate.id).where(
            sa.func.lower(AlertTemplate.name) == name.lower()))
        if clash is not None and (template is None or clash != template.id):
            check.fail("name", _("Another template has this name. Choose another one."))
        else:
            check.out["name"] = name
    check.enum("hazard", data.get("hazard", ""), Hazard)
    check_cap_info(check, data)
    check.boolean("safety_check", data.get("safety_check", False))
    check.boolean("active", data.get("active", True))
    clean_texts = _check_texts(check, texts)
    if clean_texts:
        for key, message in placeholders.check(clean_texts, check.out.get("base_language", "")).items():
            check.fail(key, message)
    if check.errors:
        raise AlertInputError(check.errors)
    return check.out, clean_texts


def snapshot(template: AlertTemplate) -> dict[str, Any]:
    """The whole template as it stands, for its history."""
    return {
        "name": template.name, "hazard": str(template.hazard), "category": str(template.category),
        "event": template.event, "urgency": str(template.urgency), "severity": str(template.severity),
        "certainty": str(template.certainty), "base_language": template.base_language,
        "safety_check": template.safety_check, "active": template.active,
        "texts": {t.language: {"headline": t.headline, "body": t.body, "instruction": t.instruction,
                               "event": t.event} for t in template.texts},
    }


def _apply(template: AlertTemplate, values: Mapping[str, Any],
           texts: Mapping[str, Mapping[str, str]]) -> None:
    for key, value in values.items():
        setattr(template, key, value)
    sync_texts(template.texts, texts, AlertTemplateText)


def _revise(template: AlertTemplate, user: User | None) -> AlertTemplateRevision:
    number = (db.session.scalar(sa.select(sa.func.max(AlertTemplateRevision.number))
                                .where(AlertTemplateRevision.template_id == template.id)) or 0) + 1
    revision = AlertTemplateRevision(template_id=template.id, number=number,
                                     edited_by_id=user.id if user is not None else None,
                                     edited_at=utcnow(), snapshot=snapshot(template))
    db.session.add(revision)
    db.session.flush()
    return revision


def create_template(data: Mapping[str, Any], texts: Any, *, user: User | None,
                    system: bool = False) -> AlertTemplate:
    """A new template by ``user`` (a coordinator; ``system`` for the demo's library)."""
    if not system:
        assert user is not None
        _require_coordinator(user)
    values, clean_texts = clean_template_input(data, texts)
    now = utcnow()
    template = AlertTemplate(created_by_id=user.id if user is not None else None,
                             updated_by_id=user.id if user is not None else None,
                             created_at=now, updated_at=now)
    _apply(template, values, clean_texts)
    db.session.add(template)
    db.session.flush()
    _revise(template, user)
    record("alert_template.create", "alert_template", template.id,
           {"name": template.name, "hazard": str(template.hazard),
            "languages": sorted(clean_texts)}, user=user, username=None if user else "demo")
    return template


def update_template(template: AlertTemplate, data: Mapping[str, Any], texts: Any, *, user: User,
                    expected_version: int | None = None) -> AlertTemplate:
    """Change a template; the edit is kept as a new revision. A form loaded before someone else's
    edit is refused (``expected_version``), so that no edit is silently lost."""
    _require_coordinator(user)
    if expected_version is not None and expected_version != template.version:
        raise AlertActionRefused(_("Someone else changed this template in the meantime. Reload it, "
                                   "then make your change again."))
    values, clean_texts = clean_template_input(data, texts, template=template)
    before = snapshot(template)
    _apply(template, values, clean_texts)
    if snapshot(template) == before:
        return template  # nothing changed: no new revision
    template.updated_by_id = user.id
    template.updated_at = utcnow()
    db.session.flush()
    revision = _revise(template, user)
    record("alert_template.update", "alert_template", template.id,
           {"name": template.name, "revision": revision.number,
            "languages": sorted(clean_texts)}, user=user)
    return template


def alert_input_from(template: AlertTemplate) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The compose form's first values for a new alert from ``template``: its CAP presets, safety
    check and every language's text (placeholders kept, to be filled per recipient)."""
    data = {
        "category": template.category.value, "event": template.event,
        "urgency": template.urgency.value, "severity": template.severity.value,
        "certainty": template.certainty.value, "base_language": template.base_language,
        "safety_check": template.safety_check,
    }
    texts = {t.language: {"headline": t.headline, "body": t.body, "instruction": t.instruction,
                          "event": t.event} for t in template.texts}
    return data, texts


def active_templates() -> list[AlertTemplate]:
    return list(db.session.scalars(sa.select(AlertTemplate).where(AlertTemplate.active.is_(True))
                                   .order_by(AlertTemplate.hazard, AlertTemplate.name)))
