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


# ---------------------------------------------------------------- the challenger strategies on a hand-built intake
def _intake():
    """20 cases of November 2026: 10 M1, 6 M2, 4 M3, all entering on the 2nd but two (an M1 and an M2) on the 30th.
    Options: AI voice 6, SMS unlimited, phone 5, field 5, two agencies of 4 each. Net values favour field for M2 and
    the agencies for M3, so the optimiser alone sends all four M3 cases to agencies."""
    bucket = [1] * 10 + [2] * 6 + [3] * 4
    dates = [pd.Timestamp("2026-11-02")] * 20
    dates[0] = dates[10] = pd.Timestamp("2026-11-30")
    cases = pd.DataFrame({"case_id": range(1, 21), "entry_bucket": bucket, "overdue_at_entry": 3000.0,
                          "entry_date": dates, "entry_month": "2026-11"})
    options = pd.DataFrame({"option": ["ai_voice", "sms", "phone", "field", "agency:1", "agency:2"],
                            "channel": ["ai_voice", "sms", "phone", "field", "agency", "agency"],
                            "agency_id": [0, 0, 0, 0, 1, 2], "capacity": [6, np.nan, 5, 5, 4, 4],
                            "cost_per_case": [2.0, 0.4, 30.0, 120.0, 15.0, 15.0],
                            "commission_rate": [0, 0, 0, 0, 0.2, 0.25]})
    rules = pd.DataFrame([(1, 0, "ai_voice", 1), (1, 0, "sms", 2), (1, 0, "phone", 3), (2, 0, "phone", 1),
                          (2, 0, "field", 2), (3, 0, "agency", 1), (3, 0, "field", 2), (3, 0, "phone", 3)],
                         columns=["entry_bucket", "min_amount", "channel", "priority"])
    net = np.array([[300, 200, 250, 100, 0, 0]] * 10 + [[50, 20, 400, 600, 0, 0]] * 6 + [[0, 0, 300, 500, 900, 880]] * 4,
                   dtype=float)
    return cases, options, rules, net


def _plan(strategy, params=None, lim=None):
    from data_access import conduct
    from models import allocation
    cases, options, rules, net = _intake()
    fits = allocation.within_caps(cases, options, lim or conduct.Limits())
    elig = allocation.eligibility(cases, options, rules) & fits
    cap = options["capacity"].to_numpy(dtype=float)
    choice = allocation.allocate(strategy, ex.strategy_params(strategy, params), cases, options, rules, net, elig,
                                 fits, cap)
    return cases, options, choice, fits


def _used(options, choice):
    return pd.Series(options["option"].to_numpy()[choice[choice >= 0]]).value_counts().to_dict()


def _within(options, choice, fits, capacity=None):
    cap = dict(zip(options["option"], options["capacity"] if capacity is None else capacity))
    for o, n in _used(options, choice).items():
        assert not np.isfinite(cap[o]) or n <= cap[o], (o, n, cap[o])
    i = np.flatnonzero(choice >= 0)
    assert fits[i, choice[i]].all()  # no case got calls its entry month's calendar has no room for


def test_channel_mix_caps_the_agencies_share_of_the_arm():
    cases, options, free, fits = _plan("optimised")
    assert sum(n for o, n in _used(options, free).items() if o.startswith("agency")) == 4  # uncapped: all M3
    cases, options, choice, fits = _plan("channel_mix", {"max_share": {"agency": 0.1}})
    used = _used(options, choice)
    assert sum(n for o, n in used.items() if o.startswith("agency")) == 2  # ⌊10 % × 20⌋, both agencies together
    assert (choice >= 0).all()  # the other two M3 cases go to field or phone, nobody is queued for the cap
    _within(options, choice, fits)
    # a cap of 0 keeps a channel out altogether; a share of 1 or more, an unknown channel or none are refused
    cases, options, none, fits = _plan("channel_mix", {"max_share": {"field": 0.0}})
    assert "field" not in _used(options, none)
    for bad in ({"max_share": {"agency": 1.0}}, {"max_share": {"telegram": 0.1}}, {"max_share": {}}, {"share": 1}):
        with pytest.raises(ex.ExperimentError, match="test.err_params"):
            ex.strategy_params("channel_mix", bad)


