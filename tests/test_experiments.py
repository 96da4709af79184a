"""Champion/challenger strategy tests (data_access/experiments.py): the split, the intervals by hand, promotion,
the demo's tests and the allocation run under a running test.

Hand-worked two-arm example: champion 40 cured of 200 (20 %), challenger 60 of 200 (30 %). Lift 0.10;
se = √(0.2·0.8/200 + 0.3·0.7/200) = √0.00185 = 0.0430116; 95 % interval 0.10 ± 1.959964 × 0.0430116 =
(0.015699, 0.184301): significant. Cases per arm to tell 20 % from 30 % at 5 % / 80 %: (1.959964 + 0.841621)² ×
(0.16 + 0.21) ÷ 0.01 = 290.41.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from data_access import experiments as ex, schema as s
from data_access.scope import Scope

HQ = Scope(username="hq", role="head_office")
STRATEGY = Scope(username="st", role="strategy")
LEADER = Scope(username="b", role="branch_leader", branch_ids=frozenset({2}))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_split_is_reproducible_and_holds_its_shares(seed):
    ids = np.arange(1, 20_001)
    shares = (0.2, 0.3, 0.5)
    a = ex.arms(ids, shares, seed)
    assert (a == ex.arms(ids, shares, seed)).all()                      # the seed alone gives it back
    assert (a[:500] == ex.arms(ids[:500], shares, seed)).all()          # per case: the list around it does not matter
    assert (a != ex.arms(ids, shares, seed + 100)).mean() > 0.4         # another seed, another split
    n = len(ids)
    for k, p in enumerate(shares):                                      # within 4 standard errors of the shares
        assert abs((a == k).sum() - n * p) < 4 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("shares", [(0.5,), (0.6, 0.6), (1.0, 0.0), (0.7, 0.4, -0.1)])
def test_bad_shares_are_refused(shares):
    with pytest.raises(ex.ExperimentError):
        ex.arms([1, 2], shares, 1)


def test_interval_of_a_hand_worked_two_arm_example():
    d, lo, hi = ex.diff_of_rates(40, 200, 60, 200)
    assert d == pytest.approx(0.10) and lo == pytest.approx(0.015699, abs=1e-6) and hi == pytest.approx(0.184301, abs=1e-6)
    assert ex.cases_needed(0.2, 0.3) == pytest.approx(290.41, abs=0.01)
    assert ex.cases_needed(0.2, 0.2) == math.inf


def test_results_per_arm_lift_and_months_needed():
    """Per arm by hand: champion 200 cases, 40 cured, overdue 1000 each, recovered 300 on each cured case; the
    challenger 60 cured. Recovery 12,000 / 200,000 = 6 % against 18,000 / 200,000 = 9 %; over 2 months of intake
    (100 cases an arm a month). Then a weak challenger (44 cured): not significant, 20 % vs 22 % needs
    (2.801585)² × (0.16 + 0.1716) ÷ 0.0004 = 6,506.7 cases an arm, 6,307 more at 100 a month: 64 months."""
    def arm(name, cured, n=200):
        return pd.DataFrame({"arm": name, "overdue_at_entry": 1000.0, "recovered_amount": [300.0] * cured + [0.0] * (n - cured),
                             "cost": 10.0, "cured": [1] * cured + [0] * (n - cured)})
    res = ex.results(pd.concat([arm("rules", 40), arm("optimised", 60)]), ["rules", "optimised"], 7, 2).set_index("arm")
    assert res.loc["rules", "recovery_rate"] == pytest.approx(0.06) and res.loc["optimised", "recovery_rate"] == pytest.approx(0.09)
    assert res.loc["optimised", "net"] == pytest.approx(18_000 - 2_000)
    assert res.loc["optimised", "lift"] == pytest.approx(0.03)
    assert res.loc["optimised", "lift_low"] < 0.03 < res.loc["optimised", "lift_high"]
    assert res.loc["optimised", "cure_low"] == pytest.approx(0.015699, abs=1e-6)
    assert res.loc["optimised", "significant"] and res.loc["optimised", "months_needed"] == 0
    weak = ex.results(pd.concat([arm("rules", 40), arm("optimised", 44)]), ["rules", "optimised"], 7, 2,
                      measure="cure").set_index("arm")
    assert not weak.loc["optimised", "significant"]
    assert weak.loc["optimised", "months_needed"] == 64
    # on recovery the bootstrap's interval: n (z.975 + z.8)² se² ÷ d² cases an arm, se from the interval's width
    w = ex.results(pd.concat([arm("rules", 40), arm("optimised", 44)]), ["rules", "optimised"], 7, 2).set_index("arm")
    r = w.loc["optimised"]
    se = (r.lift_high - r.lift_low) / (2 * ex.Z95)
    assert not r.significant and r.lift == pytest.approx(0.006)
    assert r.months_needed == math.ceil((200 * ((ex.Z95 + ex.Z80) * se / 0.006) ** 2 - 200) / 100)


def test_bootstrap_interval_agrees_with_the_normal_one_on_a_proportion():
    """A recovery ratio with overdue 1 and recovered 0/1 is a proportion: the bootstrap's interval is close to the
    normal approximation's (within 0.01 on 200 cases an arm)."""
    r1 = np.array([1.0] * 40 + [0.0] * 160)
    r2 = np.array([1.0] * 60 + [0.0] * 140)
    d, lo, hi = ex.bootstrap_ratio_diff(r1, np.ones(200), r2, np.ones(200), seed=11)
    assert d == pytest.approx(0.10)
    assert lo == pytest.approx(0.015699, abs=0.01) and hi == pytest.approx(0.184301, abs=0.01)


