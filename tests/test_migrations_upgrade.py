"""Upgrading a database that already holds data: every migration since the registry windows must run on rows
that other tables point at (a SQLite table rebuild under foreign keys failed and left its temporary table)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from data_access.engine import make_engine
from data_access.migrate import current_revision, head_revision, upgrade
from tests.conftest import BACKENDS, _new_database


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_keeps_trained_models_and_their_monitoring(backend, tmp_path_factory):
    url, drop = _new_database(backend, tmp_path_factory)
    engine = make_engine(url)
    try:
        upgrade(engine, "0019")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO model_registry (id, name, version, trained_at, trained_by, active) "
                              "VALUES (1, 'behaviour_pd', 1, :at, 'bootstrap', :t)"),
                         {"at": dt.datetime(2026, 11, 1, 8, 0), "t": True})
            conn.execute(text("INSERT INTO model_monitor (model_id, month, metric, feature, value) "
                              "VALUES (1, '2026-09', 'auc', '', 0.81)"))
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            row = conn.execute(text("SELECT name, kind, role FROM model_registry WHERE id = 1")).one()
            assert tuple(row) == ("behaviour_pd", "production", "champion")
            assert conn.execute(text("SELECT count(*) FROM model_monitor WHERE model_id = 1")).scalar() == 1
            if backend == "sqlite":
                left = conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE '_alembic_tmp%'")).all()
                assert left == []
    finally:
        engine.dispose()
        drop()
