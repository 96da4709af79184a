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
    demo = run("demo", "--size", "tiny", "--seed", "5", url=url)
    assert demo.returncode == 0
    # a line per step that reads in a log file: no carriage-return progress bar (#18)
    assert "\r" not in demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    assert any(line.startswith("demo bank [") and "customers" in line for line in lines), demo.stdout
    assert [line.split("]")[0] for line in lines if line.startswith("marts [")] == [f"marts [{i}/5" for i in range(1, 6)]
    env = dict(os.environ, COCKPIT_DATABASE_URL=url)
    assert subprocess.run([sys.executable, "-m", "models.bootstrap", "--check"], cwd=ROOT, env=env,
                          capture_output=True, timeout=120).returncode == 1
    first = subprocess.run([sys.executable, "-m", "models.bootstrap"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "\r" not in first.stdout
    assert "models [1/4] training behaviour_pd" in first.stdout and "models [4/4] monitoring" in first.stdout
    assert "models: behaviour_pd ready" in first.stdout
    from sqlalchemy import create_engine, func, select
    from data_access.schema import model_monitor, model_registry
    eng = create_engine(url)
    with eng.connect() as conn:
        names = set(conn.execute(select(model_registry.c.name).where(model_registry.c.active)).scalars())
        monitored = conn.execute(select(func.count(func.distinct(model_monitor.c.model_id)))).scalar_one()
    eng.dispose()
    # per model: the validated champion, the production champion and the challenger
    assert names == {"behaviour_pd", "application_scorecard", "propensity_to_pay"} and monitored == 9
    again = subprocess.run([sys.executable, "-m", "models.bootstrap"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.strip() == "models ready"
    assert subprocess.run([sys.executable, "-m", "models.bootstrap", "--check"], cwd=ROOT, env=env,
                          capture_output=True, timeout=120).returncode == 0


def test_training_marker_names_a_live_process_only(tmp_path, monkeypatch):
    """While ./cockpit run trains the first start's models beside the app, pages say a model is being trained;
    a marker left by a process that died says nothing."""
    from models import bootstrap
    marker = tmp_path / ".models_training"
    monkeypatch.setattr(bootstrap, "MARKER", marker)
    assert not bootstrap.training_now()
    marker.write_text(str(os.getpid()))
    assert bootstrap.training_now()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    marker.write_text(dead.stdout.strip())
    assert not bootstrap.training_now()
    marker.write_text("garbage")
    assert not bootstrap.training_now()