# ---------------------------------------------------------------- in the database
def test_create_promote_and_policy_audited(empty_engine):
    with empty_engine.begin() as conn:
        with pytest.raises(ex.ExperimentError, match="test.err_role"):
            ex.create(conn, LEADER, "x", "rules", ["optimised"], [0.5, 0.5], 1, "2026-10", 1)
        with pytest.raises(ex.ExperimentError, match="test.err_arms"):
            ex.create(conn, HQ, "x", "rules", ["rules"], [0.5, 0.5], 1, "2026-10", 1)
        tid = ex.create(conn, HQ, "规则 vs 优化", "rules", ["optimised"], [0.5, 0.5], 42, "2026-10", 2)
    with empty_engine.begin() as conn:
        t = conn.execute(select(s.strategy_test).where(s.strategy_test.c.id == tid)).mappings().one()
        assert (t["first_month"], t["last_month"], str(t["matures_on"]), t["status"]) == \
            ("2026-10", "2026-11", "2027-03-01", "running")
        assert ex.running_test(conn, "2026-11")["id"] == tid and ex.running_test(conn, "2026-12") is None
        assert ex.policy(conn) == "optimised"
        with pytest.raises(ex.ExperimentError, match="test.err_role"):
            ex.promote(conn, STRATEGY, tid, "rules")
        ex.promote(conn, HQ, tid, "rules")
    with empty_engine.connect() as conn:
        assert ex.policy(conn) == "rules"
        acts = conn.execute(select(s.audit_log.c.action, s.audit_log.c.target)).all()
    assert ("strategy_test_create", f"strategy_test:{tid}") in acts and ("strategy_promote", f"strategy_test:{tid}") in acts


def test_the_demo_banks_tests_split_by_their_seed(demo_engine):
    with demo_engine.connect() as conn:
        tests = ex.tests(conn, HQ)
        # the lab's AppTest may have promoted the finished test's arm in this shared bank: promotion follows finishing
        assert list(tests["status"].replace({"promoted": "finished"})) == ["running", "finished"]
        done = tests[tests["status"] != "running"].iloc[0]
        cases = ex.arm_cases(conn, HQ, int(done["id"]))
        assert ex.arm_cases(conn, LEADER, int(done["id"])).empty  # bank-wide figures
        worked = conn.execute(select(func.count()).select_from(s.collection_case).where(
            s.collection_case.c.entry_month.between(done["first_month"], done["last_month"]),
            s.collection_case.c.channel != "write_off")).scalar_one()
    assert len(cases) == worked > 50
    again = np.array(["rules", "optimised"])[ex.arms(cases["case_id"], (0.5, 0.5), int(done["seed"]))]
    assert (again == cases["arm"].to_numpy()).all()  # the recorded arms are the seed's


def test_a_running_test_allocates_each_arm_within_its_share(empty_engine):
    from sqlalchemy import update
    from data_access import collections as dc, demo, marts
    from models import allocation
    demo.generate(empty_engine, size="tiny", seed=5, progress=False)
    k = s.collection_case
    with empty_engine.begin() as conn:
        last = conn.execute(select(func.max(k.c.entry_month))).scalar()
        conn.execute(update(k).where(k.c.entry_month == last, k.c.status == "open", k.c.channel != "write_off")
                     .values(channel="pending", agency_id=None))
        test = ex.running_test(conn, last)
        cap = dc.capacity(conn, last).set_index("option")
    marts.refresh(empty_engine)
    assert test is not None
    out = allocation.run(empty_engine, run_by="hq_wang")
    with empty_engine.connect() as conn:
        got = pd.DataFrame(conn.execute(
            select(s.strategy_test_case.c.case_id, s.strategy_test_case.c.arm, k.c.channel, k.c.agency_id)
            .join(k, k.c.id == s.strategy_test_case.c.case_id)
            .where(s.strategy_test_case.c.test_id == test["id"])).all())
    assert len(got) == out["cases"] and set(got["arm"]) == {"rules", "optimised"}
    assert (np.array(["rules", "optimised"])[ex.arms(got["case_id"], (0.5, 0.5), test["seed"])] == got["arm"]).all()
    # each arm within its share of every limited option's capacity left before the run (largest remainder)
    names = list(cap.index)
    caps = dict(zip(["rules", "optimised"], allocation.split_capacity(cap["left"].to_numpy(dtype=float), (0.5, 0.5))))
    for arm, g in got[got["channel"] != "pending"].groupby("arm"):
        opt = [f"agency:{int(a)}" if c == "agency" else c for c, a in zip(g["channel"], g["agency_id"].fillna(0))]
        for o, n in pd.Series(opt).value_counts().items():
            c = caps[arm][names.index(o)]
            assert not np.isfinite(c) or n <= c, (arm, o, n, c)


def test_capacity_split_between_arms_adds_up():
    from models import allocation
    a, b = allocation.split_capacity(np.array([1, 5, 10, np.inf, np.nan, 0]), (0.5, 0.5))
    # 1 → the champion (a tie goes to the first arm); 5 → 3 + 2; 10 → 5 + 5; unlimited stays unlimited
    assert a[:3].tolist() == [1, 3, 5] and b[:3].tolist() == [0, 2, 5] and a[5] == b[5] == 0
    assert np.isinf(a[3]) and np.isinf(b[3])
    c = allocation.split_capacity(np.array([7.0]), (0.2, 0.3, 0.5))
    assert [x[0] for x in c] == [1, 2, 4] and sum(x[0] for x in c) == 7  # 1.4, 2.1, 3.5: the .5 gets the extra
