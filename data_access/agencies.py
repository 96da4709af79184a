"""The agency league (cross-agency recovery ranking, other agencies anonymised for an agency user)."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, select

from . import kpi, schema as s
from .base import BANK, _df, _month_window
from .scope import Scope


def agency_league(conn: Connection, scope: Scope, months: int = 12) -> pd.DataFrame:
    """Agencies ranked by recovery rate over the last ``months`` entry months.

    Whose figures, by role (DESIGN.md's roles): head office and strategy the whole bank's; a branch leader only
    the cases of their own branches (never bank-wide figures); an agency user the bank-wide league with its own
    name and every other agency anonymised, and nothing at all when its scope has no agency. Anyone else: nothing.
    Columns: rank, agency, is_me, cases, overdue_at_entry, recovered_amount, recovery_rate, kept_rate, complaints.
    """
    empty = pd.DataFrame(columns=["rank", "agency", "is_me", "cases", "overdue_at_entry", "recovered_amount",
                                  "recovery_rate", "kept_rate", "complaints"])
    mc, a = s.mart_collection, s.agency
    if scope.role in ("head_office", "strategy") or (scope.role == "agency" and scope.agency_id is not None):
        rows = mc.c.branch_id == BANK
    elif scope.role == "branch_leader" and scope.branch_ids:
        rows = scope.branch_clause(mc.c.branch_id)  # the branches' own rows, not the bank's total (branch 0)
    else:
        return empty
    last = conn.execute(select(func.max(mc.c.entry_month))).scalar()
    window = _month_window(conn, last, months) if last else []
    df = _df(conn, select(a.c.id, a.c.name, func.sum(mc.c.cases).label("cases"),
                          func.sum(mc.c.overdue_at_entry).label("overdue_at_entry"),
                          func.sum(mc.c.recovered_amount).label("recovered_amount"),
                          func.sum(mc.c.promised_cases).label("promised"), func.sum(mc.c.kept_cases).label("kept"),
                          func.sum(mc.c.complaints).label("complaints"))
             .join(mc, mc.c.agency_id == a.c.id).where(mc.c.entry_month.in_(window), rows)
             .group_by(a.c.id, a.c.name))
    df["recovery_rate"] = [kpi.ratio(r, o) for r, o in zip(df["recovered_amount"], df["overdue_at_entry"])]
    df["kept_rate"] = [kpi.promise_kept_rate(k, p) for k, p in zip(df["kept"], df["promised"])]
    df = df.sort_values("recovery_rate", ascending=False).reset_index(drop=True)
    df["rank"] = range(1, len(df) + 1)
    df["is_me"] = df["id"] == scope.agency_id
    if scope.role == "agency":
        df["agency"] = [n if me else f"机构 {chr(64 + r)}" for n, me, r in zip(df["name"], df["is_me"], df["rank"])]
    else:
        df["agency"] = df["name"]
    return df[["rank", "agency", "is_me", "cases", "overdue_at_entry", "recovered_amount", "recovery_rate",
               "kept_rate", "complaints"]]
