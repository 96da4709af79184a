"""The extract format (导入文件格式): one file per table, CSV (UTF-8 or GB18030) or Excel, named after the table
(``loan_snapshot.csv``, ``loan_snapshot_2026-11.xlsx``), first row the column names below.

The format is derived from the database schema (``schema.py``): a column's type, length and whether it is required
come from there, so the format cannot drift from the tables it loads. What the schema cannot say is declared here:
allowed codes, ranges, columns the importer derives (a month from its date) and columns the app owns (model
outputs). Keys are the bank's own system ids, stable from one extract to the next: re-importing a row updates it.

``templates`` writes an empty CSV and an Excel template with a 说明 (description) sheet per table; ``export``
writes the database's rows in the same format (a full copy, or one month's monthly tables), which moves a bank
from one database to another and feeds the benchmark's import timing.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Boolean, Connection, Date, DateTime, Float, Integer, Numeric, String, select

from . import schema as s

# load order: every table after the tables it refers to
TABLES = ["org_unit", "region", "branch_township", "product", "agency", "manager", "grid_assignment", "customer",
          "application", "credit_line", "loan", "loan_snapshot", "collection_case", "collection_action", "repayment", "warning_signal"]
# the tables a monthly (incremental) extract carries; the others change rarely and come when they change
MONTHLY = {"loan_snapshot": "month", "repayment": "month", "warning_signal": "month", "collection_case": "entry_month",
           "collection_action": "month", "application": "month", "loan": "disbursed_month"}

# derived by the importer from another column of the row: (source date column)
DERIVED = {("application", "month"): "applied_on", ("loan", "disbursed_month"): "disbursed_on",
           ("repayment", "month"): "paid_on", ("warning_signal", "month"): "raised_on",
           ("collection_case", "entry_month"): "entry_date", ("collection_action", "month"): "action_on"}
# owned by the app (models, allocation runs): never in an extract. An application's
# 12-month outcome (outcome_known, bad_12m) may come with the extract; where it does not, the importer computes it
# from the snapshots
APP_OWNED = {("loan_snapshot", "floor_class5"), ("loan_snapshot", "floor_reasons"),  # the classification engine's
             ("collection_case", "allocation_run_id"), ("collection_case", "propensity"),
             ("collection_case", "expected_recovery"),
             # the snapshot's point-in-time dimensions: taken from the loan as of the import (marts.fill_snapshot_dims)
             *{("loan_snapshot", c) for c in s.SNAPSHOT_DIMS}}

# defaults of the extract that differ from the schema's: a bank's own outline is surveyed, not drawn by the demo
DEFAULTS = {("region", "schematic"): False}
# required in an extract although the schema allows NULL: the map draws every region from its outline
REQUIRED = {("region", "geometry")}

CODES = {
    ("org_unit", "level"): ("head_office", "branch", "outlet"),
    ("region", "level"): ("province", "city", "county", "township", "village"),
    ("region", "credit_village_grade"): ("AAA", "AA", "A"),
    ("region", "whole_village_credit"): ("done", "in_progress", "not_started"),
    ("product", "category"): ("farm_credit", "farm_guarantee", "business", "consumer", "mortgage", "online"),
    ("product", "guarantee_type"): ("credit", "guarantee", "mortgage"),
    ("customer", "segment"): ("farmer", "grower", "business", "salaried"),
    ("customer", "gender"): ("M", "F"),
    ("customer", "source"): ("walk_in", "whole_village", "referral", "online", "event"),
    ("application", "decision"): ("approved", "rejected"),
    ("application", "segment"): ("farmer", "grower", "business", "salaried"),
    ("application", "credit_village_grade"): ("AAA", "AA", "A"),
    ("credit_line", "status"): ("active", "expired", "frozen"),
    ("loan", "segment"): ("farmer", "grower", "business", "salaried"),
    ("loan", "guarantee_type"): ("credit", "guarantee", "mortgage"),
    ("loan", "status"): ("active", "paid_off", "written_off"),
    ("collection_case", "channel"): ("pending", "sms", "ai_voice", "phone", "field", "agency", "mediation",
                                     "litigation", "write_off"),
    ("collection_case", "status"): ("open", "cured", "settled", "rolled", "written_off"),
    ("collection_case", "legal_stage"): ("filed", "hearing", "judgment", "enforcement", "closed"),
    ("collection_action", "channel"): ("sms", "ai_voice", "phone", "field", "agency", "mediation", "litigation",
                                       "write_off"),
    ("collection_action", "result"): ("no_answer", "promise_to_pay", "paid", "refused", "hardship", "wrong_party",
                                      "will_call_back"),
    ("collection_action", "party"): ("debtor", "guarantor", "family", "other"),
    ("collection_action", "way"): ("call", "sms", "visit", "ai_voice"),
    ("warning_signal", "signal_type"): ("new_overdue", "multi_lending_rise", "deposit_outflow", "income_drop",
                                        "guarantor_risk", "external_overdue", "manager_report", "court_judgement"),
    ("warning_signal", "severity"): ("high", "medium", "low"),
    ("warning_signal", "status"): ("open", "closed"),
}

MONEY_MAX = 1e12
RANGES = {  # inclusive; money columns are 0 … MONEY_MAX 元 unless listed
    "lon": (73.0, 136.0), "lat": (3.0, 54.0), "centroid_lon": (73.0, 136.0), "centroid_lat": (3.0, 54.0),
    "annual_rate": (0.0, 0.36), "commission_rate": (0.0, 1.0), "term_months": (1, 360), "mob": (0, 600),
    "dpd": (0, 10_000), "bucket": (0, 4), "entry_bucket": (1, 4), "class5": (1, 5), "entry_dpd": (1, 10_000),
    "birth_year": (1900, 2100), "age": (16, 100), "household_size": (1, 30), "multi_lending_count": (0, 100),
    "monthly_capacity": (0, 10_000_000), "registered_households": (0, 10_000_000), "score": (0, 1000),
    "complaints": (0, 10_000), "compliance_breaches": (0, 10_000), "duration_s": (0, 86_400),
}
# (table, earlier, later): the later date may not come before the earlier one
DATE_ORDER = [("loan", "disbursed_on", "maturity_on"), ("loan", "disbursed_on", "closed_on"),
              ("credit_line", "granted_on", "expires_on"), ("grid_assignment", "since", "until"),
              ("collection_case", "entry_date", "closed_on"), ("warning_signal", "raised_on", "closed_on")]

UNIT = {"zh": "元", "en": "yuan"}


@dataclass(frozen=True)
class Field:
    """One column of an extract file."""
    name: str
    kind: str            # int | number | money | bool | date | datetime | month | text
    required: bool
    length: int | None
    default: object
    codes: tuple | None
    range: tuple | None
    reference: str | None  # "table.column"
    comment: str


def _kind(col) -> str:
    t = col.type
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, DateTime):
        return "datetime"
    if isinstance(t, Date):
        return "date"
    if isinstance(t, Numeric) and not isinstance(t, Float):
        return "money"
    if isinstance(t, Float):
        return "number"
    if isinstance(t, Integer):
        return "int"
    if isinstance(t, String) and t.length == 7 and col.name.endswith("month"):
        return "month"
    return "text"


def fields(table: str) -> list[Field]:
    """The columns of ``table``'s extract file, in file order."""
    out = []
    for col in s.metadata.tables[table].c:
        if (table, col.name) in APP_OWNED or (table, col.name) in DERIVED:
            continue
        kind = _kind(col)
        default = col.default.arg if col.default is not None and not callable(col.default.arg) else None
        default = DEFAULTS.get((table, col.name), default)
        rng = RANGES.get(col.name) or ((0.0, MONEY_MAX) if kind == "money" else None)
        fk = next(iter(col.foreign_keys), None)
        required = (not col.nullable and default is None) or (table, col.name) in REQUIRED
        out.append(Field(col.name, kind, required, getattr(col.type, "length", None)
                         if kind == "text" else None, default, CODES.get((table, col.name)), rng,
                         f"{fk.column.table.name}.{fk.column.name}" if fk is not None else None, col.comment or ""))
    return out


