"""A registrant's rights over their data: erasure (on request or when retention ends, refused under
a legal hold), the record of who read a registration, its history, and the subject-access export.
Other packages that keep data about a registrant (the alerts side) add their sections and erasure
hooks here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from consular.audit.models import AuditEntry
from consular.audit.operations import record
from consular.auth.models import User
from consular.db import db, utcnow
from consular.registry.models import Registrant
from consular.registry.operations import RegistryConflict

# --- data protection ------------------------------------------------------------------------------

# Other packages that keep data about a registrant (the alerts side: deliveries, replies) add a
# function here: ``SUBJECT_ACCESS_SECTIONS[name](registrant)`` returns that JSON-able section of a
# subject-access export; each ``ERASURE_HOOKS`` function wipes its personal data of a registrant
# being erased (flush only, like every operation).
SUBJECT_ACCESS_SECTIONS: dict[str, Callable[[Registrant], Any]] = {}
ERASURE_HOOKS: list[Callable[[Registrant], None]] = []

ERASED_PHONE = ""  # what an erased registration's sealed phone holds


ERASURE_REASONS = ("request", "retention")


def erase_registrant(registrant: Registrant, *, user: User | None, reason: str = "request") -> bool:
    """Erase a person's data: at their request (``reason`` "request", by ``user``) or when the
    retention period is over ("retention", by the scheduled job: ``user`` None). Name, number,
    city and stay dates are overwritten, the keyed hashes dropped, the registration ended. What
    remains (kind, language, country, time zone, consent method and dates, status) counts for
    statistics and no longer identifies anyone. Refused under a legal hold. Returns False when
    already erased."""
    if reason not in ERASURE_REASONS:
        raise ValueError(reason)
    if registrant.legal_hold:
        raise RegistryConflict(_("This registration is under legal hold: its data cannot be erased "
                                 "until the coordination centre lifts the hold."))
    if registrant.erased_at is not None:
        return False
    now = utcnow()
    registrant.name = None
    registrant.name_hash = None
    registrant.phone = ERASED_PHONE
    registrant.phone_hash = ""
    registrant.current_phone_hash = None
    registrant.city = ""
    registrant.latitude = registrant.longitude = None  # where the person was placed goes too
    registrant.location_explicit = False
    registrant.stay_from = None
    registrant.stay_until = None
    registrant.consent_note = ""
    registrant.status_reason = ""
    if registrant.ended_at is None:
        registrant.ended_at = now
        registrant.ended_reason = "asked_to_stop" if reason == "request" else "retention"
    registrant.erased_at = now
    for hook in ERASURE_HOOKS:
        hook(registrant)
    db.session.flush()
    record("registrant.erase", "registrant", registrant.id, {"reason": reason}, user=user,
           username=None if user is not None else "system")
    return True


def record_view(registrant: Registrant, *, user: User, via: str) -> None:
    """Every read of one person's record leaves an audit entry (``via``: page, api…)."""
    record("registrant.view", "registrant", registrant.id, {"via": via}, user=user)


def history(registrant: Registrant) -> list[AuditEntry]:
    """What happened to a registration (created, changed, status, ended, erased, exports), oldest
    first; reads are left out."""
    return list(db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.object_type == "registrant", AuditEntry.object_id == str(registrant.id),
               AuditEntry.action != "registrant.view")
        .order_by(AuditEntry.at, AuditEntry.id)))


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _person(user_id: int | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    found = db.session.get(User, user_id)
    if found is None:
        return {"id": user_id}
    return {"id": found.id, "username": found.username, "display_name": found.display_name,
            "role": found.role.value}


def subject_access_export(registrant: Registrant, *, user: User) -> dict[str, Any]:
    """Everything held about the person, JSON-able, for a subject-access request; the export
    itself is audited."""
    point, station = registrant.liaison_point, registrant.station
    out: dict[str, Any] = {
        "generated_at": _iso(utcnow()),
        "registration": {
            "id": registrant.id, "name": registrant.name, "phone": registrant.phone or None,
            "kind": registrant.kind.value, "language": registrant.language,
            "country_code": registrant.country_code, "city": registrant.city,
            "timezone": registrant.timezone, "stay_from": _iso(registrant.stay_from),
            "stay_until": _iso(registrant.stay_until),
            "home_liaison_point": {"id": point.id, "name": point.name} if point else None,
            "station": {"id": station.id, "name": station.name} if station else None,
            "status": registrant.status.value, "status_changed_at": _iso(registrant.status_changed_at),
            "status_reason": registrant.status_reason,
            "registered_at": _iso(registrant.created_at), "updated_at": _iso(registrant.updated_at),
            "registered_by": _person(registrant.created_by_id),
            "import_batch": registrant.import_batch,
            "ended_at": _iso(registrant.ended_at), "ended_reason": registrant.ended_reason or None,
            "erased_at": _iso(registrant.erased_at), "legal_hold": registrant.legal_hold,
            "location": ({"latitude": registrant.latitude, "longitude": registrant.longitude,
                          "source": "explicit" if registrant.location_explicit else "city"}
                         if registrant.latitude is not None else None),
        },
        "consent": {"at": _iso(registrant.consent_at), "method": registrant.consent_method.value,
                    "recorded_by": _person(registrant.consent_by_id),
                    "note": registrant.consent_note},
        "history": [{"at": _iso(entry.at), "action": entry.action, "by": entry.username,
                     "detail": entry.detail} for entry in history(registrant)],
    }
    for name, section in SUBJECT_ACCESS_SECTIONS.items():
        out[name] = section(registrant)
    record("registrant.subject_access", "registrant", registrant.id, user=user)
    return out
