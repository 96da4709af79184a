"""Negotiated repayment plans (协商还款, #19 part 3): judged against payments worked out by hand, refused inputs,
reach (an agency never sees or makes a plan on another agency's case), the nightly evaluation and the summary.

The bank is ``test_collections``' fixture (branch 2; cases 5 on loan 5, agency 1, M3, open; 10 on loan 3, agency 2,
M3, open; 7 on loan 4, litigation, M4+, open; 6 cured; 9 pending). Grace 3 days (the default). Plans agreed
2026-03-10:

| plan | case | instalments (due: amount)                      | payments on the loan                      | as of      | verdict |
|------|------|------------------------------------------------|-------------------------------------------|------------|---------|
| A    | 5    | 04-10: 300, 05-10: 300, 06-10: 400 (1000)       | 04-08 300, 05-12 300 (grace), 06-10 400    | 06-30      | kept 06-10 |
| B    | 10   | 04-15: 200, 05-15: 200, 06-15: 100 (500)        | 04-15 200, then nothing                   | 05-18 / 05-19 | active (grace ends 05-18) / broken 05-19 at 2, 3 void |
| C    | 7    | 04-01: 500, 05-01: 500 (1000)                   | 03-31 300, 04-03 100 (partial, 400 of 500) | 04-02 / 04-05 | active, 300 paid on 1 / broken at 1 with 400 paid |

Case 5's cap: loan 5's newest snapshot (March) balance 5000 + overdue 100 = 5100.
"""
from __future__ import annotations

import datetime as dt
import math

import pytest
from sqlalchemy import func, insert, select

from data_access import collections as dc, marts, plans, schema as s
from data_access.scope import Scope
from tests.test_collections import AG1, AG2, HQ, LEADER, OTHER_LEADER, STRATEGY, load_collections

D = dt.date
AGREED = D(2026, 3, 10)
PLAN_A = [(D(2026, 4, 10), 300.0), (D(2026, 5, 10), 300.0), (D(2026, 6, 10), 400.0)]
PLAN_B = [(D(2026, 4, 15), 200.0), (D(2026, 5, 15), 200.0), (D(2026, 6, 15), 100.0)]
PLAN_C = [(D(2026, 4, 1), 500.0), (D(2026, 5, 1), 500.0)]
PAYMENTS = [(5, D(2026, 4, 8), 300), (5, D(2026, 5, 12), 300), (5, D(2026, 6, 10), 400),
            (3, D(2026, 4, 15), 200),
            (4, D(2026, 3, 31), 300), (4, D(2026, 4, 3), 100),
            (5, D(2026, 3, 1), 999)]  # before plan A's start: not counted


@pytest.fixture
def bank(empty_engine):
    with empty_engine.begin() as conn:
        load_collections(conn)
    return empty_engine


def _pay(conn, rows):
    conn.execute(insert(s.repayment), [dict(loan_id=loan, paid_on=d, month=d.strftime("%Y-%m"), principal=a * 0.9,
                                            interest=a * 0.1, case_id=None) for loan, d, a in rows])


def _agree_all(conn):
    a = plans.propose(conn, AG1, 5, PLAN_A, "debtor", "卖粮后分三期", agreed_on=AGREED)
    b = plans.propose(conn, AG2, 10, PLAN_B, "guarantor", agreed_on=AGREED)
    c = plans.propose(conn, HQ, 7, PLAN_C, agreed_on=AGREED)
    return a, b, c


def _plan(conn, plan_id):
    return conn.execute(select(s.repayment_plan).where(s.repayment_plan.c.id == plan_id)).mappings().one()


def _inst(conn, plan_id):
    i = s.repayment_plan_instalment
    return [dict(r) for r in conn.execute(select(i.c.seq, i.c.status, i.c.paid_amount, i.c.covered_on)
                                          .where(i.c.plan_id == plan_id).order_by(i.c.seq)).mappings()]


