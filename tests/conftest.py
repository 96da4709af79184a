"""Shared fixtures: a database per backend (SQLite always, PostgreSQL when COCKPIT_TEST_PG_URL is set).

Each PostgreSQL test database is created fresh under a random name and dropped
afterwards, so tests never touch a database someone else uses.
"""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from data_access import demo, marts
from data_access.engine import make_engine
from data_access.migrate import upgrade

PG_URL = os.environ.get("COCKPIT_TEST_PG_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session", autouse=True)
def _install_secret(tmp_path_factory):
    """The tests' install secret is generated under a temporary directory (as a first start does under data/), so
    that no test writes the working copy's data/secret.key; a test that wants its own sets COCKPIT_SECRET_FILE."""
    if os.environ.get("COCKPIT_SECRET_FILE"):
        yield
        return
    os.environ["COCKPIT_SECRET_FILE"] = str(tmp_path_factory.mktemp("secret") / "secret.key")
    yield
    os.environ.pop("COCKPIT_SECRET_FILE", None)


def _new_database(backend: str, tmp_path_factory) -> tuple[str, callable]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "cockpit.db"
        return f"sqlite:///{path}", lambda: None
    name = f"cockpit_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # a configured but unreachable PostgreSQL is a failure, not a skip
        pytest.fail(f"COCKPIT_TEST_PG_URL is set but PostgreSQL is not usable: {exc}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop():
        from data_access.engine import get_engine
        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return url, drop


@pytest.fixture(scope="session", params=BACKENDS)
def demo_engine(request, tmp_path_factory):
    """A tiny demo bank with refreshed marts, one per backend, shared by read-only tests."""
    url, drop = _new_database(request.param, tmp_path_factory)
    engine = make_engine(url)
    upgrade(engine)
    demo.generate(engine, size="tiny", seed=11, progress=False)
    marts.refresh(engine)
    yield engine
    engine.dispose()
    drop()


@pytest.fixture(params=BACKENDS)
def empty_engine(request, tmp_path_factory):
    """A freshly migrated, empty database per backend."""
    url, drop = _new_database(request.param, tmp_path_factory)
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    drop()
