"""五级分类偏离 on the six-loan bank of test_kpi_fixture, worked by hand, plus the import's flag and the property
that the deviation mart is exactly the snapshots classed better than their floor.

Changes to the fixture (test_kpi_fixture's table) for this file:
* L2 in March: 95 days overdue (M4+), the bank's class 次级 (right).
* L5 in March: 135 days overdue, the bank's class 关注 (too good: its floor is 次级, set by "over 90 days").
* L3 cured in March after 20 days in February: 正常, right (it was never an NPL).

By hand, March: balance 12000; NPL (the bank's classes) = L2 2000; over 90 days = L2 2000 + L5 5000 = 7000
→ 逾期90天以上/不良 = 7000 / 2000 = 350 %; over 60 days the same 7000 → 350 %.
February: NPL = L5 5000 (105 days, 次级); over 90 = 5000 → 100 %; over 60 = 5000 → 100 %.
January: no NPL → no ratio. Deviations in March: L5 only (5000, 1 class, reason "over 90 days").
"""
from __future__ import annotations

import math

import pandas as pd
import pytest
from sqlalchemy import select, text

from data_access import classification as cls, deviation as dv, importer, marts, queries, schema as s
from data_access.scope import Scope

from .test_kpi_fixture import load_fixture

HQ = Scope(username="t", role="head_office", can_see_pii=True)
STRATEGY = Scope(username="s", role="strategy", can_see_pii=False)
OTHER_BRANCH = Scope(username="b", role="branch_leader", can_see_pii=True, branch_ids=frozenset({99}))
OWN_BRANCH = Scope(username="b2", role="branch_leader", can_see_pii=True, branch_ids=frozenset({2}))


@pytest.fixture
def dev_conn(empty_engine):
    with empty_engine.begin() as conn:
        load_fixture(conn)
        conn.execute(text("UPDATE loan_snapshot SET dpd = 95, bucket = 4, class5 = 3 WHERE loan_id = 2 AND month = '2026-03'"))
        conn.execute(text("UPDATE loan_snapshot SET class5 = 2 WHERE loan_id = 5 AND month = '2026-03'"))
        cls.reclassify(conn, "2026-01")
        marts.refresh_in(conn)
    with empty_engine.connect() as conn:
        yield conn


def test_overdue_to_npl_ratios_by_hand(dev_conn):
    ov = dv.add_overdue_ratios(queries.overview(dev_conn, HQ, queries.Filters(month="2026-03"))).set_index("month")
    assert ov.loc["2026-03", "overdue90_npl"] == pytest.approx(3.5)
    assert ov.loc["2026-03", "overdue60_npl"] == pytest.approx(3.5)
    assert ov.loc["2026-02", "overdue90_npl"] == pytest.approx(1.0)
    assert ov.loc["2026-02", "overdue60_npl"] == pytest.approx(1.0)
    assert math.isnan(ov.loc["2026-01", "overdue90_npl"])


def test_deviation_by_hand(dev_conn):
    f = queries.Filters(month="2026-03")
    by_branch = dv.deviation_summary(dev_conn, HQ, f, "branch_id")
    assert by_branch[["name", "loans", "balance", "npl_understated", "worst_gap"]].values.tolist() == \
        [["甲支行", 1, 5000.0, 5000.0, 1]]
    loans = dv.deviation_loans(dev_conn, HQ, f)
    assert loans[["loan_no", "bank_class", "floor_class"]].values.tolist() == [["L5", 2, 3]]
    assert cls.reason_codes(loans["floor_reasons"][0]) == ("overdue_substandard",)
    reasons = dv.deviation_reasons(dev_conn, HQ, f)
    assert reasons.values.tolist() == [["overdue_substandard", 1, 5000.0]]
    trend = dv.deviation_trend(dev_conn, HQ, f).set_index("month")
    assert trend.loc["2026-03", "loans"] == 1 and trend.loc["2026-02", "loans"] == 0
    assert dv.deviation_summary(dev_conn, HQ, queries.Filters(month="2026-02"), "product_id").empty
    per_branch = dv.overdue_npl_by(dev_conn, HQ, f, "branch_id")
    assert per_branch[["key", "npl_balance", "m4_balance", "overdue90_npl", "overdue60_npl"]].values.tolist() == \
        [[2, 2000.0, 7000.0, 3.5, 3.5]]
    assert dv.overdue_npl_by(dev_conn, OTHER_BRANCH, f, "product_id").empty