# ---------------------------------------------------------------- judged by hand
def test_a_plan_kept_by_hand(bank):
    with bank.begin() as conn:
        a, _, _ = _agree_all(conn)
        _pay(conn, PAYMENTS)
        plans.evaluate(conn, D(2026, 6, 30))
        p = _plan(conn, a)
        assert p["status"] == "kept" and p["closed_on"] == D(2026, 6, 10) and p["broken_seq"] is None
        assert p["paid_amount"] == pytest.approx(1000) and p["total_amount"] == pytest.approx(1000)
        assert [(x["status"], x["paid_amount"], x["covered_on"]) for x in _inst(conn, a)] == [
            ("kept", 300, D(2026, 4, 8)), ("kept", 300, D(2026, 5, 12)), ("kept", 400, D(2026, 6, 10))]
        assert p["agreed_by"] == "agency1" and p["agency_id"] == 1 and p["debtor_party"] == "debtor"
        assert p["grace_days"] == 3 and p["source"] == "app"
        log = conn.execute(select(s.audit_log.c.action, s.audit_log.c.target, s.audit_log.c.username)
                           .order_by(s.audit_log.c.id)).all()
        assert ("repayment_plan_agreed", "case:5", "agency1") in log
        assert ("repayment_plan_kept", "case:5", "system") in log


def test_a_plan_broken_by_a_missed_instalment_returns_the_case_to_collection(bank):
    with bank.begin() as conn:
        _, b, _ = _agree_all(conn)
        _pay(conn, PAYMENTS)
        plans.evaluate(conn, D(2026, 5, 18))  # instalment 2's grace ends on 05-18: not missed yet
        assert _plan(conn, b)["status"] == "active"
        assert [x["status"] for x in _inst(conn, b)] == ["kept", "pending", "pending"]
        work = dc.my_cases(conn, AG2, status="open").set_index("id")
        assert work.loc[10, "plan_status"] == "active"
        plans.evaluate(conn, D(2026, 5, 19))
        p = _plan(conn, b)
        assert (p["status"], p["broken_seq"], p["closed_on"]) == ("broken", 2, D(2026, 5, 19))
        assert p["paid_amount"] == pytest.approx(200)
        assert [x["status"] for x in _inst(conn, b)] == ["kept", "missed", "void"]
        # back in ordinary collection: still open, on the agency's work list flagged as a broken plan
        work = dc.my_cases(conn, AG2, status="open").set_index("id")
        assert work.loc[10, "status"] == "open" and work.loc[10, "plan_status"] == "broken"
        row = conn.execute(select(s.audit_log.c.detail).where(s.audit_log.c.action == "repayment_plan_broken",
                                                              s.audit_log.c.target == "case:10")).scalar_one()
        assert '"instalment": 2' in row and '"due_on": "2026-05-15"' in row
        # final: a late payment does not mend it, and a second evaluation writes no second audit row
        _pay(conn, [(3, D(2026, 5, 20), 300)])
        plans.evaluate(conn, D(2026, 6, 30))
        assert _plan(conn, b)["status"] == "broken"
        assert conn.execute(select(func.count()).select_from(s.audit_log)
                            .where(s.audit_log.c.action == "repayment_plan_broken",
                                   s.audit_log.c.target == "case:10")).scalar_one() == 1
        # the case may have a new plan now that the broken one is over
        plans.propose(conn, AG2, 10, [(D(2026, 7, 1), 100.0)], agreed_on=D(2026, 6, 20))


def test_a_partial_payment_is_shown_and_then_misses(bank):
    with bank.begin() as conn:
        _, _, c = _agree_all(conn)
        _pay(conn, PAYMENTS)
        plans.evaluate(conn, D(2026, 4, 2))
        assert _inst(conn, c)[0]["status"] == "pending" and _inst(conn, c)[0]["paid_amount"] == pytest.approx(300)
        assert _plan(conn, c)["paid_amount"] == pytest.approx(300)
        plans.evaluate(conn, D(2026, 4, 5))
        p = _plan(conn, c)
        assert (p["status"], p["broken_seq"], p["closed_on"]) == ("broken", 1, D(2026, 4, 5))
        assert [(x["status"], x["paid_amount"]) for x in _inst(conn, c)] == [("missed", 400), ("void", 0)]


