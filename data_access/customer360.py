"""Customer 360 (客户360): every fact about one household, read only when the customer is in the caller's scope.

``customer_360`` first resolves the customer inside the scope's SQL clause; when that finds nothing it returns
None, so a customer of another branch and an unknown number look the same to the caller ("not found or not
permitted"). All parts are then read by that customer's id.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, and_, func, select

from . import schema as s
from .geo import haversine_m
from .queries import customer_loans, customer_profile
from .scope import Scope, mask_frame

VISIT_NEAR_M = 500  # a visit logged within this distance of the home counts as "at the home"


def _df(conn, stmt) -> pd.DataFrame:
    res = conn.execute(stmt)
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def resolve(conn: Connection, scope: Scope, customer_no: str | None = None, customer_id: int | None = None) -> int | None:
    """The id of a customer in scope by number or id; None when unknown or not permitted."""
    from .text import clean
    c = s.customer
    cond = c.c.customer_no == clean(customer_no, 20).upper() if customer_no else c.c.id == customer_id
    return conn.execute(select(c.c.id).where(cond, scope.row_clause(c.c.branch_id))).scalar()


def customer_360(conn: Connection, scope: Scope, customer_id: int) -> dict | None:
    """Everything about one customer in scope, or None. Keys and their frames' columns:

    profile (dict: customer columns, village, township, branch, manager, manager_phone), village_geometry (GeoJSON
    text of the customer's village), members (name, relation,
    birth_year, occupation), tags (tag_type, tag), lines (id, product, limit_amount, granted_on, expires_on, status,
    used), loans (see queries.customer_loans), snapshots (loan_no, month, balance, dpd, bucket, class5),
    repayments (loan_no, paid_on, principal, interest, collected), applications (applied_on, product, score,
    decision, approved_amount), behaviour_scores (month, model, score), warnings (raised_on, signal_type,
    severity, status, detail), tasks (created_on, task_type, trigger, due_on, completed_on, status, result, manager),
    cases (id, case_no, entry_month, entry_bucket, channel, agency, status, overdue_at_entry, recovered_amount),
    actions (case_no, action_on, channel, contacted, promise_amount, promise_kept, result),
    visits (event_at, event_type, manager, distance_m, near_home).
    """
    profile = customer_profile(conn, scope, customer_id)
    if profile is None:
        return None
    cid = customer_id
    p, l, sn = s.product, s.loan, s.loan_snapshot
    out: dict = {"profile": profile}
    out["village_geometry"] = conn.execute(select(s.region.c.geometry)
                                           .where(s.region.c.code == profile["village_code"])).scalar()
    out["members"] = mask_frame(_df(conn, select(s.household_member.c.name, s.household_member.c.relation,
                                                 s.household_member.c.birth_year, s.household_member.c.occupation)
                                    .where(s.household_member.c.customer_id == cid)), scope)
    out["tags"] = _df(conn, select(s.customer_tag.c.tag_type, s.customer_tag.c.tag)
                      .where(s.customer_tag.c.customer_id == cid).order_by(s.customer_tag.c.tag_type))
    cl = s.credit_line
    used = (select(func.coalesce(func.sum(sn.c.balance), 0)).select_from(sn.join(l, l.c.id == sn.c.loan_id))
            .where(l.c.credit_line_id == cl.c.id,
                   sn.c.month == select(func.max(sn.c.month)).scalar_subquery()).scalar_subquery())
    out["lines"] = _df(conn, select(cl.c.id, p.c.name.label("product"), cl.c.limit_amount, cl.c.granted_on,
                                    cl.c.expires_on, cl.c.status, cl.c.whole_village, used.label("used"))
                       .join(p, p.c.id == cl.c.product_id).where(cl.c.customer_id == cid))
    out["loans"] = customer_loans(conn, scope, cid)
    out["snapshots"] = _df(conn, select(l.c.loan_no, sn.c.month, sn.c.balance, sn.c.dpd, sn.c.bucket, sn.c.class5)
                           .join(l, l.c.id == sn.c.loan_id).where(l.c.customer_id == cid).order_by(sn.c.month))
    r = s.repayment
    out["repayments"] = _df(conn, select(l.c.loan_no, r.c.paid_on, r.c.principal, r.c.interest,
                                         r.c.case_id.is_not(None).label("collected"))
                            .join(l, l.c.id == r.c.loan_id).where(l.c.customer_id == cid)
                            .order_by(r.c.paid_on.desc()))
    a = s.application
    out["applications"] = _df(conn, select(a.c.applied_on, p.c.name.label("product"), a.c.score, a.c.decision,
                                           a.c.approved_amount).join(p, p.c.id == a.c.product_id)
                              .where(a.c.customer_id == cid).order_by(a.c.applied_on))
    ms, mr = s.model_score, s.model_registry
    out["behaviour_scores"] = _df(conn, select(ms.c.month, mr.c.name.label("model"), func.avg(ms.c.score).label("score"))
                                  .join(mr, mr.c.id == ms.c.model_id).join(l, l.c.id == ms.c.loan_id)
                                  .where(l.c.customer_id == cid).group_by(ms.c.month, mr.c.name).order_by(ms.c.month))
    w = s.warning_signal
    out["warnings"] = _df(conn, select(w.c.raised_on, w.c.signal_type, w.c.severity, w.c.status, w.c.detail)
                          .where(w.c.customer_id == cid).order_by(w.c.raised_on.desc()))
    t, m = s.postloan_task, s.manager
    out["tasks"] = _df(conn, select(t.c.created_on, t.c.task_type, t.c.trigger, t.c.due_on, t.c.completed_on,
                                    t.c.status, t.c.result, m.c.name.label("manager"))
                       .outerjoin(m, m.c.id == t.c.manager_id).where(t.c.customer_id == cid)
                       .order_by(t.c.created_on.desc()))
    k, ag = s.collection_case, s.agency
    out["cases"] = _df(conn, select(k.c.id, k.c.case_no, k.c.entry_month, k.c.entry_bucket, k.c.channel,
                                    ag.c.name.label("agency"), k.c.status, k.c.overdue_at_entry, k.c.recovered_amount)
                       .outerjoin(ag, ag.c.id == k.c.agency_id).where(k.c.customer_id == cid)
                       .order_by(k.c.entry_month.desc()))
    ca = s.collection_action
    out["actions"] = _df(conn, select(k.c.case_no, ca.c.action_on, ca.c.channel, ca.c.contacted, ca.c.promise_amount,
                                      ca.c.promise_kept, ca.c.result).join(k, k.c.id == ca.c.case_id)
                         .where(k.c.customer_id == cid).order_by(ca.c.action_on.desc()))
    e = s.activity_event
    near = []
    if profile.get("lon") is not None and profile.get("manager_id") is not None:
        # the responsible manager's check-ins within about 500 m of the home (a box, refined by distance below)
        dlat, dlon = 0.0045, 0.0055
        near = [and_(e.c.manager_id == profile["manager_id"], e.c.event_type == "check_in",
                     e.c.lat.between(profile["lat"] - dlat, profile["lat"] + dlat),
                     e.c.lon.between(profile["lon"] - dlon, profile["lon"] + dlon))]
    # two indexed reads (by customer; by manager and time) rather than one OR that would scan every event
    cols = [e.c.event_at, e.c.event_type, m.c.name.label("manager"), e.c.lon, e.c.lat]
    visits = pd.concat([_df(conn, select(*cols).join(m, m.c.id == e.c.manager_id).where(cond).limit(200))
                        for cond in [e.c.customer_id == cid, *near]], ignore_index=True)
    visits = visits.sort_values("event_at", ascending=False).reset_index(drop=True)
    if not visits.empty and profile.get("lon") is not None:
        d = haversine_m(visits["lon"].astype(float), visits["lat"].astype(float), profile["lon"], profile["lat"])
        visits["distance_m"] = pd.Series(d).round(0)
    else:
        visits["distance_m"] = pd.Series(dtype=float)
    visits["near_home"] = visits["distance_m"] <= VISIT_NEAR_M
    out["visits"] = visits.drop(columns=["lon", "lat"])
    return out


def latest_inspection(parts: dict) -> dict | None:
    """The most recent completed post-loan task, for the report."""
    done = parts["tasks"][parts["tasks"]["status"] == "done"]
    return None if done.empty else done.sort_values("completed_on").iloc[-1].to_dict()
