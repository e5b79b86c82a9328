"""Case operations: the only code that creates or changes cases, the people in them, hand-offs,
referrals, incidents, drafts and notifications.

Every operation checks scope and role (``policy``), then the version the user saw (a concurrent
change answers :class:`StaleCase`, never a silent overwrite), then validates all of its input
before it touches a row; it writes a timeline entry and an audit entry (ids and field names only,
never personal data), recomputes the deadlines, and flushes. The caller commits once.

Changes to the case itself (facts, people, status, priority, hand-offs) bump ``case.version``;
additions beside it (a note, an attachment, a referral's progress) do not, so a note written by a
station does not make a coordinator's open edit form stale.

The modules: ``checks`` (limits, :class:`CaseInputError`, the field checker), ``core`` (the steps
every operation shares: begin, transition, timeline, audit, flush, reference numbers), ``intake``
(new cases, duplicates, edits, cases a safety-check reply opens), ``lifecycle`` (states, notes,
legal hold), ``handoffs`` (stations, coordinators, referrals), ``incidents`` (and mass intake, with
the pasted-list parser in ``mass_list``), ``drafts`` and ``notifications`` (which ``deadlines``
uses: it imports nothing of the others). This package re-exports the operations the pages, the API
and the jobs call, so a caller writes ``ops.triage(...)`` without knowing which module holds it.
"""

from consular.cases.operations.checks import CaseInputError
from consular.cases.operations.core import StaleCase, next_reference, reserve_references
from consular.cases.operations.drafts import discard_draft, draft_payload, get_draft, list_drafts, save_draft
from consular.cases.operations.handoffs import (
    accept_assignment,
    assign,
    decline_assignment,
    refer,
    revoke_assignment,
    update_referral,
)
from consular.cases.operations.incidents import (
    MassCheck,
    MassRow,
    check_mass_intake,
    create_incident,
    link_incident,
    mass_intake,
    unlink_incident,
)
from consular.cases.operations.intake import (
    add_person,
    create_case,
    create_case_from_sms_reply,
    decide_duplicate,
    note_possible_duplicates,
    remove_person,
    update_case,
    update_person,
    validate_new_case,
)
from consular.cases.operations.lifecycle import (
    add_note,
    close_case,
    reopen,
    resolve,
    resume_work,
    set_legal_hold,
    set_priority,
    start_work,
    triage,
    wait_external,
)
from consular.cases.operations.mass_list import parse_mass_list
from consular.cases.operations.notifications import (
    mark_notifications_read,
    notification_text,
    notify,
    unread_count,
)
from consular.cases.policy import ActionRefused

__all__ = [
    "ActionRefused", "CaseInputError", "StaleCase", "next_reference", "reserve_references",
    "create_case", "validate_new_case", "update_case", "add_person", "update_person", "remove_person",
    "note_possible_duplicates", "decide_duplicate", "create_case_from_sms_reply", "triage",
    "set_priority", "start_work", "wait_external", "resume_work", "resolve", "close_case", "reopen",
    "add_note", "set_legal_hold", "assign", "accept_assignment", "decline_assignment",
    "revoke_assignment", "refer", "update_referral", "create_incident", "link_incident",
    "unlink_incident", "parse_mass_list", "check_mass_intake", "mass_intake", "MassCheck", "MassRow",
    "save_draft", "get_draft", "draft_payload", "list_drafts", "discard_draft", "notify",
    "notification_text", "mark_notifications_read", "unread_count",
]
