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
Rule = dict[str, Expected]
Route = tuple[str, str]


def rel(otherwise: Outcome, by_relation: dict[str, Outcome]) -> dict[str, Outcome]:
    """``otherwise`` for every relation but those named."""
    return {"*": otherwise, **by_relation}


def everyone(outcome: Outcome) -> Rule:
    """The same outcome for every caller, signed in or not."""
    return dict.fromkeys(WHO, outcome)


def api(page: Rule) -> Rule:
    """The API twin of a page's rule: the same for every role, but 401 for the anonymous instead of
    the redirect to the login page."""
    return {**page, ANON: UNAUTH}


def expected(policy: Rule, who: str, relation: str) -> Outcome:
    entry = policy[who]
    if isinstance(entry, dict):
        return entry.get(relation, entry["*"])
    return entry


def views(blueprint: str, rule: Rule, **methods: str) -> dict[Route, Rule]:
    """``rule`` for each view of ``blueprint`` named, on each of its methods (``edit="GET POST"``)."""
    return {(f"{blueprint}.{view}", method): rule
            for view, names in methods.items() for method in names.split()}


def table(*parts: dict[Route, Rule]) -> dict[Route, Rule]:
    """The parts as one table; a route classified twice is a mistake in the table."""
    merged: dict[Route, Rule] = {}
    for part in parts:
        twice = sorted(merged.keys() & part.keys())
        if twice:
            raise ValueError(f"routes classified twice: {twice}")
        merged.update(part)
    return merged


