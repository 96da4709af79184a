"""Property tests of the KPI definitions over generated inputs."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from data_access import kpi

migration_rows = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), st.floats(0, 1e7, allow_nan=False)),
                          min_size=1, max_size=60)


@given(migration_rows)
@settings(max_examples=150, deadline=None)
def test_roll_matrix_rows_are_shares(rows):
    df = pd.DataFrame(rows, columns=["from_bucket", "to_bucket", "balance"])
    m = kpi.roll_rate_matrix(df)
    totals = df.groupby("from_bucket")["balance"].sum()
    for k, total in totals.items():
        if total > 0:
            assert m.loc[k].sum() == pytest.approx(1.0)
            assert ((m.loc[k] >= 0) & (m.loc[k] <= 1)).all()
    rates = kpi.roll_rates(df).dropna()
    assert ((rates >= 0) & (rates <= 1)).all()


@given(st.integers(0, 2000), st.integers(0, 2000))
def test_bucket_and_class_never_improve_with_more_days_past_due(a, b):
    lo, hi = sorted((a, b))
    assert kpi.bucket_of_dpd(lo) <= kpi.bucket_of_dpd(hi)
    assert kpi.class5_of_dpd(lo) <= kpi.class5_of_dpd(hi)
    assert (kpi.class5_of_dpd(hi) >= 3) == (hi > 90)  # NPL is exactly "over 90 days"


@given(st.lists(st.tuples(st.integers(1, 5), st.floats(0, 1e8, allow_nan=False)), min_size=1, max_size=40))
def test_class_distribution_sums_to_one_and_npl_ratio_within_bounds(rows):
    df = pd.DataFrame(rows, columns=["class5", "balance"])
    total = df["balance"].sum()
    dist = kpi.class5_distribution(df)
    if total > 0:
        assert dist.sum() == pytest.approx(1.0)
        ratio = kpi.npl_ratio(kpi.npl_balance(df), total)
        assert 0 <= ratio <= 1 + 1e-12
        assert ratio == pytest.approx(dist.loc[[3, 4, 5]].sum())


@given(st.lists(st.tuples(st.integers(1, 4), st.floats(0, 1e6, allow_nan=False), st.floats(0, 1), ), min_size=1,
                max_size=40))
def test_recovery_of_a_group_lies_between_its_parts(rows):
    df = pd.DataFrame([(b, due, due * share) for b, due, share in rows],
                      columns=["entry_bucket", "overdue_at_entry", "recovered_amount"])
    r = kpi.recovery_rates(df)
    parts = [r["M1"], r["M2"]]
    known = [p for p in parts if p == p]
    if r["M1+M2"] == r["M1+M2"] and known:
        assert min(known) - 1e-9 <= r["M1+M2"] <= max(known) + 1e-9
