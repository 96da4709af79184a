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


# ---------------------------------------------------------------- approval cut-off and limits
def _cells():
    """Four cells worked by hand in the test below (amounts in 元, rates already × amount)."""
    cols = ["segment", "village_grade", "credit_household", "score_band", "decision", "applications", "amount",
            "rate_amount", "pd_sum", "pd_amount", "outcome_known", "bads", "known_pd_sum"]
    return pd.DataFrame([
        ("farmer", "AAA", 1, 600, "approved", 10, 100_000, 6_000, 0.2, 2_000, 8, 0, 0.16),
        ("farmer", "none", 0, 550, "approved", 10, 100_000, 8_000, 1.0, 10_000, 10, 2, 1.0),
        ("business", "A", 0, 520, "rejected", 10, 200_000, 16_000, 2.0, 40_000, 0, 0, 0.0),
        ("business", "none", 1, 580, "rejected", 5, 50_000, 3_000, 0.25, 2_500, 0, 0, 0.0)], columns=cols)


def test_approval_simulator_by_hand():
    from models import approval
    cells = _cells()
    now = approval.current(cells)
    # approved A and B: 20 of 35; PD 0.2 + 1.0 over 20; EL 0.45 × (2000 + 10000);
    # income A (6000 − 0.4 % × 100000) × 0.98 + B 8000 × 0.9; cost 2.5 % × 200000
    assert now["approval_rate"] == pytest.approx(20 / 35) and now["bad_rate"] == pytest.approx(0.06)
    assert now["expected_loss"] == pytest.approx(5400) and now["income"] == pytest.approx(5488 + 7200)
    assert now["net_margin"] == pytest.approx(12688 - 5000 - 5400) and now["realised_bad_rate"] == pytest.approx(2 / 18)
    policy = approval.Policy(cutoff=560, segment_cutoffs={"business": 575}, limit_multiplier={"AAA": 1.5},
                             ch_discount=0.01)
    out = approval.simulate(cells, policy)
    new = out["proposed"]
    # approves A (600 ≥ 560) and D (business, 580 ≥ 575); not B (550) nor C (520 < 575)
    assert new["approved"] == 15 and new["bad_rate"] == pytest.approx(0.45 / 15)
    assert new["exposure"] == pytest.approx(150_000 + 50_000)
    assert new["expected_loss"] == pytest.approx(0.45 * (2_000 * 1.5 + 2_500))
    assert new["income"] == pytest.approx(5_000 * 1.5 * 0.98 + 2_500 * 0.95)
    assert new["net_margin"] == pytest.approx(9_725 - 5_000 - 2_475)
    assert out["current"] == now
    swap = out["swap"].set_index("group")
    assert swap.loc["kept", "applications"] == 10 and swap.loc["swap_out", "applications"] == 10
    assert swap.loc["swap_in", "applications"] == 5 and swap.loc["rejected", "applications"] == 10
    assert swap.loc["swap_out", "realised_bad_rate"] == pytest.approx(0.2)
    assert swap.loc["swap_in", "expected_bad_rate"] == pytest.approx(0.05) and pd.isna(swap.loc["swap_in", "realised_bad_rate"])
    curve = approval.tradeoff(cells)
    assert curve["cutoff"].tolist() == [600, 580, 550, 520]
    assert curve["approval_rate"].tolist() == pytest.approx([10 / 35, 15 / 35, 25 / 35, 1.0])
    assert curve["bad_rate"].tolist() == pytest.approx([0.02, 0.03, 1.45 / 25, 3.45 / 35])
    assert approval.equal_rate_cutoff(cells) == 580  # 15/35 and 25/35 are as far from 20/35: the stricter one
    back = approval.backtest(cells)
    assert back == {"known": 18, "predicted": pytest.approx(1.16 / 18), "realised": pytest.approx(2 / 18)}


@st.composite
def cells_and_policies(draw):
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    n = draw(st.integers(1, 40))
    cells = pd.DataFrame({
        "segment": rng.choice(["farmer", "grower", "business", "salaried"], n),
        "village_grade": rng.choice(["AAA", "AA", "A", "none"], n), "credit_household": rng.integers(0, 2, n),
        "score_band": rng.integers(80, 140, n) * 5, "decision": rng.choice(["approved", "rejected"], n),
        "applications": rng.integers(1, 50, n).astype(float)})
    cells["amount"] = cells["applications"] * rng.uniform(1e4, 2e5, n)
    cells["rate_amount"] = cells["amount"] * rng.uniform(0.04, 0.09, n)
    cells["pd_sum"] = cells["applications"] * rng.uniform(0.001, 0.4, n)
    cells["pd_amount"] = cells["pd_sum"] / cells["applications"] * cells["amount"]
    cells["outcome_known"] = cells["bads"] = cells["known_pd_sum"] = 0.0
    cut = draw(st.integers(400, 700))
    stricter = cut + draw(st.integers(0, 100))
    seg = {s_: draw(st.integers(-50, 50)) for s_ in draw(st.lists(st.sampled_from(["farmer", "business"]), unique=True))}
    raise_ = {s_: draw(st.integers(0, 60)) for s_ in seg}
    return cells, cut, stricter, seg, raise_


