"""A web worker before its first request (gunicorn's ``post_worker_init`` calls ``warm_up``): its
database connections open, and the objects the app loaded kept out of the garbage collector's
full collections, which would otherwise walk all of them (a pause of every thread of the worker,
seen by status callbacks as a latency spike)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from flask import Flask

from consular.app import warm_up


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test process collects as before


def test_warm_up_leaves_a_full_collection_only_what_comes_after(app: Flask, unfrozen: None) -> None:
    loaded = len(gc.get_objects())
    assert gc.get_freeze_count() == 0
    warm_up(app, 2)
    frozen = gc.get_freeze_count()
    assert frozen >= loaded * 0.9, (frozen, loaded)
    # What a full collection walks now: only what was made after the warm-up.
    assert len(gc.get_objects()) < loaded * 0.05, (len(gc.get_objects()), loaded)
    # A request still works, and garbage made after the warm-up is still collected.
    assert app.test_client().get("/healthz").status_code == 200
    cycle: dict[str, object] = {}
    cycle["self"] = cycle
    del cycle
    assert gc.collect() >= 1
