"""Finding 11 (part): the agency league gives no caller more than its role may see. A branch leader gets the
league of their own branches' cases, never the bank's figures; an agency scope without an agency gets nothing;
head office gets the whole bank. Figures checked against the cases themselves."""
from __future__ import annotations

import dataclasses

from sqlalchemy import func, select

from data_access import schema as s
from data_access.agencies import agency_league
from data_access.base import _month_window
from data_access.scope import Scope, scope_for_user


def cases_by_agency(conn, branch_ids=None) -> dict[str, int]:
    """Outsourced cases of the league's window (the last 12 entry months), per agency name, counted from the
    cases table itself."""
    k, a = s.collection_case, s.agency
    last = conn.execute(select(func.max(s.mart_collection.c.entry_month))).scalar()
    q = (select(a.c.name, func.count()).join(a, a.c.id == k.c.agency_id)
         .where(k.c.entry_month.in_(_month_window(conn, last, 12))).group_by(a.c.name))
    if branch_ids is not None:
        q = q.where(k.c.branch_id.in_(sorted(branch_ids)))
    return {n: c for n, c in conn.execute(q).all()}


def test_a_branch_leader_gets_only_their_branches_cases(demo_engine):
    with demo_engine.connect() as conn:
        leader = scope_for_user(conn, "branch01")
        league = agency_league(conn, leader)
        own = cases_by_agency(conn, leader.branch_ids)
        bank = cases_by_agency(conn)
    assert own and sum(own.values()) < sum(bank.values())  # the bank has cases outside branch01
    assert dict(zip(league["agency"], league["cases"].astype(int))) == own


def test_head_office_gets_the_whole_bank(demo_engine):
    with demo_engine.connect() as conn:
        league = agency_league(conn, scope_for_user(conn, "hq_wang"))
        bank = cases_by_agency(conn)
    assert dict(zip(league["agency"], league["cases"].astype(int))) == bank


def test_an_agency_scope_without_an_agency_gets_nothing(demo_engine):
    with demo_engine.connect() as conn:
        agency = scope_for_user(conn, "agency1")
        assert agency.agency_id is not None and len(agency_league(conn, agency)) > 1
        assert agency_league(conn, dataclasses.replace(agency, agency_id=None)).empty
        assert agency_league(conn, Scope(username="x", role="branch_leader")).empty  # no branches: nothing
        assert agency_league(conn, scope_for_user(conn, "admin")).empty
