"""Row-level reads (customers, loans, cases, managers): scoped by ``Scope.row_clause`` / ``Scope.case_clause``
in SQL and masked through :func:`data_access.scope.mask_frame`."""
from __future__ import annotations

import re

import pandas as pd
from sqlalchemy import Connection, and_, case, func, or_, select

from . import schema as s
from .base import _df
from .scope import Scope, mask_frame


CUSTOMER_COLUMNS = [s.customer.c.id, s.customer.c.customer_no, s.customer.c.name, s.customer.c.id_number,
                    s.customer.c.phone, s.customer.c.address, s.customer.c.village_code, s.customer.c.branch_id,
                    s.customer.c.manager_id, s.customer.c.segment]


def search_customers(conn: Connection, scope: Scope, query: str, limit: int = 50) -> pd.DataFrame:
    """Customers in scope matching a customer number (or its prefix), a phone number, the last four
    characters of an ID number, a name, or a village name.

    The kind of query is read from its shape so that each uses an index (except the ID tail).
    Columns: id, customer_no, name, id_number, phone, address, village_code, branch_id, manager_id, segment,
    village. Personal columns are masked unless the scope may see PII.
    """
    from .text import clean
    c, r = s.customer, s.region
    q = clean(query, 64)
    cols = [col.name for col in CUSTOMER_COLUMNS] + ["village"]
    if not q:
        return pd.DataFrame(columns=cols)
    if re.fullmatch(r"[Cc]\d{3,}", q):
        q = q.upper()
        match = and_(c.c.customer_no >= q, c.c.customer_no < q + "\uffff")
    elif re.fullmatch(r"1\d{10}", q):
        match = c.c.phone == q
    elif re.fullmatch(r"\d{3}[\dXx]", q):
        match = c.c.id_number.like(f"%{q.upper()}")
    else:
        villages = select(r.c.code).where(r.c.name == q, r.c.level == "village")
        match = or_(c.c.name == q, c.c.village_code.in_(villages))
    stmt = (select(*CUSTOMER_COLUMNS, r.c.name.label("village")).join(r, r.c.code == c.c.village_code)
            .where(scope.row_clause(c.c.branch_id), match).order_by(c.c.id).limit(limit))
    return mask_frame(_df(conn, stmt), scope)


def customer_profile(conn: Connection, scope: Scope, customer_id: int) -> dict | None:
    """One customer's profile, or None when unknown or outside the caller's scope.

    Keys: every column of ``customer`` plus village, township, branch, manager, manager_phone.
    """
    c, r, t, o, m = s.customer, s.region, s.region.alias("t"), s.org_unit, s.manager
    stmt = (select(c, r.c.name.label("village"), t.c.name.label("township"), o.c.name.label("branch"),
                   m.c.name.label("manager"), m.c.phone.label("manager_phone"))
            .join(r, r.c.code == c.c.village_code).join(t, t.c.code == r.c.parent_code)
            .join(o, o.c.id == c.c.branch_id).outerjoin(m, m.c.id == c.c.manager_id)
            .where(c.c.id == customer_id, scope.row_clause(c.c.branch_id)))
    df = _df(conn, stmt)
    if df.empty:
        return None
    return mask_frame(df, scope).iloc[0].to_dict()


def customer_loans(conn: Connection, scope: Scope, customer_id: int) -> pd.DataFrame:
    """Loans of a customer in scope, with the latest snapshot.

    Columns: id, loan_no, product, amount, disbursed_on, maturity_on, status, balance, dpd, bucket, class5.
    """
    l, p, sn = s.loan, s.product, s.loan_snapshot
    sn2 = sn.alias("sn2")
    # correlated on the (loan_id, month) key: reads a customer's few snapshots, never the whole book
    last = select(func.max(sn2.c.month)).where(sn2.c.loan_id == l.c.id).scalar_subquery()
    closed = l.c.status != "active"
    # a closed loan's last snapshot is the month before it closed: show it as settled, not as still owed
    stmt = (select(l.c.id, l.c.loan_no, p.c.name.label("product"), l.c.amount, l.c.disbursed_on, l.c.maturity_on,
                   l.c.status, case((closed, 0.0), else_=sn.c.balance).label("balance"),
                   case((closed, 0), else_=sn.c.dpd).label("dpd"), case((closed, None), else_=sn.c.bucket).label("bucket"),
                   case((closed, None), else_=sn.c.class5).label("class5"))
            .join(p, p.c.id == l.c.product_id)
            .outerjoin(sn, and_(sn.c.loan_id == l.c.id, sn.c.month == last))
            .where(l.c.customer_id == customer_id, scope.row_clause(l.c.branch_id))
            .order_by(l.c.disbursed_on.desc()))
    return _df(conn, stmt)


