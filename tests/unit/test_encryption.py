"""Sensitive fields are sealed at rest, searchable by keyed hash, and re-sealed by key rotation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from consular.auth.models import Role, User
from consular.db import DecryptionError, KeyRing, db, keyring
from tests.conftest import KEY_A, KEY_B


def raw_phone(user_id: int) -> str:
    return db.session.execute(
        sa.text("SELECT phone FROM user_account WHERE id = :id"), {"id": user_id}
    ).scalar_one()


def test_phone_is_stored_sealed_and_read_back_in_clear(app: Flask, make_user) -> None:
    user = make_user(Role.coordinator, phone="+8613905771234")
    stored = raw_phone(user.id)
    assert "13905771234" not in stored
    assert stored.startswith("v2:a:")
    db.session.expire_all()
    assert db.session.get(User, user.id).phone == "+8613905771234"


def test_same_value_seals_differently_each_time(app: Flask) -> None:
    ring = keyring()
    assert ring.seal("E12345678", "case_person", "id_number") != ring.seal("E12345678", "case_person",
                                                                         "id_number")


def test_keyed_hash_finds_exact_matches_only(app: Flask, make_user) -> None:
    user = make_user(Role.coordinator, phone="+8613905771234")
    ring = keyring()
    found = db.session.scalar(
        sa.select(User).where(User.phone_hash == ring.search_hash("+86 139 0577 1234", "phone"))
    )
    assert found is not None and found.id == user.id
    assert ring.search_hash("+8613905771234", "phone") != ring.search_hash("+8613905771234",
                                                                           "passport")
    other = KeyRing(f"a:{KEY_A}", "another-search-key-" + "z" * 30)
    assert other.search_hash("+8613905771234", "phone") != ring.search_hash("+8613905771234",
                                                                            "phone")


def test_tampered_or_relabelled_value_is_refused() -> None:
    ring = KeyRing(f"a:{KEY_A},b:{KEY_B}", "k" * 40)
    sealed = ring.seal("secret", "case_person", "id_number")
    version, kid, blob = sealed.split(":", 2)
    assert ring.open(sealed, "case_person", "id_number") == "secret"
    with pytest.raises(DecryptionError):
        ring.open(f"{version}:b:{blob}", "case_person", "id_number")  # relabelled with another key id
    flipped = blob[:-4] + ("AAAA" if blob[-4:] != "AAAA" else "BBBB")
    with pytest.raises(DecryptionError):
        ring.open(f"{version}:{kid}:{flipped}", "case_person", "id_number")
    with pytest.raises(DecryptionError):
        KeyRing(f"b:{KEY_B}", "k" * 40).open(sealed, "case_person", "id_number")  # the key is gone
    # Bound to its table and column: the same bytes under another name do not open.
    for table, column in (("case_person", "note"), ("registrant", "id_number"), ("user_account", "phone")):
        with pytest.raises(DecryptionError, match="another column"):
            ring.open(sealed, table, column)
    # A value of the old form (key id bound, not the column) is not read as if it were current.
    with pytest.raises(DecryptionError, match="old v1 form"):
        ring.open(ring.seal_legacy("secret"), "case_person", "id_number")


def test_a_value_copied_into_another_column_does_not_open(app: Flask, make_user) -> None:
    """Someone with write access to the database copies one account's sealed phone over another
    account's TOTP secret: there it fails authentication instead of reading as the phone."""
    victim = make_user(Role.coordinator, phone="+8613905771234")
    other = make_user(Role.coordinator, phone="+8613905770000")
    stolen = raw_phone(victim.id)
    db.session.execute(sa.text("UPDATE user_account SET totp_secret = :v WHERE id = :id"),
                       {"v": stolen, "id": other.id})
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(DecryptionError, match="another column"):
        db.session.scalar(sa.select(User.totp_secret).where(User.id == other.id))
    db.session.rollback()
    # The phone column itself still reads, for both accounts.
    assert db.session.scalar(sa.select(User.phone).where(User.id == victim.id)) == "+8613905771234"


def test_key_rotation_reseals_every_row_with_the_new_key(app: Flask, make_user,
                                                         same_db_app) -> None:
    users = [make_user(Role.coordinator, phone=f"+86139057700{i:02d}") for i in range(5)]
    users[0].totp_secret = "JBSWY3DPEHPK3PXP"
    db.session.commit()
    rotated = same_db_app(FIELD_ENCRYPTION_KEYS=f"b:{KEY_B},a:{KEY_A}")
    runner = rotated.test_cli_runner()
    from consular.cli import keys

    with rotated.app_context():
        result = runner.invoke(keys, ["rotate"])
        db.session.remove()
    assert result.exit_code == 0, result.output
    assert "user_account.phone: 5 re-encrypted" in result.output
    assert "user_account.totp_secret: 1 re-encrypted" in result.output
    # Now only key b is needed: an app that no longer knows key a reads everything.
    only_b = same_db_app(FIELD_ENCRYPTION_KEYS=f"b:{KEY_B}")
    with only_b.app_context():
        for user in users:
            assert raw_phone(user.id).startswith("v2:b:")
            assert db.session.get(User, user.id).phone == user.phone
        assert db.session.get(User, users[0].id).totp_secret == "JBSWY3DPEHPK3PXP"
        audit = db.session.execute(sa.text(
            "SELECT detail FROM audit_entry WHERE action = 'keys.rotate'")).scalar_one()
        assert "+86" not in str(audit)
        db.session.remove()
    # Running it again has nothing left to do.
    with rotated.app_context():
        again = runner.invoke(keys, ["rotate"])
        db.session.remove()
    assert "Done: 0 values" in again.output


