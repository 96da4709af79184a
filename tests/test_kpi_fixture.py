"""KPIs checked against a bank of six loans worked out by hand.

The fixture (three months, 2026-01..03, one branch, one village):

| loan | amount | disbursed | Jan        | Feb          | Mar          | end      |
|------|--------|-----------|------------|--------------|--------------|----------|
| L1   | 1000   | 2026-01   | M0         | M0           | M0           | active   |
| L2   | 2000   | 2026-01   | M0         | M1 (10 dpd)  | M2 (40 dpd)  | active   |
| L3   | 3000   | 2026-01   | M0         | M1 (20 dpd)  | M0 (cured)   | active   |
| L4   | 4000   | 2026-01   | M0         | M0           | —            | paid off |
| L5   | 5000   | 2025-12   | M3 (75)    | M4+ (105)    | M4+ (135)    | active   |
| L6   | 1000   | 2026-02   | —          | M0           | M1 (5 dpd)   | active   |

Worked by hand:
* Jan→Feb roll from M0: (2000 + 3000) / (1000 + 2000 + 3000 + 4000) = 0.5; from M3: 5000 / 5000 = 1.
* Feb→Mar roll from M0: 1000 / (1000 + 4000 + 1000) = 1/6, paid off 4000/6000; from M1: 2000 / 5000 = 0.4,
  cured 3000 / 5000 = 0.6.
* March balance 12000 (L1 1000, L2 2000, L3 3000, L5 5000, L6 1000); NPL (次级+) = L5 = 5000 → 5/12.
  Classes: 正常 L1+L3 = 4000, 关注 L2+L6 = 3000, 次级 L5 = 5000.
* Vintage 2026-01 (amount 10000): ever 30+ is 0 at mob 0 and 1, 2000/10000 = 0.2 at mob 2; ever 90+ stays 0.
* Ten households, seven with an active credit line, five with a balance in March:
  coverage 0.7, usage 5/7.
* Cases: M1 (overdue 100, recovered 0) and (200, 200); M2 (300, 150); M4+ (5000, 500):
  recovery M1 = 200/300, M2 = 0.5, M1+M2 = 350/600, M3+ = 0.1; contact 2 of 4; promises kept 1 of 2.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from sqlalchemy import insert, select

from data_access import kpi, marts, queries, schema as s
from data_access.scope import Scope

D = dt.date
HQ = Scope(username="t", role="head_office", can_see_pii=True)

SNAPSHOTS = {  # loan: {month: (bucket, dpd, class5, balance)}
    1: {"2026-01": (0, 0, 1, 1000), "2026-02": (0, 0, 1, 1000), "2026-03": (0, 0, 1, 1000)},
    2: {"2026-01": (0, 0, 1, 2000), "2026-02": (1, 10, 2, 2000), "2026-03": (2, 40, 2, 2000)},
    3: {"2026-01": (0, 0, 1, 3000), "2026-02": (1, 20, 2, 3000), "2026-03": (0, 0, 1, 3000)},
    4: {"2026-01": (0, 0, 1, 4000), "2026-02": (0, 0, 1, 4000)},
    5: {"2026-01": (3, 75, 2, 5000), "2026-02": (4, 105, 3, 5000), "2026-03": (4, 135, 3, 5000)},
    6: {"2026-02": (0, 0, 1, 1000), "2026-03": (1, 5, 2, 1000)},
}
LOANS = {1: (1000, "2026-01", "active"), 2: (2000, "2026-01", "active"), 3: (3000, "2026-01", "active"),
         4: (4000, "2026-01", "paid_off"), 5: (5000, "2025-12", "active"), 6: (1000, "2026-02", "active")}


def load_fixture(conn) -> None:
    conn.execute(insert(s.dim_month), [dict(month=m, idx=2026 * 12 + i) for i, m in
                                       enumerate(["2026-01", "2026-02", "2026-03"])] + [dict(month="2025-12", idx=2026 * 12 - 1)])
    load_reference(conn)
    conn.execute(insert(s.customer), [dict(id=i, customer_no=f"C{i}", name=f"客户{i}", id_number="320324199001011234",
                                           village_code="320324100001", branch_id=2, segment="farmer",
                                           deposit_balance=100, created_on=D(2020, 1, 1)) for i in range(1, 11)])
    _load_book(conn)


def load_reference(conn) -> None:
    """One county, township and village, the head office and branch 2 (甲支行), one credit product 1."""
    conn.execute(insert(s.region), [
        dict(code="320324", name="县", level="county", parent_code=None, county_code="320324", schematic=False),
        dict(code="320324100", name="镇", level="township", parent_code="320324", county_code="320324", schematic=True),
        dict(code="320324100001", name="村", level="village", parent_code="320324100", county_code="320324", schematic=True)])
    conn.execute(insert(s.org_unit), [dict(id=1, code="HO", name="总行", level="head_office", parent_id=None),
                                      dict(id=2, code="B1", name="甲支行", level="branch", parent_id=1)])
    conn.execute(insert(s.branch_township), [dict(branch_id=2, township_code="320324100")])
    conn.execute(insert(s.product), [dict(id=1, code="P", name="农户贷", category="farm", guarantee_type="credit",
                                          term_months=12, annual_rate=0.05, seasonal=False)])


def _load_book(conn) -> None:
    conn.execute(insert(s.credit_line), [dict(id=i, customer_id=i, product_id=1, limit_amount=10000,
                                              granted_on=D(2025, 6, 1), expires_on=D(2027, 6, 1), status="active")
                                         for i in range(1, 8)])
    conn.execute(insert(s.loan), [dict(id=i, loan_no=f"L{i}", customer_id=i, product_id=1, branch_id=2,
                                       village_code="320324100001", segment="farmer", disbursed_on=D(2026, 1, 5),
                                       disbursed_month=m, maturity_on=D(2027, 1, 5), amount=a, annual_rate=0.05,
                                       term_months=12, guarantee_type="credit", status=st)
                                  for i, (a, m, st) in LOANS.items()])
    rows = []
    for loan, months in SNAPSHOTS.items():
        d_idx = {"2026-01": 0, "2026-02": 1, "2026-03": 2, "2025-12": -1}[LOANS[loan][1]]
        for month, (b, dpd, c5, bal) in months.items():
            rows.append(dict(loan_id=loan, month=month, mob={"2026-01": 0, "2026-02": 1, "2026-03": 2}[month] - d_idx,
                             balance=bal, overdue_amount=0 if b == 0 else 100, dpd=dpd, bucket=b, class5=c5))
    conn.execute(insert(s.loan_snapshot), rows)
    cases = [(1, 2, "2026-02", 1, 100, 0, "rolled"), (2, 3, "2026-02", 1, 200, 200, "cured"),
             (3, 5, "2026-02", 4, 5000, 500, "open"), (4, 2, "2026-03", 2, 300, 150, "open")]
    conn.execute(insert(s.collection_case), [dict(id=i, case_no=f"K{i}", loan_id=l, customer_id=l, branch_id=2,
                                                  entry_month=m, entry_date=D(2026, int(m[-2:]), 3), entry_bucket=b,
                                                  entry_dpd=1, overdue_at_entry=o, balance_at_entry=1000,
                                                  channel="phone", status=st, recovered_amount=r, cost=10,
                                                  complaints=0, compliance_breaches=0)
                                             for i, l, m, b, o, r, st in cases])
    conn.execute(insert(s.collection_action), [
        dict(case_id=1, action_on=D(2026, 2, 4), channel="phone", contacted=False, promise_amount=None,
             promise_date=None, promise_kept=None, result="no_answer"),
        dict(case_id=2, action_on=D(2026, 2, 4), channel="phone", contacted=True, promise_amount=200,
             promise_date=D(2026, 2, 10), promise_kept=True, result="promise_to_pay"),
        dict(case_id=3, action_on=D(2026, 2, 4), channel="phone", contacted=True, promise_amount=100,
             promise_date=D(2026, 2, 10), promise_kept=False, result="promise_to_pay")])


@pytest.fixture
def fixture_conn(empty_engine):
    with empty_engine.begin() as conn:
        load_fixture(conn)
        marts.refresh_in(conn)
    with empty_engine.connect() as conn:
        yield conn


def _mig(conn, month):
    m = s.mart_migration
    res = conn.execute(select(m.c.from_bucket, m.c.to_bucket, m.c.from_class, m.c.to_class, m.c.balance)
                       .where(m.c.month == month))
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def test_roll_rates_by_hand(fixture_conn):
    jan = kpi.roll_rates(_mig(fixture_conn, "2026-01"))
    assert jan[0] == pytest.approx(0.5)
    assert jan[3] == pytest.approx(1.0)
    feb_matrix = kpi.roll_rate_matrix(_mig(fixture_conn, "2026-02"))
    assert feb_matrix.loc[0, 1] == pytest.approx(1 / 6)
    assert feb_matrix.loc[0, 5] == pytest.approx(4 / 6)  # paid off
    assert feb_matrix.loc[1, 2] == pytest.approx(0.4)
    assert feb_matrix.loc[1, 0] == pytest.approx(0.6)
    assert feb_matrix.loc[4, 4] == pytest.approx(1.0)
    # no transitions out of the last month: there is no month after it
    assert _mig(fixture_conn, "2026-03").empty


def test_class_migration_by_hand(fixture_conn):
    m = kpi.roll_rate_matrix(_mig(fixture_conn, "2026-01"), state="class")
    # January 正常 (L1..L4, 10000) → February: 正常 5000 (L1, L4), 关注 5000 (L2, L3)
    assert m.loc[1, 1] == pytest.approx(0.5)
    assert m.loc[1, 2] == pytest.approx(0.5)
    assert m.loc[2, 3] == pytest.approx(1.0)  # L5 关注 → 次级


def test_npl_and_five_categories_by_hand(fixture_conn):
    trend = queries.portfolio_trend(fixture_conn, HQ, queries.Filters(month="2026-03"))
    mar = trend.set_index("month").loc["2026-03"]
    assert mar["balance"] == pytest.approx(12000)
    assert mar["npl_balance"] == pytest.approx(5000)
    assert kpi.npl_ratio(mar["npl_balance"], mar["balance"]) == pytest.approx(5 / 12)
    mp = s.mart_portfolio
    res = fixture_conn.execute(select(mp.c.class5, mp.c.bucket, mp.c.balance).where(mp.c.month == "2026-03"))
    by = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    dist = kpi.class5_distribution(by)
    assert list(dist.round(6)) == pytest.approx([4000 / 12000, 3000 / 12000, 5000 / 12000, 0, 0])
    shares = kpi.bucket_shares(by)
    assert shares[0] == pytest.approx(4000 / 12000)
    assert shares[1] == pytest.approx(1000 / 12000)
    assert shares[2] == pytest.approx(2000 / 12000)
    assert shares[4] == pytest.approx(5000 / 12000)
    assert kpi.overdue_ratio(by) == pytest.approx(8000 / 12000)


def test_vintage_by_hand(fixture_conn):
    mv = s.mart_vintage
    res = fixture_conn.execute(select(mv.c.cohort, mv.c.mob, mv.c.amount, mv.c.ever30_amount, mv.c.ever90_amount))
    v = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    curves = kpi.vintage_curves(v, "ever30")
    assert curves.loc["2026-01", 0] == 0
    assert curves.loc["2026-01", 1] == 0
    assert curves.loc["2026-01", 2] == pytest.approx(0.2)
    assert curves.loc["2026-02", 1] == 0
    assert math.isnan(curves.loc["2026-02", 2])  # not observed yet
    assert (kpi.vintage_curves(v, "ever90").fillna(0) == 0).all().all()
    # the cohort before the first snapshot month is left out: its early months were never observed
    assert "2025-12" not in set(v["cohort"])


def test_coverage_usage_by_hand(fixture_conn):
    ov = queries.overview(fixture_conn, HQ, queries.Filters(month="2026-03")).set_index("month")
    assert ov.loc["2026-03", "households"] == 10
    assert ov.loc["2026-03", "credit_coverage"] == pytest.approx(0.7)
    assert ov.loc["2026-03", "usage_rate"] == pytest.approx(5 / 7)
    assert ov.loc["2026-03", "npl_ratio"] == pytest.approx(5 / 12)
    assert ov.loc["2026-03", "m1_ratio"] == pytest.approx(1000 / 12000)
    assert ov.loc["2026-03", "m3p_ratio"] == pytest.approx(5000 / 12000)
    assert ov.loc["2026-01", "disbursed_amount"] == pytest.approx(10000)


def test_collection_rates_by_hand(fixture_conn):
    c = queries.collection_summary(fixture_conn, HQ, queries.Filters(month="2026-03"), by=("entry_bucket",))
    rates = kpi.recovery_rates(c)
    assert rates["M1"] == pytest.approx(200 / 300)
    assert rates["M2"] == pytest.approx(0.5)
    assert rates["M1+M2"] == pytest.approx(350 / 600)
    assert rates["M3+"] == pytest.approx(0.1)
    tot = c.sum(numeric_only=True)
    assert kpi.contact_rate(tot["contacted_cases"], tot["cases"]) == pytest.approx(0.5)
    assert kpi.promise_kept_rate(tot["kept_cases"], tot["promised_cases"]) == pytest.approx(0.5)
    assert kpi.cure_rate(tot["cured_cases"], tot["cases"]) == pytest.approx(0.25)


@pytest.mark.parametrize("dpd,bucket,class5", [(0, 0, 1), (1, 1, 2), (30, 1, 2), (31, 2, 2), (60, 2, 2), (61, 3, 2),
                                               (90, 3, 2), (91, 4, 3), (180, 4, 3), (181, 4, 3), (270, 4, 3),
                                               (271, 4, 4), (360, 4, 4),
                                               (361, 4, 5)])
def test_bucket_and_class_boundaries(dpd, bucket, class5):
    assert kpi.bucket_of_dpd(dpd) == bucket
    assert kpi.class5_of_dpd(dpd) == class5


def test_ratio_with_zero_denominator_is_nan():
    assert math.isnan(kpi.npl_ratio(5, 0))
    assert math.isnan(kpi.credit_coverage(0, 0))
    with pytest.raises(ValueError, match="dpd must be >= 0"):
        kpi.bucket_of_dpd(-1)


def test_village_filter_reads_the_village_mart_with_the_same_figures(fixture_conn):
    whole = queries.overview(fixture_conn, HQ, queries.Filters(month="2026-03")).set_index("month")
    village = queries.overview(fixture_conn, HQ, queries.Filters(month="2026-03", township_code="320324100",
                                                                 village_code="320324100001")).set_index("month")
    for col in ("balance", "npl_ratio", "m1_ratio", "m2_ratio", "m3p_ratio", "credit_coverage", "usage_rate"):
        assert village.loc["2026-03", col] == pytest.approx(whole.loc["2026-03", col]), col
    assert village.loc["2026-01", "disbursed_amount"] == pytest.approx(10000)
    # recovery and tasks are not kept per village: unknown, not zero
    assert math.isnan(village.loc["2026-03", "recovery_rate"])
    other = queries.overview(fixture_conn, HQ, queries.Filters(month="2026-03", village_code="320324100999"))
    assert (other["balance"] == 0).all()


def test_cbirc_migration_rates_by_hand(fixture_conn):
    # Jan → Feb: 正常 at the start L1..L4 = 10000, none repaid; L2 (2000) and L3 (3000) are 关注 at the end
    jan = kpi.cbirc_migration_rates(_mig_full(fixture_conn, "2026-01"))
    assert jan[1] == pytest.approx(5000 / 10000)
    assert jan[2] == pytest.approx(1.0)     # L5: 关注 5000 → 次级, nothing repaid
    assert jan[0] == pytest.approx(5000 / (10000 + 5000))  # 正常贷款迁徙率: only L5 became 不良
    # Feb → Mar: 正常 at the start L1 1000, L4 4000 (paid off: all of it a reduction), L6 1000 → 关注
    feb = kpi.cbirc_migration_rates(_mig_full(fixture_conn, "2026-02"))
    assert feb[1] == pytest.approx(1000 / (6000 - 4000))
    assert feb[2] == 0 and feb[3] == 0 and feb[0] == 0
    assert math.isnan(feb[4])               # no 可疑 loans at the start


def test_cbirc_reduction_enters_the_denominator():
    # 正常 at start: A 1000 → 次级; B 3000 → 正常 with 2000 left (1000 repaid); C 1000 paid off (class 6)
    df = pd.DataFrame({"from_class": [1, 1, 1], "to_class": [3, 1, 6], "balance": [1000, 3000, 1000],
                       "balance_next": [1000, 2000, 0]})
    assert kpi.cbirc_migration_rates(df)[1] == pytest.approx(1000 / (5000 - 2000))


def test_cbirc_exam_example():
    """The worked example of the regulator's definition: 10,000 正常 at the start, 800 of it classified 关注 or
    worse at the end, 600 repaid in the period → 800 ÷ (10,000 − 600) = 8.51 %."""
    df = pd.DataFrame({"from_class": [1, 1, 1, 1], "to_class": [1, 2, 3, 5],
                       "balance": [9200, 500, 200, 100], "balance_next": [8600, 500, 200, 100]})
    rates = kpi.cbirc_migration_rates(df)
    assert round(rates[1] * 100, 2) == 8.51
    assert rates[1] == pytest.approx(800 / 9400)
    parts = kpi.cbirc_migration_parts(df)
    assert (parts.loc[1, "start"], parts.loc[1, "reduction"], parts.loc[1, "moved"]) == (10000, 600, 800)


def test_cbirc_special_mention_exam_example():
    # 关注 5,000 at the start, 500 of it 次级 or worse at the end, 1,000 repaid → 500 ÷ 4,000 = 12.5 %
    df = pd.DataFrame({"from_class": [2, 2, 2], "to_class": [2, 3, 6], "balance": [4000, 500, 500],
                       "balance_next": [3500, 500, 0]})
    assert kpi.cbirc_migration_rates(df)[2] == pytest.approx(0.125)


def test_cbirc_numerator_is_the_period_end_balance():
    """A 正常 loan of 1,000 that is 关注 at the end with 700 left moved 700, not 1,000; the 300 it repaid is a
    reduction: 700 ÷ (10,000 − 300). A 关注 loan of 2,000 now 次级 with 1,500 left and one of 1,000 now 可疑 with
    1,000: 正常贷款迁徙率 = (0 + 1,500 + 1,000) ÷ (10,000 − 300 + 3,000 − 500)."""
    df = pd.DataFrame({"from_class": [1, 1, 2, 2], "to_class": [1, 2, 3, 4], "balance": [9000, 1000, 2000, 1000],
                       "balance_next": [9000, 700, 1500, 1000]})
    rates = kpi.cbirc_migration_rates(df)
    assert rates[1] == pytest.approx(700 / 9700)
    assert rates[2] == pytest.approx(2500 / 2500)
    assert rates[0] == pytest.approx(2500 / (9700 + 2500))


def test_cbirc_write_off_is_a_reduction_not_a_move():
    # 可疑 A 2,000 written off (class 7, nothing left), B 3,000 → 损失 with 3,000: 3,000 ÷ (5,000 − 2,000)
    # 次级 C 4,000 written off, D 1,000 → 可疑 with 800: 800 ÷ (5,000 − 4,000 − 200)
    df = pd.DataFrame({"from_class": [4, 4, 3, 3], "to_class": [7, 5, 7, 4], "balance": [2000, 3000, 4000, 1000],
                       "balance_next": [0, 3000, 0, 800]})
    rates = kpi.cbirc_migration_rates(df)
    assert rates[4] == pytest.approx(1.0)
    assert rates[3] == pytest.approx(800 / 800)


def test_cbirc_reduction_per_loan_when_kept():
    # a mart row summing a loan repaid 500 and one drawn up by 500: the kept per-loan reduction (500) is used
    df = pd.DataFrame({"from_class": [1, 1], "to_class": [1, 2], "balance": [2000, 1000], "balance_next": [2000, 800],
                       "reduction": [500, 200]})
    assert kpi.cbirc_migration_rates(df)[1] == pytest.approx(800 / (3000 - 700))


def _mig_full(conn, month):
    m = s.mart_migration
    res = conn.execute(select(m.c.from_class, m.c.to_class, m.c.balance, m.c.balance_next)
                       .where(m.c.month == month, m.c.branch_id == 0))
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def test_guarantee_filter_selects_products(fixture_conn):
    credit = queries.portfolio_trend(fixture_conn, HQ, queries.Filters(month="2026-03", guarantee_type="credit"))
    mortgage = queries.portfolio_trend(fixture_conn, HQ, queries.Filters(month="2026-03", guarantee_type="mortgage"))
    assert credit.set_index("month").loc["2026-03", "balance"] == pytest.approx(12000)  # the fixture's one product
    assert mortgage.empty


def test_village_drill_keeps_the_class_and_bucket_split(fixture_conn):
    whole = queries.Filters(month="2026-03")
    village = queries.Filters(month="2026-03", township_code="320324100", village_code="320324100001")
    for by in ("class5", "bucket"):
        a = queries.portfolio_breakdown(fixture_conn, HQ, whole, by).set_index(by)["balance"]
        b = queries.portfolio_breakdown(fixture_conn, HQ, village, by).set_index(by)["balance"]
        assert b.reindex(a.index).to_numpy() == pytest.approx(a.to_numpy()), by
    assert queries.portfolio_breakdown(fixture_conn, HQ, village, "segment").empty


def test_industry_breakdown_adds_up(fixture_conn):
    ind = queries.industry_breakdown(fixture_conn, HQ, queries.Filters(month="2026-03"))
    assert ind["balance"].sum() == pytest.approx(12000)
    assert ind["npl_balance"].sum() == pytest.approx(5000)


def test_ytd_migration_needs_a_december_start(fixture_conn):
    # the fixture starts in 2026-01 with no December 2025 snapshot: no year-to-date pairs, nothing invented
    assert queries.migration_ytd(fixture_conn, HQ, queries.Filters(month="2026-03")).empty


def test_high_risk_coverage_counts_only_inspections_done_within_30_days(fixture_conn):
    base = dict(customer_id=1, manager_id=None, branch_id=2, task_type="on_site", trigger="risk", month="2026-03",
                created_on=D(2026, 3, 1), due_on=D(2026, 3, 8))
    fixture_conn.execute(insert(s.postloan_task), [
        dict(base, id=1, loan_id=1, completed_on=D(2026, 3, 11), status="done", result="经营正常"),    # 10 days
        dict(base, id=2, loan_id=2, completed_on=D(2026, 4, 10), status="done", result="已核实风险"),  # 40 days
        dict(base, id=3, loan_id=3, completed_on=None, status="pending", result=None)])
    row = queries.task_monitor(fixture_conn, HQ, "2026-03").set_index("branch_id").loc[2]
    assert row["risk_tasks"] == 3 and row["risk_done"] == 1 and row["pending"] == 1
    assert row["risk_coverage_30d"] == pytest.approx(1 / 3)
