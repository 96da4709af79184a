"""Model inputs read from the database (no training here): behaviour features of the loans on the book.

One row per loan on the book at ``month`` with its recent history and, where the next three months are already
observed, the outcome the early-warning model predicts: reaching 30+ days past due (bucket M2 or worse) within
the next three months.

Every feature is as of its own month: customer and village attributes that change come from the point-in-time
facts valid that month (``data_access.facts``), never from today's customer row.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

from .facts import customer_as_of, region_as_of
from .queries import shift_month

BEHAVIOUR_HORIZON = 3   # months after a snapshot month that the early-warning label reads
CURE_MONTHS = 3         # months after entry within which a collection case's cure and recovery count

BEHAVIOUR_FEATURES = ["dpd", "bucket", "mob", "max_dpd_6m", "months_delinquent_6m", "warnings_3m", "high_warnings_3m",
                      "balance", "amount", "annual_income", "multi_lending_count", "deposit_balance", "household_size",
                      "age", "credit_household", "village_grade", "segment", "product_id", "guarantee_type"]

# customer and village facts as of the snapshot month (data_access.facts): never today's values read back
_SQL = """
SELECT s.loan_id, l.customer_id, l.branch_id, l.manager_id, s.month, s.dpd, s.bucket, s.mob, s.balance, l.amount,
       cf.annual_income, cf.multi_lending_count, cf.deposit_balance, cf.household_size, c.birth_year,
       CASE WHEN cf.credit_household THEN 1 WHEN cf.credit_household IS NULL THEN NULL ELSE 0 END
           AS credit_household,
       COALESCE(rf.credit_village_grade, 'none') AS village_grade, l.segment, l.product_id, l.guarantee_type,
       (SELECT MAX(h.dpd) FROM loan_snapshot h WHERE h.loan_id = s.loan_id AND h.month BETWEEN :m6 AND :month)
           AS max_dpd_6m,
       (SELECT COUNT(*) FROM loan_snapshot h WHERE h.loan_id = s.loan_id AND h.month BETWEEN :m6 AND :month
            AND h.dpd > 0) AS months_delinquent_6m,
       (SELECT COUNT(*) FROM warning_signal w WHERE w.customer_id = l.customer_id AND w.month BETWEEN :m3 AND :month)
           AS warnings_3m,
       (SELECT COUNT(*) FROM warning_signal w WHERE w.customer_id = l.customer_id AND w.month BETWEEN :m3 AND :month
            AND w.severity = 'high') AS high_warnings_3m,
       (SELECT MAX(f.bucket) FROM loan_snapshot f WHERE f.loan_id = s.loan_id AND f.month > :month
            AND f.month <= :f3) AS future_bucket,
       (SELECT COUNT(*) FROM loan_snapshot f WHERE f.loan_id = s.loan_id AND f.month > :month AND f.month <= :f3)
           AS future_months
FROM loan_snapshot s
JOIN loan l ON l.id = s.loan_id
JOIN customer c ON c.id = l.customer_id
{cf}
{rf}
WHERE s.month = :month AND s.bucket <= 1
""".replace("{cf}", customer_as_of("cf", "c.id", ":month")).replace("{rf}", region_as_of("rf", "l.village_code", ":month"))


def behaviour_frame(conn: Connection, month: str, as_of: str | None = None) -> pd.DataFrame:
    """Loans current or in M1 at ``month``: ids, BEHAVIOUR_FEATURES, and ``bad_3m`` — reached 30+ days past due
    (bucket M2 or worse) in one of the BEHAVIOUR_HORIZON months after ``month`` (``month`` itself excluded). The
    label reads no month after ``month`` + horizon; it is NaN for a good loan while those months are not all
    observed as of ``as_of`` (default: the newest snapshot month)."""
    res = conn.execute(text(_SQL), {"month": month, "m6": shift_month(month, -5), "m3": shift_month(month, -2),
                                    "f3": shift_month(month, BEHAVIOUR_HORIZON)})
    df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    if df.empty:
        return df
    df["age"] = int(month[:4]) - df["birth_year"].astype(int)
    df["bad_3m"] = (df["future_bucket"].fillna(-1) >= 2).astype(float)
    last_obs = as_of or conn.execute(text("SELECT MAX(month) FROM loan_snapshot")).scalar()
    if shift_month(month, BEHAVIOUR_HORIZON) > last_obs:  # outcome window not complete yet
        df.loc[df["bad_3m"] == 0, "bad_3m"] = float("nan")
    return df.drop(columns=["birth_year", "future_bucket", "future_months"])


# ---------------------------------------------------------------- collection cases
CASE_FEATURES = ["entry_bucket", "entry_dpd", "overdue_at_entry", "balance_at_entry", "mob", "prior_cases",
                 "annual_income", "multi_lending_count", "deposit_balance", "household_size", "credit_household",
                 "village_grade", "segment", "product_id", "guarantee_type"]

_CASE_SQL = """
SELECT k.id AS case_id, k.loan_id, k.branch_id, k.entry_month, k.entry_date, k.entry_bucket, k.entry_dpd,
       k.overdue_at_entry, k.balance_at_entry, k.channel, COALESCE(k.agency_id, 0) AS agency_id, k.status,
       k.recovered_amount, k.closed_on, l.segment, l.product_id, l.guarantee_type, em.idx - dm.idx AS mob,
       cf.annual_income, cf.multi_lending_count, cf.deposit_balance, cf.household_size,
       CASE WHEN cf.credit_household THEN 1 WHEN cf.credit_household IS NULL THEN NULL ELSE 0 END
           AS credit_household,
       COALESCE(rf.credit_village_grade, 'none') AS village_grade,
       (SELECT COUNT(*) FROM collection_case p WHERE p.loan_id = k.loan_id AND p.entry_month < k.entry_month)
           AS prior_cases,
       (SELECT COALESCE(SUM(r.principal + r.interest), 0) FROM repayment r JOIN dim_month rm ON rm.month = r.month
         WHERE r.case_id = k.id AND rm.idx <= em.idx + :horizon) AS recovered_in_horizon
