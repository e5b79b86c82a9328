"""The access policy of every route: for each endpoint and method, what each role gets on a record
of each relation to it (its own place, another place, its own station, another station, unassigned).

``tests/unit/test_access_matrix.py`` walks the URL map against this table; a route missing here fails
that test, so every new route must be classified.
"""

from __future__ import annotations

from consular.auth.models import Role

# Relations of the addressed record to the user asking.
OWN_PLACE = "own place"  # of the officer's liaison point (or its division)
OTHER_PLACE = "other place"
OWN_STATION = "own station"  # handed to (or registered with) the volunteer's station
OTHER_STATION = "other station"
UNASSIGNED = "unassigned"  # logged by the centre, neither a point's nor a station's
SELF = "self"  # the asking user's own row (draft, import, token)
OTHER_USER = "other user"  # another account's row
NONE = "-"  # the route addresses no record, or one not scoped by place (an alert, a mission)

# Outcomes.
OK = "ok"  # passed authorization: a page (200), or for a change a status that shows it was
# considered (redirect to the result, 400/409/422 for the empty form the matrix sends)
LOGIN = "login"  # anonymous on a page: redirect to the login page
UNAUTH = "401"  # anonymous on the API: 401 in JSON
FORBIDDEN = "403"  # the role may never use this route
HIDDEN = "404"  # outside the user's scope: not found, and nothing of it in the answer
METHOD = "405"

ANON = "anonymous"
A, C, L, V = Role.admin, Role.coordinator, Role.liaison_officer, Role.station_volunteer
WHO = (ANON, A, C, L, V)
NOT_READY = "503"  # /readyz of the test schema (made without migrations): not ready, for everyone

Outcome = str
Expected = Outcome | dict[str, Outcome]


def rel(otherwise: Outcome, by_relation: dict[str, Outcome]) -> dict[str, Outcome]:
    """``otherwise`` for every relation but those named."""
    return {"*": otherwise, **by_relation}


def api(page: dict[str, Expected]) -> dict[str, Expected]:
    """The API twin of a page's rule: the same for every role, but 401 for the anonymous instead of
    the redirect to the login page."""
    return {**page, ANON: UNAUTH}


def expected(policy: dict[str, Expected], who: str, relation: str) -> Outcome:
    entry = policy[who]
    if isinstance(entry, dict):
        return entry.get(relation, entry["*"])
    return entry


# The rules many routes share.
# A case, an activity or a registrant (by page or by API): the centre's coordinators; an officer
# when it is the own place's, a volunteer when the own station's; hidden from everyone else.
SCOPED_PAGE: dict[str, Expected] = {
    ANON: LOGIN, A: HIDDEN, C: OK, L: rel(HIDDEN, {OWN_PLACE: OK}), V: rel(HIDDEN, {OWN_STATION: OK}),
}
SCOPED_API: dict[str, Expected] = api(SCOPED_PAGE)
# The centre's own pages (the alerts, the console outbox): hidden from everyone else.
CENTRE_PAGE: dict[str, Expected] = {ANON: LOGIN, A: HIDDEN, C: OK, L: HIDDEN, V: HIDDEN}
# Running the system (users, the audit trail, the missions and the centre): admins only, known to
# exist for the other roles.
ADMIN_PAGE: dict[str, Expected] = {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: FORBIDDEN}
# A risk point a volunteer reported: the centre's, and its station's volunteers may read and amend
# it; deciding on it, its measures and its links are the centre's alone.
RISK_PAGE: dict[str, Expected] = {
    ANON: LOGIN, A: HIDDEN, C: OK, L: HIDDEN, V: rel(HIDDEN, {OWN_STATION: OK}),
}
RISK_DECISION_PAGE: dict[str, Expected] = {**RISK_PAGE, V: rel(HIDDEN, {OWN_STATION: FORBIDDEN})}
# Changing the network register: admins; a point's officer or a station's volunteer knows the own
# place exists (403), hidden otherwise.
POINT_ADMIN_PAGE: dict[str, Expected] = {
    ANON: LOGIN, A: OK, C: FORBIDDEN, L: rel(HIDDEN, {OWN_PLACE: FORBIDDEN}), V: HIDDEN,
}
STATION_ADMIN_PAGE: dict[str, Expected] = {
    ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: rel(HIDDEN, {OWN_STATION: FORBIDDEN}),
}
# A public page: the same for everyone, signed in or not.
PUBLIC: dict[str, Expected] = {ANON: OK, A: OK, C: OK, L: OK, V: OK}
# A registrant's record beyond reading it (erasure, legal hold, subject access): the centre's.
REGISTRANT_CENTRE_PAGE: dict[str, Expected] = {
    ANON: LOGIN, A: HIDDEN, C: OK, L: rel(HIDDEN, {OWN_PLACE: FORBIDDEN}),
    V: rel(HIDDEN, {OWN_STATION: FORBIDDEN}),
}

