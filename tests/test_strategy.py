"""Strategy lab: the roll-rate model by hand, its stress property, the backtest, saved scenarios."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from data_access import strategy
from data_access.queries import Filters, shift_month
from data_access.scope import Scope, scope_for_user
from models import rollrate
from models.behaviour_pd import caught_at


def test_matrices_and_projection_by_hand():
    # M0: 900 stay (balance falls to 850), 100 roll to M1; M1: 50 cure, 50 roll to M2 ; nothing else seen
    tr = pd.DataFrame([dict(month="2026-01", from_bucket=0, to_bucket=0, balance=900, balance_next=850),
                       dict(month="2026-01", from_bucket=0, to_bucket=1, balance=100, balance_next=100),
                       dict(month="2026-01", from_bucket=1, to_bucket=0, balance=50, balance_next=40),
                       dict(month="2026-01", from_bucket=1, to_bucket=2, balance=50, balance_next=50)])
    m = rollrate.estimate(tr)
    assert m.P[0, 0] == pytest.approx(0.9) and m.P[0, 1] == pytest.approx(0.1)
    assert m.P[1, 0] == pytest.approx(0.5) and m.P[1, 2] == pytest.approx(0.5)
    assert m.P[3, 3] == 1.0  # a bucket with no history stays put
    assert m.G[0, 0] == pytest.approx(850 / 900)
    path = rollrate.project(np.array([1000.0, 100, 0, 0, 0]), m, months=1, new_business=10)
    # M0: 1000·0.9·850/900 + 100·0.5·0.8 + 10 = 850 + 40 + 10; M1: 1000·0.1 = 100; M2: 100·0.5 = 50
    assert path[1].tolist() == pytest.approx([900, 100, 50, 0, 0])
    s = rollrate.stressed(m, 1.5)
    assert s.P[0, 1] == pytest.approx(0.15) and s.P[0, 0] == pytest.approx(0.85)
    assert s.P[1, 2] == pytest.approx(0.75) and s.P[1, 0] == pytest.approx(0.25)
    assert rollrate.stressed(m, 100).P[0].sum() == pytest.approx(1.0)  # capped: cannot move more than there is


@st.composite
def book_and_matrix(draw):
    """A book and a month of migrations shaped like a loan book's: M0 mostly stays, delinquent buckets cure, stay
    or roll on, only M4+ is written off; balances shrink a little as loans amortise."""
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    P = np.zeros((5, 7))
    P[0, [0, 1, 5]] = [rng.uniform(0.9, 0.98), rng.uniform(0.005, 0.03), 0]
    for k in (1, 2, 3):
        P[k, 0], P[k, k], P[k, k + 1], P[k, 5] = rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.5), \
            rng.uniform(0, 0.05)
    P[4, [0, 4, 5, 6]] = [rng.uniform(0, 0.03), rng.uniform(0.8, 0.95), rng.uniform(0, 0.05), rng.uniform(0.02, 0.1)]
    P[0, 5] = max(0.0, 1 - P[0].sum())
    P = P / P.sum(axis=1, keepdims=True)
    rows = [dict(month="2026-01", from_bucket=k, to_bucket=j, balance=P[k, j] * 1000,
                 balance_next=P[k, j] * 1000 * (rng.uniform(0.97, 1.0) if j < 5 else 0))
            for k in range(5) for j in range(7) if P[k, j] > 0]
    book = pd.DataFrame({"bucket": range(5), "balance": rng.uniform(100, 1000, 5)})
    book["npl_balance"] = book["balance"] * np.array([0.0, 0.02, 0.1, 0.5, 1.0])
    return pd.DataFrame(rows), book, draw(st.floats(0.5, 2.5)), draw(st.floats(0.0, 1.0))


@settings(max_examples=60, deadline=None)
@given(book_and_matrix())
def test_a_higher_stress_never_lowers_the_projected_npl(case):
    tr, book, s, extra = case
    low = rollrate.simulate(tr, book, "2026-01", 12, s, 50.0)
    high = rollrate.simulate(tr, book, "2026-01", 12, s + extra, 50.0)
    assert (high.npl >= low.npl - 1e-9).all()


def test_stress_is_monotone_on_the_demo_banks_own_matrices(demo_engine):
    with demo_engine.connect() as conn:
        from data_access.queries import available_months
        month = available_months(conn)[-1]
        inp = strategy.rollrate_inputs(conn, scope_for_user(conn, "hq_wang"), Filters(month=month))
    paths = [rollrate.simulate_inputs(inp, month, 24, s).npl
             for s in np.arange(0.5, 3.01, 0.25)]
    for lower, higher in zip(paths, paths[1:]):
        assert (higher >= lower - 1e-12).all()


def test_npl_backtest_on_the_demo_bank(demo_engine):
    """Six months back, baseline settings: the projection lands near what happened (tiny bank: within 1.5 pp)."""
    with demo_engine.connect() as conn:
        sc = scope_for_user(conn, "strategy_chen")
        from data_access.queries import available_months
        month = available_months(conn)[-1]
        start = shift_month(month, -6)
        now = strategy.rollrate_inputs(conn, sc, Filters(month=month))
        back = strategy.rollrate_inputs(conn, sc, Filters(month=start))
        assert strategy.rollrate_inputs(conn, scope_for_user(conn, "agency1"), Filters(month=month))["book"].empty
    proj = rollrate.simulate_inputs(back, start, 6)
    real = now["realised"].set_index("month").loc[month]
    assert abs(proj.npl[-1] - real["npl_balance"] / real["balance"]) < 0.015


def test_scenarios_are_saved_by_lab_roles_only(demo_engine):
    lab = Scope(username="st", role="strategy")
    with demo_engine.begin() as conn:
        sid = strategy.save_scenario(conn, lab, " 压力1.5 ", "npl_stress", {"stress": 1.5}, {"npl_end": 0.02})
    with demo_engine.connect() as conn:
        got = strategy.scenarios(conn, lab, "npl_stress").set_index("id").loc[sid]
        assert got["name"] == "压力1.5" and got["params"] == {"stress": 1.5} and got["created_by"] == "st"
        assert strategy.scenarios(conn, Scope(username="b", role="branch_leader", branch_ids=frozenset({2}))).empty
    with pytest.raises(PermissionError), demo_engine.begin() as conn:
        strategy.save_scenario(conn, Scope(username="a", role="agency", agency_id=1), "x", "npl_stress", {}, {})
    with pytest.raises(ValueError), demo_engine.begin() as conn:
        strategy.save_scenario(conn, lab, "   ", "npl_stress", {}, {})


def test_capture_curve_reading():
    curve = [{"workload": 0.02, "caught": 0.4}, {"workload": 0.05, "caught": 0.64}, {"workload": 0.1, "caught": 0.8}]
    assert caught_at(curve, 0.0) == 0 and caught_at(curve, 0.05) == pytest.approx(0.64)
    assert caught_at(curve, 0.075) == pytest.approx(0.72) and caught_at(curve, 0.01) == pytest.approx(0.2)


def test_collection_what_if_more_capacity_never_recovers_less_and_commission_costs():
    from models import allocation
    rng = np.random.default_rng(3)
    cases = pd.DataFrame({"entry_bucket": rng.integers(1, 5, 40), "overdue_at_entry": rng.uniform(1000, 20000, 40)})
    options = pd.DataFrame([
        dict(option="ai_voice", channel="ai_voice", agency_id=0, capacity=8.0, cost_per_case=2.0, commission_rate=0.0),
        dict(option="phone", channel="phone", agency_id=0, capacity=6.0, cost_per_case=18.0, commission_rate=0.0),
        dict(option="field", channel="field", agency_id=0, capacity=5.0, cost_per_case=255.0, commission_rate=0.0),
        dict(option="agency:1", channel="agency", agency_id=1, capacity=6.0, cost_per_case=0.0, commission_rate=0.12)])
    rules = pd.DataFrame([dict(entry_bucket=b, min_amount=0, channel=ch, priority=i + 1)
                          for b, chans in {1: ["ai_voice", "phone"], 2: ["phone", "field"], 3: ["agency", "field"],
                                           4: ["agency", "field"]}.items() for i, ch in enumerate(chans)])
    rec = cases["overdue_at_entry"].to_numpy()[:, None] * rng.uniform(0.1, 0.9, (40, 4))
    prepared = (np.zeros_like(rec), rec)
    base = allocation.what_if(prepared, cases, options, rules)
    assert base["optimised"]["net"] >= base["rules"]["net"] - 1e-6  # same capacities: never worse than the rules
    for ch in ("ai_voice", "phone", "field", "agency"):
        more = allocation.what_if(prepared, cases, options, rules, {ch: 2.0})
        assert more["optimised"]["assigned"] >= base["optimised"]["assigned"]
        assert more["optimised"]["assigned"] > base["optimised"]["assigned"] or \
            more["optimised"]["net"] >= base["optimised"]["net"] - 1e-6
    dearer = allocation.what_if(prepared, cases, options, rules, commission_scale=2.0)
    assert dearer["optimised"]["net"] <= base["optimised"]["net"] + 1e-6
