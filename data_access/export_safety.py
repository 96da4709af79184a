"""Spreadsheet files that cannot run anything: every CSV and Excel file the cockpit writes goes through here.

A spreadsheet reads a cell that begins with ``=``, ``+``, ``-`` or ``@`` (and, after a tab, a carriage return or a
NUL, the same) as a formula: a customer name, a note or a login name typed as ``=HYPERLINK("//host","a")`` would
become a live link or a call in the file a bank employee opens. OWASP's CSV-injection advice (and ASVS 5.0
requirement 1.2.10, which adds NUL) is to prefix such a text cell with a single quote, which a spreadsheet takes
as "this is text". Numbers stay numbers: only text cells
are touched, so a negative balance is still a number.
"""
from __future__ import annotations

import io

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralise(value):
    """``value`` prefixed with ``'`` when it is text beginning with a formula character; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _text_columns(df: pd.DataFrame) -> list:
    return [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell and every column header neutralised."""
    out = df.copy()
    for c in _text_columns(out):
        out[c] = out[c].astype(object).map(neutralise)
    out.columns = [neutralise(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as CSV, UTF-8 with BOM (so that Excel opens the Chinese correctly), formulas neutralised; quoting and
    doubled quotes per RFC 4180 come from the csv module."""
    return neutralise_frame(df).to_csv(index=False).encode("utf-8-sig")


def excel_bytes(df: pd.DataFrame, sheet: str = "data") -> bytes:
    """``df`` as an .xlsx workbook, formulas neutralised; Excel cannot hold control characters (a search typed into
    the audit log may have them), so those are dropped."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    out = neutralise_frame(df)
    for c in _text_columns(out):
        out[c] = out[c].map(lambda v: ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        out.to_excel(xw, index=False, sheet_name=sheet[:31] or "data")
    return buf.getvalue()
