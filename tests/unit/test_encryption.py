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
    assert stored.startswith("v1:a:")
    db.session.expire_all()
    assert db.session.get(User, user.id).phone == "+8613905771234"


def test_same_value_seals_differently_each_time(app: Flask) -> None:
    ring = keyring()
    assert ring.seal("E12345678") != ring.seal("E12345678")


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
    sealed = ring.seal("secret")
    version, kid, blob = sealed.split(":", 2)
    with pytest.raises(DecryptionError):
        ring.open(f"{version}:b:{blob}")  # relabelled with another key id
    flipped = blob[:-4] + ("AAAA" if blob[-4:] != "AAAA" else "BBBB")
    with pytest.raises(DecryptionError):
        ring.open(f"{version}:{kid}:{flipped}")
    with pytest.raises(DecryptionError):
        KeyRing(f"b:{KEY_B}", "k" * 40).open(sealed)  # the key is gone


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
            assert raw_phone(user.id).startswith("v1:b:")
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
