"""Point-in-time facts: the customer and village attributes that change (income, deposits, other lenders, household
size, credit household; a village's credit grade) kept with their validity instead of being overwritten.

``customer_fact`` / ``region_fact`` hold one row per stretch of months in which the values held: ``valid_from``
(first month, 'YYYY-MM') to ``valid_to`` (the first month they no longer held; NULL while they still do). The
``customer`` and ``region`` rows keep the newest values for the pages; every model feature reads the facts *as of
its own month* (:data:`CUSTOMER_AS_OF` / :data:`REGION_AS_OF` in ``data_access.features``), so a later import never
moves a feature of an earlier month.

:func:`record` is the importer's step after a load: for each customer (village) whose current values differ from
its open fact row, the row is closed at the data month and a new one opened; new customers get their first row.
A database upgraded to this schema (migration 0024) starts its history at its newest data month: for earlier months
the facts are unknown (missing inputs), not assumed to have always been what they are today.
"""
from __future__ import annotations

from sqlalchemy import Connection, func, select, text

from . import schema as s

CUSTOMER_FACTS = ("annual_income", "deposit_balance", "multi_lending_count", "household_size", "credit_household")
REGION_FACTS = ("credit_village_grade",)

# join conditions of the facts valid at a month (a bind parameter or a column)
def customer_as_of(alias: str, customer: str, month: str) -> str:
    return (f"LEFT JOIN customer_fact {alias} ON {alias}.customer_id = {customer} AND {alias}.valid_from <= {month} "
            f"AND ({alias}.valid_to IS NULL OR {alias}.valid_to > {month})")


def region_as_of(alias: str, code: str, month: str) -> str:
    return (f"LEFT JOIN region_fact {alias} ON {alias}.code = {code} AND {alias}.valid_from <= {month} "
            f"AND ({alias}.valid_to IS NULL OR {alias}.valid_to > {month})")


def _differs(conn: Connection, a: str, b: str) -> str:
    op = "IS DISTINCT FROM" if conn.dialect.name == "postgresql" else "IS NOT"
    return f"{a} {op} {b}"


def _record(conn: Connection, fact: str, base: str, key: str, base_key: str, cols: tuple[str, ...], month: str,
            where: str = "") -> None:
    changed = " OR ".join(_differs(conn, f"b.{c}", f"{fact}.{c}") for c in cols)
    match = f"SELECT 1 FROM {base} b WHERE b.{base_key} = {fact}.{key} AND ({changed})"
    # a second load of the same month corrects that month's row in place
    for c in cols:
        conn.execute(text(f"UPDATE {fact} SET {c} = (SELECT b.{c} FROM {base} b WHERE b.{base_key} = {fact}.{key}) "
                          f"WHERE valid_to IS NULL AND valid_from >= :m AND EXISTS ({match})"), {"m": month})
    conn.execute(text(f"UPDATE {fact} SET valid_to = :m WHERE valid_to IS NULL AND valid_from < :m AND EXISTS ({match})"),
                 {"m": month})
    col_list = ", ".join(cols)
    conn.execute(text(
        f"INSERT INTO {fact} ({key}, valid_from, valid_to, {col_list}) "
        f"SELECT b.{base_key}, :m, NULL, {', '.join('b.' + c for c in cols)} FROM {base} b "
        f"WHERE NOT EXISTS (SELECT 1 FROM {fact} f WHERE f.{key} = b.{base_key} AND f.valid_to IS NULL) {where}"),
        {"m": month})


def data_month(conn: Connection) -> str | None:
    """The month the current rows describe: the newest snapshot month (None on an empty bank)."""
    return conn.execute(select(func.max(s.loan_snapshot.c.month))).scalar()


def record(conn: Connection, month: str | None = None) -> str | None:
    """Bring the fact history up to the current customer and village rows as of ``month`` (default: the newest
    snapshot month; a month before an open row's start counts as that start). Returns the month used."""
    month = month or data_month(conn)
    if month is None:
        return None
    _record(conn, "customer_fact", "customer", "customer_id", "id", CUSTOMER_FACTS, month)
    _record(conn, "region_fact", "region", "code", "code", REGION_FACTS, month, "AND b.level = 'village'")
    return month
