"""A migrated SQLite database holding the demo, made once per test session and copied for each app
that serves it: under pytest-xdist the first worker that needs it makes it (under a file lock),
the others wait for it, and every app gets a copy of its own to write in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from consular.app import create_app
from consular.db import db
from tests.conftest import base_overrides
from tests.support.snapshot import session_dir


def _make(path: Path) -> None:
    from flask_migrate import upgrade

    from consular.demo import load_demo

    app = create_app({**base_overrides(path.parent, f"sqlite:///{path}"), "DEMO_MODE": True})
    with app.app_context():
        upgrade()
        load_demo()
        db.session.remove()
        db.engine.dispose()


def demo_database(tmp_path_factory: pytest.TempPathFactory, target: Path) -> None:
    """Writes at ``target`` a copy of the session's migrated database with the demo loaded
    (``flask_migrate.upgrade()`` then ``consular.demo.load_demo()`` on an empty SQLite file)."""
    made = session_dir(tmp_path_factory) / "demo-database" / "demo.db"
    made.parent.mkdir(exist_ok=True)
    with FileLock(f"{made}.lock"):
        if not made.exists():
            partial = made.with_name("demo.db.partial")
            partial.unlink(missing_ok=True)
            _make(partial)
            partial.rename(made)
    shutil.copyfile(made, target)
