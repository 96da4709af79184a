"""Scope-leak matrix: no role reaches rows outside its scope, whatever ids it passes."""
from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from data_access import queries, schema as s
from data_access.scope import NOBODY, mask_address, mask_id_number, mask_name, mask_phone, scope_for_user


@pytest.fixture(scope="module")
def world(demo_engine):
    """Two branches A and B, a customer/loan/village/case of each, and the scopes of every role."""
    with demo_engine.connect() as conn:
        b = conn.execute(select(s.org_unit.c.id).where(s.org_unit.c.level == "branch").order_by(s.org_unit.c.id)).scalars().all()
        a_id, b_id = b[0], b[1]
        def pick(branch):
            cust = conn.execute(select(s.customer.c.id, s.customer.c.customer_no, s.customer.c.village_code,
                                       s.customer.c.phone).join(s.loan, s.loan.c.customer_id == s.customer.c.id)
                                .where(s.customer.c.branch_id == branch).limit(1)).first()
            case = conn.execute(select(s.collection_case.c.id, s.collection_case.c.agency_id)
                                .where(s.collection_case.c.branch_id == branch,
                                       s.collection_case.c.agency_id.is_not(None)).limit(1)).first()
            return dict(customer_id=cust[0], customer_no=cust[1], village=cust[2], phone=cust[3], case=case)
        month = queries.available_months(conn)[-1]
        scopes = {u: scope_for_user(conn, u) for u in
                  ("hq_wang", "hq_li", "branch01", "branch02", "strategy_chen", "agency1", "agency2", "admin")}
        a, b_ = pick(a_id), pick(b_id)
        # a month in which both branches had post-loan tasks
        task_month = conn.execute(select(s.postloan_task.c.month).where(s.postloan_task.c.branch_id.in_([a_id, b_id]))
                                  .group_by(s.postloan_task.c.month)
                                  .having(func.count(func.distinct(s.postloan_task.c.branch_id)) == 2)
                                  .order_by(s.postloan_task.c.month.desc()).limit(1)).scalar()
    return dict(A=a_id, B=b_id, a=a, b=b_, month=month, task_month=task_month, scopes=scopes)


def _row_calls(world, target):
    """Every scoped row function, asked for the target's ids."""
    t = world[target]
    branch = world["A"] if target == "a" else world["B"]
    return {
        "search_customers": lambda c, sc: queries.search_customers(c, sc, t["customer_no"]),
        "customer_profile": lambda c, sc: queries.customer_profile(c, sc, t["customer_id"]),
        "customer_loans": lambda c, sc: queries.customer_loans(c, sc, t["customer_id"]),
        "village_households": lambda c, sc: queries.village_households(c, sc, t["village"]),
        "loan_list": lambda c, sc: queries.loan_list(c, sc, world["month"], branch_id=branch),
        "collection_cases": lambda c, sc: queries.collection_cases(c, sc, case_id=t["case"][0]),
        "managers": lambda c, sc: queries.managers(c, sc).query(f"branch_id == {branch}"),
        "top_borrowers": lambda c, sc: queries.top_borrowers(c, sc, world["month"], branch_id=branch),
        "open_signals": lambda c, sc: queries.open_signals(c, sc, branch_id=branch, status=None),
        "work_by_manager": lambda c, sc: queries.work_by_manager(c, sc, world["task_month"], branch_id=branch),
        "pending_tasks": lambda c, sc: queries.pending_tasks(c, sc, branch_id=branch),
    }


def _empty(result) -> bool:
    return result is None or (isinstance(result, pd.DataFrame) and result.empty)


def test_every_row_function_is_in_the_matrix(world):
    assert set(_row_calls(world, "a")) == set(queries.ROW_FUNCTIONS)


@pytest.mark.parametrize("fn", queries.ROW_FUNCTIONS)
def test_branch_leader_sees_own_branch_only(demo_engine, world, fn):
    leader = world["scopes"]["branch01"]
    assert leader.branch_ids == frozenset({world["A"]})
    with demo_engine.connect() as conn:
        own = _row_calls(world, "a")[fn](conn, leader)
        other = _row_calls(world, "b")[fn](conn, leader)
    assert not _empty(own), f"{fn}: a branch leader must see their own branch"
    assert _empty(other), f"{fn}: a branch leader reached another branch's rows"


@pytest.mark.parametrize("user", ["strategy_chen", "admin", "nobody"])
@pytest.mark.parametrize("fn", queries.ROW_FUNCTIONS)
def test_roles_without_row_access_see_nothing(demo_engine, world, user, fn):
    sc = NOBODY if user == "nobody" else world["scopes"][user]
    with demo_engine.connect() as conn:
        for target in ("a", "b"):
            assert _empty(_row_calls(world, target)[fn](conn, sc)), f"{user} reached rows through {fn}"


@pytest.mark.parametrize("fn", [f for f in queries.ROW_FUNCTIONS if f != "collection_cases"])
def test_agency_sees_no_customer_rows(demo_engine, world, fn):
    with demo_engine.connect() as conn:
        for target in ("a", "b"):
            assert _empty(_row_calls(world, target)[fn](conn, world["scopes"]["agency1"]))


