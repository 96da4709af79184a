"""The command line: clear one-line errors, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, url):
    env = dict(os.environ, COCKPIT_DATABASE_URL=url)
    return subprocess.run([sys.executable, "-m", "data_access", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("url,needle", [
    ("nosuchdb://x", "not a valid database URL"),
    ("postgresql+psycopg://nobody@127.0.0.1:1/none", "Cannot reach the database"),
])
def test_bad_database_gets_one_line(url, needle):
    r = run("status", url=url)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_init_demo_refresh_and_non_empty(tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    r = run("demo", "--size", "tiny", "--seed", "5", "--quiet", url=url)
    assert r.returncode == 0, r.stderr
    assert "demo bank (tiny, seed 5)" in r.stdout
    again = run("demo", "--size", "tiny", url=url)
    assert again.returncode == 2 and "already holds data" in again.stderr and "Traceback" not in again.stderr
    status = run("status", url=url)
    assert status.returncode == 0 and "loan_snapshot" in status.stdout
    env = {"COCKPIT_NEW_PASSWORD": "longenough1"}
    os.environ.update(env)
    try:
        assert run("user", "add", "ops1", "--role", "admin", url=url).returncode == 0
        dup = run("user", "add", "ops1", "--role", "admin", url=url)
        assert dup.returncode == 2 and "already exists" in dup.stderr
        assert run("user", "disable", "ops1", url=url).returncode == 0
        last = run("user", "disable", "admin", url=url)
        assert last.returncode == 2 and "last active admin" in last.stderr
    finally:
        os.environ.pop("COCKPIT_NEW_PASSWORD")


def test_migrations_match_the_schema(tmp_path):
    """The Alembic head builds exactly the tables and indexes that data_access/schema.py defines."""
    url = f"sqlite:///{tmp_path}/m.db"
    assert run("upgrade", url=url).returncode == 0
    env = dict(os.environ, COCKPIT_DATABASE_URL=url)
    r = subprocess.run([sys.executable, "-m", "alembic", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No new upgrade operations detected" in r.stdout + r.stderr


def test_first_start_trains_every_model_once(tmp_path):
    """What ./cockpit run does after init: models.bootstrap trains what is missing, computes the monitor, and a
    second start does nothing."""
    url = f"sqlite:///{tmp_path}/b.db"
    assert run("demo", "--size", "tiny", "--seed", "5", "--quiet", url=url).returncode == 0
    env = dict(os.environ, COCKPIT_DATABASE_URL=url)
    first = subprocess.run([sys.executable, "-m", "models.bootstrap"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "training behaviour_pd" in first.stdout and "monitoring" in first.stdout
    from sqlalchemy import create_engine, func, select
    from data_access.schema import model_monitor, model_registry
    eng = create_engine(url)
    with eng.connect() as conn:
        names = set(conn.execute(select(model_registry.c.name).where(model_registry.c.active)).scalars())
        monitored = conn.execute(select(func.count(func.distinct(model_monitor.c.model_id)))).scalar_one()
    eng.dispose()
    assert names == {"behaviour_pd", "application_scorecard", "propensity_to_pay"} and monitored == 3
    again = subprocess.run([sys.executable, "-m", "models.bootstrap"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.strip() == "models ready"
