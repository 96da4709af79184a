"""Finding 9: an import file cannot exhaust the server. Caps on a file's size once unpacked, its rows and the
problem rows kept, checked before memory grows (an Excel file's zip directory before anything is unpacked, its sheet
streamed); control characters refused in text; a region file without its outlines gets the missing-column message.
On the code before the fix a few-KB workbook is unpacked whole into pandas, every row is read, a NUL in a name
passes, and a region.csv without geometry is refused as bad_geometry."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from data_access import importer, schema as s
from data_access.config import ConfigError
from data_access.extract_format import fields

from ..conftest import BACKENDS  # noqa: F401 - demo_engine runs on every backend

ROOT = Path(__file__).resolve().parents[2]
TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
         'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
         '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
         'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
         'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
         'spreadsheetml.worksheet+xml"/></Types>')
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="loan_snapshot" sheetId="1" r:id="rId1"/></sheets></workbook>')
WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
           '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
           'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def _cell(v) -> str:
    return f"<c><v>{v}</v></c>" if isinstance(v, (int, float)) else f'<c t="inlineStr"><is><t>{v}</t></is></c>'


def bomb_xlsx(rows: int, row=(1, "2026-10", 5000, 0, 0, 0, 1, 1), dimension: bool = False) -> bytes:
    """A loan_snapshot workbook of ``rows`` identical rows (rows without ``r`` attributes are legal, and pack
    best): a million rows pack into a few hundred KB — the shape of the file that took 96 s and 3.4 GB. Excel
    itself writes the sheet's ``<dimension>`` first; ``dimension`` adds it."""
    names = [f.name for f in fields("loan_snapshot")]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", TYPES)
        z.writestr("_rels/.rels", RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WB_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                     b'spreadsheetml/2006/main">')
            if dimension:
                fh.write(f'<dimension ref="A1:H{rows + 1}"/>'.encode())
            fh.write(b"<sheetData>")
            fh.write(("<row>" + "".join(_cell(n) for n in names) + "</row>").encode())
            line = ("<row>" + "".join(_cell(v) for v in row) + "</row>").encode()
            chunk = line * 10_000
            for _ in range(rows // 10_000):
                fh.write(chunk)
            fh.write(line * (rows % 10_000))
            fh.write(b"</sheetData></worksheet>")
    return buf.getvalue()


def _unpacked(data: bytes) -> int:
    return sum(e.file_size for e in zipfile.ZipFile(io.BytesIO(data)).infolist())


def _measured(fn):
    """(result, seconds, peak bytes allocated by Python while it ran)."""
    tracemalloc.start()
    t = time.perf_counter()
    try:
        out = fn()
        return out, time.perf_counter() - t, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _rows(engine, table: str, n: int = 3) -> pd.DataFrame:
    cols = [f.name for f in fields(table)]
    t = s.metadata.tables[table]
    with engine.connect() as conn:
        res = conn.execute(select(*[t.c[c] for c in cols]).order_by(*t.primary_key.columns).limit(n))
        df = pd.DataFrame(res.fetchall(), columns=cols)
    for f in fields(table):
        if f.kind == "bool":
            df[f.name] = df[f.name].map({True: "1", False: "0"})
    return df.astype(object).where(df.notna(), "").astype(str)


def _only(result, reason):
    hit = result.problems[result.problems["reason"] == reason]
    assert len(hit) >= 1, result.problems.to_dict("records")
    return hit


def test_a_few_kb_workbook_that_unpacks_past_the_cap_is_refused_before_it_is_read(demo_engine, monkeypatch):
    """A ~20 KB workbook whose sheet unpacks to ~4 MB, with the cap at 1 MB: refused from the zip's directory in a
    fraction of a second, with the figures in the message, and Python's memory grows by a few MB at most (the code
    before read all of it into pandas)."""
    monkeypatch.setenv("COCKPIT_IMPORT_MAX_MB", "1")
    data = bomb_xlsx(30_000)
    assert len(data) < 32 * 1024 and _unpacked(data) > 3 * 2**20, (len(data), _unpacked(data))
    r, seconds, peak = _measured(lambda: importer.run(demo_engine, {"loan_snapshot.xlsx": data}, "t", dry_run=True))
    hit = _only(r, "too_large")
    assert not r.ok and r.problem_count == 1 and hit["file"].tolist() == ["loan_snapshot.xlsx"]
    assert hit["detail"].iloc[0].endswith("> 1.0 MB") and " → " in hit["detail"].iloc[0]
    assert seconds < 5 and peak < 30 * 2**20, (seconds, peak)


def test_the_default_cap_refuses_a_zip_bomb_of_the_reported_size(demo_engine):
    """At the defaults (100 MB unpacked): a ~0.6 MB workbook of ~110 MB sheet XML (the reported file was 7.6 MB of
    109 MB; rows of one repeated value pack tighter) is refused without being unpacked."""
    data = bomb_xlsx(680_000)
    assert len(data) < 2**20 and 105 * 2**20 < _unpacked(data) < 115 * 2**20, _unpacked(data)
    r, seconds, peak = _measured(lambda: importer.run(demo_engine, {"loan_snapshot_2026-10.xlsx": data}, "t",
                                                      dry_run=True))
    assert _only(r, "too_large")["detail"].iloc[0].endswith("> 100 MB")
    assert seconds < 5 and peak < 30 * 2**20, (seconds, peak)


def test_rows_past_the_cap_are_refused_while_reading(demo_engine, monkeypatch):
    """Under the size cap but over the row cap: refused from the sheet's stated size when it has one (as Excel
    writes it), else while streaming at the first row past the cap; a CSV likewise stops reading there. A file of
    exactly the cap is read."""
    monkeypatch.setenv("COCKPIT_IMPORT_MAX_ROWS", "1000")
    csv = ("loan_id,month,balance,overdue_amount,dpd,bucket,class5,mob\n" + "1,2026-10,5000,0,0,0,1,1\n" * 100_000)
    for name, data, detail in (("loan_snapshot.xlsx", bomb_xlsx(100_000, dimension=True), "100,000 > 1,000"),
                               ("loan_snapshot.xlsx", bomb_xlsx(5_000), "> 1,000"),
                               ("loan_snapshot.csv", csv.encode(), "> 1,000")):
        r, seconds, peak = _measured(lambda: importer.run(demo_engine, {name: data}, "t", dry_run=True))
        hit = _only(r, "too_many_rows")
        assert r.problem_count == 1 and hit["detail"].iloc[0] == detail, hit
        assert seconds < 10 and peak < 30 * 2**20, (name, detail, seconds, peak)
    for data in (bomb_xlsx(1000), bomb_xlsx(1000, dimension=True)):
        r = importer.run(demo_engine, {"loan_snapshot.xlsx": data}, "t", dry_run=True)
        assert "too_many_rows" not in set(r.problems["reason"]) and r.rows == {"loan_snapshot": 1000}


def test_a_csv_over_the_size_cap_is_refused(demo_engine, monkeypatch):
    monkeypatch.setenv("COCKPIT_IMPORT_MAX_MB", "1")
    body = "loan_id,month,balance,overdue_amount,dpd,bucket,class5,mob\n" + "1,2026-10,5000,0,0,0,1,1\n" * 60_000
    r = importer.run(demo_engine, {"loan_snapshot.csv": body.encode()}, "t", dry_run=True)
    assert _only(r, "too_large")["detail"].iloc[0] == "1.4 MB > 1.0 MB"


def test_problem_rows_are_capped_and_counted(demo_engine, monkeypatch):
    """Thousands of bad rows: the report keeps the first N by line, the count says how many there were (the code
    before kept every one: 10.5 million for the reported file)."""
    monkeypatch.setenv("COCKPIT_IMPORT_MAX_PROBLEMS", "50")
    body = ("loan_id,month,balance,overdue_amount,dpd,bucket,class5,mob\n" + "x,2026-1,-1,0,0,0,9,1\n" * 3000).encode()
    r = importer.run(demo_engine, {"loan_snapshot.csv": body}, "t", dry_run=True)
    assert len(r.problems) == 50 and r.problem_count >= 4 * 3000  # not an integer, bad month, negative, class 9
    assert r.problems["line"].tolist() == sorted(r.problems["line"]) and r.problems["line"].iloc[0] == 2


@pytest.mark.parametrize("char", ["\x00", "\t", "\x1b", "\u202e", "\u200b", "\x85"])
def test_control_characters_in_a_name_are_refused_with_their_column(demo_engine, char):
    """A NUL (or a tab, an escape, a right-to-left override, a zero-width space, a C1 control) inside a name: the
    row is refused, the column named, the character shown (on the code before a NUL passed validation)."""
    good = _rows(demo_engine, "customer")
    assert importer.run(demo_engine, {"customer.csv": good.to_csv(index=False).encode()}, "t", dry_run=True).ok
    bad = good.copy()
    bad.loc[1, "name"] = f"张{char}三"
    r = importer.run(demo_engine, {"customer.csv": bad.to_csv(index=False).encode()}, "t", dry_run=True)
    hit = _only(r, "control_character")
    assert not r.ok and hit["column"].tolist() == ["name"] and hit["line"].tolist() == [3]
    assert hit["detail"].iloc[0] == f"U+{ord(char):04X}" and hit["value"].iloc[0] == f"张\\u{ord(char):04x}三"


def test_a_region_file_without_geometry_gets_the_missing_column_message(demo_engine):
    good = _rows(demo_engine, "region")
    r = importer.run(demo_engine, {"region.csv": good.drop(columns=["geometry"]).to_csv(index=False).encode()}, "t",
                     dry_run=True)
    assert set(zip(r.problems["reason"], r.problems["column"])) == {("missing_column", "geometry")}, \
        r.problems.to_dict("records")
    empty = good.copy()
    empty.loc[0, "geometry"] = ""
    r = importer.run(demo_engine, {"region.csv": empty.to_csv(index=False).encode()}, "t", dry_run=True)
    assert set(zip(r.problems["reason"], r.problems["column"], r.problems["line"])) == {("required", "geometry", 2)}


def test_the_command_line_refuses_with_the_cap_and_exit_2(demo_engine, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "loan_snapshot.xlsx").write_bytes(bomb_xlsx(30_000))
    env = dict(os.environ, COCKPIT_DATABASE_URL=demo_engine.url.render_as_string(hide_password=False),
               COCKPIT_IMPORT_MAX_MB="1")
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "data_access", "import", str(tmp_path / "in"), "--quiet"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "larger than the limit once unpacked" in r.stderr and "> 1.0 MB" in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: import refused, nothing written: 1 problems"
    assert time.perf_counter() - started < 60
    (tmp_path / "in" / "loan_snapshot.xlsx").unlink()  # a file larger on disk than the cap is not even read
    (tmp_path / "in" / "customer.csv").write_bytes(b"id,name\n" + b"1,x\n" * 300_000)
    r = subprocess.run([sys.executable, "-m", "data_access", "import", str(tmp_path / "in"), "--quiet"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == ("error: customer.csv is 1.1 MB, over the import limit of 1.0 MB "
                                                      "a file (COCKPIT_IMPORT_MAX_MB); split it by month or branch")
    env["COCKPIT_IMPORT_MAX_MB"] = "lots"
    r = subprocess.run([sys.executable, "-m", "data_access", "import", str(tmp_path / "in"), "--quiet"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == "error: COCKPIT_IMPORT_MAX_MB must be a positive whole number " \
                                                      "(got 'lots')"


def test_limits_come_from_the_settings(monkeypatch):
    assert importer.limits() == importer.Limits()
    monkeypatch.setenv("COCKPIT_IMPORT_MAX_ROWS", "2_000_000")
    assert importer.limits().max_rows == 2_000_000
    monkeypatch.setenv("COCKPIT_IMPORT_MAX_PROBLEMS", "0")
    with pytest.raises(ConfigError, match="COCKPIT_IMPORT_MAX_PROBLEMS"):
        importer.limits()


def test_a_workbook_with_xml_entities_is_refused(demo_engine):
    """openpyxl parses with defusedxml (pinned in requirements.txt): an entity declaration — the start of a
    "billion laughs" — makes the file unreadable instead of expanding."""
    import openpyxl.xml
    assert openpyxl.xml.DEFUSEDXML
    data = bomb_xlsx(10)
    laughs = (b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE w [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
              b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row>'
              b'<c t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>')
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for e in src.infolist():
            z.writestr(e.filename, laughs if e.filename.endswith("sheet1.xml") else src.read(e.filename))
    r = importer.run(demo_engine, {"loan_snapshot.xlsx": out.getvalue()}, "t", dry_run=True)
    assert r.problems["reason"].tolist() == ["unreadable"], r.problems.to_dict("records")