@pytest.mark.parametrize("paid_on,status", [(D(2026, 3, 13), "kept"), (D(2026, 3, 14), "broken")])
def test_grace_day_boundary(paid_on, status):
    """Due 03-10, 3 days' grace: paid 03-13 is on time, 03-14 a day late."""
    j = plans.judge(D(2026, 3, 1), 3, [(1, D(2026, 3, 10), 100.0)], [(paid_on, 100.0)], D(2026, 3, 31))
    assert j.status == status
    assert j.closed_on == (D(2026, 3, 13) if status == "kept" else D(2026, 3, 14))


def test_grace_zero_and_the_as_of_day():
    inst = [(1, D(2026, 3, 10), 100.0)]
    assert plans.judge(D(2026, 3, 1), 0, inst, [(D(2026, 3, 11), 100.0)], D(2026, 3, 31)).status == "broken"
    # the deadline's own day is not over in the data: pending, not missed
    assert plans.judge(D(2026, 3, 1), 0, inst, [], D(2026, 3, 10)).status == "active"
    assert plans.judge(D(2026, 3, 1), 0, inst, [], D(2026, 3, 11)).status == "broken"


def test_an_early_or_larger_payment_counts_towards_the_next_instalment():
    inst = [(1, D(2026, 4, 10), 100.0), (2, D(2026, 5, 10), 100.0), (3, D(2026, 6, 10), 100.0)]
    j = plans.judge(D(2026, 4, 1), 3, inst, [(D(2026, 4, 2), 250.0)], D(2026, 5, 31))
    assert j.status == "active" and [i["status"] for i in j.instalments] == ["kept", "kept", "pending"]
    assert [i["paid_amount"] for i in j.instalments] == [100, 100, 50]
    # the third then misses: 50 of 100 by 06-13
    j = plans.judge(D(2026, 4, 1), 3, inst, [(D(2026, 4, 2), 250.0)], D(2026, 6, 14))
    assert (j.status, j.broken_seq, j.paid_amount) == ("broken", 3, 250)


def test_the_setting_sets_the_grace_days(bank, monkeypatch):
    monkeypatch.setenv("COCKPIT_PLAN_GRACE_DAYS", "0")
    with bank.begin() as conn:
        a = plans.propose(conn, AG1, 5, PLAN_A, agreed_on=AGREED)
        _pay(conn, PAYMENTS)
        plans.evaluate(conn, D(2026, 6, 30))
        p = _plan(conn, a)
        assert p["grace_days"] == 0 and (p["status"], p["broken_seq"]) == ("broken", 2)  # 05-12 is two days late
    monkeypatch.setenv("COCKPIT_PLAN_GRACE_DAYS", "31")
    from data_access.config import ConfigError
    with pytest.raises(ConfigError):
        plans.grace_days()


