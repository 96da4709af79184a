"""Regulatory figures and the KPI fixes of #16 (items 3, 4, 7) against a small bank worked out by hand.

One branch, one village, one product; months 2025-12 .. 2026-03.

| customer | registered | credit line (limit, valid)          | loans                                   |
|----------|------------|-------------------------------------|-----------------------------------------|
| C1       | 2020       | 20,000, 2025-06 .. 2027-06          | L1 (under the line), L7 (under the line) |
| C2       | 2020       | 10,000, 2025-06 .. 2027-06          | —                                       |
| C3       | 2020       | none                                | L3 (no line)                            |
| C4       | 2026-03-15 | 10,000, 2025-06 .. 2027-06 (granted before the customer was registered, as in the demo) | — |
| C5       | 2020       | 8,000, 2025-06 .. 2026-02-01        | L5, L8 (under the line)                 |

| loan | amount | disbursed | Dec 2025        | Jan 2026        | Feb            | Mar             |
|------|--------|-----------|-----------------|-----------------|----------------|-----------------|
| L1   | 10,000 | 2025-12   | 正常 10,000      | 正常 9,000       | 关注 8,000 (40 dpd) | 次级 8,000 (100 dpd) |
| L3   | 5,000  | 2026-01   | —               | 正常 5,000       | 次级 5,000 (95)  | written off     |
| L5   | 2,000  | 2025-12   | 正常 2,000       | 正常 2,000       | 正常 2,000       | 正常 2,000       |
| L7   | 3,000  | 2026-02   | —               | —               | 正常 3,000       | 正常 2,500       |
| L8   | 4,000  | 2022-01   | 可疑 4,000 (340) | 损失 4,000 (371) | 损失 (400)       | 损失 4,000 (430) |

Worked by hand from the definitions (README "Risk terms", the regulator's texts):
* Households registered by month end: 4 in Dec–Feb (C4 not yet), 5 in March. Line holders (registered, line valid at
  month end): Dec, Jan C1 C2 C5 = 3 (C4's line is not counted before C4 exists); Feb C1 C2 = 2 (C5's line expired
  on 1 Feb); Mar C1 C2 C4 = 3. Coverage Jan 3/4, Mar 3/5.
* Usage by household: line holders with a balance. Jan C1, C5 → 2/3 (C3 borrows without a line: in neither);
  Feb C1 → 1/2 (the old definition, borrowers / line holders, gave 3/2); Mar C1 → 1/3.
* Usage by amount: balance under valid lines / their limits. Jan (9,000 + 2,000 + 4,000) / 38,000;
  Feb (8,000 + 3,000) / 30,000; Mar (8,000 + 2,500) / 40,000.
* Migration rates Dec → Mar (year and quarter to date): 正常 at the start L1 10,000 + L5 2,000, L1 repaid 2,000
  and is 次级 at the end with 8,000 → 正常类 8,000 / (12,000 − 2,000) = 80 %; 正常贷款迁徙率 the same (no 关注 at the
  start); 可疑类 L8 4,000 / 4,000 = 100 %.
* 新发放贷款不良率 as of March: 2026 disbursements L3 5,000 + L7 3,000 = 8,000; L3 became 次级 and was written off
  (its NPL balance when it left, 5,000, counts) → 5,000 / 8,000 = 62.5 %. As of January: L3 正常 → 0 / 5,000.
* Overdue at March in the G11 bands: 91–360 days L1 8,000; 361 days–3 years L8 4,000.
* Collection cases: Jan L8 agency M4+ (overdue 1,000, recovered 300); Mar L1 phone M1 (100, 50), a pending M1 case
  (200, 0) and L3's write-off transfer (5,000, 500). 催收回收率 over the 12 entry months to March: (300 + 50) /
  (1,000 + 100) on the Overview, in the branch league and on Collections alike; M3+ 300 / 1,000 = 30 % (with the
  write-off transfer it was 800 / 6,000); post-write-off recovery 500 / 5,000 = 10 %.
"""
from __future__ import annotations

import datetime as dt
import math

import pytest
from sqlalchemy import insert, select

from data_access import collections as dc, g11, kpi, marts, queries, regulatory, schema as s
from data_access.scope import Scope
from tests.test_kpi_fixture import load_reference

D = dt.date
HQ = Scope(username="t", role="head_office", can_see_pii=True)
MONTHS = ["2025-12", "2026-01", "2026-02", "2026-03"]
CUSTOMERS = {1: D(2020, 1, 1), 2: D(2020, 1, 1), 3: D(2020, 1, 1), 4: D(2026, 3, 15), 5: D(2020, 1, 1)}
LINES = {1: (1, 20000, D(2027, 6, 1)), 2: (2, 10000, D(2027, 6, 1)), 4: (4, 10000, D(2027, 6, 1)),
         5: (5, 8000, D(2026, 2, 1))}  # line id: (customer, limit, expires_on)