FROM collection_case k
JOIN loan l ON l.id = k.loan_id
JOIN customer c ON c.id = l.customer_id
{cf}
{rf}
JOIN dim_month em ON em.month = k.entry_month
JOIN dim_month dm ON dm.month = l.disbursed_month
WHERE {where}
ORDER BY k.entry_date, k.id
""".replace("{cf}", customer_as_of("cf", "c.id", "k.entry_month")).replace(
    "{rf}", region_as_of("rf", "l.village_code", "k.entry_month"))  # facts as of the case's entry month


def case_frame(conn: Connection, first_month: str | None = None, last_month: str | None = None,
               pending: bool = False, cure_months: int = CURE_MONTHS, as_of: str | None = None) -> pd.DataFrame:
    """Collection cases with CASE_FEATURES, their channel as ``option`` (``agency:<id>`` for agencies) and outcome.

    ``pending=True``: only the cases still waiting for the allocation run (channel 'pending'), any month. Otherwise
    worked cases (not pending, not write-off) entered between ``first_month`` and ``last_month``.

    Outcomes are bounded in time: ``cured`` is 1 when the case went back to current or was settled by the end of
    the ``cure_months``-th month after its entry month, ``recovered_in_horizon`` the 元 collected on the case in
    those months (repayments by month) and ``recovery_ratio`` that over the overdue at entry; ``mature`` says
    whether those months are all observed as of ``as_of`` (default: the newest snapshot month). What happened
    later — a cure in month five, a payment last week — never changes a case's label; immature cases must be left
    out of training and backtests (their label is not known yet, not "uncured").
    """
    if pending:
        where, params = "k.channel = 'pending'", {}
    else:
        where = "k.channel NOT IN ('pending', 'write_off') AND k.entry_month BETWEEN :first AND :last"
        params = {"first": first_month, "last": last_month}
    if not isinstance(cure_months, int) or cure_months < 1:
        raise ValueError(f"cure_months must be a whole number of months ≥ 1; got {cure_months!r}.")
    res = conn.execute(text(_CASE_SQL.format(where=where)), {**params, "horizon": cure_months})
    df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    if df.empty:
        return df
    as_of = as_of or conn.execute(text("SELECT MAX(month) FROM loan_snapshot")).scalar()
    df["option"] = [f"agency:{a}" if ch == "agency" else ch for ch, a in zip(df["channel"], df["agency_id"])]
    by = [shift_month(m, cure_months) for m in df["entry_month"]]
    closed = [None if c is None or c != c else str(c)[:7] for c in df["closed_on"]]
    df["mature"] = [b <= as_of for b in by] if as_of else False
    df["cured"] = [int(st in ("cured", "settled") and c is not None and c <= b)
                   for st, c, b in zip(df["status"], closed, by)]
    over = df["overdue_at_entry"].astype(float)
    df["recovered_in_horizon"] = df["recovered_in_horizon"].astype(float)
    df["recovery_ratio"] = (df["recovered_in_horizon"] / over.where(over > 0)).fillna(0.0).clip(0, 1.5)
    return df.drop(columns=["closed_on"])


# ---------------------------------------------------------------- applications
APPLICATION_FEATURES = ["age", "annual_income", "multi_lending_count", "deposit_balance", "household_size",
                        "amount_requested", "segment", "credit_village_grade", "credit_household", "product_id"]
APPLICATION_CATEGORICAL = ["segment", "credit_village_grade", "credit_household", "product_id"]


def application_frame(conn: Connection, known_only: bool = True) -> pd.DataFrame:
    """Applications with APPLICATION_FEATURES, month, decision and ``bad`` (ever 90+ within 12 months on book;
    only approved applications whose outcome is known when ``known_only``)."""
    where = "WHERE a.decision = 'approved' AND a.outcome_known" if known_only else ""
    res = conn.execute(text(
        "SELECT a.id, a.month, a.decision, a.score AS bank_score, a.age, a.annual_income, a.multi_lending_count, "
        "a.deposit_balance, a.household_size, a.amount_requested, a.segment, "
        "COALESCE(a.credit_village_grade, 'none') AS credit_village_grade, "
        "CASE WHEN a.credit_household THEN 'yes' ELSE 'no' END AS credit_household, a.product_id, "
        "CASE WHEN a.bad_12m THEN 1 ELSE 0 END AS bad "
        f"FROM application a {where} ORDER BY a.month, a.id"))
    df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    for c in ("annual_income", "deposit_balance", "amount_requested"):
        df[c] = df[c].astype(float)
    df["product_id"] = df["product_id"].astype(str)
    return df