# ---------------------------------------------------------------- refused inputs
@pytest.mark.parametrize("scope,case_id,inst,kw,key", [
    (AG1, 5, [(D(2026, 4, 10), 0.0)], {}, "plan.err_amount"),
    (AG1, 5, [(D(2026, 4, 10), -5.0)], {}, "plan.err_amount"),
    (AG1, 5, [(D(2026, 4, 10), math.nan)], {}, "plan.err_amount"),
    (AG1, 5, [(D(2026, 4, 10), math.inf)], {}, "plan.err_amount"),
    (AG1, 5, [(D(2026, 4, 10), 0.004)], {}, "plan.err_amount"),
    (AG1, 5, [(D(2026, 4, 10), True)], {}, "plan.err_amount"),
    (AG1, 5, [(D(2026, 4, 10), 100.0), (D(2026, 4, 10), 100.0)], {}, "plan.err_dates"),
    (AG1, 5, [(D(2026, 5, 10), 100.0), (D(2026, 4, 10), 100.0)], {}, "plan.err_dates"),
    (AG1, 5, [(D(2026, 3, 9), 100.0)], {}, "plan.err_dates"),
    (AG1, 5, [(None, 100.0)], {}, "plan.err_due_missing"),
    (AG1, 5, [(D(2028, 3, 11), 100.0)], {}, "plan.err_horizon"),
    (AG1, 5, [(D(2026, 4, 10), 5000.0), (D(2026, 5, 10), 100.01)], {}, "plan.err_total"),
    (AG1, 5, [], {}, "plan.err_count"),
    (AG1, 5, [(D(2026, 4, 10), 100.0)], {"debtor_party": "family"}, "plan.err_party"),
    (AG1, 5, [(D(2026, 4, 10), 100.0)], {"agreed_on": D(2026, 3, 2)}, "plan.err_agreed_on"),
    (AG1, 5, [(D(2026, 4, 10), 100.0)], {"agreed_on": dt.date.today() + dt.timedelta(days=1)}, "plan.err_agreed_on"),
    (AG1, 5, [(D(2026, 4, 10), 100.0)], {"note": "长" * 257}, "plan.err_note"),
    (HQ, 6, [(D(2026, 4, 10), 10.0)], {}, "plan.err_closed"),
    (HQ, 9, [(D(2026, 4, 10), 10.0)], {}, "plan.err_case"),       # pending: not allocated yet
    (STRATEGY, 5, [(D(2026, 4, 10), 10.0)], {}, "plan.err_role"),
    (AG1, 10, [(D(2026, 4, 10), 10.0)], {}, "plan.err_case"),     # agency 2's case
    (OTHER_LEADER, 5, [(D(2026, 4, 10), 10.0)], {}, "plan.err_case"),
])
def test_refused_inputs_write_nothing(bank, scope, case_id, inst, kw, key):
    kw = {"agreed_on": AGREED, **kw}
    with bank.begin() as conn:
        with pytest.raises(plans.PlanError) as exc:
            plans.propose(conn, scope, case_id, inst, **kw)
        assert exc.value.key == key
        assert exc.value.denied == (key == "plan.err_case")
        assert conn.execute(select(func.count()).select_from(s.repayment_plan)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(s.repayment_plan_instalment)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(s.audit_log)).scalar_one() == 0


def test_the_limits_themselves_pass(bank):
    """The last day of the 24-month horizon and a total of exactly the cap are accepted; a second active plan is
    refused; a branch leader may agree one on a case of their branch."""
    with bank.begin() as conn:
        plans.propose(conn, AG1, 5, [(AGREED, 5000.0), (D(2028, 3, 10), 100.0)], agreed_on=AGREED)
        with pytest.raises(plans.PlanError) as exc:
            plans.propose(conn, AG1, 5, [(D(2026, 4, 10), 10.0)], agreed_on=AGREED)
        assert exc.value.key == "plan.err_active"
        plans.propose(conn, LEADER, 7, [(D(2026, 4, 10), 10.0)], agreed_on=AGREED)


def test_the_horizon_setting(bank, monkeypatch):
    monkeypatch.setenv("COCKPIT_PLAN_MAX_MONTHS", "6")
    with bank.begin() as conn:
        with pytest.raises(plans.PlanError) as exc:
            plans.propose(conn, AG1, 5, [(D(2026, 9, 11), 10.0)], agreed_on=AGREED)
        assert exc.value.key == "plan.err_horizon" and exc.value.values["months"] == 6
        plans.propose(conn, AG1, 5, [(D(2026, 9, 10), 10.0)], agreed_on=AGREED)


# ---------------------------------------------------------------- reach
def test_an_agency_cannot_see_or_make_a_plan_on_another_agencys_case(bank):
    with bank.begin() as conn:
        a, b, c = _agree_all(conn)
        assert plans.case_plans(conn, AG1, 10).empty           # agency 2's case
        assert plans.plan_instalments(conn, AG1, [b, c]).empty  # ids guessed: nothing
        assert plans.customer_plans(conn, AG1, 3).empty
        assert list(plans.case_plans(conn, AG1, 5)["id"]) == [a]
        assert list(plans.plan_instalments(conn, AG1, [a, b, c])["plan_id"].unique()) == [a]
        assert plans.case_plans(conn, AG2, 5).empty
        assert plans.case_plans(conn, OTHER_LEADER, 5).empty and plans.case_plans(conn, STRATEGY, 5).empty
        assert set(plans.customer_plans(conn, LEADER, 5)["id"]) == {a}
        assert set(plans.case_plans(conn, HQ, 7)["id"]) == {c}
        with pytest.raises(plans.PlanError) as exc:
            plans.propose(conn, AG1, 10, [(D(2026, 7, 1), 10.0)], agreed_on=AGREED)
        assert exc.value.denied
    with bank.begin() as conn:
        plans.audit_denial(conn, AG1, 10)
        assert conn.execute(select(s.audit_log.c.action).where(s.audit_log.c.target == "case:10")
                            .order_by(s.audit_log.c.id.desc())).scalars().first() == "repayment_plan_denied"
    with bank.connect() as conn:  # the agency's work list carries only its own case's plan flag
        work = dc.my_cases(conn, AG1, status=None)
        assert set(work["id"]) == {5} and list(work["plan_status"]) == ["active"]