LOANS = {1: (1, 1, 10000, "2025-12", "active"), 3: (3, None, 5000, "2026-01", "written_off"),
         5: (5, 5, 2000, "2025-12", "active"), 7: (1, 1, 3000, "2026-02", "active"),
         8: (5, 5, 4000, "2022-01", "active")}  # loan: (customer, line, amount, disbursed_month, status)
SNAP = {  # loan: {month: (dpd, class5, balance)}
    1: {"2025-12": (0, 1, 10000), "2026-01": (0, 1, 9000), "2026-02": (40, 2, 8000), "2026-03": (100, 3, 8000)},
    3: {"2026-01": (0, 1, 5000), "2026-02": (95, 3, 5000)},
    5: {m: (0, 1, 2000) for m in MONTHS},
    7: {"2026-02": (0, 1, 3000), "2026-03": (0, 1, 2500)},
    8: {"2025-12": (340, 4, 4000), "2026-01": (371, 5, 4000), "2026-02": (400, 5, 4000), "2026-03": (430, 5, 4000)},
}
CASES = [(1, 8, "2026-01", 4, 1000, 300, "agency", "open"), (2, 1, "2026-03", 1, 100, 50, "phone", "open"),
         (3, 5, "2026-03", 1, 200, 0, "pending", "open"), (4, 3, "2026-03", 4, 5000, 500, "write_off", "written_off")]


def load(conn) -> None:
    conn.execute(insert(s.dim_month), [dict(month=m, idx=2025 * 12 + 11 + i) for i, m in enumerate(MONTHS)])
    load_reference(conn)
    conn.execute(insert(s.customer), [dict(id=i, customer_no=f"C{i}", name=f"客户{i}", id_number="320324199001011234",
                                           village_code="320324100001", branch_id=2, segment="farmer",
                                           deposit_balance=100, created_on=d) for i, d in CUSTOMERS.items()])
    conn.execute(insert(s.credit_line), [dict(id=i, customer_id=c, product_id=1, limit_amount=lim,
                                              granted_on=D(2025, 6, 1), expires_on=exp, status="active")
                                         for i, (c, lim, exp) in LINES.items()])
    conn.execute(insert(s.loan), [dict(id=i, loan_no=f"L{i}", customer_id=c, credit_line_id=line, product_id=1,
                                       branch_id=2, village_code="320324100001", segment="farmer",
                                       disbursed_on=D(int(m[:4]), int(m[5:]), 5), disbursed_month=m,
                                       maturity_on=D(2027, 1, 5), amount=a, annual_rate=0.05, term_months=12,
                                       guarantee_type="credit", status=st)
                                  for i, (c, line, a, m, st) in LOANS.items()])
    conn.execute(insert(s.loan_snapshot), [
        dict(loan_id=loan, month=m, mob=MONTHS.index(m), balance=bal, overdue_amount=100 if dpd else 0, dpd=dpd,
             bucket=kpi.bucket_of_dpd(dpd), class5=c5)
        for loan, months in SNAP.items() for m, (dpd, c5, bal) in months.items()])
    conn.execute(insert(s.collection_case), [
        dict(id=i, case_no=f"K{i}", loan_id=l, customer_id=LOANS[l][0], branch_id=2, entry_month=m,
             entry_date=D(int(m[:4]), int(m[5:]), 3), entry_bucket=b, entry_dpd=1, overdue_at_entry=o,
             balance_at_entry=o, channel=ch, status=st, recovered_amount=r, cost=10, complaints=0,
             compliance_breaches=0) for i, l, m, b, o, r, ch, st in CASES])


@pytest.fixture
def bank(empty_engine):
    with empty_engine.begin() as conn:
        load(conn)
        marts.refresh_in(conn)
    with empty_engine.connect() as conn:
        yield conn


def test_coverage_counts_only_registered_households_lines(bank):
    ov = queries.overview(bank, HQ, queries.Filters(month="2026-03")).set_index("month")
    assert ov.loc["2026-01", "households"] == 4 and ov.loc["2026-01", "households_with_line"] == 3
    assert ov.loc["2026-01", "credit_coverage"] == pytest.approx(3 / 4)   # the old count (C4's line too) gave 4/4
    assert ov.loc["2026-03", "credit_coverage"] == pytest.approx(3 / 5)


