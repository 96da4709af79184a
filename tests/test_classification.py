"""The classification engine (《商业银行金融资产风险分类办法》, 2023年第1号令): hand-worked loan histories and
properties over generated ones."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from data_access import classification as c
from data_access.config import ConfigError

MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 13)]


@pytest.mark.parametrize("dpd,floor,reason", [
    (0, 1, "current"), (1, 2, "overdue"), (90, 2, "overdue"), (91, 3, "overdue_substandard"),
    (180, 3, "overdue_substandard"), (181, 3, "overdue_substandard"),  # 2007 guidance: 可疑 from 181; 2023: from 271
    (270, 3, "overdue_substandard"), (271, 4, "overdue_doubtful"), (360, 4, "overdue_doubtful"),
    (361, 5, "overdue_loss")])
def test_overdue_floors_by_hand(dpd, floor, reason):
    (res,) = c.classify_history(["2026-01"], [dpd])
    assert res.floor == floor
    assert res.reasons == (reason,)


def test_cured_npl_stays_substandard_for_the_observation_period():
    # 120 days overdue in January, fully repaid in February, then current: 次级 through June (5 clean months),
    # upgraded in July, the sixth clean month
    dpd = [120, 0, 0, 0, 0, 0, 0, 0]
    res = c.classify_history(MONTHS[:8], dpd)
    assert [r.floor for r in res] == [3, 3, 3, 3, 3, 3, 1, 1]
    assert res[1].reasons == ("npl_observation",)
    assert res[6].reasons == ("current",)


def test_an_overdue_payment_restarts_the_npl_observation():
    # cured in February, 20 days late again in April: the clean run restarts; the NPL stays 次级 while overdue
    dpd = [100, 0, 0, 20, 0, 0, 0, 0, 0, 0]
    res = c.classify_history(MONTHS[:10], dpd)
    assert [r.floor for r in res] == [3, 3, 3, 3, 3, 3, 3, 3, 3, 1]
    assert res[3].reasons == ("npl_observation",)


def test_npl_partly_repaid_is_not_upgraded():
    # from 100 days overdue down to 40 (one instalment repaid, the rest still overdue): the NPL is not upgraded
    res = c.classify_history(MONTHS[:3], [100, 40, 10])
    assert [r.floor for r in res] == [3, 3, 3]


def test_the_observation_period_is_a_setting():
    res = c.classify_history(MONTHS[:4], [95, 0, 0, 0], r=c.Rules(npl_observation_months=2))
    assert [r.floor for r in res] == [3, 3, 1, 1]


def test_restructured_loan_is_special_mention_and_not_upgraded_during_observation():
    # restructured in March 2025 while 40 days overdue (关注), current afterwards: 关注 for 12 months (March 2025
    # to February 2026), 正常 from March 2026
    dpd = [0, 0, 40] + [0] * 15
    res = c.classify_history(MONTHS[:18], dpd, restructured_month="2025-03")
    floors = [r.floor for r in res]
    assert floors[:2] == [1, 1]
    assert floors[2:14] == [2] * 12
    assert floors[14:] == [1] * 4
    assert res[5].reasons == ("restructured",)
    assert res[2].reasons == ("overdue", "restructured")


def test_restructured_npl_is_not_upgraded_during_observation():
    # 200 days overdue when restructured in January 2025, current from February: 次级 through the year although
    # the NPL observation alone would end in July
    dpd = [200] + [0] * 13
    res = c.classify_history(MONTHS[:14], dpd, restructured_month="2025-01")
    assert [r.floor for r in res] == [3] * 12 + [1, 1]
    assert "restructured" in res[8].reasons and "npl_observation" not in res[8].reasons


def test_bank_class_worse_than_floor_feeds_the_history():
    # the bank judged the loan 次级 in January although only 10 days overdue; from February it is an NPL to be
    # observed like any other
    res = c.classify_history(MONTHS[:3], [10, 0, 0], bank_class=[3, 3, 3])
    assert [r.floor for r in res] == [2, 3, 3]


def test_customer_level_rule_is_a_setting():
    st0 = c.State.new(3)
    cust = np.array([7, 7, 8])
    dpd = np.array([0, 120, 0])
    f, why, _ = c.classify(st0, dpd, customer=cust)
    assert f.tolist() == [1, 3, 1]  # asset by asset (the default for retail)
    f, why, _ = c.classify(st0, dpd, customer=cust, r=c.Rules(customer_level=True))
    assert f.tolist() == [3, 3, 1]
    assert c.reason_codes(why[0]) == ("customer_level",)
    assert c.reason_codes(why[1]) == ("overdue_substandard",)


def test_settings_are_read_and_a_looser_threshold_is_refused(monkeypatch):
    monkeypatch.setenv("COCKPIT_CLASS_SUBSTANDARD_DPD", "60")
    monkeypatch.setenv("COCKPIT_CLASS_CUSTOMER_LEVEL", "on")
    r = c.rules()
    assert r.substandard_dpd == 60 and r.customer_level
    monkeypatch.setenv("COCKPIT_CLASS_SUBSTANDARD_DPD", "120")
    with pytest.raises(ConfigError, match="looser"):
        c.rules()
    monkeypatch.setenv("COCKPIT_CLASS_SUBSTANDARD_DPD", "ninety")
    with pytest.raises(ConfigError, match="whole number"):
        c.rules()


def test_negative_days_refused():
    with pytest.raises(ValueError, match="dpd must be >= 0"):
        c.dpd_floor(-1)


histories = st.lists(st.integers(0, 500), min_size=1, max_size=24)


@given(histories, st.one_of(st.none(), st.integers(0, 23)), st.booleans(),
       st.lists(st.integers(1, 5), min_size=24, max_size=24))
@settings(max_examples=300, deadline=None)
def test_floor_never_better_than_any_rule(dpd, restr_at, use_bank, bank):
    """The engine's class is never better than any single rule's floor: the overdue floor, the NPL observation
    (re-derived here from the history by its text), the restructuring floor; and its reasons name a rule whose
    floor is the result."""
    months = MONTHS[:len(dpd)]
    restructured = months[restr_at] if restr_at is not None and restr_at < len(months) else None
    bank_class = bank[:len(dpd)] if use_bank else None
    res = c.classify_history(months, dpd, restructured, bank_class)
    effective_prev = 0
    held, clean = False, 0
    for k, (r, d) in enumerate(zip(res, dpd)):
        assert r.floor >= c.dpd_floor(d)
        clean = clean + 1 if d == 0 else 0
        if held and clean < 6:
            assert r.floor >= 3
        if restructured is not None and 0 <= k - restr_at < 12:
            assert r.floor >= max(2, effective_prev)
        assert r.reasons
        if "overdue_substandard" in r.reasons or "npl_observation" in r.reasons:
            assert r.floor == 3
        if "current" in r.reasons:
            assert r.floor == 1
        effective_prev = max(r.floor, bank_class[k] if bank_class else r.floor)
        held = effective_prev >= 3


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 400)), min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_customer_level_floor_is_the_worst_of_the_customer(rows):
    cust = np.array([r[0] for r in rows])
    dpd = np.array([r[1] for r in rows])
    f, _, _ = c.classify(c.State.new(len(rows)), dpd, customer=cust, r=c.Rules(customer_level=True))
    for k in set(cust.tolist()):
        assert (f[cust == k] == c.dpd_floor(dpd[cust == k]).max()).all()
