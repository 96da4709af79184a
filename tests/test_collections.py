"""Collections: every measure against a hand-worked fixture, the allocation run's capacity and rules, agencies'
reach for reading and writing cases.

The fixture is the six-loan bank of ``test_kpi_fixture`` (its cases 1–4, all by phone, cost 10 each) plus:

| case | loan | entry   | bucket | overdue | recovered | channel    | agency | status      | actions                      |
|------|------|---------|--------|---------|-----------|------------|--------|-------------|------------------------------|
| 5    | 5    | 2026-03 | M3     | 1000    | 400       | agency     | 1      | open        | contacted, promise, kept     |
| 6    | 6    | 2026-03 | M1     | 50      | 50        | ai_voice   |        | cured       | contacted, no promise        |
| 7    | 4    | 2026-03 | M4+    | 2000    | 0         | litigation |        | open        | — (stage: hearing)           |
| 8    | 1    | 2026-03 | M4+    | 900     | 90        | write_off  |        | written_off | — (balance 900)              |
| 9    | 6    | 2026-03 | M1     | 60      | 0         | pending    |        | open        | — (not yet allocated)        |
| 10   | 3    | 2026-03 | M3     | 500     | 0         | agency     | 2      | open        | —                            |

Costs: case 5 40, case 6 1, case 7 2500, others 0; case 5 one complaint. Worked by hand for March, 12-month window,
pending case 9 and the write-off transfer 8 left out (8 cases; #16: 8's recovery is post-write-off recovery):

* recovery M1 (cases 1, 2, 6) = 250 / 350; M2 (4) = 150 / 300; M1+M2 = 400 / 650;
  M3+ (5, 10, 3, 7) = (400 + 500) / (1000 + 500 + 5000 + 2000) = 900 / 8500 (with case 8 it was 990 / 9400).
* cure 2/8 (2, 6); roll-forward 1/8 (1); contact 4/8 (2, 3, 5, 6); promises 3 of 4 contacted (2, 3, 5);
  kept 2 of 3 (2, 5); paying 5/8 (2, 3, 4, 5, 6); cost 2581 over recovered 1300.
* agency 1: recovery 0.4, commission 40, rank 1; agency 2: recovery 0, rank 2.
* litigation: one case at 'hearing', balance 4000. Write-offs March: 900 written off, 90 back (10 %).
* open cases as of March: case 3 (entered February: 1–3 months, M4+); 4 (M2), 5 and 10 (M3), 7 (M4+) under a month.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import func, insert, select, update

from data_access import collections as dc, demo, kpi, marts, schema as s
from data_access.queries import Filters
from data_access.scope import Scope
from models import allocation
from tests.test_kpi_fixture import load_fixture

D = dt.date
T = dt.datetime
HQ = Scope(username="hq", role="head_office", can_see_pii=True)
LEADER = Scope(username="b", role="branch_leader", branch_ids=frozenset({2}), can_see_pii=True)
OTHER_LEADER = Scope(username="b9", role="branch_leader", branch_ids=frozenset({99}))
AG1 = Scope(username="agency1", role="agency", agency_id=1)
AG2 = Scope(username="agency2", role="agency", agency_id=2)
STRATEGY = Scope(username="st", role="strategy")
MARCH = Filters(month="2026-03")

EXTRA = [  # id, loan, month, bucket, overdue, balance, recovered, channel, agency, status, cost, complaints, stage
    (5, 5, "2026-03", 3, 1000, 5000, 400, "agency", 1, "open", 40, 1, None),
    (6, 6, "2026-03", 1, 50, 1000, 50, "ai_voice", None, "cured", 1, 0, None),
    (7, 4, "2026-03", 4, 2000, 4000, 0, "litigation", None, "open", 2500, 0, "hearing"),
    (8, 1, "2026-03", 4, 900, 900, 90, "write_off", None, "written_off", 0, 0, None),
    (9, 6, "2026-03", 1, 60, 1000, 0, "pending", None, "open", 0, 0, None),
    (10, 3, "2026-03", 3, 500, 3000, 0, "agency", 2, "open", 0, 0, None),
]


def load_collections(conn) -> None:
    load_fixture(conn)
    conn.execute(update(s.customer).where(s.customer.c.id == 5).values(phone="13812345678", address="睢宁县甲镇乙村3组12号"))
    conn.execute(insert(s.agency), [dict(id=1, code="A1", name="甲催收", commission_rate=0.1, monthly_capacity=5, active=True),
                                    dict(id=2, code="A2", name="乙催收", commission_rate=0.2, monthly_capacity=5, active=True)])
    conn.execute(insert(s.collection_case), [
        dict(id=i, case_no=f"K{i}", loan_id=loan, customer_id=loan, branch_id=2, entry_month=m,
             entry_date=D(2026, 3, 3), entry_bucket=b, entry_dpd=30 * (b - 1) + 1, overdue_at_entry=o,
             balance_at_entry=bal, channel=ch, agency_id=ag, status=stt, recovered_amount=r, cost=c, complaints=cp,
             compliance_breaches=0, legal_stage=stage)
        for i, loan, m, b, o, bal, r, ch, ag, stt, c, cp, stage in EXTRA])
    conn.execute(insert(s.collection_action), [
        dict(case_id=5, action_on=D(2026, 3, 5), channel="agency", agency_id=1, contacted=True, promise_amount=400,
             promise_date=D(2026, 3, 12), promise_kept=True, result="promise_to_pay", created_by="agency1"),
        dict(case_id=6, action_on=D(2026, 3, 5), channel="ai_voice", contacted=True, promise_amount=None,
             promise_date=None, promise_kept=None, result="will_call_back", created_by="system", agency_id=None)])


@pytest.fixture
def coll(empty_engine):
    with empty_engine.begin() as conn:
        load_collections(conn)
        marts.refresh_in(conn)
    return empty_engine


def _perf(engine, scope=HQ, **kw):
    with engine.connect() as conn:
        return dc.performance(conn, scope, MARCH, **kw)


def test_recovery_by_entry_bucket_by_hand(coll):
    with coll.connect() as conn:
        rec = dc.recovery_by_group(conn, HQ, MARCH).set_index("group")["recovery_rate"]
    assert rec["M1"] == pytest.approx(250 / 350)
    assert rec["M2"] == pytest.approx(0.5)
    assert rec["M1+M2"] == pytest.approx(400 / 650)
    assert rec["M3+"] == pytest.approx(900 / 8500)


def test_case_rates_by_hand(coll):
    total = _perf(coll).iloc[0]
    assert total["cases"] == 8  # the pending case is not being worked yet; the write-off transfer is reported apart
    assert total["cure_rate"] == pytest.approx(2 / 8)
    assert total["roll_forward_rate"] == pytest.approx(1 / 8)
    assert total["contact_rate"] == pytest.approx(4 / 8)
    assert total["promise_rate"] == pytest.approx(3 / 4)
    assert total["kept_rate"] == pytest.approx(2 / 3)
    assert total["pay_rate"] == pytest.approx(5 / 8)
    assert total["cost_per_yuan"] == pytest.approx(2581 / 1300)
    assert total["recovered_amount"] == pytest.approx(1300)
    assert total["complaints"] == 1


def test_breakdowns_add_up_and_the_funnel_narrows(coll):
    by_channel = _perf(coll, by=("channel",)).set_index("channel")
    assert by_channel.loc["phone", "cases"] == 4 and by_channel.loc["phone", "kept_cases"] == 1
    assert by_channel["cases"].sum() == 8
    assert "write_off" not in by_channel.index and "pending" not in by_channel.index
    with coll.connect() as conn:
        fun = dc.funnel(conn, HQ, MARCH)
    assert (fun["cases"] >= fun["contacted_cases"]).all()
    assert (fun["contacted_cases"] >= fun["promised_cases"]).all()
    assert (fun["promised_cases"] >= fun["kept_cases"]).all()
    by_branch = _perf(coll, by=("branch_id",))
    assert list(by_branch["branch_id"]) == [2]  # branches, never the whole-bank roll-up row


def test_agency_board_litigation_and_write_offs_by_hand(coll):
    with coll.connect() as conn:
        board = dc.agency_board(conn, HQ, MARCH).set_index("agency_id")
        pipe = dc.litigation_pipeline(conn, HQ, MARCH)
        wo = dc.write_offs(conn, HQ, MARCH)
        assert dc.agency_board(conn, AG1, MARCH).empty  # agencies never get the named league
    assert board.loc[1, "recovery_rate"] == pytest.approx(0.4) and board.loc[1, "rank"] == 1
    assert board.loc[1, "commission"] == pytest.approx(40)
    assert board.loc[2, "recovery_rate"] == 0 and board.loc[2, "rank"] == 2
    assert pipe[["legal_stage", "cases", "balance_at_entry"]].values.tolist() == [["hearing", 1, 4000]]
    march = wo.set_index("entry_month").loc["2026-03"]
    assert march["balance_at_entry"] == 900 and march["recovery_rate"] == pytest.approx(0.1)


def test_ageing_of_open_cases_by_hand(coll):
    with coll.connect() as conn:
        age = dc.ageing(conn, HQ, MARCH)
    got = {(r.band, r.entry_bucket): r.open_cases for r in age.itertuples() if r.open_cases}
    assert got == {("age.1_3", 4): 1, ("age.lt1", 2): 1, ("age.lt1", 3): 2, ("age.lt1", 4): 1}


def test_allocation_board_and_pending_are_scoped(coll):
    with coll.connect() as conn:
        board = dc.allocation_board(conn, HQ, MARCH)
        assert board.loc[board["channel"] == "pending", "cases"].sum() == 1
        assert dc.pending_summary(conn, HQ)["cases"].sum() == 1
        assert dc.pending_summary(conn, LEADER)["cases"].sum() == 1
        assert dc.pending_summary(conn, OTHER_LEADER).empty
        assert dc.pending_summary(conn, AG1).empty
        assert _perf(coll, scope=OTHER_LEADER).iloc[0]["cases"] == 0
        assert dc.allocation_runs(conn, LEADER).empty  # bank-wide run figures: head office and strategy only
        today = dc.day_board(conn, HQ)
        assert set(today["entry_date"]) == {D(2026, 3, 3)} and today["cases"].sum() == 7
        assert today.set_index(["entry_bucket", "channel"]).loc[(3, "agency"), "cases"] == 2
        assert dc.day_board(conn, OTHER_LEADER).empty and dc.day_board(conn, AG1).empty


# ---------------------------------------------------------------- agencies: reading and writing
def test_agency_reads_only_its_own_cases(coll):
    with coll.connect() as conn:
        mine = dc.my_cases(conn, AG1, status=None)
        assert list(mine["id"]) == [5]
        assert mine.iloc[0]["name"] == "客**" and mine.iloc[0]["phone"] == "138****5678"  # masked
        assert mine.iloc[0]["address"] == "睢宁县甲镇乙村****"
        assert dc.case_detail(conn, AG1, 5)["case_no"] == "K5"
        # another agency's case, a bank case and a pending one: not found, whichever id is asked for
        for other in (10, 2, 7, 9):
            assert dc.case_detail(conn, AG1, other) is None
            assert dc.case_actions(conn, AG1, other).empty
        assert len(dc.case_actions(conn, AG1, 5)) == 1
        assert list(dc.my_cases(conn, AG2, status=None)["id"]) == [10]
        assert dc.my_cases(conn, STRATEGY).empty and dc.case_detail(conn, STRATEGY, 5) is None
        assert dc.agency_kpis(conn, AG1)["recovery_rate"] == pytest.approx(0.4)
        assert dc.agency_kpis(conn, HQ) == {}


def test_work_list_pages_and_counts(coll):
    """Pages of a fixed size add up to the whole list, in order; counts per bucket by hand (case 9 is pending)."""
    with coll.connect() as conn:
        whole = dc.my_cases(conn, HQ, status=None, limit=100)
        pages = [dc.my_cases(conn, HQ, status=None, limit=4, offset=o) for o in (0, 4, 8, 12)]
        counts = dc.count_cases(conn, HQ, status=None)
        assert [len(p) for p in pages] == [4, 4, 1, 0]
        assert pd.concat(pages)["id"].tolist() == whole["id"].tolist() and len(whole) == 9 and 9 not in set(whole["id"])
        assert counts["total"] == 9 and counts["by_bucket"][1] == 3 and counts["by_bucket"][2] == 1
        assert counts["by_bucket"].get(3, 0) + counts["by_bucket"].get(4, 0) == 5
        assert set(dc.my_cases(conn, HQ, status=None, bucket=1)["id"]) == {1, 2, 6}
        assert dc.count_cases(conn, HQ, status=None, bucket=1)["total"] == 3
        assert dc.count_cases(conn, AG1, status=None) == {"total": 1, "by_bucket": {3: 1}}
        assert dc.count_cases(conn, AG2, status=None)["total"] == 1
        assert dc.count_cases(conn, STRATEGY, status=None) == {"total": 0, "by_bucket": {}}
        assert dc.count_cases(conn, OTHER_LEADER, status=None)["total"] < 9


def _actions(engine, case_id):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(s.collection_action)
                            .where(s.collection_action.c.case_id == case_id)).scalar_one()


def test_agency_cannot_write_another_agencys_case(coll):
    before = _actions(coll, 10)
    with pytest.raises(dc.ActionError) as err, coll.begin() as conn:
        dc.record_action(conn, AG1, 10, "promise_to_pay", T(2026, 3, 10, 10), D(2026, 3, 20), 100.0, "try")
    assert err.value.denied and err.value.key == "action.err_case"
    assert _actions(coll, 10) == before
    with coll.begin() as conn:
        dc.audit_denial(conn, AG1, 10)
    with coll.connect() as conn:
        audit = conn.execute(select(s.audit_log.c.action, s.audit_log.c.target)
                             .where(s.audit_log.c.username == "agency1")).all()
    assert ("case_action_denied", "case:10") in audit


def test_agency_records_a_valid_action_audited(coll):
    with coll.begin() as conn:
        dc.record_action(conn, AG1, 5, "promise_to_pay", T(2026, 3, 10, 10), D(2026, 3, 25), 600.0, " 下周卖粮后还款 ",
                         recording_ref="REC-1")
    with coll.connect() as conn:
        row = conn.execute(select(s.collection_action).where(s.collection_action.c.case_id == 5)
                           .order_by(s.collection_action.c.id.desc())).mappings().first()
        audit = conn.execute(select(s.audit_log.c.action, s.audit_log.c.customer_id, s.audit_log.c.target)
                             .where(s.audit_log.c.username == "agency1")).all()
    assert row["created_by"] == "agency1" and row["agency_id"] == 1 and row["contacted"]
    assert row["promise_amount"] == 600 and row["note"] == "下周卖粮后还款"
    assert ("case_action", 5, "case:5") in audit


@pytest.mark.parametrize("kwargs,key", [
    (dict(result="bribe"), "action.err_result"),
    (dict(contact_at=dt.datetime.now() + dt.timedelta(days=1)), "action.err_date"),
    (dict(contact_at=T(2026, 3, 1, 10)), "action.err_date"),  # before the case entered collection
    (dict(contact_at=D(2026, 3, 10)), "action.err_time"),  # a date alone: the quiet hours need the time
    (dict(note="长" * 257), "action.err_note"),
    (dict(promise_date=None), "action.err_promise_missing"),
    (dict(promise_date=D(2026, 4, 30)), "action.err_promise_date"),
    (dict(promise_amount=0.0), "action.err_promise_amount"),
    (dict(promise_amount=2000.01), "action.err_promise_amount"),
    (dict(promise_amount=float("nan")), "action.err_promise_amount"),
])
def test_action_validation_writes_nothing(coll, kwargs, key):
    args = dict(result="promise_to_pay", contact_at=T(2026, 3, 10, 10), promise_date=D(2026, 3, 20), promise_amount=100.0,
                note=None, recording_ref="REC-1") | kwargs
    before = _actions(coll, 5)
    with pytest.raises(dc.ActionError) as err, coll.begin() as conn:
        dc.record_action(conn, AG1, 5, **args)
    assert err.value.key == key
    assert _actions(coll, 5) == before


def test_closed_cases_and_other_roles_are_refused(coll):
    with pytest.raises(dc.ActionError, match="action.err_closed"), coll.begin() as conn:
        dc.record_action(conn, HQ, 2, "no_answer", T(2026, 3, 10, 10))
    with pytest.raises(dc.ActionError, match="action.err_role"), coll.begin() as conn:
        dc.record_action(conn, STRATEGY, 5, "no_answer", T(2026, 3, 10, 10))
    with pytest.raises(dc.ActionError, match="action.err_case"), coll.begin() as conn:
        dc.record_action(conn, OTHER_LEADER, 5, "no_answer", T(2026, 3, 10, 10))


# ---------------------------------------------------------------- allocation: rules, capacity, optimum
RULES = pd.DataFrame([dict(entry_bucket=1, min_amount=0, channel="ai_voice", priority=1),
                      dict(entry_bucket=1, min_amount=0, channel="phone", priority=2),
                      dict(entry_bucket=3, min_amount=0, channel="agency", priority=1),
                      dict(entry_bucket=3, min_amount=1000, channel="litigation", priority=2)])
OPTIONS = pd.DataFrame([dict(option="ai_voice", channel="ai_voice", agency_id=0), dict(option="phone", channel="phone", agency_id=0),
                        dict(option="agency:1", channel="agency", agency_id=1), dict(option="agency:2", channel="agency", agency_id=2),
                        dict(option="litigation", channel="litigation", agency_id=0)])
CASES = pd.DataFrame(dict(entry_bucket=[1, 1, 1, 3, 3, 2], overdue_at_entry=[100, 200, 300, 500, 5000, 700]))


def test_eligibility_follows_the_rules():
    e = allocation.eligibility(CASES, OPTIONS, RULES)
    assert e[0].tolist() == [True, True, False, False, False]
    assert e[3].tolist() == [False, False, True, True, False]  # below litigation's minimum
    assert e[4].tolist() == [False, False, True, True, True]
    assert not e[5].any()  # no rule for M2 in this fixture: the case stays queued


def test_optimum_respects_capacity_and_prefers_value():
    e = allocation.eligibility(CASES, OPTIONS, RULES)
    value = np.array([[1, 5, 0, 0, 0], [1, 9, 0, 0, 0], [1, 2, 0, 0, 0],
                      [0, 0, 50, 40, 0], [0, 0, 100, 80, 900], [0, 0, 0, 0, 0]], dtype=float)
    cap = np.array([np.inf, 1, 1, 5, 0])
    got = allocation.optimise(value, e, cap)
    assert got[1] == 1  # the one phone slot goes to the case it is worth most on
    assert got[0] == 0 and got[2] == 0
    assert got[4] == 2 and got[3] == 3  # litigation has no capacity; agency 1's single slot to the bigger case
    assert got[5] == -1
    for j, c in enumerate(cap):
        assert (got == j).sum() <= c
    assert all(e[i, j] for i, j in enumerate(got) if j >= 0)


def test_rules_alone_take_priorities_in_order():
    e = allocation.eligibility(CASES, OPTIONS, RULES)
    got = allocation.rule_allocation(CASES, OPTIONS, RULES, np.array([2, np.inf, 1, 2, np.inf]))
    assert got.tolist()[:3] == [0, 0, 1]  # ai_voice until full, then phone
    assert got[3] == 3 and got[4] == 3 or got[3] in (2, 3)  # agencies by capacity left
    assert got[5] == -1
    assert all(e[i, j] for i, j in enumerate(got) if j >= 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=5, max_size=5), st.integers(0, 3), st.integers(1, 3),
       st.randoms(use_true_random=False))
def test_more_capacity_never_recovers_less(caps, extra, which, rnd):
    rng = np.random.default_rng(rnd.randint(0, 10_000))
    e = allocation.eligibility(CASES, OPTIONS, RULES)
    value = rng.uniform(-5, 50, size=e.shape)
    base = np.array(caps, dtype=float)
    more = base.copy()
    more[which] += extra

    def total(c):
        got = allocation.optimise(value, e, c)
        ok = got >= 0
        return ok.sum(), value[np.flatnonzero(ok), got[ok]].sum()

    n0, v0 = total(base)
    n1, v1 = total(more)
    assert n1 >= n0
    assert n1 > n0 or v1 >= v0 - 1e-6


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 60), st.integers(0, 10_000))
def test_linear_program_reaches_the_integer_optimum(n, seed):
    """The LP path (HiGHS dual simplex on the transportation matrix) gives what branch and bound gives."""
    from scipy.optimize import LinearConstraint, milp
    from scipy.sparse import csr_matrix
    rng = np.random.default_rng(seed)
    e = rng.random((n, 5)) < 0.6
    value = rng.uniform(-5, 50, size=e.shape).round(2)
    cap = np.array([rng.integers(0, n // 2 + 1), np.inf, rng.integers(0, 4), rng.integers(0, n), rng.uniform(0, 3)])
    got = allocation.optimise(value, e, cap)
    for j, c in enumerate(cap):
        assert (got == j).sum() <= np.floor(c)
    assert all(e[i, j] for i, j in enumerate(got) if j >= 0)
    ii, jj = np.nonzero(e)
    k = len(ii)
    a = [LinearConstraint(csr_matrix((np.ones(k), (ii, np.arange(k))), shape=(n, k)), 0, 1)]
    for j in np.flatnonzero(np.isfinite(cap)):
        a.append(LinearConstraint((jj == j).astype(float)[None, :], 0, np.floor(cap[j])))
    count = milp(-np.ones(k), constraints=a, integrality=np.ones(k), bounds=(0, 1))
    best = milp(-value[ii, jj], constraints=a + [LinearConstraint(np.ones((1, k)), -count.fun, np.inf)],
                integrality=np.ones(k), bounds=(0, 1))
    ok = got >= 0
    assert ok.sum() == round(-count.fun)
    assert value[np.flatnonzero(ok), got[ok]].sum() == pytest.approx(-best.fun, abs=1e-6)


def _rules_reference(cases, options, rules, capacity):
    """The rules read literally, one case and one rule at a time (the specification rule_allocation is held to)."""
    left = np.where(np.isfinite(capacity), capacity, np.inf).astype(float)
    chan = options["channel"].to_numpy()
    out = np.full(len(cases), -1)
    for i, (b, over) in enumerate(zip(cases["entry_bucket"], cases["overdue_at_entry"])):
        for r in rules[rules["entry_bucket"] == b].sort_values("priority", kind="stable").itertuples():
            cand = np.flatnonzero((chan == r.channel) & (left >= 1))
            if over >= r.min_amount and len(cand):
                j = cand[np.argmax(left[cand])]
                out[i], left[j] = j, left[j] - 1
                break
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.integers(0, 3000)), min_size=1, max_size=40),
       st.lists(st.sampled_from([0, 1, 2, 3, 5, np.inf]), min_size=5, max_size=5))
def test_rules_alone_follow_the_literal_reading(cases, caps):
    df = pd.DataFrame(cases, columns=["entry_bucket", "overdue_at_entry"])
    cap = np.array(caps, dtype=float)
    assert allocation.rule_allocation(df, OPTIONS, RULES, cap).tolist() == _rules_reference(df, OPTIONS, RULES, cap).tolist()


# ---------------------------------------------------------------- the run on a demo bank
@pytest.fixture
def fresh_demo(empty_engine):
    demo.generate(empty_engine, size="tiny", seed=5, progress=False)
    with empty_engine.begin() as conn:
        # a fresh intake: the last month's open cases wait for allocation, as on the morning after the extract
        k = s.collection_case
        last = conn.execute(select(func.max(k.c.entry_month))).scalar()
        conn.execute(update(k).where(k.c.entry_month == last, k.c.status == "open", k.c.channel != "write_off")
                     .values(channel="pending", agency_id=None))
    marts.refresh(empty_engine)
    return empty_engine


def test_allocation_run_respects_rules_and_capacity(fresh_demo):
    eng = fresh_demo
    with eng.begin() as conn:  # the optimiser on the whole intake (tests/test_experiments.py: under a running test)
        conn.execute(update(s.strategy_test).values(status="finished"))
    out = allocation.run(eng, run_by="hq_wang")
    assert out["cases"] > 20 and out["assigned"] + out["queued"] == out["cases"]
    assert out["expected_recovery"] - out["expected_cost"] >= out["baseline_recovery"] - out["baseline_cost"] - 1e-6
    k, r = s.collection_case, s.allocation_rule
    with eng.connect() as conn:
        month = out["month"]
        rows = pd.DataFrame(conn.execute(select(k.c.id, k.c.entry_bucket, k.c.overdue_at_entry, k.c.channel,
                                                k.c.agency_id, k.c.allocation_run_id)
                                         .where(k.c.allocation_run_id == out["run_id"])).all())
        assert len(rows) == out["assigned"]
        rules = pd.DataFrame(conn.execute(select(r)).mappings().all())
        for c in rows.itertuples():  # every case went to a channel its rules allow
            ok = rules[(rules["entry_bucket"] == c.entry_bucket) & (rules["min_amount"] <= c.overdue_at_entry)]
            assert c.channel in set(ok["channel"]), c
        cap = dc.capacity(conn, month)
        assert (cap["used"] <= cap["capacity"].fillna(np.inf)).all(), cap  # the month's use within capacity
        assert conn.execute(select(func.count()).select_from(s.allocation_run)).scalar_one() == 1
        lines = dc.allocation_run_lines(conn, HQ, out["run_id"])
        assert lines.loc[lines["method"] == "optimised", "cases"].sum() == out["assigned"]
        assert conn.execute(select(func.count()).select_from(s.audit_log)
                            .where(s.audit_log.c.action == "allocation_run")).scalar_one() == 1
        # the month's mart rows were rebuilt: the pending cases are gone from it, the assigned ones are there
        board = dc.allocation_board(conn, HQ, Filters(month=month))
        assert board.loc[board["channel"] == "pending", "cases"].sum() == out["queued"]
    again = allocation.run(eng, run_by="hq_wang")  # nothing left (or only the queue) to allocate
    assert again["cases"] == out["queued"]


def test_agency_work_list_is_masked_and_watermarked(coll):
    import io
    from pypdf import PdfReader
    from components.worklist_pdf import build_worklist
    with coll.connect() as conn:
        cases = dc.my_cases(conn, AG1, status=None)
    when = dt.datetime(2026, 11, 25, 9, 30)
    pdf = PdfReader(io.BytesIO(build_worklist(cases, "甲催收", "agency1", when)))
    text = "".join(page.extract_text() for page in pdf.pages).replace("\x00", "")  # the subset font maps via UTF-16
    assert "agency1" in text and "2026-11-25 09:30" in text and "禁止外传" in text
    assert "K5" in text and "客**" in text and "138****5678" in text
    assert "客户5" not in text and "13812345678" not in text  # nothing unmasked


def test_rebuilding_one_collection_month_keeps_the_branch_league_in_step(fresh_demo):
    """After an allocation run rebuilds its month of the collection mart (and recoveries changed meanwhile), the
    branch mart's collection totals, which the branch league reads, are the collection mart's again."""
    from tests.test_demo_bank import _branch_collection_gaps
    k = s.collection_case
    with fresh_demo.begin() as conn:
        worked = k.c.channel.notin_(kpi.COLLECTION_RECOVERY_EXCLUDED)  # the cases 催收回收率 counts
        month = conn.execute(select(func.max(k.c.entry_month)).where(worked)).scalar()
        case_id = conn.execute(select(k.c.id).where(k.c.entry_month == month, worked).limit(1)).scalar()
        conn.execute(update(k).where(k.c.id == case_id).values(recovered_amount=k.c.recovered_amount + 1234.5))
        marts.refresh_collection_month(conn, month)
    with fresh_demo.connect() as conn:
        assert _branch_collection_gaps(conn).empty
        bank = conn.execute(select(s.mart_branch.c.coll_recovered).where(s.mart_branch.c.month == month,
                                                                          s.mart_branch.c.branch_id == 0)).scalar()
        total = conn.execute(select(func.sum(k.c.recovered_amount)).where(k.c.entry_month == month,
                                                                           k.c.channel.notin_(kpi.COLLECTION_RECOVERY_EXCLUDED))).scalar()
    assert bank == pytest.approx(total, abs=0.01)