def test_usage_by_household_and_by_amount(bank):
    ov = queries.overview(bank, HQ, queries.Filters(month="2026-03")).set_index("month")
    assert ov.loc["2026-01", "usage_rate"] == pytest.approx(2 / 3)
    assert ov.loc["2026-02", "usage_rate"] == pytest.approx(1 / 2)        # was 3/2
    assert ov.loc["2026-03", "usage_rate"] == pytest.approx(1 / 3)
    assert ov.loc["2026-02", "households_with_loan"] == 3                 # borrowers are still all borrowers
    assert ov.loc["2026-01", "usage_amount_rate"] == pytest.approx(15000 / 38000)
    assert ov.loc["2026-02", "usage_amount_rate"] == pytest.approx(11000 / 30000)
    assert ov.loc["2026-03", "usage_amount_rate"] == pytest.approx(10500 / 40000)


def test_the_map_uses_the_same_usage(bank):
    from data_access import grid
    g = grid.grid(bank, HQ, "2026-02", "village", "320324100").set_index("code")
    assert g.loc["320324100001", "usage_rate"] == pytest.approx(1 / 2)
    assert g.loc["320324100001", "credit_coverage"] == pytest.approx(2 / 4)


def test_migration_rates_year_and_quarter_to_date(bank):
    tables = regulatory.migration_rate_table(bank, HQ, queries.Filters(month="2026-03"))
    for period in ("ytd", "qtd"):
        row = tables[period].set_index("month").loc["2026-03"]
        assert row["c1"] == pytest.approx(8000 / 10000), period
        assert row["c0"] == pytest.approx(8000 / 10000), period
        assert row["c4"] == pytest.approx(1.0), period
    feb = tables["monthly"].set_index("month").loc["2026-03"]  # Feb → Mar: 正常 L5, L7 (repaid 500)
    assert feb["c1"] == pytest.approx(0 / (2000 + 3000 - 500))
    assert feb["c2"] == pytest.approx(8000 / 8000)                   # L1 关注 → 次级


@pytest.mark.parametrize("month, start", [("2026-03", "2025-12"), ("2026-01", "2025-12"), ("2026-04", "2026-03"),
                                          ("2026-06", "2026-03"), ("2026-07", "2026-06"), ("2026-12", "2026-09")])
def test_quarter_to_date_starts_at_the_previous_quarter_end(month, start):
    assert marts.quarter_start(month) == start


def test_new_loan_npl_rate_counts_disposed_npl(bank):
    mar = regulatory.new_loan_npl(bank, HQ, queries.Filters(month="2026-03")).iloc[0]
    assert mar["amount"] == 8000 and mar["disposed_npl"] == 5000 and mar["npl_balance"] == 0
    assert mar["rate"] == pytest.approx(5000 / 8000)
    feb = regulatory.new_loan_npl(bank, HQ, queries.Filters(month="2026-02")).iloc[0]
    assert feb["rate"] == pytest.approx(5000 / 8000) and feb["npl_balance"] == 5000
    jan = regulatory.new_loan_npl(bank, HQ, queries.Filters(month="2026-01")).iloc[0]
    assert jan["rate"] == 0 and jan["amount"] == 5000
    by_branch = regulatory.new_loan_npl(bank, HQ, queries.Filters(month="2026-03"), "branch_id")
    assert list(by_branch["branch_id"]) == [2] and by_branch["rate"].iloc[0] == pytest.approx(5000 / 8000)


def test_overdue_in_the_g11_day_bands(bank):
    bands = regulatory.overdue_bands(bank, HQ, queries.Filters(month="2026-03")).set_index("band")["balance"]
    assert bands.to_dict() == {2: 8000, 3: 4000}


def test_one_collection_recovery_everywhere(bank):
    f = queries.Filters(month="2026-03")
    expected = (300 + 50) / (1000 + 100)
    ov = queries.overview(bank, HQ, f).set_index("month")
    assert ov.loc["2026-03", "recovery_rate"] == pytest.approx(expected)
    league = queries.branch_league(bank, HQ, "2026-03")
    assert league["recovery_rate"].iloc[0] == pytest.approx(expected)
    assert dc.performance(bank, HQ, f, (), kpi.RECOVERY_WINDOW)["recovery_rate"].iloc[0] == pytest.approx(expected)


def test_m3_plus_recovery_leaves_out_write_off_transfers(bank):
    groups = dc.recovery_by_group(bank, HQ, queries.Filters(month="2026-03")).set_index("group")
    assert groups.loc["M3+", "recovery_rate"] == pytest.approx(300 / 1000)   # with the transfer: 800 / 6000
    assert groups.loc["M1", "recovery_rate"] == pytest.approx(50 / 100)      # the pending case is not worked yet
    wo = dc.write_offs(bank, HQ, queries.Filters(month="2026-03"))
    assert wo["recovered_amount"].sum() / wo["balance_at_entry"].sum() == pytest.approx(500 / 5000)


