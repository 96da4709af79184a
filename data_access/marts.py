"""Pre-aggregated marts, rebuilt by SQL that the database itself runs.

Every page reads these small tables, never the loan book, so a page costs the
same whether the bank has ten thousand or ten million loans. ``refresh``
rebuilds them all in one transaction (``INSERT … SELECT``, no pandas loops);
month-by-month statements use bound month parameters, which PostgreSQL plans
far better than an expression on the column (DESIGN.md performance notes).

The bucket and class definitions used here are those of :mod:`data_access.kpi`
and :mod:`data_access.schema`: ever 30+ means bucket >= 2 (over 30 dpd), ever
90+ means bucket >= 4 (over 90 dpd); NPL means class5 >= 3.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import Connection, Date, DateTime, Engine, Integer, String, bindparam, delete, func, select, text

from . import config, kpi, schema as s


def _months(conn: Connection) -> list[tuple[str, int]]:
    rows = conn.execute(text(
        "SELECT d.month, d.idx FROM dim_month d WHERE EXISTS (SELECT 1 FROM loan_snapshot s WHERE s.month = d.month) "
        "ORDER BY d.idx")).all()  # a probe of the month index per month, not a scan of every snapshot
    return [(r[0], r[1]) for r in rows]


def _month_end(month: str) -> dt.date:
    y, m = int(month[:4]), int(month[5:7])
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _month_start(month: str) -> dt.date:
    return dt.date(int(month[:4]), int(month[5:7]), 1)


def _date_sql(sql: str, *names: str):
    return text(sql).bindparams(*[bindparam(n, type_=Date) for n in names])


# Every mart groups a loan by its dimensions as they were (#20): a snapshot's own branch_id, manager_id, product_id,
# segment and village_code for a month's figures, and for a disbursement cohort's those of the loan's snapshot in its
# disbursement month (the loan's current row only where it has none: paid off within the month, or not yet
# snapshotted). A loan that moves later never moves a month already reported.
SNAPSHOT_DIM_SQL = ("UPDATE loan_snapshot SET " + ", ".join(f"{d} = l.{d}" for d in s.SNAPSHOT_DIMS)
                    + " FROM loan l WHERE l.id = loan_snapshot.loan_id AND loan_snapshot.branch_id IS NULL")
AT_DISBURSEMENT = "LEFT JOIN loan_snapshot d ON d.loan_id = l.id AND d.month = l.disbursed_month"


def _at_disb(dim: str) -> str:
    return f"COALESCE(d.{dim}, l.{dim})"


def fill_snapshot_dims(conn: Connection, months=None) -> None:
    """Give the snapshot rows still without dimensions (new rows of an import, or rows written by hand) those of
    their loan as it is now; rows that have them keep them. ``months``: only those months (all when None)."""
    if months is None:
        conn.execute(text(SNAPSHOT_DIM_SQL))
        return
    for month in sorted(months):
        conn.execute(text(SNAPSHOT_DIM_SQL + " AND loan_snapshot.month = :month"), {"month": month})


PORTFOLIO = """
INSERT INTO mart_portfolio (month, branch_id, product_id, segment, class5, bucket, loans, balance, overdue_amount)
SELECT s.month, s.branch_id, s.product_id, s.segment, s.class5, s.bucket, COUNT(*), SUM(s.balance), SUM(s.overdue_amount)
FROM loan_snapshot s
WHERE s.month = :month
GROUP BY s.month, s.branch_id, s.product_id, s.segment, s.class5, s.bucket
"""

# loans the bank classed better than the classification engine's floor allows (五级分类偏离), one row a loan-month
DEVIATION = """
INSERT INTO mart_class_deviation (month, loan_id, branch_id, product_id, segment, manager_id, bank_class,
                                  floor_class, floor_reasons, dpd, balance)
SELECT s.month, s.loan_id, s.branch_id, s.product_id, s.segment, s.manager_id, s.class5, s.floor_class5,
       COALESCE(s.floor_reasons, 0), s.dpd, s.balance
