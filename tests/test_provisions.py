"""Loan-loss provisions (#16, item 5) against figures worked by hand from the texts cited in data_access/provisions.py.

Book (class, DPD bucket → balance): 正常 M0 100,000, 正常 M1 10,000, 正常 M2 1,000 (31–60 days: stage 2 by days),
关注 M1 5,000, 关注 M2 2,000, 次级 M4+ 3,000, 可疑 M4+ 1,000, 损失 M4+ 500 → loans 122,500, 不良 4,500.

* By class at 1 / 2 / 25 / 50 / 100 %: 111,000 × 1 % + 7,000 × 2 % + 3,000 × 25 % + 1,000 × 50 % + 500 = 1,110 +
  140 + 750 + 500 + 500 = 3,000 → 拨备覆盖率 3,000 / 4,500 = 66.67 %, 贷款拨备率 3,000 / 122,500 = 2.449 %.
* ECL with PD 12-month 正常 2 %, lifetime 正常 37.5 %, 关注 75 %, LGD 50 %: stage 1 110,000 × 2 % × 50 % = 1,100;
  stage 2 1,000 × 37.5 % × 50 % + 7,000 × 75 % × 50 % = 187.5 + 2,625 = 2,812.5; stage 3 4,500 × 50 % = 2,250;
  total 6,162.5.
* PDs from a chain: 正常 → 正常 90 %, → 关注 5 %, paid off 5 %; 关注 → 正常 20 %, 关注 50 %, 次级 30 %. One month: 0 and
  30 %; two months: 0.05 × 0.3 = 1.5 % and 0.3 + 0.5 × 0.3 = 45 %; lifetime (I − Q)⁻¹ d with I − Q = [[0.1, −0.05],
  [−0.2, 0.5]], det 0.04: 正常 0.015 / 0.04 = 37.5 %, 关注 0.03 / 0.04 = 75 %.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from data_access import provisions as pv
from data_access.config import ConfigError

BOOK = pd.DataFrame([(1, 0, 100000), (1, 1, 10000), (1, 2, 1000), (2, 1, 5000), (2, 2, 2000), (3, 4, 3000),
                     (4, 4, 1000), (5, 4, 500)], columns=["class5", "bucket", "balance"])
PDS = pd.DataFrame({"pd_12m": [0.02, 0.10], "pd_lifetime": [0.375, 0.75]}, index=[1, 2])
CFG = pv.Settings(lgd=0.5)
CHAIN = pd.DataFrame({"month": "2026-01", "from_class": [1, 1, 1, 2, 2, 2], "to_class": [1, 2, 6, 1, 2, 3],
                      "balance": [900, 50, 50, 20, 50, 30], "balance_next": [900, 50, 0, 20, 50, 30]})


def test_provision_by_class_by_hand():
    out = pv.compute(BOOK, PDS, CFG)
    t = out["totals"]
    assert out["by_class"].set_index("class5")["provision"].to_dict() == pytest.approx(
        {1: 1110, 2: 140, 3: 750, 4: 500, 5: 500})
    assert t["class_provision"] == pytest.approx(3000) and t["npl"] == 4500 and t["loans"] == 122500
    assert round(t["class_coverage"] * 100, 2) == 66.67
    assert round(t["class_loan_ratio"] * 100, 3) == 2.449


def test_expected_credit_loss_by_stage_by_hand():
    out = pv.compute(BOOK, PDS, CFG)
    st_ = out["by_stage"].set_index("stage")
    assert st_["balance"].to_dict() == {1: 110000, 2: 8000, 3: 4500}
    assert st_["ecl"].to_dict() == pytest.approx({1: 1100, 2: 2812.5, 3: 2250})
    assert out["totals"]["ecl"] == pytest.approx(6162.5)


@pytest.mark.parametrize("class5, bucket, stage", [(1, 0, 1), (1, 1, 1), (1, 2, 2), (1, 3, 2), (2, 0, 2), (2, 1, 2),
                                                   (3, 0, 3), (5, 4, 3), (1, 4, 3)])
def test_stage_of(class5, bucket, stage):
    assert pv.stage_of(class5, bucket) == stage


def test_pds_from_the_roll_rate_chain_by_hand():
    one = pv.class_pds(CHAIN, horizon=1)
    assert one["pd_12m"].tolist() == pytest.approx([0.0, 0.3])
    two = pv.class_pds(CHAIN, horizon=2)
    assert two["pd_12m"].tolist() == pytest.approx([0.015, 0.45])
    assert two["pd_lifetime"].tolist() == pytest.approx([0.375, 0.75])


def test_stressed_book_provision_need():
    out = pv.stressed_provisions(np.array([111000, 7000, 3000, 1000, 500]), pv.Settings())
    assert out["provision"] == pytest.approx(3000) and out["coverage"] == pytest.approx(3000 / 4500)


@pytest.mark.parametrize("name, value", [("COCKPIT_PROVISION_RATES", "1,2,25"), ("COCKPIT_PROVISION_RATES", "a,b,c,d,e"),
                                         ("COCKPIT_PROVISION_RATES", "1,2,50,25,100"), ("COCKPIT_ECL_LGD", "140"),
                                         ("COCKPIT_PROVISION_COVERAGE_RANGE", "150,120")])
def test_bad_settings_are_refused_with_the_setting_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        pv.settings()


def test_settings_change_the_rates(monkeypatch):
    monkeypatch.setenv("COCKPIT_PROVISION_RATES", "1.5,3,30,60,100")
    monkeypatch.setenv("COCKPIT_PROVISION_LOAN_RANGE", "1.8,2.5")
    cfg = pv.settings()
    assert cfg.rates == pytest.approx((0.015, 0.03, 0.30, 0.60, 1.0)) and cfg.loan_range == pytest.approx((0.018, 0.025))


books = st.lists(st.tuples(st.integers(1, 5), st.integers(0, 4), st.floats(0, 1e7, allow_nan=False)), min_size=1,
                 max_size=30)


@hsettings(max_examples=60, deadline=None)
@given(books, st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_provisions_add_up_by_class_and_by_stage(rows, p12, plife, lgd):
    book = pd.DataFrame(rows, columns=["class5", "bucket", "balance"])
    pds = pd.DataFrame({"pd_12m": [p12, p12], "pd_lifetime": [max(p12, plife)] * 2}, index=[1, 2])
    out = pv.compute(book, pds, pv.Settings(lgd=lgd))
    t = out["totals"]
    assert out["by_class"]["provision"].sum() == pytest.approx(t["class_provision"], rel=1e-9, abs=1e-6)
    assert out["by_stage"]["ecl"].sum() == pytest.approx(t["ecl"], rel=1e-9, abs=1e-6)
    assert out["by_stage"]["balance"].sum() == pytest.approx(book["balance"].sum(), rel=1e-9, abs=1e-6)
    assert out["by_class"]["balance"].sum() == pytest.approx(book["balance"].sum(), rel=1e-9, abs=1e-6)
    # stage 3 carries its whole balance × LGD, and no loan is provided for beyond its balance
    assert out["by_stage"].set_index("stage").loc[3, "ecl"] == pytest.approx(
        book.loc[(book["class5"] >= 3) | (book["bucket"] >= 4), "balance"].sum() * lgd, rel=1e-9, abs=1e-6)
    assert t["ecl"] <= book["balance"].sum() + 1e-6 and t["class_provision"] <= book["balance"].sum() + 1e-6
