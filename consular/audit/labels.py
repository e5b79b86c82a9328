"""The audit trail in words: what each recorded action and kind of object is called on the admin's
page, in the reader's language (the codes stay in the rows, for searching and exports)."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from consular.audit.models import ACCESS_REFUSED

ACTION_LABELS: dict[str, LazyString] = {
    ACCESS_REFUSED: _l("Access refused"),
    # Sign-in and accounts
    "login.ok": _l("Logged in"),
    "login.failed": _l("Failed login"),
    "login.failed_code": _l("Wrong two-step code"),
    "login.throttled": _l("Login blocked after repeated failures"),
    "logout": _l("Logged out"),
    "password_change.failed": _l("Failed password change"),
    "user.create": _l("Account created"),
    "user.update": _l("Account changed"),
    "user.password_change": _l("Password changed"),
    "user.password_reset": _l("Password reset by an administrator"),
    "user.deactivate": _l("Account deactivated"),
    "user.reactivate": _l("Account reactivated"),
    "user.2fa_enable": _l("Two-step login turned on"),
    "user.2fa_reset": _l("Two-step login reset"),
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
    "keys.rotate": _l("Encryption keys rotated"),
    # Cases
    "case.view": _l("Case opened"),
    "case.create": _l("Case logged"),
    "case.update": _l("Case changed"),
    "case.duplicate_acknowledged": _l("Logged despite a possible duplicate"),
    "case.person_add": _l("Person added to a case"),
    "case.person_update": _l("Person in a case changed"),
    "case.person_remove": _l("Person removed from a case"),
    "case.attachment": _l("Attachment added"),
    "case.attachment.download": _l("Attachment downloaded"),
    "case.note": _l("Note added"),
    "case.triage": _l("Case triaged"),
    "case.set_priority": _l("Priority changed"),
    "case.assign": _l("Case assigned"),
    "case.accept": _l("Hand-off accepted"),
    "case.decline": _l("Hand-off declined"),
    "case.revoke": _l("Hand-off taken back"),
    "case.start": _l("Work started"),
    "case.wait_external": _l("Waiting for others"),
    "case.resume": _l("Work resumed"),
    "case.resolve": _l("Case resolved"),
    "case.close": _l("Case closed"),
    "case.reopen": _l("Case reopened"),
    "case.refer": _l("Case referred"),
    "case.update_referral": _l("Referral updated"),
    "case.link_incident": _l("Case linked to an incident"),
    "case.unlink_incident": _l("Case taken out of an incident"),
    "case.set_legal_hold": _l("Legal hold changed"),
    "case.sms_reply": _l("Safety-check reply added to a case"),
    "case.escalate": _l("Deadline missed: escalated"),
    "incident.create": _l("Incident created"),
    "incident.mass_intake": _l("Mass intake"),
    "report.export": _l("Report exported"),
    "retention.case_anonymised": _l("Case anonymised (retention)"),
    # Registrants
    "registrant.view": _l("Registration opened"),
    "registrant.list": _l("Registrations listed"),
    "registrant.create": _l("Person registered"),
    "registrant.update": _l("Registration changed"),
    "registrant.status": _l("Registration status changed"),
    "registrant.end": _l("Registration ended"),
    "registrant.legal_hold": _l("Legal hold changed"),
    "registrant.erase": _l("Personal data erased"),
    "registrant.subject_access": _l("Subject-access export"),
    "registrant.import": _l("Registrations imported"),
    "registrant.export": _l("Registrations exported"),
    # Alerts
    "alert.create": _l("Alert written"),
    "alert.update": _l("Alert changed"),
    "alert.submit": _l("Alert sent for approval"),
    "alert.approve": _l("Alert approved"),
    "alert.reject": _l("Alert sent back"),
    "alert.cancel": _l("Alert cancelled"),
    "alert.fan_out": _l("Recipients planned"),
    "alert.sent": _l("Alert sent"),
    "alert.occurrence": _l("Recurring alert run"),
    "alert.expired_unsent": _l("Alert expired before sending"),
    "alert.safety_followup": _l("Safety-check follow-up"),
    "alert.call_round.view": _l("Call-round list opened"),
    # The network
    "division.create": _l("Division added"),
    "division.update": _l("Division changed"),
    "division.deactivate": _l("Division deactivated"),
    "division.reactivate": _l("Division reactivated"),
    "liaison_point.create": _l("Liaison point added"),
    "liaison_point.update": _l("Liaison point changed"),
    "liaison_point.deactivate": _l("Liaison point deactivated"),
    "liaison_point.reactivate": _l("Liaison point reactivated"),
    "station.create": _l("Service station added"),
    "station.update": _l("Service station changed"),
    "station.deactivate": _l("Service station deactivated"),
    "station.reactivate": _l("Service station reactivated"),
    "mission.create": _l("Mission added"),
    "mission.update": _l("Mission changed"),
    "mission.deactivate": _l("Mission deactivated"),
    "mission.reactivate": _l("Mission reactivated"),
    "centre.create": _l("Coordination centre added"),
    "centre.update": _l("Coordination centre changed"),
}

OBJECT_LABELS: dict[str, LazyString] = {
    "case": _l("Case"),
    "attachment": _l("Attachment"),
    "referral": _l("Referral"),
    "incident": _l("Incident"),
    "case_draft": _l("Draft"),
    "registrant": _l("Registration"),
    "registrant_import": _l("Import"),
    "alert": _l("Alert"),
    "delivery": _l("Message"),
    "user": _l("Account"),
    "api_token": _l("API token"),
    "keyring": _l("Encryption keys"),
    "report": _l("Report"),
    "division": _l("Division"),
    "liaison_point": _l("Liaison point"),
    "station": _l("Service station"),
    "mission": _l("Mission"),
    "centre": _l("Coordination centre"),
}


def action_label(code: str) -> str:
    """The action in the reader's language; an action this list does not know yet, as its code."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code


def object_label(code: str) -> str:
    label = OBJECT_LABELS.get(code)
    return str(label) if label is not None else code
