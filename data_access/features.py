"""Model inputs read from the database (no training here): behaviour features of the loans on the book.

One row per loan on the book at ``month`` with its recent history and, where the next three months are already
observed, the outcome the early-warning model predicts: reaching 30+ days past due (bucket M2 or worse) within
the next three months.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

from .queries import shift_month

BEHAVIOUR_FEATURES = ["dpd", "bucket", "mob", "max_dpd_6m", "months_delinquent_6m", "warnings_3m", "high_warnings_3m",
                      "balance", "amount", "annual_income", "multi_lending_count", "deposit_balance", "household_size",
                      "age", "credit_household", "village_grade", "segment", "product_id", "guarantee_type"]

_SQL = """
SELECT s.loan_id, l.customer_id, l.branch_id, l.manager_id, s.month, s.dpd, s.bucket, s.mob, s.balance, l.amount,
       c.annual_income, c.multi_lending_count, c.deposit_balance, c.household_size, c.birth_year,
       CASE WHEN c.credit_household THEN 1 ELSE 0 END AS credit_household,
       COALESCE(r.credit_village_grade, 'none') AS village_grade, l.segment, l.product_id, l.guarantee_type,
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
JOIN region r ON r.code = l.village_code
WHERE s.month = :month AND s.bucket <= 1
"""


def behaviour_frame(conn: Connection, month: str) -> pd.DataFrame:
    """Loans current or in M1 at ``month``: ids, BEHAVIOUR_FEATURES, and ``bad_3m`` (reached M2+ within three
    months; NaN when those months are not observed yet, or the loan closed without reaching it before)."""
    res = conn.execute(text(_SQL), {"month": month, "m6": shift_month(month, -5), "m3": shift_month(month, -2),
                                    "f3": shift_month(month, 3)})
    df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    if df.empty:
        return df
    df["age"] = int(month[:4]) - df["birth_year"].astype(int)
    df["bad_3m"] = (df["future_bucket"].fillna(-1) >= 2).astype(float)
    last_obs = conn.execute(text("SELECT MAX(month) FROM loan_snapshot")).scalar()
    if shift_month(month, 3) > last_obs:  # outcome window not complete yet
        df.loc[df["bad_3m"] == 0, "bad_3m"] = float("nan")
    return df.drop(columns=["birth_year", "future_bucket", "future_months"])