def test_coverage_numerators_are_subsets_in_every_month(demo_engine):
    """Property on the demo bank: in every month and village, line holders ⊆ households, line holders with a loan
    ⊆ line holders ⊆ …, and the branch and bank roll-ups keep it."""
    mv, mb = s.mart_village, s.mart_branch
    with demo_engine.connect() as conn:
        for t in (mv, mb):
            rows = conn.execute(select(t.c.month, t.c.households, t.c.households_with_line, t.c.households_line_loan,
                                       t.c.households_with_loan)).all()
            assert rows
            months = {r.month for r in rows}
            assert len(months) > 12
            for r in rows:
                assert r.households_with_line <= r.households, (t.name, r)
                assert r.households_line_loan <= r.households_with_line, (t.name, r)
                assert r.households_line_loan <= r.households_with_loan, (t.name, r)


def test_g11_report_tables_by_hand(bank):
    frames = g11.report_frames(bank, HQ, "2026-03")
    prod = frames["一、按产品"].set_index("产品")
    assert prod.loc["农户贷", ["正常", "关注", "次级", "可疑", "损失"]].tolist() == [4500, 0, 8000, 0, 4000]
    assert prod.loc["合计", "不良率"] == pytest.approx(12000 / 16500)
    assert frames["二、按机构"].set_index("机构").loc["甲支行", "各项贷款"] == 16500
    od = frames["三、逾期贷款"].set_index("产品")
    assert od.loc["合计", ["逾期1-90天", "逾期91-360天", "逾期361天-3年", "逾期3年以上"]].tolist() == [0, 8000, 4000, 0]
    mig = frames["四、迁徙率"]
    ytd = mig[mig["口径"].str.startswith("本年")].set_index("指标")
    assert ytd.loc["正常类贷款迁徙率", "迁徙率"] == pytest.approx(0.8)
    assert ytd.loc["正常类贷款迁徙率", ["期初余额", "期间减少金额", "向下迁徙金额（期末余额）"]].tolist() == [12000, 2000, 8000]
    prov = frames["五、贷款损失准备"].set_index("项目")
    # 4,500 × 1 % + 8,000 × 25 % + 4,000 × 100 % = 6,045
    assert prov.loc["合计（按五级分类计提）", "贷款损失准备"] == pytest.approx(6045)


def test_g11_workbook_keeps_names_as_text_and_stays_in_scope(bank):
    import io
    from openpyxl import load_workbook
    from sqlalchemy import update
    bank.execute(update(s.product).values(name='=HYPERLINK("//x.invalid","点我")'))
    wb = load_workbook(io.BytesIO(g11.build(bank, HQ, "2026-03", "t")))
    cell = wb["一、按产品"]["A2"]
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"
    other = Scope(username="b9", role="branch_leader", branch_ids=frozenset({99}))
    frames = g11.report_frames(bank, other, "2026-03")
    assert frames["二、按机构"]["机构"].tolist() == ["合计"] and frames["二、按机构"]["各项贷款"].sum() == 0
    assert frames["三、逾期贷款"].empty
    with pytest.raises(g11.ReportError):
        g11.report_frames(bank, HQ, "2031-01")


def test_g11_command_line_writes_and_audits(bank, tmp_path, monkeypatch, capsys):
    from data_access.__main__ import main
    from data_access.engine import get_engine
    monkeypatch.setenv("COCKPIT_DATABASE_URL", bank.engine.url.render_as_string(hide_password=False))
    get_engine.cache_clear()
    try:
        out = tmp_path / "g11.xlsx"
        assert main(["report", "g11", "--month", "2026-03", "--out", str(out), "--user", "risk1"]) == 0
        assert out.stat().st_size > 0
        for bad in (["--month", "2026-13", "--out", str(tmp_path / "x.xlsx")],
                    ["--month", "2031-01", "--out", str(tmp_path / "y.xlsx")],
                    ["--month", "2026-03", "--out", str(tmp_path / "no" / "z.xlsx")],
                    ["--month", "2026-03", "--out", str(tmp_path / "z.csv")]):
            assert main(["report", "g11", *bad]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 4
        assert not any(p.name.startswith(("x.", "y.", "z.")) for p in tmp_path.iterdir())
        with get_engine().connect() as conn:
            rows = conn.execute(select(s.audit_log.c.username, s.audit_log.c.action, s.audit_log.c.target)).all()
        assert ("risk1", "export", "g11_2026-03") in [tuple(r) for r in rows]
    finally:
        get_engine.cache_clear()
