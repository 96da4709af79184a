"""Finding 5: exports carry no live formulas. A login name, an imported customer name and an imported note written
as ``=HYPERLINK(...)`` reach the CSV and Excel files that the pages offer as text, never as a formula."""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from data_access import demo, export_safety, importer, marts, schema as s
from data_access.engine import make_engine
from data_access.extract_format import export
from data_access.migrate import upgrade

from ..appenv import app_on
from ..test_app import APP, app_env, logged_in  # noqa: F401 - app_env is a fixture
from .served import download_buttons, served  # noqa: F401 - served is a fixture

FORMULA = '=HYPERLINK("//x.invalid","a")'


def cells_csv(data: bytes) -> list[str]:
    return [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]


def cells_xlsx(data: bytes) -> list:
    """Every cell of the workbook as (data_type, value): a formula cell has type 'f'."""
    ws = load_workbook(io.BytesIO(data)).active
    return [(c.data_type, c.value) for row in ws.iter_rows() for c in row]


def assert_inert(csv_data: bytes, xlsx_data: bytes, payload: str) -> None:
    texts = cells_csv(csv_data)
    hits = [c for c in texts if payload.lstrip("'") in c]
    assert hits, "the value is in the file"
    assert all(not c.startswith(export_safety.FORMULA_START) for c in texts)
    assert any(c == "'" + payload for c in hits), hits
    xcells = cells_xlsx(xlsx_data)
    assert all(kind != "f" for kind, _ in xcells), [v for k, v in xcells if k == "f"]
    assert ("s", "'" + payload) in xcells


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("张三", "张三"), ("1-2", "1-2"), ("", ""), (None, None), (-5, -5), (3.5, 3.5)])
def test_neutralise_prefixes_only_text_that_a_spreadsheet_would_run(value, expected):
    assert export_safety.neutralise(value) == expected


def test_numbers_stay_numbers_in_excel():
    df = pd.DataFrame({"金额": [-1234.5, 10.0], "名称": ["-负数", "正常"]})
    cells = cells_xlsx(export_safety.excel_bytes(df))
    assert ("n", -1234.5) in cells and ("s", "'-负数") in cells and ("s", "正常") in cells


def test_a_login_name_written_as_a_formula_is_text_in_the_audit_log_export(app_env, served):
    attempt = AppTest.from_file(APP, default_timeout=60).run()
    attempt.text_input(key="login_username").input(FORMULA)
    attempt.text_input(key="login_password").input("wrong")
    attempt.button[0].click().run()
    at = logged_in("admin", "pages/data_admin.py")
    assert not at.exception
    (csv_button,) = download_buttons(at, "dl_csv_audit_log")
    (xlsx_button,) = download_buttons(at, "dl_xlsx_audit_log")
    payload = FORMULA.lower()  # login names are compared in lower case
    assert_inert(served.fetch(csv_button), served.fetch(xlsx_button), payload)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A tiny demo bank where one customer's name and one open warning's note came in through the importer as
    formulas. Yields (engine, customer id)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('formula') / 'bank.db'}")
    upgrade(engine)
    demo.generate(engine, size="tiny", seed=23, progress=False)
    marts.refresh(engine)
    w = s.warning_signal
    with engine.connect() as conn:
        sig = conn.execute(select(w.c.id, w.c.customer_id).where(w.c.status == "open")
                           .order_by(w.c.raised_on.desc(), w.c.id)).first()
    with tempfile.TemporaryDirectory() as d, engine.connect() as conn:
        export(conn, Path(d), tables=["customer", "warning_signal"])
        cust = pd.read_csv(Path(d) / "customer.csv", dtype=str, keep_default_na=False)
        sigs = pd.read_csv(Path(d) / "warning_signal.csv", dtype=str, keep_default_na=False)
    cust = cust[cust["id"] == str(sig.customer_id)].assign(name=FORMULA)
    sigs = sigs[sigs["id"] == str(sig.id)].assign(detail="@" + FORMULA[1:])
    files = {"customer.csv": cust.to_csv(index=False).encode(), "warning_signal.csv": sigs.to_csv(index=False).encode()}
    result = importer.run(engine, files, username="import_test")
    assert result.ok, result.problems.to_dict("records")
    with engine.connect() as conn:
        assert conn.execute(select(s.customer.c.name).where(s.customer.c.id == sig.customer_id)).scalar() == FORMULA
    yield engine
    engine.dispose()


@pytest.fixture
def imported_env(imported):
    with app_on(imported):
        yield imported


def test_an_imported_name_and_note_written_as_formulas_are_text_in_the_exports(imported_env, served):
    at = logged_in("hq_wang", "pages/early_warning.py")
    assert not at.exception
    csv_button = next(b for b in download_buttons(at, "dl_csv_open_signals"))
    xlsx_button = next(b for b in download_buttons(at, "dl_xlsx_open_signals"))
    csv_data, xlsx_data = served.fetch(csv_button), served.fetch(xlsx_button)
    assert_inert(csv_data, xlsx_data, "@" + FORMULA[1:])  # the note
    # the name: in full, or masked to its first character and asterisks, it still begins with '='
    names = [c for c in cells_csv(csv_data) if c.lstrip("'").startswith("=")]
    assert names and all(c.startswith("'=") for c in names)
    assert all(kind != "f" for kind, _ in cells_xlsx(xlsx_data))


def test_the_bad_row_report_of_an_import_is_inert(demo_engine):
    rows = pd.DataFrame({"id": ["1"], "name": [FORMULA]})
    r = importer.run(demo_engine, {"customer.csv": rows.to_csv(index=False).encode()}, "t", dry_run=True)
    assert not r.ok
    report = cells_csv(importer.report_bytes(r.problems.assign(value=FORMULA)))
    assert "'" + FORMULA in report and FORMULA not in report
