"""The admin's user pages: list and search, create, edit, deactivate, reactivate, new password,
reset of two-step login; only admins; bad input answered clearly with nothing half-written."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth import operations as ops
from consular.auth.models import Role, User
from consular.db import db, keyring
from tests.conftest import PASSWORD, Browser

GOOD_PASSWORD = "plum blossom at dawn"


def count_users() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0


def actions(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def text(response: Any) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def admin(make_user) -> User:
    return make_user(Role.admin, username="chief", locale="en")


@pytest.fixture
def as_admin(admin, logged_in) -> Browser:
    return logged_in(admin)


# --- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.coordinator, Role.liaison_officer, Role.station_volunteer])
def test_others_get_403_for_the_list_and_404_for_any_user(make_user, logged_in, submit,
                                                          admin, role) -> None:
    user = make_user(role)
    browser = logged_in(user)
    assert browser.get("/admin/users").status_code == 403
    assert browser.get("/admin/users/new").status_code == 403
    for target in (admin.id, user.id, 99999):  # someone else, themselves, nobody
        assert browser.get(f"/admin/users/{target}").status_code == 404
        assert browser.get(f"/admin/users/{target}/password").status_code == 404
        for action in ("deactivate", "reactivate", "reset-2fa", "password"):
            assert submit(browser, f"/admin/users/{target}/{action}").status_code == 404
    assert submit(browser, f"/admin/users/{user.id}", {
        "display_name": "Me", "role": "admin"}).status_code == 404
    db.session.refresh(admin)
    db.session.refresh(user)
    assert admin.active and user.role == role


def test_anonymous_visitors_are_sent_to_log_in(client) -> None:
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_admin_navigation_leads_to_the_users(as_admin) -> None:
    assert 'href="/admin/users"' in text(as_admin.get("/"))


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_role_place_second_step_and_last_login(app, as_admin, make_user,
                                                              make_point, make_station) -> None:
    point = make_point(name="七都街道联络点")
    station = make_station(name="普拉托服务站", country_code="IT")
    officer = make_user(Role.liaison_officer, username="officer7", liaison_point_id=point.id)
    volunteer = make_user(Role.station_volunteer, username="prato1", station_id=station.id)
    volunteer.totp_secret = pyotp.random_base32()
    db.session.commit()
    page = text(as_admin.get("/admin/users"))
    rows = dict(re.findall(r'data-username="([^"]+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {"chief", "officer7", "prato1"}
    assert "七都街道联络点" in rows["officer7"] and "Liaison officer" in rows["officer7"]
    assert "普拉托服务站" in rows["prato1"] and "Italy" in rows["prato1"]
    assert ">On<" in rows["prato1"] and ">Off<" in rows["officer7"]
    assert "Never" in rows["officer7"] and "Never" not in rows["chief"]
    assert officer.id and volunteer.id


def test_search_and_filters(as_admin, make_user) -> None:
    make_user(Role.coordinator, username="zhang.wei")
    make_user(Role.coordinator, username="li.na", phone="+8613905770008")
    gone = make_user(Role.liaison_officer, username="wang.fang")
    ops.deactivate_user(gone)
    db.session.commit()

    def listed(query: str) -> set[str]:
        return set(re.findall(r'data-username="([^"]+)"', text(as_admin.get(f"/admin/users?{query}"))))

    assert listed("q=zhang") == {"zhang.wei"}
    assert listed("q=User") >= {"zhang.wei", "li.na", "wang.fang"}  # display names "User n"
    assert listed("q=139%200577%200008") == {"li.na"}  # a phone, typed as people type it
    assert listed("role=coordinator") == {"zhang.wei", "li.na"}
    assert listed("active=0") == {"wang.fang"}
    assert "wang.fang" not in listed("active=1")
    assert listed("q=%25") == set()  # a LIKE wildcard is searched for, not obeyed
    assert listed("role=emperor") >= {"chief", "zhang.wei"}  # unknown filter: ignored


def test_a_bad_page_number_is_a_clear_400(as_admin) -> None:
    assert as_admin.get("/admin/users?page=abc").status_code == 400


# --- create ---------------------------------------------------------------------------------


def test_create_a_liaison_officer(as_admin, submit, make_point) -> None:
    point = make_point(name="五马街道联络点")
    page = text(as_admin.get("/admin/users/new"))
    assert "五马街道联络点" in page
    response = submit(as_admin, "/admin/users/new", {
        "username": "Officer.Wu", "display_name": "吴联络员", "role": "liaison_officer",
        "liaison_point_id": point.id, "station_id": 0, "phone": "139 0577 0123",
        "email": "wu@example.org", "locale": "zh_Hans", "password": GOOD_PASSWORD})
    assert response.status_code == 302
    user = ops.find_user("officer.wu")
    assert user is not None and user.liaison_point_id == point.id and user.station_id is None
    assert user.phone == "+8613905770123"  # normalised to E.164
    assert user.phone_hash == keyring().search_hash("+8613905770123", "phone")
    raw = db.session.execute(sa.text("SELECT phone FROM user_account WHERE id = :id"),
                             {"id": user.id}).scalar_one()
    assert "13905770123" not in raw  # encrypted at rest
    assert ops.verify_password(user, GOOD_PASSWORD)
    created = actions("user.create")[-1]
    assert created.username == "chief" and created.object_id == str(user.id)
    assert "User officer.wu created." in text(as_admin.get(response.headers["Location"]))
    assert Browser(as_admin.client.application.test_client()).login(
        "officer.wu", GOOD_PASSWORD).status_code == 302


def test_only_active_places_are_offered(as_admin, make_point, make_station) -> None:
    make_point(name="开着的联络点")
    make_point(name="关了的联络点", active=False)
    make_station(name="关了的服务站", active=False)
    page = text(as_admin.get("/admin/users/new"))
    assert "开着的联络点" in page and "关了的联络点" not in page and "关了的服务站" not in page


def valid_form(**changes: Any) -> dict[str, Any]:
    form = {"username": "newbie", "display_name": "New Person", "role": "coordinator",
            "liaison_point_id": 0, "station_id": 0, "phone": "", "email": "", "locale": "",
            "password": GOOD_PASSWORD}
    form.update(changes)
    return form


BAD_CREATE = [
    ({"username": ""}, "This field is required."),
    ({"username": "x" * 65}, "Field cannot be longer than 64 characters."),
    ({"username": "bad name!"}, "Letters, digits, dot, dash and underscore only."),
    ({"username": "张三"}, "Letters, digits, dot, dash and underscore only."),
    ({"username": "chief"}, "This username is already taken."),
    ({"display_name": ""}, "This field is required."),
    ({"display_name": "名" * 121}, "Field cannot be longer than 120 characters."),
    ({"password": "short"}, "The password must have at least 10 characters."),
    ({"password": "newbie-is-my-name"}, "The password must not contain the username."),
    ({"password": "1234567890"}, "This password is too easy to guess."),
    ({"password": "x" * 300}, "Field cannot be longer than 256 characters."),
    ({"role": "liaison_officer"}, "A liaison officer must belong to a liaison point."),
    ({"role": "station_volunteer"}, "A station volunteer must belong to a service station."),
    ({"role": "emperor"}, "Not a valid choice"),
    ({"liaison_point_id": "abc", "role": "liaison_officer"}, "Invalid Choice"),
    ({"liaison_point_id": 424242, "role": "liaison_officer"}, "Not a valid choice"),
    ({"phone": "12345"}, "This is not a valid phone number."),
    ({"phone": "call me maybe"}, "This is not a valid phone number."),
    ({"email": "not-an-address"}, "Enter a valid email address."),
    ({"locale": "fr"}, "Not a valid choice"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_CREATE,
                         ids=[next(iter(c)) + ":" + str(next(iter(c.values())))[:12]
                              for c, _m in BAD_CREATE])
def test_bad_input_when_creating_is_refused_clearly_and_nothing_is_written(
        as_admin, submit, changes, message) -> None:
    users_before, audit_before = count_users(), len(actions("user.create"))
    response = submit(as_admin, "/admin/users/new", valid_form(**changes))
    assert response.status_code == 400
    assert message in text(response)
    assert count_users() == users_before
    assert len(actions("user.create")) == audit_before


def test_a_closed_liaison_point_cannot_be_chosen_for_a_new_officer(as_admin, submit,
                                                                   make_point) -> None:
    closed = make_point(active=False)
    response = submit(as_admin, "/admin/users/new",
                      valid_form(role="liaison_officer", liaison_point_id=closed.id))
    assert response.status_code == 400 and ops.find_user("newbie") is None


def test_html_in_a_name_is_shown_as_text(as_admin, submit) -> None:
    name = '<script>alert("x")</script><b>Bold</b>'
    response = submit(as_admin, "/admin/users/new", valid_form(display_name=name))
    assert response.status_code == 302
    for page in (text(as_admin.get("/admin/users")), text(as_admin.get(response.headers["Location"]))):
        assert "<script>alert" not in page and "<b>Bold</b>" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;Bold&lt;/b&gt;" in page


def test_the_forms_answer_in_the_admins_language(make_user, logged_in, submit) -> None:
    for locale, required in (("zh_Hans", "该字段是必填字段。"), ("en", "This field is required.")):
        browser = logged_in(make_user(Role.admin, locale=locale))
        response = submit(browser, "/admin/users/new", valid_form(username=""))
        assert response.status_code == 400
        assert required in text(response)


# --- edit -----------------------------------------------------------------------------------


def edit_form(user: User, **changes: Any) -> dict[str, Any]:
    form = {"display_name": user.display_name, "email": user.email, "phone": user.phone or "",
            "role": user.role.value, "liaison_point_id": user.liaison_point_id or 0,
            "station_id": user.station_id or 0, "locale": user.locale or ""}
    form.update(changes)
    return form


def test_edit_profile_role_and_binding(as_admin, submit, make_user, make_station) -> None:
    user = make_user(Role.liaison_officer, username="moving")
    station = make_station(name="马德里服务站", country_code="ES")
    page = text(as_admin.get(f"/admin/users/{user.id}"))
    assert 'value="User' in page  # the form is filled in
    response = submit(as_admin, f"/admin/users/{user.id}", edit_form(
        user, display_name="Moving Abroad", role="station_volunteer", station_id=station.id,
        phone="+34 612 345 678", email="m@example.org", locale="en"))
    assert response.status_code == 302
    db.session.refresh(user)
    assert (user.display_name, user.role, user.station_id, user.liaison_point_id) == (
        "Moving Abroad", Role.station_volunteer, station.id, None)
    assert user.phone == "+34612345678" and user.locale == "en"
    assert user.phone_hash == keyring().search_hash("+34612345678", "phone")
    entry = actions("user.update")[-1]
    assert entry.username == "chief"
    assert entry.detail["role"] == ["liaison_officer", "station_volunteer"]
    assert "phone" in entry.detail["changed"] and "+34" not in str(entry.detail)


def test_a_role_change_ends_the_persons_sessions(as_admin, submit, make_user, logged_in) -> None:
    user = make_user(Role.liaison_officer)
    theirs = logged_in(user)
    submit(as_admin, f"/admin/users/{user.id}", edit_form(user, role="coordinator"))
    assert theirs.get("/").status_code == 302


def test_a_profile_change_does_not_end_sessions(as_admin, submit, make_user, logged_in) -> None:
    user = make_user(Role.coordinator)
    theirs = logged_in(user)
    submit(as_admin, f"/admin/users/{user.id}", edit_form(user, display_name="New Name"))
    assert theirs.get("/").status_code == 200


@pytest.mark.parametrize(("changes", "message"), [
    ({"display_name": ""}, "This field is required."),
    ({"display_name": "x" * 121}, "Field cannot be longer than 120 characters."),
    ({"role": "liaison_officer", "liaison_point_id": 0},
     "A liaison officer must belong to a liaison point."),
    ({"phone": "+86 123"}, "This is not a valid phone number."),
    ({"email": "@@"}, "Enter a valid email address."),
    ({"role": ""}, "This field is required."),
])
def test_bad_input_when_editing_changes_nothing(as_admin, submit, make_user, changes,
                                                message) -> None:
    user = make_user(Role.coordinator, phone="+8613905770011")
    response = submit(as_admin, f"/admin/users/{user.id}", edit_form(user, **changes))
    assert response.status_code == 400
    assert message in text(response)
    db.session.refresh(user)
    assert user.role == Role.coordinator and user.phone == "+8613905770011"
    assert user.display_name.startswith("User")
    assert actions("user.update") == []


def test_an_admin_cannot_remove_their_own_admin_role(as_admin, admin, submit) -> None:
    response = submit(as_admin, f"/admin/users/{admin.id}", edit_form(admin, role="coordinator"))
    assert response.status_code == 400
    assert "You cannot remove your own administrator role." in text(response)
    db.session.refresh(admin)
    assert admin.role == Role.admin
    assert as_admin.get("/admin/users").status_code == 200


def test_another_admin_can_be_made_coordinator(as_admin, submit, make_user) -> None:
    other = make_user(Role.admin)
    assert submit(as_admin, f"/admin/users/{other.id}",
                  edit_form(other, role="coordinator")).status_code == 302
    db.session.refresh(other)
    assert other.role == Role.coordinator


# --- deactivate, reactivate -----------------------------------------------------------------


def test_deactivate_ends_sessions_and_tokens_then_reactivate(as_admin, submit, make_user,
                                                             logged_in) -> None:
    user = make_user(Role.coordinator)
    theirs = logged_in(user)
    _token, secret = ops.create_api_token(user, "sync")
    db.session.commit()
    response = submit(as_admin, f"/admin/users/{user.id}/deactivate")
    assert response.status_code == 302
    assert "can no longer log in" in text(as_admin.get(response.headers["Location"]))
    assert theirs.get("/").status_code == 302
    assert theirs.login(user.username).status_code == 401
    assert as_admin.client.application.test_client().get(
        "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert submit(as_admin, f"/admin/users/{user.id}/reactivate").status_code == 302
    assert Browser(as_admin.client.application.test_client()).login(
        user.username).status_code == 302
    assert [e.username for e in actions("user.deactivate")] == ["chief"]
    assert [e.username for e in actions("user.reactivate")] == ["chief"]


def test_an_admin_cannot_deactivate_themself(as_admin, admin, submit) -> None:
    response = submit(as_admin, f"/admin/users/{admin.id}/deactivate")
    assert response.status_code == 400
    assert "You cannot deactivate your own account." in text(response)
    db.session.refresh(admin)
    assert admin.active
    assert as_admin.get("/").status_code == 200
    assert actions("user.deactivate") == []


# --- password and second step ---------------------------------------------------------------


def test_admin_sets_a_new_password(as_admin, submit, make_user, logged_in) -> None:
    user = make_user(Role.liaison_officer)
    theirs = logged_in(user)
    assert "Set a new password" in text(as_admin.get(f"/admin/users/{user.id}/password"))
    response = submit(as_admin, f"/admin/users/{user.id}/password",
                      {"new": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.status_code == 302
    assert theirs.get("/").status_code == 302
    fresh = Browser(as_admin.client.application.test_client())
    assert fresh.login(user.username, PASSWORD).status_code == 401
    assert fresh.login(user.username, GOOD_PASSWORD).status_code == 302
    assert [e.username for e in actions("user.password_reset")] == ["chief"]


@pytest.mark.parametrize(("new", "confirm", "message"), [
    ("", "", "This field is required."),
    ("short", "short", "at least 10 characters"),
    (GOOD_PASSWORD, "something else", "The two passwords differ."),
    ("abababababab", "abababababab", "too easy to guess"),
])
def test_a_bad_new_password_is_refused(as_admin, submit, make_user, new, confirm,
                                       message) -> None:
    user = make_user(Role.liaison_officer)
    response = submit(as_admin, f"/admin/users/{user.id}/password",
                      {"new": new, "confirm": confirm})
    assert response.status_code == 400 and message in text(response)
    db.session.refresh(user)
    assert ops.verify_password(user, PASSWORD)


def test_an_admin_resetting_their_own_password_stays_logged_in(as_admin, admin, submit) -> None:
    response = submit(as_admin, f"/admin/users/{admin.id}/password",
                      {"new": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.status_code == 302
    assert as_admin.get("/admin/users").status_code == 200


def test_reset_two_step_login(as_admin, submit, make_user, logged_in) -> None:
    user = make_user(Role.coordinator)
    user.totp_secret = pyotp.random_base32()
    db.session.commit()
    assert "Reset two-step login" in text(as_admin.get(f"/admin/users/{user.id}"))
    response = submit(as_admin, f"/admin/users/{user.id}/reset-2fa")
    assert response.status_code == 302
    db.session.refresh(user)
    assert not user.totp_enabled
    assert [e.username for e in actions("user.2fa_reset")] == ["chief"]
    # the next login needs only the password (REQUIRE_2FA is off in these tests)
    assert Browser(as_admin.client.application.test_client()).login(
        user.username).headers["Location"].endswith("/")


def test_the_user_page_shows_the_recent_changes(as_admin, submit, make_user) -> None:
    user = make_user(Role.coordinator)
    submit(as_admin, f"/admin/users/{user.id}", edit_form(user, display_name="Renamed"))
    page = text(as_admin.get(f"/admin/users/{user.id}"))
    assert "user.create" in page and "user.update" in page


# --- the operations underneath (used by the CLI too) -----------------------------------------


def test_the_last_active_admin_stays_an_admin(app, admin) -> None:
    with pytest.raises(ops.AccountError, match="last_admin"):
        ops.deactivate_user(admin)
    with pytest.raises(ops.AccountError, match="last_admin"):
        ops.update_user(admin, display_name="x", email="", phone=None, role=Role.coordinator,
                        liaison_point_id=None, station_id=None, locale=None)
    db.session.rollback()
    db.session.refresh(admin)
    assert admin.active and admin.role == Role.admin