def test_digital_first_sends_early_buckets_to_ai_voice_then_sms_within_the_daily_cap():
    from data_access import conduct
    cases, options, choice, fits = _plan("digital", {"buckets": [1, 2], "channels": ["ai_voice", "sms"]})
    got = pd.Series(options["channel"].to_numpy()[choice], index=cases["entry_bucket"])
    assert set(got.loc[[1, 2]]) == {"ai_voice", "sms"} and (got.loc[[1, 2]] == "ai_voice").sum() == 6  # AI voice full
    assert set(got.loc[3]) == {"agency"}  # M3 by the rules in force
    _within(options, choice, fits)
    # one call a day: the two cases entering on the 30th have one day left, no room for AI voice's four calls
    lim = conduct.Limits(max_attempts_per_day=1)
    cases, options, choice, fits = _plan("digital", None, lim)
    assert list(options["channel"].to_numpy()[choice[[0, 10]]]) == ["sms", "sms"]
    _within(options, choice, fits)
    # the rules alone under the same cap: the M2 case of the 30th goes to a visit, never a call
    cases, options, rules_choice, fits = _plan("rules", None, lim)
    assert options["channel"].to_numpy()[rules_choice[10]] == "field"
    for bad in ({"buckets": [], "channels": ["sms"]}, {"buckets": [5], "channels": ["sms"]},
                {"buckets": [1], "channels": ["phone"]}):
        with pytest.raises(ex.ExperimentError, match="test.err_params"):
            ex.strategy_params("digital", bad)


def test_capacity_strategy_adds_field_visits_within_the_scaled_capacity():
    cases, options, base, fits = _plan("optimised")
    assert _used(options, base).get("field") == 5  # the optimiser fills field as it is
    cases, options, choice, fits = _plan("capacity", {"scale": {"field": 1.2}})
    assert _used(options, choice)["field"] == 6  # 5 × 1.2: every M2 case gets its visit
    _within(options, choice, fits, capacity=[6, np.nan, 5, 6, 4, 4])
    less = _plan("capacity", {"scale": {"agency": 0.5}})  # every agency halved: 2 + 2
    assert sum(n for o, n in _used(less[1], less[2]).items() if o.startswith("agency")) == 4
    assert all(n <= 2 for o, n in _used(less[1], less[2]).items() if o.startswith("agency"))
    for bad in ({"scale": {"field": 1.0}}, {"scale": {"field": 3.0}}, {"scale": {"sms": 1.2}}):
        with pytest.raises(ex.ExperimentError, match="test.err_params"):
            ex.strategy_params("capacity", bad)