# ---------------------------------------------------------------- nightly evaluation and the summary
def test_the_mart_refresh_judges_the_active_plans_as_of_the_newest_payment(bank):
    with bank.begin() as conn:
        a, b, c = _agree_all(conn)
        _pay(conn, PAYMENTS)
        assert plans.data_date(conn) == D(2026, 6, 10)
        marts.refresh_in(conn)
        assert [_plan(conn, x)["status"] for x in (a, b, c)] == ["kept", "broken", "broken"]
        assert _plan(conn, a)["evaluated_on"] == D(2026, 6, 10)
        # only active plans are judged again: nothing is left to judge
        assert plans.evaluate(conn)["evaluated"] == 0


def test_summary_by_entry_bucket_and_agency_by_hand(bank):
    with bank.begin() as conn:
        _agree_all(conn)
        _pay(conn, PAYMENTS)
        plans.evaluate(conn, D(2026, 6, 30))
        total = plans.summary(conn, HQ, "2026-03").iloc[0]
        assert (total["plans"], total["active"], total["kept"], total["broken"]) == (3, 0, 1, 2)
        assert total["kept_rate"] == pytest.approx(1 / 3)
        assert total["total_amount"] == pytest.approx(2500) and total["paid_amount"] == pytest.approx(1000 + 200 + 400)
        by_bucket = plans.summary(conn, HQ, "2026-03", by="entry_bucket").set_index("entry_bucket")
        assert by_bucket.loc[3, "plans"] == 2 and by_bucket.loc[3, "kept_rate"] == pytest.approx(0.5)
        assert by_bucket.loc[4, "kept_rate"] == 0
        by_agency = plans.summary(conn, HQ, "2026-03", by="agency_id").set_index("agency_id")
        assert by_agency["kept_rate"].to_dict() == {0: 0.0, 1: 1.0, 2: 0.0}
        assert plans.summary(conn, LEADER, "2026-03")["plans"].iloc[0] == 3
        assert plans.summary(conn, OTHER_LEADER, "2026-03")["plans"].iloc[0] == 0
        assert plans.summary(conn, AG1, "2026-03").empty
        # a month before the plans were agreed: none
        assert plans.summary(conn, HQ, "2026-02")["plans"].iloc[0] == 0
        assert math.isnan(plans.summary(conn, HQ, "2026-02")["kept_rate"].iloc[0])


def test_equal_split_sums_to_the_total():
    rows = plans.equal_split(1000.0, 3, D(2026, 1, 31))
    assert [d for d, _ in rows] == [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)]
    assert [a for _, a in rows] == [333.33, 333.33, 333.34] and sum(a for _, a in rows) == pytest.approx(1000)


# ---------------------------------------------------------------- the demo bank
def _demo_plans(conn):
    p, k = s.repayment_plan, s.collection_case
    return conn.execute(select(p.c.id, p.c.case_id, p.c.status, p.c.start_on, p.c.grace_days, p.c.total_amount,
                               p.c.paid_amount, p.c.agency_id, k.c.loan_id, k.c.agency_id.label("case_agency"),
                               k.c.status.label("case_status"), k.c.recovered_amount)
                        .join(k, k.c.id == p.c.case_id).where(p.c.source == "demo").order_by(p.c.id)).all()