def test_deviation_is_scoped_in_sql(dev_conn):
    f = queries.Filters(month="2026-03")
    assert dv.deviation_summary(dev_conn, OTHER_BRANCH, f, "branch_id").empty
    assert dv.deviation_summary(dev_conn, OTHER_BRANCH, queries.Filters(month="2026-03", branch_id=2), "branch_id").empty
    assert dv.deviation_loans(dev_conn, OTHER_BRANCH, f).empty
    assert dv.deviation_loans(dev_conn, STRATEGY, f).empty           # aggregates only
    assert len(dv.deviation_summary(dev_conn, STRATEGY, f, "branch_id")) == 1
    assert len(dv.deviation_loans(dev_conn, OWN_BRANCH, f)) == 1
    with pytest.raises(ValueError, match="by must be"):
        dv.deviation_summary(dev_conn, HQ, f, "customer_id")


def test_deviation_mart_is_exactly_the_loans_classed_better_than_their_floor(demo_engine):
    """Property over the demo bank: the mart holds a row for exactly the snapshots whose bank class is better
    than the engine's floor, with their balance, in every month."""
    with demo_engine.connect() as conn:
        mart = pd.read_sql(select(s.mart_class_deviation.c.month, s.mart_class_deviation.c.loan_id,
                                  s.mart_class_deviation.c.balance), conn)
        snap = pd.read_sql("SELECT month, loan_id, balance FROM loan_snapshot WHERE class5 < floor_class5", conn)
    assert len(mart) > 0
    key = ["month", "loan_id"]
    pd.testing.assert_frame_equal(mart.sort_values(key).reset_index(drop=True).astype({"balance": float}),
                                  snap.sort_values(key).reset_index(drop=True).astype({"balance": float}))


def test_import_flags_a_class_better_than_the_floor_but_loads_it(empty_engine):
    """The importer computes each snapshot's floor; a bank class better than it is reported (and audited), not
    refused."""
    with empty_engine.begin() as conn:
        load_fixture(conn)
        marts.refresh_in(conn)
    rows = pd.DataFrame([dict(loan_id=5, month="2026-03", mob=3, balance=5000, overdue_amount=100, dpd=135, bucket=4,
                              class5=2),
                         dict(loan_id=1, month="2026-03", mob=2, balance=1000, overdue_amount=0, dpd=0, bucket=0,
                              class5=1)])
    r = importer.run(empty_engine, {"loan_snapshot.csv": rows.to_csv(index=False).encode()}, "tester")
    assert r.ok, r.problems
    assert r.deviations == {"2026-03": 1}
    with empty_engine.connect() as conn:
        got = conn.execute(text("SELECT class5, floor_class5 FROM loan_snapshot WHERE loan_id = 5 AND month = '2026-03'")).one()
        audit = conn.execute(text("SELECT detail FROM audit_log WHERE action = 'import' ORDER BY id DESC")).scalar()
    assert tuple(got) == (2, 3)
    assert '"2026-03": 1' in audit


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_ratio_chart_has_title_units_series_and_the_100_percent_line(lang):
    from components.deviation_panels import overdue_npl_chart
    ov = pd.DataFrame({"month": ["2026-01", "2026-02"], "overdue90_npl": [0.9, 1.2], "overdue60_npl": [1.1, 1.4]})
    fig = overdue_npl_chart(ov, lang)
    assert fig.layout.title.text and "%" in fig.layout.yaxis.title.text
    assert all(tr.name for tr in fig.data) and len(fig.data) == 3
    assert list(fig.data[0].y) == pytest.approx([90, 120])
    assert list(fig.data[2].y) == [100, 100]  # the reference line, named in the legend
    assert fig.layout.yaxis.range[0] <= 80 and fig.layout.yaxis.range[1] >= 150


def test_reclassify_command_applies_a_changed_setting_and_is_audited(empty_engine, monkeypatch, capsys):
    """After COCKPIT_CLASS_SUBSTANDARD_DPD is tightened to 60 days, `python -m data_access reclassify` puts L5's
    January (75 days, the bank's 关注) under the floor 次级: a deviation; a bad --from is one line, exit 2."""
    from data_access.__main__ import main
    with empty_engine.begin() as conn:
        load_fixture(conn)
        marts.refresh_in(conn)
    monkeypatch.setenv("COCKPIT_DATABASE_URL", empty_engine.url.render_as_string(hide_password=False))
    from data_access.engine import get_engine
    get_engine.cache_clear()
    assert main(["reclassify", "--from", "2026-1"]) == 2
    assert "--from must be a month" in capsys.readouterr().err
    monkeypatch.setenv("COCKPIT_CLASS_SUBSTANDARD_DPD", "60")
    assert main(["reclassify"]) == 0
    get_engine.cache_clear()
    with empty_engine.connect() as conn:
        dev = conn.execute(text("SELECT month, loan_id FROM mart_class_deviation ORDER BY month")).all()
        audited = conn.execute(text("SELECT COUNT(*) FROM audit_log WHERE action = 'reclassify'")).scalar()
    assert [tuple(r) for r in dev] == [("2026-01", 5)]
    assert audited == 1