# The rules many routes share.
# A case, an activity or a registrant (by page or by API): the centre's coordinators; an officer
# when it is the own place's, a volunteer when the own station's; hidden from everyone else.
SCOPED_PAGE: Rule = {
    ANON: LOGIN, A: HIDDEN, C: OK, L: rel(HIDDEN, {OWN_PLACE: OK}), V: rel(HIDDEN, {OWN_STATION: OK}),
}
SCOPED_API: Rule = api(SCOPED_PAGE)
# The network's own work (lists, new records, drafts, notifications): every role but admins.
NETWORK_PAGE: Rule = {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: OK}
# The centre's own pages (the alerts, the console outbox): hidden from everyone else.
CENTRE_PAGE: Rule = {ANON: LOGIN, A: HIDDEN, C: OK, L: HIDDEN, V: HIDDEN}
# The centre's case work beyond single cases (incidents, the queue): known to exist for the network.
COORDINATOR_PAGE: Rule = {ANON: LOGIN, A: HIDDEN, C: OK, L: FORBIDDEN, V: FORBIDDEN}
# Figures and registers of the whole network (yearly figures, the liaison points): admins and the
# centre.
ADMIN_AND_CENTRE_PAGE: Rule = {ANON: LOGIN, A: OK, C: OK, L: HIDDEN, V: HIDDEN}
# Running the system (users, the audit trail, the missions and the centre): admins only, known to
# exist for the other roles.
ADMIN_PAGE: Rule = {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: FORBIDDEN}
# Another account: admins only; the other roles do not learn that it exists.
ACCOUNT_ADMIN_PAGE: Rule = {ANON: LOGIN, A: OK, C: HIDDEN, L: HIDDEN, V: HIDDEN}
# Anything of one's own account: every role.
SIGNED_IN_PAGE: Rule = {ANON: LOGIN, A: OK, C: OK, L: OK, V: OK}
# A row of the asking user's own (an API token, a draft, an import): theirs, hidden otherwise.
OWN_ROW = rel(HIDDEN, {SELF: OK})
OWN_ROW_PAGE: Rule = {ANON: LOGIN, A: OWN_ROW, C: OWN_ROW, L: OWN_ROW, V: OWN_ROW}
# A risk point a volunteer reported: the centre's, and its station's volunteers may read and amend
# it; deciding on it, its measures and its links are the centre's alone.
RISK_LIST_PAGE: Rule = {ANON: LOGIN, A: HIDDEN, C: OK, L: HIDDEN, V: OK}
RISK_PAGE: Rule = {ANON: LOGIN, A: HIDDEN, C: OK, L: HIDDEN, V: rel(HIDDEN, {OWN_STATION: OK})}
RISK_DECISION_PAGE: Rule = {**RISK_PAGE, V: rel(HIDDEN, {OWN_STATION: FORBIDDEN})}
# The network register: reading it (a volunteer sees only its own station), and changing it: admins;
# a point's officer or a station's volunteer knows the own place exists (403), hidden otherwise.
REGISTER_PAGE: Rule = {ANON: LOGIN, A: OK, C: OK, L: OK, V: HIDDEN}
POINT_PAGE: Rule = {ANON: LOGIN, A: OK, C: OK, L: rel(HIDDEN, {OWN_PLACE: OK}), V: HIDDEN}
STATION_PAGE: Rule = {ANON: LOGIN, A: OK, C: OK, L: OK, V: rel(HIDDEN, {OWN_STATION: OK})}
COVERAGE_PAGE: Rule = {ANON: LOGIN, A: OK, C: OK, L: FORBIDDEN, V: FORBIDDEN}
DIVISION_ADMIN_PAGE: Rule = {ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: HIDDEN}
POINT_NEW_PAGE: Rule = {ANON: LOGIN, A: OK, C: FORBIDDEN, L: HIDDEN, V: HIDDEN}
POINT_ADMIN_PAGE: Rule = {ANON: LOGIN, A: OK, C: FORBIDDEN, L: rel(HIDDEN, {OWN_PLACE: FORBIDDEN}), V: HIDDEN}
STATION_ADMIN_PAGE: Rule = {
    ANON: LOGIN, A: OK, C: FORBIDDEN, L: FORBIDDEN, V: rel(HIDDEN, {OWN_STATION: FORBIDDEN}),
}
# The registry's lists, new registrants and imports: every role but admins, who know it exists.
REGISTRY_PAGE: Rule = {ANON: LOGIN, A: FORBIDDEN, C: OK, L: OK, V: OK}
# A registrant's record beyond reading it (erasure, legal hold, subject access): the centre's.
REGISTRANT_CENTRE_PAGE: Rule = {
    ANON: LOGIN, A: HIDDEN, C: OK, L: rel(HIDDEN, {OWN_PLACE: FORBIDDEN}),
    V: rel(HIDDEN, {OWN_STATION: FORBIDDEN}),
}
# A public page: the same for everyone, signed in or not.
PUBLIC: Rule = everyone(OK)
# A step of signing in or out: back to the login page without the state the step needs.
TO_LOGIN: Rule = everyone(LOGIN)
# Twilio's webhooks: they exist only when Twilio sends.
TWILIO_ONLY: Rule = everyone(HIDDEN)

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
# Every route is named once: by its blueprint, the rule it follows, and its views with their methods.
POLICY: dict[Route, Rule] = table(
    # The network's own work (consular/activities): admins see the yearly figures only; an officer
    # its point's activities; a volunteer its station's, and the risks its station reported (which only
    # the centre decides on, measures and links).
    views("activities", NETWORK_PAGE, activity_list="GET", activity_new="GET POST"),
    views("activities", SCOPED_PAGE, activity_page="GET", activity_edit="GET POST", patrol_check="POST",
          attachment_upload="POST", attachment="GET", follow_up_new="POST", follow_up_done="POST"),
    views("activities", RISK_LIST_PAGE, risk_list="GET", risk_new="GET POST"),
    views("activities", RISK_PAGE, risk_page="GET", risk_edit="GET POST"),
    views("activities", RISK_DECISION_PAGE, risk_decide="POST", measure_new="POST", measure_update="POST",
          risk_link="POST"),
    views("activities", ADMIN_AND_CENTRE_PAGE, year_summary="GET"),
    views("activities_api", api(NETWORK_PAGE), activity_list="GET", activity_create="POST"),
    views("activities_api", SCOPED_API, activity_get="GET", activity_update="PATCH", activity_check="POST",
          follow_up_create="POST", follow_up_done="POST"),
    views("activities_api", api(RISK_LIST_PAGE), risk_list="GET", risk_create="POST"),
    views("activities_api", api(RISK_PAGE), risk_get="GET", risk_update="PATCH"),
    views("activities_api", api(RISK_DECISION_PAGE), risk_decision="POST", measure_create="POST",
          measure_update="PATCH", risk_link="POST"),
    views("activities_api", api(ADMIN_AND_CENTRE_PAGE), work_figures="GET"),
    views("alert_feeds", PUBLIC, cap_file="GET", feed="GET"),
    views("alert_pages", CENTRE_PAGE, alert_list="GET", approve="POST", call_round="GET", call_outcome="POST",
          call_round_export="GET", cancel="POST", detail="GET", edit="GET POST", estimate="POST",
          new="GET POST", progress="GET", progress_json="GET", reject="POST", submit="POST",
          write_cancel_notice="POST", write_update="POST", break_glass="POST", break_glass_review="POST",
          template_list="GET", template_page="GET", template_new="GET POST", template_edit="GET POST"),
    views("hazard_pages", CENTRE_PAGE, hazard_list="GET"),
    views("alerts", ADMIN_PAGE, workers="GET"),
    # The alerts API: the alert pages' twin (coordinators; hidden from everyone else).
    views("alerts_api", api(CENTRE_PAGE), alert_list="GET", create="POST", read="GET", update="PATCH",
          submit="POST", approve="POST", reject="POST", cancel="POST", break_glass="POST",
          break_glass_review="POST", write_update="POST", write_cancel_notice="POST", progress="GET",
          call_round="GET", deliveries="GET", cap_link="GET"),
    views("webhook_admin", ADMIN_PAGE, subscriptions="GET", subscription_new="GET POST",
          subscription_edit="GET POST", subscription_rotate="POST", deliveries="GET"),
    views("api_docs", PUBLIC, openapi_json="GET"),
    views("audit", ADMIN_PAGE, entries="GET"),
    views("auth", SIGNED_IN_PAGE, account="GET", change_password="POST", create_token="POST",
          setup_2fa="GET POST"),
    views("auth", api(SIGNED_IN_PAGE), api_me="GET", api_revoke_token="POST"),
    views("auth", PUBLIC, login="GET POST"),
    views("auth", TO_LOGIN, login_code="GET POST", login_enrol="GET POST", logout="POST"),
    views("auth", OWN_ROW_PAGE, revoke_token="POST"),
    views("auth", ACCOUNT_ADMIN_PAGE, user_deactivate="POST", user_edit="GET POST", user_password="GET POST",
          user_reactivate="POST", user_reset_2fa="POST"),
    views("auth", ADMIN_PAGE, user_new="GET POST", users="GET"),
    views("cases", SCOPED_PAGE, act="POST", attachment="GET", case_page="GET"),
    views("cases", {**OWN_ROW_PAGE, A: HIDDEN}, discard_draft="POST"),
    views("cases", NETWORK_PAGE, drafts="GET", new_case="GET POST", notifications="GET",
          notifications_read="POST", save_draft="POST"),
    views("cases", {**SCOPED_PAGE, V: rel(HIDDEN, {OWN_STATION: FORBIDDEN})}, edit_case="GET POST"),
    views("cases", {ANON: LOGIN, A: HIDDEN, C: FORBIDDEN, L: FORBIDDEN, V: OK}, inbox="GET"),
    views("cases", COORDINATOR_PAGE, incident_mass="POST", incident_page="GET", incidents="GET POST",
          queue="GET"),
    views("cases", {ANON: LOGIN, A: HIDDEN, C: OK, L: OK, V: FORBIDDEN}, mine="GET"),
    views("cases_api", SCOPED_API, action_accept="POST", action_assign="POST", action_close="POST",
          action_decline="POST", action_decide_duplicate="POST", action_link_incident="POST",
          action_reopen="POST", action_resolve="POST", action_resume="POST", action_revoke="POST",
          action_set_legal_hold="POST", action_set_priority="POST", action_start="POST", action_triage="POST",
          action_unlink_incident="POST", action_wait_external="POST", add_note="POST", add_person="POST",
          get_case="GET", refer="POST", update_case="PATCH", update_referral="PATCH"),
    views("cases_api", api(NETWORK_PAGE), create_case="POST", list_cases="GET", list_incidents="GET"),
    views("cases_api", api(COORDINATOR_PAGE), create_incident="POST"),
    views("cases_api", api({**SCOPED_PAGE, V: HIDDEN}), get_incident="GET"),
    views("dev_sms", CENTRE_PAGE, console_messages="GET"),
    views("metrics", PUBLIC, metrics="GET"),
    views("network", SIGNED_IN_PAGE, centre="GET", mission="GET", missions="GET"),
    views("network", ADMIN_PAGE, centre_edit="GET POST", mission_deactivate="POST", mission_edit="GET POST",
          mission_new="GET POST", mission_reactivate="POST"),
    views("network", COVERAGE_PAGE, coverage="GET"),
    views("network", REGISTER_PAGE, division="GET", divisions="GET", stations="GET"),
    views("network", DIVISION_ADMIN_PAGE, division_deactivate="POST", division_edit="GET POST",
          division_new="GET POST", division_reactivate="POST", station_new="GET POST"),
    views("network", POINT_PAGE, liaison_point="GET"),
    views("network", POINT_ADMIN_PAGE, liaison_point_deactivate="POST", liaison_point_edit="GET POST",
          liaison_point_reactivate="POST"),
    views("network", POINT_NEW_PAGE, liaison_point_new="GET POST"),
    views("network", ADMIN_AND_CENTRE_PAGE, liaison_points="GET"),
    views("network", STATION_PAGE, station="GET"),
    views("network", STATION_ADMIN_PAGE, station_deactivate="POST", station_edit="GET POST",
          station_reactivate="POST"),
    views("network_api", api(SIGNED_IN_PAGE), centre="GET", mission="GET", missions="GET"),
    views("network_api", api(ADMIN_PAGE), centre_update="PATCH", mission_create="POST",
          mission_deactivate="POST", mission_reactivate="POST", mission_update="PATCH"),
    views("network_api", api(COVERAGE_PAGE), coverage="GET"),
    views("network_api", api(REGISTER_PAGE), division="GET", divisions="GET", stations="GET"),
    views("network_api", api(DIVISION_ADMIN_PAGE), division_create="POST", division_deactivate="POST",
          division_reactivate="POST", division_update="PATCH", station_create="POST"),
    views("network_api", api(POINT_PAGE), liaison_point="GET"),
    views("network_api", api(POINT_NEW_PAGE), liaison_point_create="POST"),
    views("network_api", api(POINT_ADMIN_PAGE), liaison_point_deactivate="POST",
          liaison_point_reactivate="POST", liaison_point_update="PATCH"),
    views("network_api", api(ADMIN_AND_CENTRE_PAGE), liaison_points="GET"),
    views("network_api", api(STATION_PAGE), station="GET"),
    views("network_api", api(STATION_ADMIN_PAGE), station_deactivate="POST", station_reactivate="POST",
          station_update="PATCH"),
    views("ops", PUBLIC, healthz="GET"),
    views("ops", everyone(NOT_READY), readyz="GET"),
    views("registry", SCOPED_PAGE, edit="GET POST", end="POST", registrant="GET", status="POST"),
    views("registry", REGISTRANT_CENTRE_PAGE, erase="GET POST", legal_hold="POST", subject_access="GET"),
    views("registry", REGISTRY_PAGE, export="GET", import_upload="GET POST", new="GET POST",
          registrants="GET"),
    views("registry", {**OWN_ROW_PAGE, A: FORBIDDEN, C: rel(FORBIDDEN, {SELF: OK})}, import_confirm="POST",
          import_discard="POST"),
    views("registry", {**OWN_ROW_PAGE, A: FORBIDDEN, C: OK}, import_result="GET"),
    views("registry_api", api(REGISTRY_PAGE), create="POST", registrants="GET"),
    views("registry_api", SCOPED_API, end="POST", registrant="GET", status="POST", update="PATCH"),
    views("reports", {ANON: LOGIN, A: FORBIDDEN, C: OK, L: HIDDEN, V: HIDDEN}, cases_csv="GET",
          cases_workbook="GET"),
    views("reports", ADMIN_AND_CENTRE_PAGE, index="GET", statistics_workbook="GET", year="GET"),
    {("static", "GET"): PUBLIC},
    views("web", PUBLIC, favicon="GET", set_language="POST"),
    views("web", SIGNED_IN_PAGE, home="GET"),
    # Self-enrolment: public pages for anyone (a code proves the number, not a login); without a
    # code sent or a number proved, the later steps lead back to the start or answer 400.
    views("enrol", PUBLIC, start="GET", request_code="POST", verify="GET", check="POST", details="GET",
          save="POST", end="POST", done="GET"),
    views("webhooks", TWILIO_ONLY, inbound="POST", status_callback="POST"),
    # Voice calls' TwiML, keys and statuses: public but signed by Twilio, like the other webhooks.
    views("voice_webhooks", TWILIO_ONLY, twiml="POST", answer="POST", call_status="POST"),
)