def test_the_demo_banks_plans_follow_its_repayments(demo_engine):
    """Some kept, some broken, some active; each status is what judging the generated payments gives; the payments
    of a planned case add up to its recovered amount (the collection figures are unchanged by the plans)."""
    from data_access.demo import END_MONTH
    as_of = D(int(END_MONTH[:4]), int(END_MONTH[5:]), 31)
    with demo_engine.connect() as conn:
        rows = _demo_plans(conn)
        by = {st: [r for r in rows if r.status == st] for st in plans.STATUSES}
        assert all(len(by[st]) >= 3 for st in plans.STATUSES), {k: len(v) for k, v in by.items()}
        assert {r.case_status for r in by["kept"]} <= {"cured", "settled", "open"}
        assert {r.case_status for r in by["active"]} == {"open"}
        assert all(r.agency_id == r.case_agency for r in rows)
        i, r_ = s.repayment_plan_instalment, s.repayment
        for row in rows:
            inst = [(x.seq, x.due_on, float(x.amount)) for x in conn.execute(
                select(i.c.seq, i.c.due_on, i.c.amount).where(i.c.plan_id == row.id).order_by(i.c.seq))]
            assert sum(a for *_, a in inst) == pytest.approx(float(row.total_amount))
            assert all(a > 0 for *_, a in inst) and all(x[1] < y[1] for x, y in zip(inst, inst[1:]))
            pays = [(d, float(a)) for d, a in conn.execute(select(r_.c.paid_on, r_.c.principal + r_.c.interest)
                                                           .where(r_.c.loan_id == row.loan_id))]
            assert plans.judge(row.start_on, row.grace_days, inst, pays, as_of).status == row.status, row.id
            on_case = conn.execute(select(func.sum(r_.c.principal + r_.c.interest))
                                   .where(r_.c.case_id == row.case_id)).scalar() or 0
            assert float(on_case) == pytest.approx(float(row.recovered_amount), abs=0.011)


def test_the_demo_banks_plans_are_its_seeds(tmp_path):
    from data_access import demo
    from data_access.engine import make_engine
    from data_access.migrate import upgrade
    seen = []
    for n in (1, 2):
        e = make_engine(f"sqlite:///{tmp_path}/d{n}.db")
        upgrade(e)
        demo.generate(e, size="tiny", seed=3, progress=False)
        with e.connect() as conn:
            seen.append([tuple(r) for r in _demo_plans(conn)])
        e.dispose()
    assert seen[0] == seen[1] and len(seen[0]) > 10


def test_demo_plans_reach_only_their_own_agency(demo_engine):
    """Whichever plan id or case id is asked, an agency reaches the plans of its own cases and nothing else."""
    from data_access.scope import scope_for_user
    with demo_engine.connect() as conn:
        rows = _demo_plans(conn)
        assert {r.case_agency for r in rows if r.case_agency} >= {1}
        ids = [r.id for r in rows]
        for user in ("agency1", "agency2", "strategy_chen", "admin"):
            sc = scope_for_user(conn, user)
            own = {r.id for r in rows if sc.role == "agency" and r.case_agency == sc.agency_id}
            assert set(plans.plan_instalments(conn, sc, ids)["plan_id"]) == own, user
            for r in rows[:40]:  # (a page test may have added an app plan to a demo case since: demo ones only)
                assert set(plans.case_plans(conn, sc, r.case_id)["id"]) & set(ids) == ({r.id} & own), (user, r.id)


def test_the_command_line_judges_the_plans(bank):
    import subprocess
    import sys
    from tests.test_cli import ROOT
    with bank.begin() as conn:
        a, b, c = _agree_all(conn)
        _pay(conn, PAYMENTS)
    url = bank.url.render_as_string(hide_password=False)

    def run(*args):
        import os
        return subprocess.run([sys.executable, "-m", "data_access", "plans", "evaluate", *args], cwd=ROOT,
                              env=dict(os.environ, COCKPIT_DATABASE_URL=url), capture_output=True, text=True,
                              timeout=120)
    bad = run("--as-of", "2026-13-01")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--as-of" in bad.stderr
    ok = run("--as-of", "2026-05-19", "--user", "nightly")
    assert ok.returncode == 0, ok.stderr
    assert "3 active before, 0 kept, 2 broken, 1 still active" in ok.stdout
    with bank.connect() as conn:
        assert [_plan(conn, x)["status"] for x in (a, b, c)] == ["active", "broken", "broken"]
        who = set(conn.execute(select(s.audit_log.c.username).where(s.audit_log.c.action == "repayment_plan_broken"))
                  .scalars())
    assert who == {"nightly"}