def village_households(conn: Connection, scope: Scope, village_code: str, with_line: bool | None = None,
                       with_loan: bool | None = None, overdue: bool | None = None, warning: bool | None = None,
                       limit: int = 2000) -> pd.DataFrame:
    """Households of a village in scope, each filter None (any), True or False.

    Columns: id, customer_no, name, phone, segment, deposit_balance, credit_household, has_line, has_loan,
    balance (latest month), max_dpd (latest month), overdue, open_warnings.
    """
    c, cl, l, sn, w = s.customer, s.credit_line, s.loan, s.loan_snapshot, s.warning_signal
    last_month = select(func.max(sn.c.month)).scalar_subquery()
    has_line = select(func.count()).where(cl.c.customer_id == c.c.id, cl.c.status == "active").scalar_subquery() > 0
    has_loan = select(func.count()).where(l.c.customer_id == c.c.id, l.c.status == "active").scalar_subquery() > 0
    latest = (select(func.coalesce(func.sum(sn.c.balance), 0)).select_from(sn.join(l, l.c.id == sn.c.loan_id))
              .where(l.c.customer_id == c.c.id, sn.c.month == last_month).scalar_subquery())
    max_dpd = (select(func.coalesce(func.max(sn.c.dpd), 0)).select_from(sn.join(l, l.c.id == sn.c.loan_id))
               .where(l.c.customer_id == c.c.id, sn.c.month == last_month).scalar_subquery())
    warnings = select(func.count()).where(w.c.customer_id == c.c.id, w.c.status == "open").scalar_subquery()
    conds = [c.c.village_code == village_code, scope.row_clause(c.c.branch_id)]
    for flag, expr in ((with_line, has_line), (with_loan, has_loan), (overdue, max_dpd > 0), (warning, warnings > 0)):
        if flag is not None:
            conds.append(expr if flag else ~expr)
    stmt = (select(c.c.id, c.c.customer_no, c.c.name, c.c.phone, c.c.segment, c.c.deposit_balance,
                   c.c.credit_household, has_line.label("has_line"), has_loan.label("has_loan"),
                   latest.label("balance"), max_dpd.label("max_dpd"), (max_dpd > 0).label("overdue"),
                   warnings.label("open_warnings"))
            .where(*conds).order_by(max_dpd.desc(), c.c.id).limit(limit))
    df = _df(conn, stmt)
    for col in ("has_line", "has_loan", "overdue", "credit_household"):
        df[col] = df[col].astype(bool)
    return mask_frame(df, scope)


def loan_list(conn: Connection, scope: Scope, month: str, branch_id: int | None = None,
              village_code: str | None = None, min_bucket: int = 0, limit: int = 5000) -> pd.DataFrame:
    """Loans on the book in ``month`` for the drill-down to loan level.

    Columns: loan_id, loan_no, customer_no, name, branch_id, village_code, product_id, balance, dpd, bucket, class5.
    """
    sn, l, c = s.loan_snapshot, s.loan, s.customer
    conds = [sn.c.month == month, scope.row_clause(l.c.branch_id), sn.c.bucket >= min_bucket]
    if branch_id is not None:
        conds.append(l.c.branch_id == branch_id)
    if village_code is not None:
        conds.append(l.c.village_code == village_code)
    stmt = (select(l.c.id.label("loan_id"), l.c.loan_no, c.c.customer_no, c.c.name, l.c.branch_id, l.c.village_code,
                   l.c.product_id, sn.c.balance, sn.c.dpd, sn.c.bucket, sn.c.class5)
            .join(l, l.c.id == sn.c.loan_id).join(c, c.c.id == l.c.customer_id)
            .where(*conds).order_by(sn.c.balance.desc()).limit(limit))
    return mask_frame(_df(conn, stmt), scope)


def collection_cases(conn: Connection, scope: Scope, status: str | None = None, case_id: int | None = None,
                     limit: int = 2000) -> pd.DataFrame:
    """Collection cases in scope (agencies: only their own).

    Columns: id, case_no, entry_month, entry_bucket, entry_dpd, overdue_at_entry, channel, agency_id, status,
    recovered_amount, name, phone, address, id_number.
    """
    k, c = s.collection_case, s.customer
    conds = [scope.case_clause(k)]
    if status is not None:
        conds.append(k.c.status == status)
    if case_id is not None:
        conds.append(k.c.id == case_id)
    stmt = (select(k.c.id, k.c.case_no, k.c.entry_month, k.c.entry_bucket, k.c.entry_dpd, k.c.overdue_at_entry,
                   k.c.channel, k.c.agency_id, k.c.status, k.c.recovered_amount, c.c.name, c.c.phone, c.c.address,
                   c.c.id_number)
            .join(c, c.c.id == k.c.customer_id).where(*conds).order_by(k.c.entry_date.desc()).limit(limit))
    return mask_frame(_df(conn, stmt), scope)


def managers(conn: Connection, scope: Scope, month: str | None = None) -> pd.DataFrame:
    """Managers in scope with their month's figures from mart_manager.

    Columns: id, code, name, branch_id, customers, borrowers, balance, npl_balance, visits, check_ins.
    """
    m, mm = s.manager, s.mart_manager
    month = month or conn.execute(select(func.max(mm.c.month))).scalar()
    stmt = (select(m.c.id, m.c.code, m.c.name, m.c.branch_id, mm.c.customers, mm.c.borrowers, mm.c.balance,
                   mm.c.npl_balance, mm.c.visits, mm.c.check_ins)
            .outerjoin(mm, and_(mm.c.manager_id == m.c.id, mm.c.month == month))
            .where(scope.row_clause(m.c.branch_id)).order_by(m.c.id))
    return _df(conn, stmt)


ROW_FUNCTIONS = ("search_customers", "customer_profile", "customer_loans", "village_households", "loan_list",
                 "collection_cases", "managers", "top_borrowers", "open_signals", "work_by_manager", "pending_tasks")