@settings(max_examples=150, deadline=None)
@given(cells_and_policies())
def test_a_stricter_cut_off_never_approves_more(case):
    from models import approval
    cells, cut, stricter, seg, raise_ = case
    loose = approval.Policy(cutoff=cut, segment_cutoffs={k: cut + v for k, v in seg.items()})
    strict = approval.Policy(cutoff=stricter,
                             segment_cutoffs={k: stricter + v + raise_[k] for k, v in seg.items()})
    a, b = approval.simulate(cells, loose)["proposed"], approval.simulate(cells, strict)["proposed"]
    assert b["approved"] <= a["approved"] and b["exposure"] <= a["exposure"] + 1e-6
    assert (strict.approves(cells) <= loose.approves(cells)).all()  # and never a case the looser one refused
    curve = approval.tradeoff(cells)
    assert (np.diff(curve["approved"]) > 0).all()


def test_approval_mart_from_the_scored_applications(demo_engine):
    """Scoring fills the mart: per branch and the bank roll-up, every application once, PDs summed; lab roles
    read it, nobody else; the backtest figures are in the registry."""
    from sqlalchemy import func, select
    from data_access import schema as s
    from data_access.queries import available_months
    from models import approval, train_scorecard
    out = train_scorecard.run(demo_engine, trained_by="test")
    with demo_engine.connect() as conn:
        n_apps = conn.execute(select(func.count()).select_from(s.application)).scalar()
        assert out["scored"] == n_apps
        assert conn.execute(select(func.count()).select_from(s.application_score)).scalar() == n_apps
        ma = s.mart_approval
        by_branch = conn.execute(select(func.sum(ma.c.applications), func.sum(ma.c.pd_sum)).where(ma.c.branch_id != 0)).one()
        bank = conn.execute(select(func.sum(ma.c.applications), func.sum(ma.c.pd_sum)).where(ma.c.branch_id == 0)).one()
        pd_total = conn.execute(select(func.sum(s.application_score.c.pd))).scalar()
        assert by_branch[0] == bank[0] == n_apps and by_branch[1] == pytest.approx(pd_total) == pytest.approx(bank[1])
        month = available_months(conn)[-1]
        lab = strategy.approval_inputs(conn, scope_for_user(conn, "strategy_chen"), Filters(month=month))
        for user in ("branch01", "agency1"):
            assert strategy.approval_inputs(conn, scope_for_user(conn, user), Filters(month=month)).empty
        twelve = conn.execute(select(func.count()).select_from(s.application).where(
            s.application.c.month > shift_month(month, -12), s.application.c.month <= month)).scalar()
        reg = conn.execute(select(s.model_registry.c.metrics).where(s.model_registry.c.id == out["model_id"])).scalar()
    assert lab["applications"].sum() == twelve
    now = approval.current(lab)
    assert 0 < now["approval_rate"] < 1 and 0 < now["bad_rate"] < 0.5
    import json
    bt = json.loads(reg)["approval_backtest"]
    assert bt["applications"] > 0 and 0 <= bt["realised"] <= 1 and 0 < bt["predicted"] < 1
    assert train_scorecard.ensure_scored(demo_engine) == 0  # nothing new to score


def test_scenario_summary_pdf_is_one_page_with_the_figures():
    import io
    from pypdf import PdfReader
    from components.scenario_pdf import build_summary, fmt
    pdf = build_summary("策略实验室 · 审批阈值与额度", {"name": "阈值560", "created_by": "strategy_chen",
                                                    "created_at": "2026-11-25 10:00:00"},
                        [("审批阈值", fmt(560, "count")), ("审批通过率", fmt(0.4321, "rate"))],
                        [("基准", 2288.0, fmt(2288.0, "money_wan")), ("方案", 2250.0, fmt(2250.0, "money_wan"))],
                        "净收益", "页脚")
    reader = PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text().replace("\x00", "")
    assert len(reader.pages) == 1
    for want in ("阈值560", "strategy_chen", "560", "43.21%", "净收益", "基准", "方案"):
        assert want in text, want