# Reading the table:
# - Admins run the system, not the cases: every case, registrant and alert record is 404 to them.
# - Coordinators see every case and registrant; a liaison officer those of the own place, a station
#   volunteer those of the own station; everything else is 404 (scoping in consular/auth/scoping.py).
# - A route a role may never use is 403 where the role can know the thing exists (the network
#   registry, the account pages), 404 where even that would say too much.
# - The case API checks the body before the action's role rule (consular/cases/policy.py, proven
#   per action in test_cases_core_policy.py), so an empty body in scope is a 400 for every role.
# - /metrics answers the loopback (METRICS_ALLOW); the Twilio webhooks are 404 with the console
#   gateway (they exist only when Twilio sends); the CAP file and feed are public alerts.
POLICY: dict[tuple[str, str], dict[str, Expected]] = {
    # The network's own work (consular/activities): admins see the yearly figures only; an officer
    # its point's activities; a volunteer its station's, and the risks its station reported (which only
    # the centre decides on, measures and links).
    ("activities.activity_list", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("activities.activity_new", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("activities.activity_new", "POST"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("activities.activity_page", "GET"): SCOPED_PAGE,
    ("activities.activity_edit", "GET"): SCOPED_PAGE,
    ("activities.activity_edit", "POST"): SCOPED_PAGE,
    ("activities.patrol_check", "POST"): SCOPED_PAGE,
    ("activities.attachment_upload", "POST"): SCOPED_PAGE,
    ("activities.attachment", "GET"): SCOPED_PAGE,
    ("activities.follow_up_new", "POST"): SCOPED_PAGE,
    ("activities.follow_up_done", "POST"): SCOPED_PAGE,
    ("activities.risk_list", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: HIDDEN, V: OK},
    ("activities.risk_new", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: HIDDEN, V: OK},
    ("activities.risk_new", "POST"): {ANON: LOGIN, A: HIDDEN, C: OK, L: HIDDEN, V: OK},
    ("activities.risk_page", "GET"): RISK_PAGE,
    ("activities.risk_edit", "GET"): RISK_PAGE,
    ("activities.risk_edit", "POST"): RISK_PAGE,
    ("activities.risk_decide", "POST"): RISK_DECISION_PAGE,
    ("activities.measure_new", "POST"): RISK_DECISION_PAGE,
    ("activities.measure_update", "POST"): RISK_DECISION_PAGE,
    ("activities.risk_link", "POST"): RISK_DECISION_PAGE,
    ("activities.year_summary", "GET"): {ANON: LOGIN, A: OK, C: OK, L: HIDDEN, V: HIDDEN},
    ("activities_api.activity_list", "GET"): {ANON: UNAUTH, A: HIDDEN, C: OK, L: OK, V: OK},
    ("activities_api.activity_create", "POST"): {ANON: UNAUTH, A: HIDDEN, C: OK, L: OK, V: OK},
    ("activities_api.activity_get", "GET"): SCOPED_API,
    ("activities_api.activity_update", "PATCH"): SCOPED_API,
    ("activities_api.activity_check", "POST"): SCOPED_API,
    ("activities_api.follow_up_create", "POST"): SCOPED_API,
    ("activities_api.follow_up_done", "POST"): SCOPED_API,
    ("activities_api.risk_list", "GET"): {ANON: UNAUTH, A: HIDDEN, C: OK, L: HIDDEN, V: OK},
    ("activities_api.risk_create", "POST"): {ANON: UNAUTH, A: HIDDEN, C: OK, L: HIDDEN, V: OK},
    ("activities_api.risk_get", "GET"): api(RISK_PAGE),
    ("activities_api.risk_update", "PATCH"): api(RISK_PAGE),
    ("activities_api.risk_decision", "POST"): api(RISK_DECISION_PAGE),
    ("activities_api.measure_create", "POST"): api(RISK_DECISION_PAGE),
    ("activities_api.measure_update", "PATCH"): api(RISK_DECISION_PAGE),
    ("activities_api.risk_link", "POST"): api(RISK_DECISION_PAGE),
    ("activities_api.work_figures", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: HIDDEN, V: HIDDEN},
    ("alert_feeds.cap_file", "GET"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("alert_feeds.feed", "GET"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("alert_pages.alert_list", "GET"): CENTRE_PAGE,
    ("alert_pages.approve", "POST"): CENTRE_PAGE,
    ("alert_pages.call_round", "GET"): CENTRE_PAGE,
    ("alert_pages.call_outcome", "POST"): CENTRE_PAGE,
    ("alert_pages.call_round_export", "GET"): CENTRE_PAGE,
    ("alert_pages.cancel", "POST"): CENTRE_PAGE,
    ("alert_pages.detail", "GET"): CENTRE_PAGE,
    ("alert_pages.edit", "GET"): CENTRE_PAGE,
    ("alert_pages.edit", "POST"): CENTRE_PAGE,
    ("alert_pages.estimate", "POST"): CENTRE_PAGE,
    ("alert_pages.new", "GET"): CENTRE_PAGE,
    ("alert_pages.new", "POST"): CENTRE_PAGE,
    ("alert_pages.progress", "GET"): CENTRE_PAGE,
    ("alert_pages.progress_json", "GET"): CENTRE_PAGE,
    ("alert_pages.reject", "POST"): CENTRE_PAGE,
    ("alert_pages.submit", "POST"): CENTRE_PAGE,
    ("alert_pages.write_cancel_notice", "POST"): CENTRE_PAGE,
    ("alert_pages.write_update", "POST"): CENTRE_PAGE,
    ("alert_pages.break_glass", "POST"): CENTRE_PAGE,
    ("alert_pages.break_glass_review", "POST"): CENTRE_PAGE,
    ("alert_pages.template_list", "GET"): CENTRE_PAGE,
    ("alert_pages.template_page", "GET"): CENTRE_PAGE,
    ("alert_pages.template_new", "GET"): CENTRE_PAGE,
    ("alert_pages.template_new", "POST"): CENTRE_PAGE,
    ("alert_pages.template_edit", "GET"): CENTRE_PAGE,
    ("alert_pages.template_edit", "POST"): CENTRE_PAGE,
    ("hazard_pages.hazard_list", "GET"): CENTRE_PAGE,
    ("alerts.workers", "GET"): ADMIN_PAGE,
    # The alerts API: the alert pages' twin (coordinators; hidden from everyone else).
    ("alerts_api.alert_list", "GET"): api(CENTRE_PAGE),
    ("alerts_api.create", "POST"): api(CENTRE_PAGE),
    ("alerts_api.read", "GET"): api(CENTRE_PAGE),
    ("alerts_api.update", "PATCH"): api(CENTRE_PAGE),
    ("alerts_api.submit", "POST"): api(CENTRE_PAGE),
    ("alerts_api.approve", "POST"): api(CENTRE_PAGE),
    ("alerts_api.reject", "POST"): api(CENTRE_PAGE),
    ("alerts_api.cancel", "POST"): api(CENTRE_PAGE),
    ("alerts_api.break_glass", "POST"): api(CENTRE_PAGE),
    ("alerts_api.break_glass_review", "POST"): api(CENTRE_PAGE),
    ("alerts_api.write_update", "POST"): api(CENTRE_PAGE),
    ("alerts_api.write_cancel_notice", "POST"): api(CENTRE_PAGE),
    ("alerts_api.progress", "GET"): api(CENTRE_PAGE),
    ("alerts_api.call_round", "GET"): api(CENTRE_PAGE),
    ("alerts_api.deliveries", "GET"): api(CENTRE_PAGE),
    ("alerts_api.cap_link", "GET"): api(CENTRE_PAGE),
    ("webhook_admin.subscriptions", "GET"): ADMIN_PAGE,
    ("webhook_admin.subscription_new", "GET"): ADMIN_PAGE,
    ("webhook_admin.subscription_new", "POST"): ADMIN_PAGE,
    ("webhook_admin.subscription_edit", "GET"): ADMIN_PAGE,
    ("webhook_admin.subscription_edit", "POST"): ADMIN_PAGE,
    ("webhook_admin.subscription_rotate", "POST"): ADMIN_PAGE,
    ("webhook_admin.deliveries", "GET"): ADMIN_PAGE,
    ("api_docs.openapi_json", "GET"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("audit.entries", "GET"): ADMIN_PAGE,
    ("auth.account", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("auth.api_me", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: OK},
    ("auth.api_revoke_token", "POST"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: OK},
    ("auth.change_password", "POST"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("auth.create_token", "POST"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("auth.login", "GET"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("auth.login", "POST"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("auth.login_code", "GET"): {ANON: LOGIN, A: LOGIN, C: LOGIN, L: LOGIN, V: LOGIN},
    ("auth.login_code", "POST"): {ANON: LOGIN, A: LOGIN, C: LOGIN, L: LOGIN, V: LOGIN},
    ("auth.login_enrol", "GET"): {ANON: LOGIN, A: LOGIN, C: LOGIN, L: LOGIN, V: LOGIN},
    ("auth.login_enrol", "POST"): {ANON: LOGIN, A: LOGIN, C: LOGIN, L: LOGIN, V: LOGIN},
    ("auth.logout", "POST"): {ANON: LOGIN, A: LOGIN, C: LOGIN, L: LOGIN, V: LOGIN},
    ("auth.revoke_token", "POST"): {
        ANON: LOGIN, A: rel(HIDDEN, {SELF: OK}), C: rel(HIDDEN, {SELF: OK}), L: rel(HIDDEN, {SELF: OK}),
        V: rel(HIDDEN, {SELF: OK}),
    },
    ("auth.setup_2fa", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("auth.setup_2fa", "POST"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("auth.user_deactivate", "POST"): {ANON: LOGIN, A: OK, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("auth.user_edit", "GET"): {ANON: LOGIN, A: OK, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("auth.user_edit", "POST"): {ANON: LOGIN, A: OK, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("auth.user_new", "GET"): ADMIN_PAGE,
    ("auth.user_new", "POST"): ADMIN_PAGE,
    ("auth.user_password", "GET"): {ANON: LOGIN, A: OK, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("auth.user_password", "POST"): {ANON: LOGIN, A: OK, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("auth.user_reactivate", "POST"): {ANON: LOGIN, A: OK, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("auth.user_reset_2fa", "POST"): {ANON: LOGIN, A: OK, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("auth.users", "GET"): ADMIN_PAGE,
    ("cases.act", "POST"): SCOPED_PAGE,
    ("cases.attachment", "GET"): SCOPED_PAGE,
    ("cases.case_page", "GET"): SCOPED_PAGE,
    ("cases.discard_draft", "POST"): {
        ANON: LOGIN, A: HIDDEN, C: rel(HIDDEN, {SELF: OK}), L: rel(HIDDEN, {SELF: OK}),
        V: rel(HIDDEN, {SELF: OK}),
    },
    ("cases.drafts", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases.edit_case", "GET"): {
        ANON: LOGIN, A: HIDDEN, C: OK, L: rel(HIDDEN, {OWN_PLACE: OK}),
        V: rel(HIDDEN, {OWN_STATION: FORBIDDEN}),
    },
    ("cases.edit_case", "POST"): {
        ANON: LOGIN, A: HIDDEN, C: OK, L: rel(HIDDEN, {OWN_PLACE: OK}),
        V: rel(HIDDEN, {OWN_STATION: FORBIDDEN}),
    },
    ("cases.inbox", "GET"): {ANON: LOGIN, A: HIDDEN, C: FORBIDDEN, L: FORBIDDEN, V: OK},
    ("cases.incident_mass", "POST"): {ANON: LOGIN, A: HIDDEN, C: OK, L: FORBIDDEN, V: FORBIDDEN},
    ("cases.incident_page", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: FORBIDDEN, V: FORBIDDEN},
    ("cases.incidents", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: FORBIDDEN, V: FORBIDDEN},
    ("cases.incidents", "POST"): {ANON: LOGIN, A: HIDDEN, C: OK, L: FORBIDDEN, V: FORBIDDEN},
    ("cases.mine", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: FORBIDDEN},
    ("cases.new_case", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases.new_case", "POST"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases.notifications", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases.notifications_read", "POST"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases.queue", "GET"): {ANON: LOGIN, A: HIDDEN, C: OK, L: FORBIDDEN, V: FORBIDDEN},
    ("cases.save_draft", "POST"): {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases_api.action_accept", "POST"): SCOPED_API,
    ("cases_api.action_assign", "POST"): SCOPED_API,
    ("cases_api.action_close", "POST"): SCOPED_API,
    ("cases_api.action_decline", "POST"): SCOPED_API,
    ("cases_api.action_decide_duplicate", "POST"): SCOPED_API,
    ("cases_api.action_link_incident", "POST"): SCOPED_API,
    ("cases_api.action_reopen", "POST"): SCOPED_API,
    ("cases_api.action_resolve", "POST"): SCOPED_API,
    ("cases_api.action_resume", "POST"): SCOPED_API,
    ("cases_api.action_revoke", "POST"): SCOPED_API,
    ("cases_api.action_set_legal_hold", "POST"): SCOPED_API,
    ("cases_api.action_set_priority", "POST"): SCOPED_API,
    ("cases_api.action_start", "POST"): SCOPED_API,
    ("cases_api.action_triage", "POST"): SCOPED_API,
    ("cases_api.action_unlink_incident", "POST"): SCOPED_API,
    ("cases_api.action_wait_external", "POST"): SCOPED_API,
    ("cases_api.add_note", "POST"): SCOPED_API,
    ("cases_api.add_person", "POST"): SCOPED_API,
    ("cases_api.create_case", "POST"): {ANON: UNAUTH, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases_api.create_incident", "POST"): {ANON: UNAUTH, A: HIDDEN, C: OK, L: FORBIDDEN, V: FORBIDDEN},
    ("cases_api.get_case", "GET"): SCOPED_API,
    ("cases_api.get_incident", "GET"): {
        ANON: UNAUTH, A: HIDDEN, C: OK, L: rel(HIDDEN, {OWN_PLACE: OK}), V: HIDDEN,
    },
    ("cases_api.list_cases", "GET"): {ANON: UNAUTH, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases_api.list_incidents", "GET"): {ANON: UNAUTH, A: HIDDEN, C: OK, L: OK, V: OK},
    ("cases_api.refer", "POST"): SCOPED_API,
    ("cases_api.update_case", "PATCH"): SCOPED_API,
    ("cases_api.update_referral", "PATCH"): SCOPED_API,
    ("dev_sms.console_messages", "GET"): CENTRE_PAGE,
    ("metrics.metrics", "GET"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("network.centre", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("network.centre_edit", "GET"): ADMIN_PAGE,
    ("network.centre_edit", "POST"): ADMIN_PAGE,
    ("network.coverage", "GET"): {ANON: LOGIN, A: OK, C: OK, L: FORBIDDEN, V: FORBIDDEN},
    ("network.division", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: HIDDEN},
    ("network.division_deactivate", "POST"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network.division_edit", "GET"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network.division_edit", "POST"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network.division_new", "GET"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network.division_new", "POST"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network.division_reactivate", "POST"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network.divisions", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: HIDDEN},
    ("network.liaison_point", "GET"): {ANON: LOGIN, A: OK, C: OK, L: rel(HIDDEN, {OWN_PLACE: OK}), V: HIDDEN},
    ("network.liaison_point_deactivate", "POST"): POINT_ADMIN_PAGE,
    ("network.liaison_point_edit", "GET"): POINT_ADMIN_PAGE,
    ("network.liaison_point_edit", "POST"): POINT_ADMIN_PAGE,
    ("network.liaison_point_new", "GET"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: HIDDEN, V: HIDDEN},
    ("network.liaison_point_new", "POST"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: HIDDEN, V: HIDDEN},
    ("network.liaison_point_reactivate", "POST"): POINT_ADMIN_PAGE,
    ("network.liaison_points", "GET"): {ANON: LOGIN, A: OK, C: OK, L: HIDDEN, V: HIDDEN},
    ("network.mission", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("network.mission_deactivate", "POST"): ADMIN_PAGE,
    ("network.mission_edit", "GET"): ADMIN_PAGE,
    ("network.mission_edit", "POST"): ADMIN_PAGE,
    ("network.mission_new", "GET"): ADMIN_PAGE,
    ("network.mission_new", "POST"): ADMIN_PAGE,
    ("network.mission_reactivate", "POST"): ADMIN_PAGE,
    ("network.missions", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("network.station", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: rel(HIDDEN, {OWN_STATION: OK})},
    ("network.station_deactivate", "POST"): STATION_ADMIN_PAGE,
    ("network.station_edit", "GET"): STATION_ADMIN_PAGE,
    ("network.station_edit", "POST"): STATION_ADMIN_PAGE,
    ("network.station_new", "GET"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network.station_new", "POST"): {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network.station_reactivate", "POST"): STATION_ADMIN_PAGE,
    ("network.stations", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: HIDDEN},
    ("network_api.centre", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: OK},
    ("network_api.centre_update", "PATCH"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: FORBIDDEN},
    ("network_api.coverage", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: FORBIDDEN, V: FORBIDDEN},
    ("network_api.division", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: HIDDEN},
    ("network_api.division_create", "POST"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network_api.division_deactivate", "POST"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network_api.division_reactivate", "POST"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network_api.division_update", "PATCH"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network_api.divisions", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: HIDDEN},
    ("network_api.liaison_point", "GET"): {
        ANON: UNAUTH, A: OK, C: OK, L: rel(HIDDEN, {OWN_PLACE: OK}), V: HIDDEN,
    },
    ("network_api.liaison_point_create", "POST"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: HIDDEN, V: HIDDEN},
    ("network_api.liaison_point_deactivate", "POST"): api(POINT_ADMIN_PAGE),
    ("network_api.liaison_point_reactivate", "POST"): api(POINT_ADMIN_PAGE),
    ("network_api.liaison_point_update", "PATCH"): api(POINT_ADMIN_PAGE),
    ("network_api.liaison_points", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: HIDDEN, V: HIDDEN},
    ("network_api.mission", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: OK},
    ("network_api.mission_create", "POST"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: FORBIDDEN},
    ("network_api.mission_deactivate", "POST"): {
        ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: FORBIDDEN,
    },
    ("network_api.mission_reactivate", "POST"): {
        ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: FORBIDDEN,
    },
    ("network_api.mission_update", "PATCH"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: FORBIDDEN},
    ("network_api.missions", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: OK},
    ("network_api.station", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: rel(HIDDEN, {OWN_STATION: OK})},
    ("network_api.station_create", "POST"): {ANON: UNAUTH, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN},
    ("network_api.station_deactivate", "POST"): api(STATION_ADMIN_PAGE),
    ("network_api.station_reactivate", "POST"): api(STATION_ADMIN_PAGE),
    ("network_api.station_update", "PATCH"): api(STATION_ADMIN_PAGE),
    ("network_api.stations", "GET"): {ANON: UNAUTH, A: OK, C: OK, L: OK, V: HIDDEN},
    ("ops.healthz", "GET"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("ops.readyz", "GET"): {ANON: NOT_READY, A: NOT_READY, C: NOT_READY, L: NOT_READY, V: NOT_READY},
    ("registry.edit", "GET"): SCOPED_PAGE,
    ("registry.edit", "POST"): SCOPED_PAGE,
    ("registry.end", "POST"): SCOPED_PAGE,
    ("registry.erase", "GET"): REGISTRANT_CENTRE_PAGE,
    ("registry.erase", "POST"): REGISTRANT_CENTRE_PAGE,
    ("registry.export", "GET"): {ANON: LOGIN, A: FORBIDDEN, C: OK, L: OK, V: OK},
    ("registry.import_confirm", "POST"): {
        ANON: LOGIN, A: FORBIDDEN, C: rel(FORBIDDEN, {SELF: OK}), L: rel(HIDDEN, {SELF: OK}),
        V: rel(HIDDEN, {SELF: OK}),
    },
    ("registry.import_discard", "POST"): {
        ANON: LOGIN, A: FORBIDDEN, C: rel(FORBIDDEN, {SELF: OK}), L: rel(HIDDEN, {SELF: OK}),
        V: rel(HIDDEN, {SELF: OK}),
    },
    ("registry.import_result", "GET"): {
        ANON: LOGIN, A: FORBIDDEN, C: OK, L: rel(HIDDEN, {SELF: OK}), V: rel(HIDDEN, {SELF: OK}),
    },
    ("registry.import_upload", "GET"): {ANON: LOGIN, A: FORBIDDEN, C: OK, L: OK, V: OK},
    ("registry.import_upload", "POST"): {ANON: LOGIN, A: FORBIDDEN, C: OK, L: OK, V: OK},
    ("registry.legal_hold", "POST"): REGISTRANT_CENTRE_PAGE,
    ("registry.new", "GET"): {ANON: LOGIN, A: FORBIDDEN, C: OK, L: OK, V: OK},
    ("registry.new", "POST"): {ANON: LOGIN, A: FORBIDDEN, C: OK, L: OK, V: OK},
    ("registry.registrant", "GET"): SCOPED_PAGE,
    ("registry.registrants", "GET"): {ANON: LOGIN, A: FORBIDDEN, C: OK, L: OK, V: OK},
    ("registry.status", "POST"): SCOPED_PAGE,
    ("registry.subject_access", "GET"): REGISTRANT_CENTRE_PAGE,
    ("registry_api.create", "POST"): {ANON: UNAUTH, A: FORBIDDEN, C: OK, L: OK, V: OK},
    ("registry_api.end", "POST"): SCOPED_API,
    ("registry_api.registrant", "GET"): SCOPED_API,
    ("registry_api.registrants", "GET"): {ANON: UNAUTH, A: FORBIDDEN, C: OK, L: OK, V: OK},
    ("registry_api.status", "POST"): SCOPED_API,
    ("registry_api.update", "PATCH"): SCOPED_API,
    ("reports.cases_csv", "GET"): {ANON: LOGIN, A: FORBIDDEN, C: OK, L: HIDDEN, V: HIDDEN},
    ("reports.cases_workbook", "GET"): {ANON: LOGIN, A: FORBIDDEN, C: OK, L: HIDDEN, V: HIDDEN},
    ("reports.index", "GET"): {ANON: LOGIN, A: OK, C: OK, L: HIDDEN, V: HIDDEN},
    ("reports.statistics_workbook", "GET"): {ANON: LOGIN, A: OK, C: OK, L: HIDDEN, V: HIDDEN},
    ("reports.year", "GET"): {ANON: LOGIN, A: OK, C: OK, L: HIDDEN, V: HIDDEN},
    ("static", "GET"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("web.favicon", "GET"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    # Self-enrolment: public pages for anyone (a code proves the number, not a login); without a
    # code sent or a number proved, the later steps lead back to the start or answer 400.
    ("enrol.start", "GET"): PUBLIC,
    ("enrol.request_code", "POST"): PUBLIC,
    ("enrol.verify", "GET"): PUBLIC,
    ("enrol.check", "POST"): PUBLIC,
    ("enrol.details", "GET"): PUBLIC,
    ("enrol.save", "POST"): PUBLIC,
    ("enrol.end", "POST"): PUBLIC,
    ("enrol.done", "GET"): PUBLIC,
    ("web.home", "GET"): {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK},
    ("web.set_language", "POST"): {ANON: OK, A: OK, C: OK, L: OK, V: OK},
    ("webhooks.inbound", "POST"): {ANON: HIDDEN, A: HIDDEN, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("webhooks.status_callback", "POST"): {ANON: HIDDEN, A: HIDDEN, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    # Voice calls' TwiML, keys and statuses: public but signed by Twilio, like the other webhooks.
    ("voice_webhooks.twiml", "POST"): {ANON: HIDDEN, A: HIDDEN, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("voice_webhooks.answer", "POST"): {ANON: HIDDEN, A: HIDDEN, C: HIDDEN, L: HIDDEN, V: HIDDEN},
    ("voice_webhooks.call_status", "POST"): {ANON: HIDDEN, A: HIDDEN, C: HIDDEN, L: HIDDEN, V: HIDDEN},
}
