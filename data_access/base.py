"""Shared pieces of the read functions: the filter bar's choices, month arithmetic, the marts' roll-up
rows and the reference lists (months, branches, townships, villages, products)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, and_, distinct, select

from . import schema as s
from .scope import Scope


@dataclass(frozen=True)
class Filters:
    """The filter bar's choices; ``None`` means all.

    With a township or village chosen, portfolio figures come from the village mart, which is not split
    by product or segment: those two filters then do not apply (the filter bar says so).
    """
    month: str
    branch_id: int | None = None
    product_id: int | None = None
    segment: str | None = None
    township_code: str | None = None
    village_code: str | None = None
    guarantee_type: str | None = None

    @property
    def geographic(self) -> bool:
        return self.township_code is not None or self.village_code is not None


def shift_month(month: str, n: int = -1) -> str:
    """'2026-01' shifted by ``n`` months: shift_month('2026-01') == '2025-12'."""
    idx = int(month[:4]) * 12 + int(month[5:7]) - 1 + n
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def _df(conn: Connection, stmt) -> pd.DataFrame:
    res = conn.execute(stmt)
    # plain tuples: pandas probes every Row object for attributes, which cost more than the query itself
    return pd.DataFrame(list(map(tuple, res.fetchall())), columns=list(res.keys()))


def _month_window(conn: Connection, last_month: str, n: int) -> list[str]:
    rows = conn.execute(select(s.dim_month.c.month).where(s.dim_month.c.month <= last_month)
                        .order_by(s.dim_month.c.month.desc()).limit(n)).scalars().all()
    return sorted(rows)


# ---------------------------------------------------------------- reference lists
def available_months(conn: Connection) -> list[str]:
    """Months that have marts, newest last."""
    return conn.execute(select(distinct(s.mart_branch.c.month)).order_by(s.mart_branch.c.month)).scalars().all()


def branches(conn: Connection, scope: Scope) -> pd.DataFrame:
    """Branches the user may see: id, code, name, county_code, lon, lat."""
    o = s.org_unit
    return _df(conn, select(o.c.id, o.c.code, o.c.name, o.c.county_code, o.c.lon, o.c.lat)
               .where(o.c.level == "branch", scope.branch_clause(o.c.id)).order_by(o.c.id))


def townships(conn: Connection, scope: Scope, branch_id: int | None = None) -> pd.DataFrame:
    """Townships the user may see (optionally of one branch): code, name, branch_id."""
    r, bt = s.region, s.branch_township
    conds = [r.c.level == "township", scope.branch_clause(bt.c.branch_id)]
    if branch_id is not None:
        conds.append(bt.c.branch_id == branch_id)
    return _df(conn, select(r.c.code, r.c.name, bt.c.branch_id).join(bt, bt.c.township_code == r.c.code)
               .where(*conds).order_by(r.c.code))


def villages(conn: Connection, scope: Scope, township_code: str) -> pd.DataFrame:
    """Villages of a township the user may see: code, name, credit_village_grade, whole_village_credit."""
    r, bt = s.region, s.branch_township
    allowed = select(bt.c.township_code).where(scope.branch_clause(bt.c.branch_id))
    return _df(conn, select(r.c.code, r.c.name, r.c.credit_village_grade, r.c.whole_village_credit)
               .where(r.c.level == "village", r.c.parent_code == township_code, r.c.parent_code.in_(allowed))
               .order_by(r.c.code))


def products(conn: Connection) -> pd.DataFrame:
    """Products: id, code, name, category, guarantee_type."""
    p = s.product
    return _df(conn, select(p.c.id, p.c.code, p.c.name, p.c.category, p.c.guarantee_type).order_by(p.c.id))


SEGMENTS = ("farmer", "grower", "business", "salaried")


# ---------------------------------------------------------------- mart rows (branch or whole-bank roll-up)
BANK = 0  # branch_id of the marts' whole-bank roll-up rows


def branch_rows(table, scope: Scope, branch_id: int | None = None):
    """Which mart rows answer a question: one branch's, the whole bank's roll-up row (branch_id 0) for users
    who see every branch, or the user's own branches' rows. The roll-up keeps whole-bank reads independent
    of the number of branches."""
    if branch_id is not None:
        return and_(table.c.branch_id == branch_id, table.c.branch_id != BANK, scope.branch_clause(table.c.branch_id))
    if scope.all_branches:
        return and_(table.c.branch_id == BANK, scope.branch_clause(table.c.branch_id))
    return and_(table.c.branch_id != BANK, scope.branch_clause(table.c.branch_id))


def each_branch(table, scope: Scope):
    """Per-branch rows the user may see (never the roll-up)."""
    return and_(table.c.branch_id != BANK, scope.branch_clause(table.c.branch_id))


GUARANTEE_TYPES = ("credit", "guarantee", "mortgage")


def _mart_filter(table, scope: Scope, f: Filters, product: bool = True):
    conds = [branch_rows(table, scope, f.branch_id)]
    if product and f.guarantee_type is not None:
        conds.append(table.c.product_id.in_(select(s.product.c.id).where(s.product.c.guarantee_type == f.guarantee_type)))
    if product and f.product_id is not None:
        conds.append(table.c.product_id == f.product_id)
    if product and f.segment is not None:
        conds.append(table.c.segment == f.segment)
    return and_(*conds)
