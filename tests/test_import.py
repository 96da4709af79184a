"""Import of the bank's extracts: a demo bank exported and imported again is the same bank; every validation rule
refuses with its reason and writes nothing; a failure midway leaves the database as it was; re-importing is
harmless; a month's files load incrementally; garbage never raises."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from data_access import importer, marts, schema as s
from data_access.engine import make_engine
from data_access.extract_format import MONTHLY, TABLES, export, fields, templates
from data_access.migrate import upgrade

from .conftest import BACKENDS, _new_database

ROOT = Path(__file__).resolve().parent.parent


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(select(func.count()).select_from(s.metadata.tables[t])).scalar() for t in TABLES}


def version(engine) -> str:
    with engine.connect() as conn:
        return marts.data_version(conn)


def portfolio(engine) -> list[tuple]:
    mp = s.mart_portfolio
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(mp.c.month, func.sum(mp.c.loans), func.sum(mp.c.balance))
            .where(mp.c.branch_id == 0).group_by(mp.c.month).order_by(mp.c.month)).all()]


def same_portfolio(a, b) -> bool:
    return [(m, n) for m, n, _ in a] == [(m, n) for m, n, _ in b] and \
        all(abs(float(x) - float(y)) < 0.01 for (_, _, x), (_, _, y) in zip(a, b))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The bank the extract comes from: a tiny demo bank on SQLite (the same file loads into either backend)."""
    from data_access import demo
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('source') / 'source.db'}")
    upgrade(engine)
    demo.generate(engine, size="tiny", seed=5, progress=False)
    marts.refresh(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def extract(source, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("extract")
    with source.connect() as conn:
        export(conn, out)
    return importer.read_folder([out])


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request, extract, tmp_path_factory):
    """A fresh database (per backend) with the demo bank's extract imported once."""
    url, drop = _new_database(request.param, tmp_path_factory)
    engine = make_engine(url)
    upgrade(engine)
    result = importer.run(engine, extract, username="import_test")
    assert result.ok, result.problems.head(10).to_dict("records")
    yield engine, result
    engine.dispose()
    drop()


def test_an_exported_bank_imports_as_the_same_bank(loaded, source, extract):
    engine, result = loaded
    want = {t: len(pd.read_csv(io.BytesIO(extract[f"{t}.csv"]))) for t in TABLES}
    assert counts(engine) == want == {t: result.rows[t] for t in TABLES}
    assert result.new_rows == want  # an empty database: every row is new
    assert same_portfolio(portfolio(engine), portfolio(source))  # the marts rebuilt from the imported rows
    a = s.application
    q = select(func.sum(a.c.outcome_known.cast(s.Integer)), func.sum(a.c.bad_12m.cast(s.Integer)))
    with engine.connect() as c1, source.connect() as c2:
        assert c1.execute(q).one() == c2.execute(q).one()
        status = {r.key: r for r in c1.execute(select(s.data_status)).all()}
        entry = c1.execute(select(s.audit_log).where(s.audit_log.c.action == "import")).mappings().one()
    assert status["table:loan_snapshot"].row_count == want["loan_snapshot"] and "import" in status
    assert entry["username"] == "import_test" and json.loads(entry["detail"])["result"] == "loaded"


def test_reimporting_the_same_files_is_harmless(loaded, extract):
    engine, _ = loaded
    before, before_mart, v = counts(engine), portfolio(engine), version(engine)
    again = importer.run(engine, extract, username="import_test")
    assert again.ok and sum(again.new_rows.values()) == 0
    assert counts(engine) == before and same_portfolio(portfolio(engine), before_mart)
    assert version(engine) != v  # a load is a new data version even when nothing changed


def _split(extract: dict[str, bytes], month: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The extract without ``month``'s rows of the monthly tables, and those rows as ``<table>_<month>.csv``."""
    date_of = {"loan_snapshot": "month", "repayment": "paid_on", "warning_signal": "raised_on",
               "collection_case": "entry_date", "collection_action": "action_on", "application": "applied_on",
               "loan": "disbursed_on"}
    base, month_files = dict(extract), {}
    for t in MONTHLY:
        df = pd.read_csv(io.BytesIO(extract[f"{t}.csv"]), dtype=str, keep_default_na=False)
        this = df[date_of[t]].str.slice(0, 7) == month
        base[f"{t}.csv"] = df[~this].to_csv(index=False).encode()
        month_files[f"{t}_{month}.csv"] = df[this].to_csv(index=False).encode()
    return base, month_files


def test_a_months_files_load_incrementally(empty_engine, source, extract):
    last = pd.read_csv(io.BytesIO(extract["loan_snapshot.csv"]), usecols=["month"])["month"].max()
    base, month = _split(extract, last)
    assert importer.run(empty_engine, base, username="t").ok
    assert portfolio(empty_engine)[-1][0] < last
    r = importer.run(empty_engine, month, username="t")
    assert r.ok and r.new_rows["loan_snapshot"] == r.rows["loan_snapshot"] > 0
    full = {t: len(pd.read_csv(io.BytesIO(extract[f"{t}.csv"]))) for t in TABLES}
    assert counts(empty_engine) == full
    assert same_portfolio(portfolio(empty_engine), portfolio(source))


# ---------------------------------------------------------------- validation, rule by rule
def _rows(demo_engine, table: str, n: int = 3) -> pd.DataFrame:
    """``n`` rows of ``table`` as they would come in an extract (text cells)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d, demo_engine.connect() as conn:
        export(conn, Path(d), tables=[table])
        return pd.read_csv(Path(d) / f"{table}.csv", dtype=str, keep_default_na=False).head(n)


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def _set(df, col, value, row=0):
    df = df.copy()
    df.loc[df.index[row], col] = value
    return df


BOWTIE = json.dumps({"type": "Polygon", "coordinates": [[[117, 33], [118, 34], [118, 33], [117, 34], [117, 33]]]})

CASES = {  # name: (table, how to spoil the rows, expected reason, column)
    "required": ("customer", lambda d: _set(d, "name", ""), "required", "name"),
    "not_integer": ("loan_snapshot", lambda d: _set(d, "dpd", "3.5"), "not_integer", "dpd"),
    "not_number": ("loan_snapshot", lambda d: _set(d, "balance", "一万"), "not_number", "balance"),
    "not_date": ("loan", lambda d: _set(d, "disbursed_on", "2026-13-01"), "not_date", "disbursed_on"),
    "not_bool": ("customer", lambda d: _set(d, "has_ebank", "maybe"), "not_bool", "has_ebank"),
    "bad_month": ("loan_snapshot", lambda d: _set(d, "month", "2026-1"), "bad_month", "month"),
    "too_long": ("customer", lambda d: _set(d, "name", "长" * 40), "too_long", "name"),
    "not_allowed": ("customer", lambda d: _set(d, "segment", "pirate"), "not_allowed", "segment"),
    "out_of_range": ("loan", lambda d: _set(d, "annual_rate", "0.5"), "out_of_range", "annual_rate"),
    "negative_money": ("loan_snapshot", lambda d: _set(d, "balance", "-1"), "out_of_range", "balance"),
    "duplicate_key": ("loan_snapshot", lambda d: pd.concat([d, d.iloc[[0]]]), "duplicate_key", "loan_id+month"),
    "duplicate_unique": ("customer", lambda d: _set(d, "customer_no", d["customer_no"].iloc[1]), "duplicate_unique",
                         "customer_no"),
    "unique_taken": ("customer", lambda d: _set(d, "id", "99999999"), "unique_taken", "customer_no"),
    "missing_reference": ("loan", lambda d: _set(d, "customer_id", "99999999"), "missing_reference", "customer_id"),
    "bucket_mismatch": ("loan_snapshot", lambda d: _set(_set(d, "dpd", "45"), "bucket", "1"), "bucket_mismatch",
                        "bucket"),
    "date_order": ("loan", lambda d: _set(d, "maturity_on", "2000-01-01"), "date_order", "maturity_on"),
    "bad_id_number": ("customer", lambda d: _set(d, "id_number", "12345"), "bad_id_number", "id_number"),
    "bad_geometry": ("region", lambda d: _set(d, "geometry", BOWTIE), "bad_geometry", "geometry"),
    "not_geojson": ("region", lambda d: _set(d, "geometry", "POLYGON((0 0))"), "bad_geometry", "geometry"),
    "missing_column": ("loan_snapshot", lambda d: d.drop(columns=["balance"]), "missing_column", "balance"),
    "unknown_column": ("loan_snapshot", lambda d: d.assign(colour="red"), "unknown_column", "colour"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_rule_refuses_the_import_with_its_reason(demo_engine, case):
    table, spoil, reason, column = CASES[case]
    good = _rows(demo_engine, table)
    assert importer.run(demo_engine, {f"{table}.csv": _csv(good)}, "t", dry_run=True).ok  # the rows as they are
    r = importer.run(demo_engine, {f"{table}.csv": _csv(spoil(good))}, "t", dry_run=True)
    assert not r.ok
    hit = r.problems[(r.problems["reason"] == reason) & (r.problems["column"] == column)]
    assert len(hit) >= 1, r.problems.to_dict("records")
    assert set(hit["file"]) == {f"{table}.csv"} and (hit["line"] >= 1).all()


def test_files_that_cannot_be_read(demo_engine):
    r = importer.run(demo_engine, {"holiday_photos.csv": b"a,b\n1,2\n", "loan.xlsx": b"not a zip file",
                                   "customer.csv": ",".join(f.name for f in fields("customer")).encode() + b"\n"},
                     "t", dry_run=True)
    got = dict(zip(r.problems["file"], r.problems["reason"]))
    assert got == {"holiday_photos.csv": "unknown_file", "loan.xlsx": "unreadable", "customer.csv": "empty_file"}


def test_gb18030_and_excel_files_are_read(demo_engine):
    good = _rows(demo_engine, "customer")
    buf = io.BytesIO()
    good.to_excel(buf, index=False)
    r = importer.run(demo_engine, {"customer.csv": good.to_csv(index=False).encode("gb18030"),
                                   "customer_more.xlsx": buf.getvalue()}, "t", dry_run=True)
    # the same rows twice: both read, and caught as repeated keys on every row of both files
    assert set(r.problems["reason"]) == {"duplicate_key", "duplicate_unique"}
    assert set(zip(r.problems["file"], r.problems["line"])) == {(f, n) for f in ("customer.csv", "customer_more.xlsx")
                                                                 for n in (2, 3, 4)}
    assert importer.read_file("customer.csv", good.to_csv(index=False).encode("gb18030"))["name"].tolist() == \
        good["name"].tolist()


def test_a_refused_import_writes_nothing_but_its_audit_entry(demo_engine):
    good = _rows(demo_engine, "loan_snapshot", 50)
    bad = _set(_set(good, "balance", "0.01", 3), "dpd", "-5", 40)  # one good change, one bad row
    before, v = counts(demo_engine), version(demo_engine)
    with demo_engine.connect() as conn:
        bal = conn.execute(select(func.sum(s.loan_snapshot.c.balance))).scalar()
    r = importer.run(demo_engine, {"loan_snapshot.csv": _csv(bad)}, "auditor_test")
    assert not r.ok and list(r.problems["line"]) == [42]  # header is line 1, row 41 of the data
    with demo_engine.connect() as conn:
        assert conn.execute(select(func.sum(s.loan_snapshot.c.balance))).scalar() == pytest.approx(bal)
        entry = conn.execute(select(s.audit_log.c.detail).where(s.audit_log.c.username == "auditor_test")).scalar()
    assert counts(demo_engine) == before and version(demo_engine) == v
    assert json.loads(entry)["result"] == "refused" and json.loads(entry)["problems"] == 1
    report = pd.read_csv(io.BytesIO(importer.report_bytes(r.problems)))
    assert report.loc[0, "reason"] == "out_of_range" and report.loc[0, "column"] == "dpd"


@pytest.mark.parametrize("where", ["repayment upsert", "mart refresh"])
def test_a_failure_midway_leaves_the_database_as_it_was(loaded, extract, monkeypatch, where):
    engine, _ = loaded
    last = pd.read_csv(io.BytesIO(extract["loan_snapshot.csv"]), usecols=["month"])["month"].max()
    _, month = _split(extract, last)
    snap = pd.read_csv(io.BytesIO(month[f"loan_snapshot_{last}.csv"]), dtype=str, keep_default_na=False)
    snap["balance"] = (snap["balance"].astype(float) + 1).astype(str)  # a change that must not survive
    month[f"loan_snapshot_{last}.csv"] = _csv(snap)
    before, v = counts(engine), version(engine)
    with engine.connect() as conn:
        bal = conn.execute(select(func.sum(s.loan_snapshot.c.balance))).scalar()
    if where == "repayment upsert":
        real = importer._upsert

        def failing(conn, table, df, present):
            if table == "repayment":
                raise RuntimeError("disk full (injected)")
            return real(conn, table, df, present)
        monkeypatch.setattr(importer, "_upsert", failing)
    else:
        monkeypatch.setattr(importer.marts, "refresh_touched",
                            lambda conn, touched: (_ for _ in ()).throw(RuntimeError("injected")))
    r = importer.run(engine, month, "t")
    assert not r.ok and "injected" in r.error and r.problems.loc[0, "reason"] == "load_failed"
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(s.loan_snapshot.c.balance))).scalar() == pytest.approx(bal)
    assert counts(engine) == before and version(engine) == v


# ---------------------------------------------------------------- garbage in, a message out
FUZZ_ENGINE = {}


def _fuzz_engine(tmp_path_factory):
    if "e" not in FUZZ_ENGINE:
        e = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}")
        upgrade(e)
        FUZZ_ENGINE["e"] = e
    return FUZZ_ENGINE["e"]


cell = st.one_of(st.text(max_size=30), st.sampled_from(["'; DROP TABLE loan; --", "1e309", "NaN", "\"", ",", "\n",
                                                        "😀" * 50, "x" * 5000, "-0", "2026-02-30", "0x1F"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.sampled_from(["product", "loan_snapshot", "customer", "region"]), data=st.data())
def test_fuzzed_files_never_raise_and_never_write(tmp_path_factory, table, data):
    engine = _fuzz_engine(tmp_path_factory)
    names = [f.name for f in fields(table)]
    rows = data.draw(st.lists(st.lists(cell, min_size=len(names), max_size=len(names)), min_size=1, max_size=4))
    body = pd.DataFrame(rows, columns=names).to_csv(index=False).encode()
    raw = data.draw(st.one_of(st.just(body), st.binary(max_size=300)))
    r = importer.run(engine, {f"{table}.csv": raw}, "fuzz")
    assert isinstance(r, importer.ImportResult)
    if not r.ok:
        assert len(r.problems) > 0 and counts(engine)[table] == 0


# ---------------------------------------------------------------- templates and the command line
def test_templates_describe_every_column(tmp_path):
    paths = templates(tmp_path)
    assert len(paths) == 2 * len(TABLES)
    for t in TABLES:
        header = (tmp_path / f"{t}.csv").read_text(encoding="utf-8-sig").strip().split(",")
        assert header == [f.name for f in fields(t)]
        notes = pd.read_excel(tmp_path / f"{t}.xlsx", sheet_name="说明")
        assert set(header) <= set(notes["列名 column"])
    snap = pd.read_excel(tmp_path / "loan_snapshot.xlsx", sheet_name="说明").set_index("列名 column")
    assert snap.loc["bucket", "取值 allowed"] == "0 – 4" and "loan.id" in snap.loc["loan_id", "键/引用 key / reference"]


def test_cli_import_reports_bad_rows_and_exits_2(tmp_path, demo_engine):
    url = demo_engine.url.render_as_string(hide_password=False)
    good = _rows(demo_engine, "loan_snapshot", 5)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "loan_snapshot.csv").write_bytes(_csv(_set(good, "bucket", "9", 2)))
    import os
    env = dict(os.environ, COCKPIT_DATABASE_URL=url)
    r = subprocess.run([sys.executable, "-m", "data_access", "import", str(tmp_path / "in"), "--report",
                        str(tmp_path / "bad.csv"), "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "import refused, nothing written: 2 problems" in r.stderr  # out of range, and not M0 for its DPD
    assert set(pd.read_csv(tmp_path / "bad.csv")["line"]) == {4}
    ok = subprocess.run([sys.executable, "-m", "data_access", "import", str(tmp_path / "in"), "--dry-run", "--quiet"],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 2
    (tmp_path / "in" / "loan_snapshot.csv").write_bytes(_csv(good))
    ok = subprocess.run([sys.executable, "-m", "data_access", "import", str(tmp_path / "in"), "--dry-run", "--quiet"],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "dry run: all 5 rows valid" in ok.stdout