FROM loan_snapshot s
WHERE s.month = :month AND s.class5 < s.floor_class5
"""

_DISB_KEYS = f"l.disbursed_month, {_at_disb('branch_id')}, {_at_disb('product_id')}, {_at_disb('segment')}"
DISBURSEMENT = f"""
INSERT INTO mart_disbursement (month, branch_id, product_id, segment, loans, amount)
SELECT {_DISB_KEYS}, COUNT(*), SUM(l.amount)
FROM loan l {AT_DISBURSEMENT} {{where}} GROUP BY {_DISB_KEYS}
"""

_CLOSED_BUCKET = "CASE WHEN l.status = 'written_off' THEN 6 ELSE 5 END"
_CLOSED_CLASS = "CASE WHEN l.status = 'written_off' THEN 7 ELSE 6 END"


def _migration_sql(target: str, period_label: str, buckets: bool) -> str:
    """Transitions of the loans on the book at :month to their state at :next_month, grouped, on SQL alone.

    A loan present at :month and absent at :next_month has closed: written off (bucket 6 / class 7) or paid off
    (5 / 6). ``period_label`` is the month the rows are filed under.

    ``reduction`` is the regulator's 期间减少金额 worked out per loan before the rows are grouped: what the loan lost
    in the period through 正常收回, 不良处置 and 核销, i.e. the sum of its balance's decreases over its month-end
    path (all of it once it has left the book), at most its start balance. What was drawn again on the loan in the
    period (a revolving loan's redraw, ``tmp_drawn``) is new lending: it offsets no decrease, so a loan repaid
    6,000 and redrawn 5,000 has a reduction of 6,000, not 1,000, and only start − reduction of its end balance is
    the period-start loan (kpi.cbirc_migration_parts). Netting start − end over grouped rows instead let one
    loan's redraw cancel another's repayment.
    """
    to_bucket = f"COALESCE(s1.bucket, {_CLOSED_BUCKET})"
    to_class = f"COALESCE(s1.class5, {_CLOSED_CLASS})"
    states = (["s0.bucket", to_bucket] if buckets else []) + ["s0.class5", to_class]
    names = (["from_bucket", "to_bucket"] if buckets else []) + ["from_class", "to_class"]
    decrease = "s0.balance - COALESCE(s1.balance, 0) + COALESCE(dr.drawn, 0)"  # Σ decreases: start − end + drawn
    reduction = f"CASE WHEN {decrease} > s0.balance THEN s0.balance ELSE {decrease} END"
    return (f"INSERT INTO {target} (month, branch_id, product_id, segment, {', '.join(names)}, loans, balance, "
            f"balance_next, reduction) SELECT {period_label}, s0.branch_id, s0.product_id, s0.segment, "
            f"{', '.join(states)}, COUNT(*), SUM(s0.balance), SUM(COALESCE(s1.balance, 0)), SUM({reduction}) "
            f"FROM loan_snapshot s0 "
            f"JOIN loan l ON l.id = s0.loan_id "
            f"LEFT JOIN loan_snapshot s1 ON s1.loan_id = s0.loan_id AND s1.month = :next_month "
            f"LEFT JOIN (SELECT loan_id, SUM(drawn) AS drawn FROM tmp_drawn WHERE month > :month "
            f"AND month <= :next_month GROUP BY loan_id) dr ON dr.loan_id = s0.loan_id "
            f"WHERE s0.month = :month GROUP BY {period_label}, s0.branch_id, s0.product_id, s0.segment, "
            f"{', '.join(states)}")


# what was drawn again on a loan in a month: its balance's rise over the month before (only the rows that rose;
# a loan's draws are new lending for the regulator's migration rates, see _migration_sql). A temporary table of
# the refresh's transaction, filled month by month with bound months.
DRAWN_TABLE = "CREATE TEMPORARY TABLE tmp_drawn (loan_id INTEGER NOT NULL, month VARCHAR(7) NOT NULL, drawn NUMERIC(18, 2))"
DRAWN = """
INSERT INTO tmp_drawn (loan_id, month, drawn)
SELECT s1.loan_id, s1.month, s1.balance - s0.balance
FROM loan_snapshot s1 JOIN loan_snapshot s0 ON s0.loan_id = s1.loan_id AND s0.month = :month
WHERE s1.month = :next_month AND s1.balance > s0.balance
"""


# month t → t+1, filed under t
MIGRATION = _migration_sql("mart_migration", "s0.month", buckets=True)
# The regulator's migration rates are reported for the year to date: class at the previous December against
# class now, on the December balance; filed under the period end.
MIGRATION_YTD = _migration_sql("mart_migration_ytd", "CAST(:next_month AS VARCHAR(7))", buckets=False)
# quarter to date: class at the previous quarter end against class now, filed under the period end
MIGRATION_QTD = _migration_sql("mart_migration_qtd", "CAST(:next_month AS VARCHAR(7))", buckets=False)


def quarter_start(month: str) -> str:
    """The previous quarter end of ``month`` (the start of its quarter-to-date period): 2026-05 → 2026-03,
    2026-03 → 2025-12."""
    y, m = int(month[:4]), int(month[5:7])
    q = (m - 1) // 3 * 3  # last month of the previous quarter, 0 = December of the year before
    return f"{y - 1}-12" if q == 0 else f"{y}-{q:02d}"


# overdue loans in the G11 report's day bands (schema.mart_overdue)
OVERDUE_BANDS = ((1, 1, 90), (2, 91, 360), (3, 361, 1095), (4, 1096, None))
_BAND = "CASE " + " ".join(f"WHEN s.dpd >= {lo}" + (f" AND s.dpd <= {hi}" if hi else "") + f" THEN {b}"
                           for b, lo, hi in OVERDUE_BANDS) + " ELSE 0 END"
OVERDUE = f"""
INSERT INTO mart_overdue (month, branch_id, product_id, band, loans, balance, overdue_amount)
SELECT s.month, s.branch_id, s.product_id, {_BAND}, COUNT(*), SUM(s.balance), SUM(s.overdue_amount)
FROM loan_snapshot s
WHERE s.month = :month AND s.dpd > 0
GROUP BY s.month, s.branch_id, s.product_id, {_BAND}
"""

# 新发放贷款不良率 as of :month: the loans disbursed from :year_start to :month; NPL either at the month (its balance
# then) or when it left the book (its balance at its last snapshot: written off or recovered as NPL = 不良处置)
NEW_LOAN = f"""
INSERT INTO mart_new_loan (month, branch_id, product_id, loans, amount, npl_loans, npl_balance, disposed_npl)
SELECT :month, {_at_disb('branch_id')}, {_at_disb('product_id')}, COUNT(*), SUM(l.amount),
       SUM(CASE WHEN (s.loan_id IS NOT NULL AND s.class5 >= 3) OR (s.loan_id IS NULL AND z.class5 >= 3)
                THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.class5 >= 3 THEN s.balance ELSE 0 END),
       SUM(CASE WHEN s.loan_id IS NULL AND z.class5 >= 3 THEN z.balance ELSE 0 END)
FROM loan l {AT_DISBURSEMENT}
LEFT JOIN loan_snapshot s ON s.loan_id = l.id AND s.month = :month
LEFT JOIN (SELECT h.loan_id, MAX(h.month) AS last_month FROM loan_snapshot h JOIN loan n ON n.id = h.loan_id
           WHERE n.disbursed_month >= :year_start AND n.disbursed_month <= :month AND h.month <= :month
           GROUP BY h.loan_id) lm ON lm.loan_id = l.id
LEFT JOIN loan_snapshot z ON z.loan_id = l.id AND z.month = lm.last_month
WHERE l.disbursed_month >= :year_start AND l.disbursed_month <= :month
GROUP BY {_at_disb('branch_id')}, {_at_disb('product_id')}
"""

VINTAGE = """
INSERT INTO mart_vintage (cohort, mob, branch_id, product_id, loans, amount, ever30_amount, ever90_amount)
SELECT b.disbursed_month, m.idx - b.d_idx, b.branch_id, b.product_id, COUNT(*), SUM(b.amount),
       SUM(CASE WHEN f.f30 IS NOT NULL AND f.f30 <= m.idx - b.d_idx THEN b.amount ELSE 0 END),
       SUM(CASE WHEN f.f90 IS NOT NULL AND f.f90 <= m.idx - b.d_idx THEN b.amount ELSE 0 END)
FROM (SELECT l.id, l.disbursed_month, COALESCE(d.branch_id, l.branch_id) AS branch_id,
             COALESCE(d.product_id, l.product_id) AS product_id, l.amount, dm.idx AS d_idx
      FROM loan l JOIN dim_month dm ON dm.month = l.disbursed_month
      LEFT JOIN loan_snapshot d ON d.loan_id = l.id AND d.month = l.disbursed_month
      WHERE l.disbursed_month >= :first_month AND l.disbursed_month <= :last_month) b
JOIN dim_month m ON m.idx >= b.d_idx AND m.idx <= :last_idx {where}
LEFT JOIN (SELECT loan_id, MIN(mob) AS f30, MIN(CASE WHEN bucket >= 4 THEN mob END) AS f90
           FROM loan_snapshot WHERE bucket >= 2 GROUP BY loan_id) f ON f.loan_id = b.id
GROUP BY b.disbursed_month, m.idx - b.d_idx, b.branch_id, b.product_id
"""

# Village figures come from several tables; each part fills its own measures and leaves the rest 0,
# and the parts are summed per village. Written as (measure -> SQL) maps so the columns cannot drift apart.
VILLAGE_MEASURES = ["households", "households_with_line", "households_with_loan", "line_amount", "households_line_loan",
                    "line_used_amount", "loans", "balance",
                    "npl_balance", "overdue_balance", "m1_balance", "m2_balance", "m3_balance", "m4_balance",
                    "disbursed_amount", "class1_balance", "class2_balance", "class3_balance", "class4_balance",
                    "class5_balance", "deposits", "ebank_households", "third_pay_households", "ss_card_households",
                    "open_warnings", "new_overdue_loans"]
_VALID_LINE = ("credit_line cl JOIN customer c ON c.id = cl.customer_id WHERE c.created_on <= :month_end "
               "AND cl.granted_on <= :month_end AND cl.expires_on > :month_end")
_BORROWERS = ("SELECT DISTINCT l.customer_id FROM loan_snapshot s JOIN loan l ON l.id = s.loan_id "
              "WHERE s.month = :month AND s.balance > 0")
VILLAGE_PARTS = [
    ("c.village_code", "customer c WHERE c.created_on <= :month_end", {
        "households": "COUNT(*)", "deposits": "SUM(c.deposit_balance)",
        "ebank_households": "SUM(CASE WHEN c.has_ebank THEN 1 ELSE 0 END)",
        "third_pay_households": "SUM(CASE WHEN c.has_third_party_pay THEN 1 ELSE 0 END)",
        "ss_card_households": "SUM(CASE WHEN c.has_social_security_card THEN 1 ELSE 0 END)"}),
    # line holders are households registered by month end (so coverage's numerator is part of its denominator),
    # with a line valid at month end
    # and usage's households: those line holders with a loan balance at the month
    ("c.village_code", _VALID_LINE.replace(" WHERE ", f" LEFT JOIN ({_BORROWERS}) b ON b.customer_id = cl.customer_id "
                                                     "WHERE ", 1), {
        "households_with_line": "COUNT(DISTINCT cl.customer_id)", "line_amount": "SUM(cl.limit_amount)",
        "households_line_loan": "COUNT(DISTINCT b.customer_id)"}),
    # usage by amount: what is drawn under the lines valid at month end
    ("c.village_code", "loan_snapshot s JOIN loan l ON l.id = s.loan_id JOIN credit_line cl ON cl.id = l.credit_line_id "
                       "JOIN customer c ON c.id = cl.customer_id WHERE s.month = :month AND s.balance > 0 "
                       "AND c.created_on <= :month_end AND cl.granted_on <= :month_end AND cl.expires_on > :month_end", {
        "line_used_amount": "SUM(s.balance)"}),
    ("s.village_code", "loan_snapshot s JOIN loan l ON l.id = s.loan_id WHERE s.month = :month AND s.balance > 0", {
        "households_with_loan": "COUNT(DISTINCT l.customer_id)", "loans": "COUNT(*)", "balance": "SUM(s.balance)",
        "npl_balance": "SUM(CASE WHEN s.class5 >= 3 THEN s.balance ELSE 0 END)",
        "overdue_balance": "SUM(CASE WHEN s.bucket >= 1 THEN s.balance ELSE 0 END)",
        **{f"m{b}_balance": f"SUM(CASE WHEN s.bucket = {b} THEN s.balance ELSE 0 END)" for b in range(1, 5)},
        **{f"class{c}_balance": f"SUM(CASE WHEN s.class5 = {c} THEN s.balance ELSE 0 END)" for c in range(1, 6)}}),
    (_at_disb("village_code"), f"loan l {AT_DISBURSEMENT} WHERE l.disbursed_month = :month",
     {"disbursed_amount": "SUM(l.amount)"}),
    ("c.village_code", "warning_signal w JOIN customer c ON c.id = w.customer_id "
                       "WHERE w.raised_on <= :month_end AND (w.closed_on IS NULL OR w.closed_on > :month_end)", {
        "open_warnings": "COUNT(*)"}),
    # a case's village: its loan's in the entry month
    ("COALESCE(e.village_code, l.village_code)", "collection_case k JOIN loan l ON l.id = k.loan_id "
     "LEFT JOIN loan_snapshot e ON e.loan_id = k.loan_id AND e.month = k.entry_month "
     "WHERE k.entry_month = :month AND k.entry_bucket = 1", {"new_overdue_loans": "COUNT(*)"}),
]


def _village_sql() -> str:
    selects = []
    for key, source, measures in VILLAGE_PARTS:
        cols = ", ".join(f"{measures.get(m, '0')} AS {m}" for m in VILLAGE_MEASURES)
        selects.append(f"SELECT {key} AS village_code, {cols} FROM {source} GROUP BY {key}")
    sums = ", ".join(f"SUM(x.{m})" for m in VILLAGE_MEASURES)
    return (f"INSERT INTO mart_village (month, village_code, township_code, county_code, branch_id, "
            f"{', '.join(VILLAGE_MEASURES)}) "
            f"SELECT :month, v.code, v.parent_code, v.county_code, bt.branch_id, {sums} "
            f"FROM ({' UNION ALL '.join(selects)}) x "
            f"JOIN region v ON v.code = x.village_code JOIN branch_township bt ON bt.township_code = v.parent_code "
            f"GROUP BY v.code, v.parent_code, v.county_code, bt.branch_id")


VILLAGE = _village_sql()

def area_sql(level: str, where: str | None = None) -> str:
    """mart_area's rows of one level ('county' or 'township'), every month (or those ``where`` keeps), summed from
    mart_village."""
    col = {"county": "county_code", "township": "township_code"}[level]
    return (f"INSERT INTO mart_area (month, level, code, {', '.join(s.AREA_MEASURES)}) "
            f"SELECT month, '{level}', {col}, {', '.join(f'SUM({m})' for m in s.AREA_MEASURES)} "
            f"FROM mart_village {'WHERE ' + where if where else ''} GROUP BY month, {col}")

# 催收回收率 (kpi.COLLECTION_RECOVERY_EXCLUDED): cases being worked, not those waiting for allocation nor the
# transfers of written-off loans (their recovery is reported apart)
COLLECTION_RECOVERY = "channel NOT IN ({})".format(", ".join(f"'{c}'" for c in kpi.COLLECTION_RECOVERY_EXCLUDED))

BRANCH = f"""
INSERT INTO mart_branch (month, branch_id, households, households_with_line, households_with_loan, open_warnings,
    new_warnings, tasks_due, tasks_overdue, tasks_done_on_time, balance, npl_balance, overdue_balance, coll_overdue,
    coll_recovered, households_line_loan, line_amount, line_used_amount)
SELECT :month, x.branch_id, SUM(x.hh), SUM(x.hl), SUM(x.hb), SUM(x.ow), SUM(x.nw), SUM(x.td), SUM(x.tov), SUM(x.tot),
       SUM(x.bal), SUM(x.npl), SUM(x.od), SUM(x.co), SUM(x.cr), SUM(x.hll), SUM(x.la), SUM(x.lu)
FROM (
    SELECT branch_id, SUM(households) AS hh, SUM(households_with_line) AS hl, SUM(households_with_loan) AS hb,
           SUM(open_warnings) AS ow, 0 AS nw, 0 AS td, 0 AS tov, 0 AS tot, 0 AS bal, 0 AS npl, 0 AS od, 0 AS co,
           0 AS cr, SUM(households_line_loan) AS hll, SUM(line_amount) AS la, SUM(line_used_amount) AS lu
    FROM mart_village WHERE month = :month GROUP BY branch_id
  UNION ALL
    SELECT branch_id, 0, 0, 0, 0, COUNT(*), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM warning_signal WHERE month = :month GROUP BY branch_id
  UNION ALL
    SELECT branch_id, 0, 0, 0, 0, 0,
           SUM(CASE WHEN due_on >= :month_start AND due_on <= :month_end THEN 1 ELSE 0 END),
           SUM(CASE WHEN due_on <= :month_end AND (completed_on IS NULL OR completed_on > :month_end)
                    AND created_on <= :month_end THEN 1 ELSE 0 END),
           SUM(CASE WHEN due_on >= :month_start AND due_on <= :month_end AND completed_on IS NOT NULL
                    AND completed_on <= due_on THEN 1 ELSE 0 END), 0, 0, 0, 0, 0, 0, 0, 0
    FROM postloan_task WHERE created_on <= :month_end GROUP BY branch_id
  UNION ALL
    SELECT branch_id, 0, 0, 0, 0, 0, 0, 0, 0, SUM(balance), SUM(CASE WHEN class5 >= 3 THEN balance ELSE 0 END),
           SUM(CASE WHEN bucket >= 1 THEN balance ELSE 0 END), 0, 0, 0, 0, 0
    FROM mart_portfolio WHERE month = :month AND branch_id <> 0 GROUP BY branch_id
  UNION ALL
    SELECT branch_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, SUM(overdue_at_entry), SUM(recovered_amount), 0, 0, 0
    FROM mart_collection WHERE entry_month = :month AND branch_id <> 0 AND {COLLECTION_RECOVERY} GROUP BY branch_id
) x GROUP BY x.branch_id
"""

# the branch league's collection columns after one entry month of the collection mart was rebuilt
BRANCH_COLLECTION = f"""
UPDATE mart_branch SET
    coll_overdue = COALESCE((SELECT SUM(c.overdue_at_entry) FROM mart_collection c
                             WHERE c.entry_month = mart_branch.month AND c.branch_id = mart_branch.branch_id
                             AND {COLLECTION_RECOVERY.replace("channel", "c.channel")}), 0),
    coll_recovered = COALESCE((SELECT SUM(c.recovered_amount) FROM mart_collection c
                               WHERE c.entry_month = mart_branch.month AND c.branch_id = mart_branch.branch_id
                               AND {COLLECTION_RECOVERY.replace("channel", "c.channel")}), 0)
WHERE month = :month
"""

COLLECTION = """
INSERT INTO mart_collection (entry_month, branch_id, channel, agency_id, entry_bucket, legal_stage, cases,
    overdue_at_entry, balance_at_entry, recovered_amount, cured_cases, rolled_cases, open_cases, contacted_cases,
    promised_cases, kept_cases, paying_cases, cost, complaints, compliance_breaches)
SELECT c.entry_month, c.branch_id, c.channel, COALESCE(c.agency_id, 0), c.entry_bucket, COALESCE(c.legal_stage, ''),
       COUNT(*), SUM(c.overdue_at_entry), SUM(c.balance_at_entry), SUM(c.recovered_amount),
       SUM(CASE WHEN c.status IN ('cured', 'settled') THEN 1 ELSE 0 END),
       SUM(CASE WHEN c.status = 'rolled' THEN 1 ELSE 0 END),
       SUM(CASE WHEN c.status = 'open' THEN 1 ELSE 0 END),
       SUM(COALESCE(a.contacted, 0)), SUM(COALESCE(a.promised, 0)), SUM(COALESCE(a.kept, 0)),
       SUM(CASE WHEN c.recovered_amount > 0 THEN 1 ELSE 0 END),
       SUM(c.cost), SUM(c.complaints), SUM(c.compliance_breaches)
FROM collection_case c
LEFT JOIN (SELECT case_id,
                  MAX(CASE WHEN contacted THEN 1 ELSE 0 END) AS contacted,
                  MAX(CASE WHEN promise_amount IS NOT NULL THEN 1 ELSE 0 END) AS promised,
                  MAX(CASE WHEN promise_kept THEN 1 ELSE 0 END) AS kept
           FROM collection_action {action_where} GROUP BY case_id) a ON a.case_id = c.id
{case_where}
GROUP BY c.entry_month, c.branch_id, c.channel, COALESCE(c.agency_id, 0), c.entry_bucket, COALESCE(c.legal_stage, '')
"""


def collection_sql(month: str | None = None) -> str:
    """The collection mart's INSERT, for every entry month or (``month`` given) one, bound as ``:month``."""
    if month is None:
        return COLLECTION.format(action_where="", case_where="")
    return COLLECTION.format(
        action_where="WHERE case_id IN (SELECT id FROM collection_case WHERE entry_month = :month)",
        case_where="WHERE c.entry_month = :month")


def refresh_collection_month(conn: Connection, month: str) -> None:
    """Rebuild one entry month of the collection mart (after an allocation run), roll-up rows included."""
    mc = s.mart_collection
    conn.execute(delete(mc).where(mc.c.entry_month == month))
    conn.execute(text(collection_sql(month)), {"month": month})
    conn.execute(text(rollup_sql(mc, "entry_month = :month")), {"month": month})
    conn.execute(text(BRANCH_COLLECTION), {"month": month})  # roll-up rows included: mart_collection has them too
    stamp(conn, "refresh_collection")


def refresh_task_months(conn: Connection, first_month: str) -> list[str]:
    """Rebuild the two marts that count post-loan tasks (the branch league's due / overdue / on-time columns and the
    managers' tasks) for the snapshot months from ``first_month`` on, roll-up rows included; returns those months.

    The early-warning batch calls it after writing its tasks instead of rebuilding every mart: a task counts in the
    month it falls due and, while open, as overdue in every later month, so no month before the one it was created in
    changes. Doing the whole rebuild inside the batch's write transaction held SQLite's write lock for a minute on
    the first start, and a login (which writes its audit row) waited behind it."""
    months = [m for m, _ in _months(conn) if m >= first_month]
    mb, mm = s.mart_branch, s.mart_manager
    branch = _date_sql(BRANCH, "month_start", "month_end")
    mgr = _date_sql(MANAGER, "month_start", "month_end")
    for month in months:
        params = {"month": month, "month_start": _month_start(month), "month_end": _month_end(month)}
        conn.execute(delete(mb).where(mb.c.month == month))
        conn.execute(delete(mm).where(mm.c.month == month))
        conn.execute(branch, params)
        conn.execute(mgr, params)
        conn.execute(text(rollup_sql(mb, "month = :month")), {"month": month})
    stamp(conn, "refresh_tasks")
    return months


MANAGER = """
INSERT INTO mart_manager (month, manager_id, branch_id, customers, borrowers, balance, npl_balance, visits, check_ins,
    tasks_due, tasks_done_on_time, new_customers)
SELECT :month, m.id, m.branch_id, COALESCE(SUM(x.cu), 0), COALESCE(SUM(x.bo), 0), COALESCE(SUM(x.bal), 0),
       COALESCE(SUM(x.npl), 0), COALESCE(SUM(x.vi), 0), COALESCE(SUM(x.ci), 0), COALESCE(SUM(x.td), 0),
       COALESCE(SUM(x.tot), 0), COALESCE(SUM(x.nc), 0)
FROM manager m
LEFT JOIN (
    SELECT manager_id, COUNT(*) AS cu, 0 AS bo, 0 AS bal, 0 AS npl, 0 AS vi, 0 AS ci, 0 AS td, 0 AS tot,
           SUM(CASE WHEN created_on >= :month_start THEN 1 ELSE 0 END) AS nc
    FROM customer WHERE created_on <= :month_end GROUP BY manager_id
  UNION ALL
    SELECT s.manager_id, 0, COUNT(DISTINCT l.customer_id), SUM(s.balance),
           SUM(CASE WHEN s.class5 >= 3 THEN s.balance ELSE 0 END), 0, 0, 0, 0, 0
    FROM loan_snapshot s JOIN loan l ON l.id = s.loan_id WHERE s.month = :month AND s.balance > 0 GROUP BY s.manager_id
  UNION ALL
    SELECT manager_id, 0, 0, 0, 0, SUM(CASE WHEN event_type = 'visit' THEN 1 ELSE 0 END),
           SUM(CASE WHEN event_type = 'check_in' THEN 1 ELSE 0 END), 0, 0, 0
    FROM activity_event WHERE month = :month GROUP BY manager_id
  UNION ALL
    SELECT manager_id, 0, 0, 0, 0, 0, 0, COUNT(*),
           SUM(CASE WHEN completed_on IS NOT NULL AND completed_on <= due_on THEN 1 ELSE 0 END), 0
    FROM postloan_task WHERE due_on >= :month_start AND due_on <= :month_end GROUP BY manager_id
) x ON x.manager_id = m.id
GROUP BY m.id, m.branch_id
"""

EXT_MEASURES = ("events", "flags_high", "flags_medium", "flags_low", "visited_90d", "new_walk_in", "new_whole_village",
                "new_referral", "new_online", "new_event", "matured_12m", "renewed_12m", "originated_amount",
                "originated_ever30_amount", "case_overdue", "case_recovered")
SOURCES = ("walk_in", "whole_village", "referral", "online", "event")


def _part(exprs: dict[str, str], source: str) -> str:
    """One branch of the UNION ALL: the given measures, 0 for the others."""
    cols = ", ".join(f"{exprs.get(m, '0')} AS {m}" for m in EXT_MEASURES)
    return f"SELECT {exprs['manager_id']} AS manager_id, {cols} {source}"


def manager_ext_sql() -> str:
    """The manager mart's quality, growth and conduct figures for one month (bound :month and dates).

    续贷率 (renewal) here: loans paid off in the 12 months to month end whose borrower took another loan disbursed
    after the paid-off loan's disbursement, by month end. Origination quality: amount disbursed 7–24 months before
    month end (old enough to show) and the part of it ever 30+ days past due."""
    parts = [
        _part({"manager_id": "manager_id", "events": "COUNT(*)"},
              "FROM activity_event WHERE month = :month GROUP BY manager_id"),
        _part({"manager_id": "manager_id", **{f"flags_{v}": f"SUM(CASE WHEN severity = '{v}' THEN 1 ELSE 0 END)"
                                              for v in ("high", "medium", "low")}},
              "FROM activity_flag WHERE month = :month GROUP BY manager_id"),
        _part({"manager_id": "e.manager_id", "visited_90d": "COUNT(DISTINCT e.customer_id)"},
              "FROM activity_event e JOIN customer c ON c.id = e.customer_id AND c.manager_id = e.manager_id "
              "WHERE e.event_type = 'visit' AND e.event_at >= :ts_90 AND e.event_at < :ts_end GROUP BY e.manager_id"),
        _part({"manager_id": "manager_id", **{f"new_{v}": f"SUM(CASE WHEN source = '{v}' THEN 1 ELSE 0 END)" for v in SOURCES}},
              "FROM customer WHERE created_on >= :month_start AND created_on <= :month_end GROUP BY manager_id"),
        _part({"manager_id": "l.manager_id", "matured_12m": "COUNT(*)",
               "renewed_12m": "SUM(CASE WHEN EXISTS (SELECT 1 FROM loan n WHERE n.customer_id = l.customer_id "
                              "AND n.id <> l.id AND n.disbursed_on > l.disbursed_on AND n.disbursed_on <= :month_end) "
                              "THEN 1 ELSE 0 END)"},
              "FROM loan l WHERE l.status = 'paid_off' AND l.closed_on >= :d12 AND l.closed_on <= :month_end "
              "GROUP BY l.manager_id"),
        # originations by the manager who made them (the loan's snapshot in its disbursement month)
        _part({"manager_id": _at_disb("manager_id"), "originated_amount": "SUM(l.amount)",
               "originated_ever30_amount": "SUM(CASE WHEN EXISTS (SELECT 1 FROM loan_snapshot h WHERE h.loan_id = l.id "
                                           "AND h.bucket >= 2 AND h.month <= :month) THEN l.amount ELSE 0 END)"},
              f"FROM loan l {AT_DISBURSEMENT} WHERE l.disbursed_on >= :orig_from AND l.disbursed_on <= :orig_to "
              f"GROUP BY {_at_disb('manager_id')}"),
        # cases by the loan's manager in the entry month
        _part({"manager_id": "COALESCE(e.manager_id, l.manager_id)", "case_overdue": "SUM(k.overdue_at_entry)",
               "case_recovered": "SUM(k.recovered_amount)"},
              "FROM collection_case k JOIN loan l ON l.id = k.loan_id "
              "LEFT JOIN loan_snapshot e ON e.loan_id = k.loan_id AND e.month = k.entry_month WHERE k.entry_month >= :m12 "
              "AND k.entry_month <= :month AND k.channel NOT IN ('pending', 'write_off') "
              "GROUP BY COALESCE(e.manager_id, l.manager_id)"),
    ]
    sums = ", ".join(f"COALESCE(SUM(x.{m}), 0)" for m in EXT_MEASURES)
    return (f"INSERT INTO mart_manager_ext (month, manager_id, branch_id, {', '.join(EXT_MEASURES)}) "
            f"SELECT :month, m.id, m.branch_id, {sums} FROM manager m LEFT JOIN ("
            + " UNION ALL ".join(parts) + ") x ON x.manager_id = m.id GROUP BY m.id, m.branch_id")


MANAGER_EXT_MONTHS = 12  # the months the manager page shows; older ones would only cost refresh time


def _ext_params(month: str) -> dict:
    from .queries import shift_month
    end = _month_end(month)
    ts_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    return {"month": month, "month_start": _month_start(month), "month_end": end, "ts_end": ts_end,
            "ts_90": ts_end - dt.timedelta(days=90), "d12": _month_start(shift_month(month, -11)),
            "orig_from": _month_start(shift_month(month, -23)), "orig_to": _month_end(shift_month(month, -7)),
            "m12": shift_month(month, -11)}


APPLICATION = """
INSERT INTO mart_application (month, branch_id, product_id, segment, score_band, decision, applications, amount,
    outcome_known, bads)
SELECT month, branch_id, product_id, segment, (score / 20) * 20, decision, COUNT(*), SUM(amount_requested),
       SUM(CASE WHEN outcome_known THEN 1 ELSE 0 END), SUM(CASE WHEN bad_12m THEN 1 ELSE 0 END)
FROM application {where} GROUP BY month, branch_id, product_id, segment, (score / 20) * 20, decision
"""

# the approval simulator's population (see schema.mart_approval); empty until a scorecard has scored the applications
APPROVAL = """
INSERT INTO mart_approval (month, branch_id, segment, village_grade, credit_household, score_band, decision,
    applications, amount, rate_amount, pd_sum, pd_amount, outcome_known, bads, known_pd_sum)
SELECT a.month, a.branch_id, COALESCE(a.segment, 'unknown'), COALESCE(a.credit_village_grade, 'none'),
       CASE WHEN a.credit_household THEN 1 ELSE 0 END, (x.score / 5) * 5, a.decision, COUNT(*),
       SUM(a.amount_requested), SUM(a.amount_requested * p.annual_rate), SUM(x.pd), SUM(x.pd * a.amount_requested),
       SUM(CASE WHEN a.outcome_known THEN 1 ELSE 0 END), SUM(CASE WHEN a.bad_12m THEN 1 ELSE 0 END),
       SUM(CASE WHEN a.outcome_known THEN x.pd ELSE 0 END)
FROM application a JOIN application_score x ON x.application_id = a.id JOIN product p ON p.id = a.product_id {where}
GROUP BY a.month, a.branch_id, COALESCE(a.segment, 'unknown'), COALESCE(a.credit_village_grade, 'none'),
         CASE WHEN a.credit_household THEN 1 ELSE 0 END, (x.score / 5) * 5, a.decision
"""


def refresh_approval(conn: Connection) -> int:
    """Rebuild the approval mart alone (after the scorecard re-scored the applications); returns its rows."""
    conn.execute(delete(s.mart_approval))
    conn.execute(text(APPROVAL.format(where="")))
    conn.execute(text(rollup_sql(s.mart_approval)))
    return conn.execute(select(func.count()).select_from(s.mart_approval)).scalar_one()


# borrowers are counted per branch and industry; a customer has one industry, so the roll-up may sum them
INDUSTRY = """
INSERT INTO mart_industry (month, branch_id, industry, loans, borrowers, balance, npl_balance)
SELECT s.month, s.branch_id, COALESCE(c.industry, 'unknown'), COUNT(*), COUNT(DISTINCT l.customer_id), SUM(s.balance),
       SUM(CASE WHEN s.class5 >= 3 THEN s.balance ELSE 0 END)
FROM loan_snapshot s JOIN loan l ON l.id = s.loan_id JOIN customer c ON c.id = l.customer_id
WHERE s.month = :month
GROUP BY s.month, s.branch_id, COALESCE(c.industry, 'unknown')
"""

WARNING = """
INSERT INTO mart_warning (month, branch_id, signal_type, severity, raised, still_open)
SELECT month, branch_id, signal_type, severity, COUNT(*), SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END)
FROM warning_signal {where} GROUP BY month, branch_id, signal_type, severity
"""


# Whole-bank roll-up rows (branch_id 0) of the branch-level marts: a head-office read then costs the same
# whatever the number of branches. Key columns are grouped, measures summed.
ROLLUP_TABLES = (s.mart_industry, s.mart_migration_ytd, s.mart_migration_qtd, s.mart_overdue, s.mart_new_loan,
                 s.mart_portfolio, s.mart_disbursement, s.mart_branch, s.mart_migration, s.mart_vintage,
                 s.mart_collection, s.mart_warning, s.mart_approval)
BANK = 0


ROLLUP_INT_KEYS = {"band", "product_id", "class5", "bucket", "from_bucket", "to_bucket", "from_class", "to_class", "mob",
                   "agency_id", "entry_bucket", "credit_household", "score_band"}


def rollup_sql(table, where: str | None = None) -> str:
    """INSERT … SELECT of a mart's whole-bank rows: text columns and ROLLUP_INT_KEYS grouped, the rest summed;
    ``where`` limits the source rows (e.g. one month)."""
    keys = [c.name for c in table.c
            if c.name != "branch_id" and (isinstance(c.type, String) or c.name in ROLLUP_INT_KEYS)]
    measures = [c.name for c in table.c if c.name not in keys and c.name != "branch_id"]
    cols = ", ".join(keys + ["branch_id"] + measures)
    sums = ", ".join(f"SUM({m})" for m in measures)
    return (f"INSERT INTO {table.name} ({cols}) SELECT {', '.join(keys)}, {BANK}, {sums} FROM {table.name} "
            f"WHERE branch_id <> {BANK}{' AND ' + where if where else ''} GROUP BY {', '.join(keys)}")


def _tune(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # the marts' joins and group-bys spill to disk at PostgreSQL's default 4 MB of work memory, and JIT
        # compiles ~150 short statements: a province refresh takes 294 s as shipped, 252 s like this (bench);
        # SET LOCAL ends with the transaction, so the app's own sessions keep the server's settings
        work_mem = config.setting("COCKPIT_REFRESH_WORK_MEM", "256MB")
        conn.execute(text("SELECT set_config('work_mem', :v, true), set_config('jit', 'off', true)"), {"v": work_mem})


def _refresh_manager_ext(conn: Connection, months: list[tuple[str, int]], since: str | None = "") -> list[str]:
    """The manager page's quality, growth and conduct figures of the last MANAGER_EXT_MONTHS months (those from
    ``since`` on; the older ones leave the mart); returns the months rebuilt."""
    keep = [m for m, _ in months[-MANAGER_EXT_MONTHS:]]
    redo = [m for m in keep if since is not None and m >= since]
    mx = s.mart_manager_ext
    conn.execute(delete(mx).where(mx.c.month.notin_(keep) | mx.c.month.in_(redo)))
    ext = text(manager_ext_sql()).bindparams(*[bindparam(n, type_=Date) for n in
                                               ("month_start", "month_end", "d12", "orig_from", "orig_to")],
                                             *[bindparam(n, type_=DateTime) for n in ("ts_end", "ts_90")])
    for month in redo:
        conn.execute(ext, _ext_params(month))
    return redo


def refresh_in(conn: Connection, progress=None) -> dict[str, int]:
    """Rebuild every mart inside the caller's transaction; returns rows per mart. ``progress`` (a
    :class:`data_access.progress.Steps`) gets a line per stage."""
    step = progress.step if progress is not None else (lambda what: None)
    _tune(conn)
    fill_snapshot_dims(conn)
    for t in s.MART_TABLES:
        conn.execute(delete(t))
    months = _months(conn)
    step(f"portfolio and industry, {len(months)} months")
    for month, _idx in months:
        conn.execute(text(PORTFOLIO), {"month": month})
        conn.execute(text(INDUSTRY), {"month": month})
        conn.execute(text(DEVIATION), {"month": month})
    step("migration, disbursement, vintage, collections")
    conn.execute(text("DROP TABLE IF EXISTS tmp_drawn"))
    conn.execute(text(DRAWN_TABLE))
    for (month, idx), (nxt, nidx) in zip(months, months[1:]):
        if nidx == idx + 1:
            conn.execute(text(DRAWN), {"month": month, "next_month": nxt})
    conn.execute(text("CREATE INDEX ix_tmp_drawn_month ON tmp_drawn (month)"))
    for (month, _), (nxt, _) in zip(months, months[1:]):
        conn.execute(text(MIGRATION), {"month": month, "next_month": nxt})
    have = {m for m, _ in months}
    for month, _ in months:
        december = f"{int(month[:4]) - 1}-12"
        if december in have:
            conn.execute(text(MIGRATION_YTD), {"month": december, "next_month": month})
    for month, _ in months:
        start = quarter_start(month)
        if start in have:
            conn.execute(text(MIGRATION_QTD), {"month": start, "next_month": month})
        conn.execute(text(OVERDUE), {"month": month})
        conn.execute(text(NEW_LOAN), {"month": month, "year_start": f"{month[:4]}-01"})
    conn.execute(text("DROP TABLE tmp_drawn"))
    conn.execute(text(DISBURSEMENT.format(where="")))
    if months:
        conn.execute(text(VINTAGE.format(where="")),
                     {"first_month": months[0][0], "last_month": months[-1][0], "last_idx": months[-1][1]})
    conn.execute(text(collection_sql()))  # before the branch mart, which carries its per-branch totals
    village = _date_sql(VILLAGE, "month_end")
    branch = _date_sql(BRANCH, "month_start", "month_end")
    mgr = _date_sql(MANAGER, "month_start", "month_end")
    step("villages, branches, managers")
    for month, _ in months:
        params = {"month": month, "month_start": _month_start(month), "month_end": _month_end(month)}
        conn.execute(village, {k: params[k] for k in ("month", "month_end")})
        conn.execute(branch, params)
        conn.execute(mgr, params)
    step("areas, check-in flags, manager behaviour")
    for level in ("county", "township"):
        conn.execute(text(area_sql(level)))
    from .authenticity import refresh_flags
    refresh_flags(conn)
    from .plans import evaluate as evaluate_plans
    evaluate_plans(conn)  # the active repayment plans against the day's payments (breaks audited)
    _refresh_manager_ext(conn, months)
    step("applications, warnings, whole-bank roll-ups")
    for sql in (APPLICATION, APPROVAL, WARNING):
        conn.execute(text(sql.format(where="")))
    for table in ROLLUP_TABLES:
        conn.execute(text(rollup_sql(table)))
    counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in s.MART_TABLES}
    stamp(conn, "refresh")
    return counts


# ---------------------------------------------------------------- incremental refresh (#20)
@dataclass
class Touched:
    """What an import changed, in the terms the marts need (the importer fills it, :func:`refresh_touched` reads it).

    ``months``: snapshot months loaded (a month's states changed); ``floors``: months whose classification floors
    were recomputed; ``cohorts``: disbursement months with a loan new or changed (amount, month, dimensions);
    ``closures``: loans whose status changed (a transition from a month on book to one off it is re-read);
    ``applications`` / ``cases`` / ``warnings``: months of the rows of those tables, before and after; ``actions``:
    entry months of the cases whose contacts came; ``recoveries``: of the cases whose figures alone changed (status,
    recovered amount, cost …); ``loans``: disbursement and closing months of the loans new or
    changed (the manager page's renewals, maturities and originations read them);
    ``open_warnings``: months whose count of warnings open at month end may have moved; ``full``: why everything
    must be rebuilt instead (a reference table came, the history grew backwards …), None when it need not."""
    months: set = field(default_factory=set)
    floors: set = field(default_factory=set)
    cohorts: set = field(default_factory=set)
    closures: set = field(default_factory=set)
    applications: set = field(default_factory=set)
    cases: set = field(default_factory=set)
    actions: set = field(default_factory=set)
    recoveries: set = field(default_factory=set)
    loans: set = field(default_factory=set)
    warnings: set = field(default_factory=set)
    open_warnings: set = field(default_factory=set)
    full: str | None = None


def _keys(name: str, type_=String) -> "bindparam":
    # typed: an empty list is rendered as a typed empty set, which PostgreSQL compares with a text column
    return bindparam(name, expanding=True, type_=type_)


def _delete_in(conn: Connection, table, col: str, keys) -> None:
    if keys:
        conn.execute(text(f"DELETE FROM {table.name} WHERE {col} IN :keys").bindparams(_keys("keys")),
                     {"keys": sorted(keys)})


def _rollup_in(conn: Connection, table, col: str, keys) -> None:
    if keys:
        conn.execute(text(rollup_sql(table, f"{col} IN :keys")).bindparams(_keys("keys")), {"keys": sorted(keys)})


def _closure_periods(conn: Connection, loans: set, periods: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The periods (start, end) in which one of ``loans`` was on the book at the start and off it at the end: its
    status (paid off or written off) is what such a transition reads."""
    if not loans or not periods:
        return set()
    held: dict[int, set[str]] = {}
    ids = sorted(loans)
    for i in range(0, len(ids), 5000):
        for lid, month in conn.execute(text("SELECT loan_id, month FROM loan_snapshot WHERE loan_id IN :ids")
                                       .bindparams(_keys("ids", Integer)), {"ids": ids[i:i + 5000]}):
            held.setdefault(lid, set()).add(month)
    spans = {frozenset(m) for m in held.values()}
    return {(a, b) for a, b in periods if any(a in m and b not in m for m in spans)}


def refresh_touched(conn: Connection, touched: Touched, progress=None) -> dict:
    """Rebuild, inside the caller's transaction, only the marts' rows that ``touched`` can have changed; returns
    what was rebuilt: ``{"full": reason}`` when everything was, else ``{"full": None, "rebuilt": {mart: keys}}``.

    Month by month: a snapshot month's portfolio, industry, overdue, deviation (also a month whose floors moved),
    village, branch, area and manager rows; a transition (month to next month, year to date, quarter to date) whose
    window holds a touched month or a closed loan whose status changed; the new-loan rows of the touched month and
    the later months of its year; the vintage rows of the touched months and after (each cohort's later months on
    book) and every row of a cohort whose loans changed; the disbursement, collection (entry month), application
    and warning rows of their months. Always: the manager page's last 12 months and the repayment plans. Equal to
    :func:`refresh_in`, row for row (tests/test_incremental.py)."""
    if touched.full:
        refresh_in(conn, progress)
        return {"full": touched.full}
    step = progress.step if progress is not None else (lambda what: None)
    _tune(conn)
    months = _months(conn)
    order = [m for m, _ in months]
    have, idx = set(order), dict(months)
    T = touched.months & have
    fill_snapshot_dims(conn, T)
    rebuilt: dict[str, list] = {}

    def note(table, keys) -> None:
        if keys:
            rebuilt[table.name] = sorted(keys)

    step(f"portfolio and industry, {len(T)} of {len(order)} months")
    dev = (T | touched.floors) & have
    for table, keys in ((s.mart_portfolio, T), (s.mart_industry, T), (s.mart_overdue, T), (s.mart_class_deviation, dev)):
        _delete_in(conn, table, "month", keys)
        note(table, keys)
    for month in sorted(T):
        conn.execute(text(PORTFOLIO), {"month": month})
        conn.execute(text(INDUSTRY), {"month": month})
        conn.execute(text(OVERDUE), {"month": month})
    for month in sorted(dev):
        conn.execute(text(DEVIATION), {"month": month})

    step("migration, disbursement, vintage, collections")
    pairs = list(zip(order, order[1:]))
    ytd = [(f"{int(m[:4]) - 1}-12", m) for m in order if f"{int(m[:4]) - 1}-12" in have]
    qtd = [(quarter_start(m), m) for m in order if quarter_start(m) in have]
    closed = _closure_periods(conn, touched.closures, pairs + ytd + qtd)

    def due(periods):  # a period is rebuilt when a touched month lies in it, or a closure's status is read by it
        return [(a, b) for a, b in periods if (a, b) in closed or any(a <= t <= b for t in T)]
    pairs, ytd, qtd = due(pairs), due(ytd), due(qtd)
    drawn = {(a, b) for a, b in zip(order, order[1:]) if idx[b] == idx[a] + 1
             and any(s_ <= a and b <= e for s_, e in pairs + ytd + qtd)}
    conn.execute(text("DROP TABLE IF EXISTS tmp_drawn"))
    conn.execute(text(DRAWN_TABLE))
    for a, b in sorted(drawn):
        conn.execute(text(DRAWN), {"month": a, "next_month": b})
    conn.execute(text("CREATE INDEX ix_tmp_drawn_month ON tmp_drawn (month)"))
    for table, periods, sql, filed in ((s.mart_migration, pairs, MIGRATION, 0), (s.mart_migration_ytd, ytd, MIGRATION_YTD, 1),
                                       (s.mart_migration_qtd, qtd, MIGRATION_QTD, 1)):
        keys = {p[filed] for p in periods}
        _delete_in(conn, table, "month", keys)
        for a, b in periods:
            conn.execute(text(sql), {"month": a, "next_month": b})
        note(table, keys)
    conn.execute(text("DROP TABLE tmp_drawn"))
    starts = T | touched.cohorts
    new_loan = {m for m in have if any(t[:4] == m[:4] and t <= m for t in starts)}
    _delete_in(conn, s.mart_new_loan, "month", new_loan)
    for month in sorted(new_loan):
        conn.execute(text(NEW_LOAN), {"month": month, "year_start": f"{month[:4]}-01"})
    note(s.mart_new_loan, new_loan)
    disb = touched.cohorts | T
    _delete_in(conn, s.mart_disbursement, "month", disb)
    if disb:
        conn.execute(text(DISBURSEMENT.format(where="WHERE l.disbursed_month IN :keys")).bindparams(_keys("keys")),
                     {"keys": sorted(disb)})
    note(s.mart_disbursement, disb)
    vintage = _refresh_vintage(conn, months, T, touched.cohorts)
    if vintage:
        rebuilt["mart_vintage"] = vintage
    cases = touched.cases
    touched.actions = touched.actions | touched.recoveries  # the collection mart and the branch league read them
    for month in sorted(cases | touched.actions):
        _delete_in(conn, s.mart_collection, "entry_month", {month})
        conn.execute(text(collection_sql(month)), {"month": month})
    note(s.mart_collection, cases | touched.actions)

    step("villages, branches, managers")
    village = (T | touched.cohorts | cases | touched.open_warnings) & have
    branch = (village | T | cases | touched.warnings) & have
    for table, keys in ((s.mart_village, village), (s.mart_area, village), (s.mart_branch, branch), (s.mart_manager, T)):
        _delete_in(conn, table, "month", keys)
        note(table, keys)
    v_sql, b_sql, m_sql = (_date_sql(VILLAGE, "month_end"), _date_sql(BRANCH, "month_start", "month_end"),
                           _date_sql(MANAGER, "month_start", "month_end"))
    for month in sorted(village | branch | T):
        params = {"month": month, "month_start": _month_start(month), "month_end": _month_end(month)}
        if month in village:
            conn.execute(v_sql, {k: params[k] for k in ("month", "month_end")})
        if month in branch:
            conn.execute(b_sql, params)
        if month in T:
            conn.execute(m_sql, params)
    if village:
        for level in ("county", "township"):
            conn.execute(text(area_sql(level, "month IN :keys")).bindparams(_keys("keys")), {"keys": sorted(village)})
    # a month whose cases only gained contacts: its branch rows' collection columns, from the rebuilt collection mart
    contacts = (touched.actions - branch) & have
    _rollup_in(conn, s.mart_collection, "entry_month", touched.actions)
    for month in sorted(contacts):
        conn.execute(text(BRANCH_COLLECTION), {"month": month})

    step("manager behaviour, applications, warnings, whole-bank roll-ups")
    from .plans import evaluate as evaluate_plans
    evaluate_plans(conn)
    # a manager-page month reads the 12 to 24 months before it: the touched months and every later one
    since = min(T | touched.cohorts | cases | touched.recoveries | touched.loans, default=None)
    ext = _refresh_manager_ext(conn, months, since)
    note(s.mart_manager_ext, ext)
    apps, warns = touched.applications, touched.warnings
    for table, keys, sql in ((s.mart_application, apps, APPLICATION), (s.mart_approval, apps, APPROVAL),
                             (s.mart_warning, warns, WARNING)):
        _delete_in(conn, table, "month", keys)
        if keys:
            conn.execute(text(sql.format(where="WHERE month IN :keys" if table is not s.mart_approval
                                         else "WHERE a.month IN :keys")).bindparams(_keys("keys")),
                         {"keys": sorted(keys)})
        note(table, keys)
    for table in ROLLUP_TABLES:
        col = _month_col(table)
        if table is s.mart_vintage:
            continue  # _refresh_vintage rolled its rows up
        if table is s.mart_collection:
            keys = set(rebuilt.get(table.name, ())) - touched.actions  # rolled up above
            _rollup_in(conn, table, col, keys)
            continue
        _rollup_in(conn, table, col, set(rebuilt.get(table.name, ())))
    stamp(conn, "refresh")
    return {"full": None, "rebuilt": rebuilt}


def _month_col(table) -> str:
    return next(c for c in ("month", "entry_month", "cohort") if c in table.c)


# a vintage row's calendar month is its cohort's plus its months on book
_VINTAGE_DUE = ("(cohort IN :cohorts OR mob >= :from_idx - (SELECT d.idx FROM dim_month d "
                "WHERE d.month = mart_vintage.cohort))")


def _refresh_vintage(conn: Connection, months: list[tuple[str, int]], touched: set, cohorts: set) -> list[str]:
    """The vintage rows of the calendar months from the first touched one on (every cohort's later months on book)
    and every row of the cohorts whose loans changed; returns the cohorts rebuilt whole and 'from <month>'."""
    if not months:
        return []
    idx = dict(months)
    first, last, last_idx = months[0][0], months[-1][0], months[-1][1]
    from_idx = min((idx[t] for t in touched if t in idx), default=last_idx + 1)
    whole = sorted(c for c in cohorts if first <= c <= last)
    if from_idx > last_idx and not whole:
        return []
    keys = {"cohorts": whole, "from_idx": from_idx}
    binds = (_keys("cohorts"),)
    conn.execute(text(f"DELETE FROM mart_vintage WHERE {_VINTAGE_DUE}").bindparams(*binds), keys)
    conn.execute(text(VINTAGE.format(where="AND (m.idx >= :from_idx OR b.disbursed_month IN :cohorts)"))
                 .bindparams(*binds), {**keys, "first_month": first, "last_month": last, "last_idx": last_idx})
    conn.execute(text(rollup_sql(s.mart_vintage, _VINTAGE_DUE)).bindparams(*binds), keys)
    start = next((m for m, i in months if i >= from_idx), None)
    return whole + ([f"from {start}"] if start else [])


REFRESH_STAGES = 5  # the step() lines of refresh_in and refresh_touched


def refresh(engine: Engine, progress: bool = False) -> dict[str, int]:
    """Rebuild all marts in one transaction and change the data version (a line per stage with ``progress``)."""
    from .progress import Steps
    steps = Steps(REFRESH_STAGES, "marts", enabled=progress)
    with engine.begin() as conn:
        counts = refresh_in(conn, steps)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return counts


def stamp(conn: Connection, what: str, row_count: int | None = None) -> str:
    """Record that ``what`` happened now and give the data a new version."""
    now = dt.datetime.now().replace(microsecond=0)
    version = f"{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
    for key, value, rc in (("data_version", version, None), (what, now.isoformat(sep=" "), row_count)):
        conn.execute(delete(s.data_status).where(s.data_status.c.key == key))
        conn.execute(s.data_status.insert().values(key=key, value=value, row_count=rc, updated_at=now))
    return version


def data_version(conn: Connection) -> str:
    """The current data version (changes at every refresh and import); page caches key on it."""
    v = conn.execute(select(s.data_status.c.value).where(s.data_status.c.key == "data_version")).scalar()
    return v or "empty"