def test_create_records_parameters_and_refuses_clearly(empty_engine):
    mix = {"max_share": {"agency": 0.2}}
    with empty_engine.begin() as conn:
        tid = ex.create(conn, HQ, "三臂测试", "optimised", ["channel_mix", "capacity"], [0.5, 0.25, 0.25], 7,
                        "2026-11", 2, measure="net", maturity_months=4, params={"channel_mix": mix})
        for kwargs, key in [(dict(first_month="2026-12"), "test.err_overlap"),   # a running test has December
                            (dict(first_month="2026-13"), "test.err_month"), (dict(months=0), "test.err_months"),
                            (dict(maturity_months=30), "test.err_maturity"), (dict(seed=-1), "test.err_seed"),
                            (dict(shares=[0.6, 0.6]), "test.err_shares"),
                            (dict(params={"capacity": {"scale": {"field": 9}}}), "test.err_params")]:
            args = dict(name="x", champion="rules", challengers=["capacity"], shares=[0.5, 0.5], seed=1,
                        first_month="2027-06", months=1) | kwargs
            with pytest.raises(ex.ExperimentError, match=key):
                ex.create(conn, HQ, **args)
    with empty_engine.connect() as conn:
        row = ex.tests(conn, HQ).set_index("id").loc[tid]
        detail = conn.execute(select(s.audit_log.c.detail).where(s.audit_log.c.action == "strategy_test_create")).scalar()
    assert row["arm_params"] == {"optimised": {}, "channel_mix": mix, "capacity": ex.DEFAULT_PARAMS["capacity"]}
    assert (row["last_month"], str(row["matures_on"])) == ("2026-12", "2027-05-01")
    assert "0.2" in detail and "capacity" in detail
    with empty_engine.begin() as conn:
        ex.promote(conn, HQ, tid, "channel_mix")
        assert ex.policy_in_force(conn) == ("channel_mix", mix)  # the promoted arm's strategy, as it ran


def test_a_test_of_the_new_strategies_allocates_each_arm_as_it_says(empty_engine):
    """On a tiny demo bank: the running demo test finished, a four-arm test on the newest month's pending cases.
    Each arm is allocated by its strategy (the channel-mix arm's agencies within their share, the digital arm's M1
    and M2 cases to AI voice or SMS only), every case keeps its arm, and the simulator's prediction has every arm."""
    from sqlalchemy import update
    from data_access import demo, marts
    from models import allocation
    demo.generate(empty_engine, size="tiny", seed=5, progress=False)
    k, t = s.collection_case, s.strategy_test
    with empty_engine.begin() as conn:
        last = conn.execute(select(func.max(k.c.entry_month))).scalar()
        conn.execute(update(k).where(k.c.entry_month == last, k.c.status == "open", k.c.channel != "write_off")
                     .values(channel="pending", agency_id=None))
        with pytest.raises(ex.ExperimentError, match="test.err_overlap"):  # the demo's running test has the month
            ex.create(conn, HQ, "x", "rules", ["digital"], [0.5, 0.5], 1, last, 1)
        with pytest.raises(ex.ExperimentError, match="test.err_month_past"):
            ex.create(conn, HQ, "x", "rules", ["digital"], [0.5, 0.5], 1, "2020-01", 1)
        conn.execute(update(t).where(t.c.status == "running").values(status="finished"))
        mix = {"max_share": {"agency": 0.1}}
        tid = ex.create(conn, HQ, "新策略", "rules", ["channel_mix", "digital", "capacity"], [0.25] * 4, 99, last, 1,
                        params={"channel_mix": mix, "capacity": {"scale": {"field": 1.5}}})
    marts.refresh(empty_engine)
    allocation.run(empty_engine, run_by="hq_wang")
    with empty_engine.connect() as conn:
        got = pd.DataFrame(conn.execute(
            select(s.strategy_test_case.c.case_id, s.strategy_test_case.c.arm, k.c.channel, k.c.entry_bucket)
            .join(k, k.c.id == s.strategy_test_case.c.case_id).where(s.strategy_test_case.c.test_id == tid)).all())
        pred = ex.predicted(conn, HQ, tid)
    names = np.array(["rules", "channel_mix", "digital", "capacity"])
    assert set(got["arm"]) == set(names)
    assert (names[ex.arms(got["case_id"], [0.25] * 4, 99)] == got["arm"]).all()
    m = got[got["arm"] == "channel_mix"]
    assert (m["channel"] == "agency").sum() <= math.floor(0.1 * len(m))
    d = got[(got["arm"] == "digital") & got["entry_bucket"].isin([1, 2]) & (got["channel"] != "pending")]
    assert len(d) and set(d["channel"]) <= {"ai_voice", "sms"}
    assert set(pred["arm"]) == set(names) and (pred["predicted"] > 0).all()