def key_columns(table: str) -> list[str]:
    return [c.name for c in s.metadata.tables[table].primary_key.columns]


def unique_columns(table: str) -> list[str]:
    return [c.name for c in s.metadata.tables[table].c if c.unique]


def table_for_file(filename: str) -> str | None:
    """The table a file loads: its name without extension, or that name with a suffix such as ``_2026-11``
    (the longest table name that fits wins: ``loan_snapshot_…`` is not ``loan``)."""
    stem = Path(filename).name.rsplit(".", 1)[0].lower()
    for t in sorted(TABLES, key=len, reverse=True):
        if stem == t or stem.startswith(t + "_") or stem.startswith(t + "-"):
            return t
    return None


# ---------------------------------------------------------------- templates and documentation
KIND_LABEL = {"int": "整数 integer", "number": "数值 number", "money": "金额(元, 两位小数) amount in yuan",
              "bool": "是否 1/0 (也可 true/false、是/否)", "date": "日期 YYYY-MM-DD", "datetime": "时间 YYYY-MM-DD HH:MM:SS",
              "month": "月份 YYYY-MM", "text": "文本 text"}


def describe(table: str) -> pd.DataFrame:
    """The 说明 sheet: one row per column with type, required, length, codes, range, key and reference."""
    keys = key_columns(table)
    rows = []
    for f in fields(table):
        rows.append({"列名 column": f.name, "类型 type": KIND_LABEL[f.kind] + (f" ≤{f.length}" if f.length else ""),
                     "必填 required": "是 yes" if f.required else ("否 no" + (f" (默认 {f.default})" if f.default is not None else "")),
                     "取值 allowed": " | ".join(map(str, f.codes)) if f.codes else
                     (f"{f.range[0]:g} – {f.range[1]:g}" if f.range else ""),
                     "键/引用 key / reference": ("主键 key" if f.name in keys else "") +
                     ("唯一 unique" if f.name in unique_columns(table) else "") +
                     (f"→ {f.reference}" if f.reference else ""),
                     "说明 note": f.comment})
    derived = [f"{c} ← {src}" for (t, c), src in DERIVED.items() if t == table]
    if derived:
        rows.append({"列名 column": "（自动）", "说明 note": "由导入程序生成 derived by the importer: " + ", ".join(derived)})
    return pd.DataFrame(rows).fillna("")


