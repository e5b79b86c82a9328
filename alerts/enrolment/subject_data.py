"""What self-enrolment holds about a registrant, for subject-access exports and erasure: the next
of kin, the channels and the consent text they agreed to (the codes keep only keyed hashes and a
sealed number, and are deleted a day after they were asked for)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alerts.enrolment.models import SelfEnrolment
from consular.db import db
from consular.registry.models import Registrant
from consular.registry.subject_data import ERASURE_HOOKS, SUBJECT_ACCESS_SECTIONS


def enrolment_section(registrant: Registrant) -> dict[str, Any]:
    row = db.session.scalar(sa.select(SelfEnrolment).where(SelfEnrolment.registrant_id == registrant.id))
    if row is None:
        return {}
    return {"next_of_kin_name": row.next_of_kin_name, "next_of_kin_phone": row.next_of_kin_phone,
            "next_of_kin_language": row.next_of_kin_language,
            "channels": list(row.channels), "consent_version": row.consent_version,
            "consent_language": row.consent_locale, "consent_text": row.consent_text,
            "consent_at": row.consent_at.isoformat()}


def erase_enrolment(registrant: Registrant) -> None:
    """The next of kin go; the consent record stays without them (what was agreed to and when is
    not personal data). Codes need nothing: they are deleted a day after they were asked for."""
    db.session.execute(
        sa.update(SelfEnrolment).where(SelfEnrolment.registrant_id == registrant.id)
        .values(next_of_kin_name=None, next_of_kin_phone=None, next_of_kin_language=None))


def register() -> None:
    SUBJECT_ACCESS_SECTIONS.setdefault("self_enrolment", enrolment_section)
    if erase_enrolment not in ERASURE_HOOKS:
        ERASURE_HOOKS.append(erase_enrolment)