def test_the_upgrade_binds_old_values_to_their_column_and_can_run_again(tmp_path) -> None:
    """revision 0007 re-seals every value of the old form (key id only) for its table and column,
    leaves values already in the new form alone, and its downgrade gives the old form back; after
    it, ``keys rotate`` goes on working (a fresh SQLite database: the suite's schema is untouched)."""
    from flask_migrate import downgrade, upgrade

    from consular.app import create_app
    from consular.cli import keys as keys_group
    from tests.conftest import base_overrides

    other = create_app(base_overrides(tmp_path, f"sqlite:///{tmp_path}/old.db"))
    with other.app_context():
        ring = keyring()
        try:
            upgrade(revision="0006_alert_outcome_and_names")
            with db.engine.begin() as conn:
                for n, (phone, secret) in enumerate((("+8613905771234", "JBSWY3DPEHPK3PXP"),
                                                     ("+8613905775678", None)), start=1):
                    conn.execute(sa.text(
                        "INSERT INTO user_account (id, username, display_name, email, password_hash, role,"
                        " active, session_epoch, on_duty, phone, totp_secret, created_at, updated_at) VALUES"
                        " (:id, :u, 'U', '', 'x', 'coordinator', true, 0, false, :phone, :secret,"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                        {"id": n, "u": f"user{n}", "phone": ring.seal_legacy(phone),
                         "secret": ring.seal_legacy(secret) if secret else None})
                # Written by the new code already (an interrupted upgrade, or 0003 run by it).
                conn.execute(sa.text("INSERT INTO console_message (key, \"to\", body, created_at) VALUES"
                                     " ('k1', :to, 'Flood', CURRENT_TIMESTAMP)"),
                             {"to": ring.seal("+393475550193", "console_message", "to")})

            def raw() -> list[str]:
                query = ('SELECT phone, totp_secret FROM user_account '
                         'UNION ALL SELECT "to", NULL FROM console_message')
                return [v for row in db.session.execute(sa.text(query)) for v in row if v is not None]

            assert sum(v.startswith("v1:a:") for v in raw()) == 3
            upgrade(revision="0007_sealed_fields_bound")
            assert all(v.startswith("v2:a:") for v in raw()) and len(raw()) == 4
            assert db.session.get(User, 1).totp_secret == "JBSWY3DPEHPK3PXP"
            assert [u.phone for u in db.session.scalars(sa.select(User).order_by(User.id))] == \
                ["+8613905771234", "+8613905775678"]
            assert ring.open(db.session.execute(sa.text('SELECT "to" FROM console_message')).scalar_one(),
                             "console_message", "to") == "+393475550193"
            db.session.remove()

            downgrade(revision="0006_alert_outcome_and_names")
            assert all(v.startswith("v1:a:") for v in raw()) and len(raw()) == 4
            assert sorted(ring.open_legacy(v) for v in raw()) == \
                sorted(["+8613905771234", "JBSWY3DPEHPK3PXP", "+8613905775678", "+393475550193"])
            db.session.remove()
            upgrade(revision="0007_sealed_fields_bound")
            assert all(v.startswith("v2:a:") for v in raw())
            upgrade()  # the rest of the way: the rotation below is today's code on today's schema
            db.session.remove()
        finally:
            db.session.remove()
            db.engine.dispose()

    rotated = create_app({**base_overrides(tmp_path, f"sqlite:///{tmp_path}/old.db"),
                          "FIELD_ENCRYPTION_KEYS": f"b:{KEY_B},a:{KEY_A}"})
    with rotated.app_context():
        try:
            result = rotated.test_cli_runner().invoke(keys_group, ["rotate"])
            assert result.exit_code == 0, result.output
            assert "Done: 4 values now sealed with key 'b'" in result.output
            assert db.session.get(User, 1).totp_secret == "JBSWY3DPEHPK3PXP"
        finally:
            db.session.remove()
            db.engine.dispose()


def test_rotation_never_blesses_a_value_that_does_not_belong_to_its_column(app: Flask, make_user,
                                                                         same_db_app) -> None:
    """A copied value (or one of the old form planted after the upgrade) is not re-sealed for the
    column it was pasted into: the rotation stops there and names it."""
    from consular.cli import keys

    victim = make_user(Role.coordinator, phone="+8613905771234")
    other_id = make_user(Role.coordinator).id
    db.session.execute(sa.text("UPDATE user_account SET totp_secret = :v WHERE id = :id"),
                       {"v": raw_phone(victim.id), "id": other_id})
    db.session.commit()
    db.session.expunge_all()  # the test's own copies would read the pasted value too
    rotated = same_db_app(FIELD_ENCRYPTION_KEYS=f"b:{KEY_B},a:{KEY_A}")
    with rotated.app_context():
        result = rotated.test_cli_runner().invoke(keys, ["rotate"])
        db.session.remove()
    assert result.exit_code == 1
    assert f"user_account.totp_secret of row {other_id}" in result.output
    assert "another column" in result.output
    stored = db.session.execute(sa.text("SELECT totp_secret FROM user_account WHERE id = :id"),
                                {"id": other_id}).scalar_one()
    assert stored.startswith("v2:a:")  # left as it was, still refused where it is