def template_csv(table: str) -> bytes:
    return (",".join(f.name for f in fields(table)) + "\n").encode("utf-8-sig")


def template_xlsx(table: str) -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        pd.DataFrame(columns=[f.name for f in fields(table)]).to_excel(xw, index=False, sheet_name=table[:31])
        describe(table).to_excel(xw, index=False, sheet_name="说明")
    return buf.getvalue()


def templates(out_dir: Path) -> list[Path]:
    """Write ``<table>.csv`` and ``<table>.xlsx`` templates for every table; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in TABLES:
        for suffix, data in (("csv", template_csv(t)), ("xlsx", template_xlsx(t))):
            p = out_dir / f"{t}.{suffix}"
            p.write_bytes(data)
            paths.append(p)
    return paths


def export(conn: Connection, out_dir: Path, month: str | None = None, tables: list[str] | None = None) -> dict[str, int]:
    """Write the database's rows as extract CSVs (all rows, or with ``month`` only that month's rows of the monthly
    tables); returns rows per file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for t in tables or (list(MONTHLY) if month else TABLES):
        table = s.metadata.tables[t]
        cols = [table.c[f.name] for f in fields(t)]
        stmt = select(*cols).order_by(*[table.c[k] for k in key_columns(t)])
        if month:
            cond = table.c[MONTHLY[t]] == month
            if "closed_on" in table.c:  # rows that changed this month: closed, paid off, written off
                import datetime as dt
                first = dt.date(int(month[:4]), int(month[5:]), 1)
                nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
                cond = cond | ((table.c.closed_on >= first) & (table.c.closed_on < nxt))
            stmt = stmt.where(cond)
        res = conn.execute(stmt)
        df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
        for f in fields(t):
            if f.kind == "bool":
                df[f.name] = df[f.name].map({True: 1, False: 0, 1: 1, 0: 0}).astype("Int64")
            elif f.kind == "int":
                df[f.name] = df[f.name].astype("Int64")
        name = f"{t}_{month}.csv" if month else f"{t}.csv"
        df.to_csv(out_dir / name, index=False, encoding="utf-8")
        counts[name] = len(df)
    return counts