def test_agency_sees_only_its_own_cases(demo_engine, world):
    with demo_engine.connect() as conn:
        ag1 = world["scopes"]["agency1"]
        mine = queries.collection_cases(conn, ag1)
        assert not mine.empty and set(mine["agency_id"]) == {ag1.agency_id}
        foreign = conn.execute(select(s.collection_case.c.id).where(s.collection_case.c.agency_id == 2)).scalars().all()
        assert foreign
        for cid in foreign[:20]:
            assert queries.collection_cases(conn, ag1, case_id=cid).empty
        # and what it does see is masked
        assert mine["name"].str.contains(r"\*").all()
        assert mine["phone"].str.contains(r"\*\*\*\*").all()


def test_head_office_sees_everything(demo_engine, world):
    with demo_engine.connect() as conn:
        for target in ("a", "b"):
            for fn, call in _row_calls(world, target).items():
                assert not _empty(call(conn, world["scopes"]["hq_wang"])), fn


def test_pii_masked_unless_allowed(demo_engine, world):
    with demo_engine.connect() as conn:
        full = queries.customer_profile(conn, world["scopes"]["hq_wang"], world["a"]["customer_id"])
        masked = queries.customer_profile(conn, world["scopes"]["hq_li"], world["a"]["customer_id"])
    assert full["phone"] == world["a"]["phone"]
    assert masked["phone"] != full["phone"] and masked["phone"].endswith(full["phone"][-4:])
    assert masked["name"][0] == full["name"][0] and "*" in masked["name"]
    assert masked["id_number"].endswith(full["id_number"][-4:]) and masked["id_number"].startswith("*")
    assert "组" not in masked["address"]


def test_aggregates_scoped_to_branch(demo_engine, world):
    with demo_engine.connect() as conn:
        leader = world["scopes"]["branch01"]
        f_other = queries.Filters(month=world["month"], branch_id=world["B"])
        assert queries.portfolio_trend(conn, leader, f_other).empty
        league = queries.branch_league(conn, leader, world["month"])
        assert list(league["branch_id"]) == [world["A"]]
        assert set(queries.branches(conn, leader)["id"]) == {world["A"]}
        assert queries.portfolio_trend(conn, world["scopes"]["agency1"], queries.Filters(month=world["month"])).empty
        assert queries.portfolio_trend(conn, NOBODY, queries.Filters(month=world["month"])).empty
        strategy = queries.portfolio_trend(conn, world["scopes"]["strategy_chen"], queries.Filters(month=world["month"]))
        hq = queries.portfolio_trend(conn, world["scopes"]["hq_wang"], queries.Filters(month=world["month"]))
        assert strategy["balance"].sum() == pytest.approx(hq["balance"].sum()) and hq["balance"].sum() > 0


def test_disabled_or_unknown_user_gets_nobody(demo_engine):
    from data_access.users import set_active
    with demo_engine.begin() as conn:
        assert scope_for_user(conn, "no_such_user") == NOBODY
        set_active(conn, "hq_li", False)
        assert scope_for_user(conn, "hq_li") == NOBODY
        set_active(conn, "hq_li", True)
        assert scope_for_user(conn, "hq_li").role == "head_office"


@pytest.mark.parametrize("fn,value,expected", [
    (mask_name, "张三丰", "张**"), (mask_name, "李四", "李*"), (mask_phone, "13812345678", "138****5678"),
    (mask_id_number, "32032419900101123X", "**************123X"),
    (mask_address, "江苏省徐州市睢宁县双沟镇王庄村3组12号", "江苏省徐州市睢宁县双沟镇王庄村****")])
def test_maskers(fn, value, expected):
    assert fn(value) == expected


def _case_calls(case_id):
    from data_access import collections as dc
    return {
        "case_detail": lambda c, sc: dc.case_detail(c, sc, case_id),
        "case_actions": lambda c, sc: dc.case_actions(c, sc, case_id),
        "my_cases": lambda c, sc: dc.my_cases(c, sc, status=None, limit=100_000).query(f"id == {case_id}"),
    }


def test_every_collection_row_function_is_in_the_matrix():
    from data_access import collections as dc
    assert set(_case_calls(0)) == set(dc.ROW_FUNCTIONS)


@pytest.mark.parametrize("fn", ["case_detail", "case_actions", "my_cases"])
def test_collection_cases_by_branch_and_agency(demo_engine, world, fn):
    """Every agency reaches exactly its own cases and a branch leader its branch's, whichever case id is asked."""
    with demo_engine.connect() as conn:
        cases = conn.execute(select(s.collection_case.c.id, s.collection_case.c.agency_id, s.collection_case.c.branch_id)
                             .where(s.collection_case.c.agency_id.is_not(None),
                                    # the demo's worked cases, each with actions (an allocation run in another
                                    # test may have added fresh cases that have none yet)
                                    s.collection_case.c.allocation_run_id.is_(None))
                             .order_by(s.collection_case.c.id.desc()).limit(60)).all()
        assert {c.agency_id for c in cases} >= {1, 2}
        for case_id, agency_id, branch_id in cases:
            call = _case_calls(case_id)[fn]
            for user in ("agency1", "agency2"):
                sc = world["scopes"][user]
                assert _empty(call(conn, sc)) == (sc.agency_id != agency_id), (fn, user, case_id)
            leader = world["scopes"]["branch01"]
            assert _empty(call(conn, leader)) == (branch_id not in leader.branch_ids), (fn, case_id)
            for user in ("strategy_chen", "admin"):
                assert _empty(call(conn, world["scopes"][user])), (fn, user, case_id)
            assert _empty(call(conn, NOBODY))
