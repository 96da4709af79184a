"""Issue #17: model windows a validator would sign — registry windows checked on write, labels bounded in time,
a gap before validation, monitoring only on months a model never saw.

The hand-made history (one branch, one village, months 2025-01..2025-12):

| loan | snapshots (bucket by month)                                  | what it shows                                  |
|------|--------------------------------------------------------------|------------------------------------------------|
| 1    | M0 Jan–Dec, M2 in May                                        | bad at Feb, Mar, Apr (May within 3 months);     |
|      |                                                              | not at Jan (May is the 4th month after)         |
| 2    | M0 all year                                                  | never bad                                       |

| case | loan | entry   | status / closed            | repayments (month: 元)     | label, cure within 3 months     |
|------|------|---------|----------------------------|----------------------------|---------------------------------|
| 1    | 1    | 2025-03 | cured, closed 2025-05-20   | 2025-05: 100               | cured, recovered 100 of 100     |
| 2    | 2    | 2025-03 | cured, closed 2025-08-10   | 2025-04: 40, 2025-08: 60   | not cured, recovered 40 of 100  |
| 3    | 2    | 2025-11 | open                       | —                          | immature (2026-02 not observed) |
"""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select, update

from data_access import demo, facts, importer, marts, schema as s
from data_access.extract_format import fields
from data_access.engine import make_engine
from data_access.features import behaviour_frame, case_frame
from data_access.migrate import upgrade
from data_access.queries import shift_month
from models import monitor, postloan_batch
from models.registry import Windows, check_windows, month_range, monitor_months

D = dt.date
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]


def load_history(conn) -> None:
    conn.execute(insert(s.dim_month), [dict(month=m, idx=2025 * 12 + i) for i, m in enumerate(MONTHS)]
                 + [dict(month=f"2026-{m:02d}", idx=2026 * 12 + m - 1) for m in (1, 2, 3)])
    conn.execute(insert(s.region), [
        dict(code="320324", name="县", level="county", parent_code=None, county_code="320324", schematic=False),
        dict(code="320324100", name="镇", level="township", parent_code="320324", county_code="320324", schematic=True),
        dict(code="320324100001", name="村", level="village", parent_code="320324100", county_code="320324",
             schematic=True, credit_village_grade="AA")])
    conn.execute(insert(s.org_unit), [dict(id=1, code="HO", name="总行", level="head_office", parent_id=None),
                                      dict(id=2, code="B1", name="甲支行", level="branch", parent_id=1)])
    conn.execute(insert(s.product), [dict(id=1, code="P", name="农户贷", category="farm", guarantee_type="credit",
                                          term_months=24, annual_rate=0.05, seasonal=False)])
    conn.execute(insert(s.customer), [dict(id=i, customer_no=f"C{i}", name=f"客户{i}", id_number="320324199001011234",
                                           village_code="320324100001", branch_id=2, segment="farmer", birth_year=1980,
                                           annual_income=50_000, deposit_balance=1000, multi_lending_count=0,
                                           household_size=3, credit_household=True, created_on=D(2020, 1, 1))
                                      for i in (1, 2)])
    conn.execute(insert(s.loan), [dict(id=i, loan_no=f"L{i}", customer_id=i, product_id=1, branch_id=2,
                                       village_code="320324100001", segment="farmer", disbursed_on=D(2025, 1, 5),
                                       disbursed_month="2025-01", maturity_on=D(2027, 1, 5), amount=10_000,
                                       annual_rate=0.05, term_months=24, guarantee_type="credit", status="active")
                                  for i in (1, 2)])
    rows = []
    for loan in (1, 2):
        for k, m in enumerate(MONTHS):
            b = 2 if (loan == 1 and m == "2025-05") else 0
            rows.append(dict(loan_id=loan, month=m, mob=k, balance=10_000, overdue_amount=100 * b, dpd=35 if b else 0,
                             bucket=b, class5=2 if b else 1))
    conn.execute(insert(s.loan_snapshot), rows)
    cases = [(1, 1, "2025-03", "cured", D(2025, 5, 20), 100), (2, 2, "2025-03", "cured", D(2025, 8, 10), 100),
             (3, 2, "2025-11", "open", None, 0)]
    conn.execute(insert(s.collection_case), [
        dict(id=i, case_no=f"K{i}", loan_id=loan, customer_id=loan, branch_id=2, entry_month=m,
             entry_date=D(2025, int(m[-2:]), 3), entry_bucket=1, entry_dpd=3, overdue_at_entry=100,
             balance_at_entry=10_000, channel="phone", status=st, closed_on=closed, recovered_amount=rec, cost=10,
             complaints=0, compliance_breaches=0) for i, loan, m, st, closed, rec in cases])
    conn.execute(insert(s.repayment), [
        dict(id=1, loan_id=1, paid_on=D(2025, 5, 20), month="2025-05", principal=90, interest=10, case_id=1),
        dict(id=2, loan_id=2, paid_on=D(2025, 4, 10), month="2025-04", principal=36, interest=4, case_id=2),
        dict(id=3, loan_id=2, paid_on=D(2025, 8, 10), month="2025-08", principal=54, interest=6, case_id=2)])
    facts.record(conn, "2025-01")  # the history's facts hold from its first month


@pytest.fixture
def history(empty_engine):
    with empty_engine.begin() as conn:
        load_history(conn)
    return empty_engine


# ---------------------------------------------------------------- labels bounded in time
def test_behaviour_label_is_30_plus_dpd_within_three_months_after_the_month(history):
    with history.connect() as conn:
        bad = {m: dict(zip(f["loan_id"], f["bad_3m"])) for m in MONTHS
               if not (f := behaviour_frame(conn, m)).empty}
    # loan 1 reaches M2 in May: bad at Feb, Mar, Apr; Jan is 4 months before; May itself is M2 (not in the frame)
    assert [bad[m].get(1) for m in ("2025-01", "2025-02", "2025-03", "2025-04")] == [0.0, 1.0, 1.0, 1.0]
    assert "2025-05" not in bad or 1 not in bad["2025-05"]
    assert bad["2025-06"][1] == 0.0 and bad["2025-06"][2] == 0.0
    # October's three months run to January 2026, not observed: a good loan is unknown, not good
    assert np.isnan(bad["2025-10"][2]) and np.isnan(bad["2025-12"][1])
    assert bad["2025-09"][2] == 0.0  # Oct, Nov, Dec observed


def test_propensity_label_counts_only_the_months_within_the_horizon(history):
    with history.connect() as conn:
        cases = case_frame(conn, "2025-01", "2025-12").set_index("case_id")
    # case 2 was closed cured in August, five months after its March entry: not a cure within 3 months
    assert cases.loc[1, "cured"] == 1 and cases.loc[2, "cured"] == 0
    # recovery within the horizon: the April 40 元 counts, the August 60 元 does not
    assert cases.loc[1, "recovery_ratio"] == pytest.approx(1.0) and cases.loc[2, "recovery_ratio"] == pytest.approx(0.4)
    # the November case's months run to February 2026, not observed yet: immature, not "uncured"
    assert cases.loc[1, "mature"] and cases.loc[2, "mature"] and not cases.loc[3, "mature"]
    with history.connect() as conn:
        one_month = case_frame(conn, "2025-01", "2025-12", cure_months=1).set_index("case_id")
        with pytest.raises(ValueError, match="cure_months"):
            case_frame(conn, "2025-01", "2025-12", cure_months=0)
    assert one_month.loc[1, "cured"] == 0 and one_month.loc[2, "recovery_ratio"] == pytest.approx(0.4)


def test_propensity_label_does_not_move_with_what_happened_after_its_horizon(history):
    with history.connect() as conn:
        before = case_frame(conn, "2025-01", "2025-12").set_index("case_id")
    with history.begin() as conn:  # later events: case 2 settles a year later with a big payment
        conn.execute(update(s.collection_case).where(s.collection_case.c.id == 2)
                     .values(status="settled", closed_on=D(2025, 12, 20), recovered_amount=5000))
        conn.execute(insert(s.repayment).values(id=4, loan_id=2, paid_on=D(2025, 12, 20), month="2025-12",
                                                principal=4500, interest=500, case_id=2))
    with history.connect() as conn:
        after = case_frame(conn, "2025-01", "2025-12").set_index("case_id")
    cols = ["cured", "recovery_ratio", "recovered_in_horizon"]
    pd.testing.assert_frame_equal(before.loc[[1, 2], cols], after.loc[[1, 2], cols])


# ---------------------------------------------------------------- point-in-time facts
FACT_COLS = ["annual_income", "deposit_balance", "multi_lending_count", "household_size", "credit_household",
             "village_grade"]


def _features(engine):
    with engine.connect() as conn:
        beh = {m: behaviour_frame(conn, m).set_index("loan_id")[FACT_COLS] for m in MONTHS}
        cases = case_frame(conn, "2025-01", "2025-12").set_index("case_id")[FACT_COLS]
    return beh, cases


def _customer_file(engine, **changes) -> bytes:
    """Customer 2's row as the bank's extract would carry it, with ``changes``."""
    with engine.connect() as conn:
        row = pd.read_sql(select(s.customer).where(s.customer.c.id == 2), conn)
    body = "3203241990010112"  # a valid GB 11643 number: the check digit computed the standard's way
    total = sum(int(d) * w for d, w in zip(body + "3", (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)))
    row["id_number"] = body + "3" + "10X98765432"[total % 11]
    for k, v in changes.items():
        row[k] = v
    cols = [f.name for f in fields("customer") if f.name in row.columns]
    out = row[cols].copy()
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].astype(int)
    return out.to_csv(index=False).encode()


def test_an_import_of_new_facts_moves_no_feature_of_an_earlier_month(history):
    """Finding 3: features read income, deposits, other lenders, household, credit household and village grade
    from the current rows an import overwrites. Now the importer keeps the old values with their months."""
    before_beh, before_cases = _features(history)
    r = importer.run(history, {"customer.csv": _customer_file(history, annual_income=90_000, deposit_balance=77_000,
                                                              multi_lending_count=4, household_size=6,
                                                              credit_household=0)}, "t")
    assert r.ok, r.problems
    with history.begin() as conn:  # the village lost its grade in December too (a region extract would say so)
        conn.execute(update(s.region).where(s.region.c.code == "320324100001").values(credit_village_grade=None))
        facts.record(conn)
    after_beh, after_cases = _features(history)
    # the import describes December (the newest snapshot month): every earlier month's features are as they were
    for m in MONTHS[:-1]:
        pd.testing.assert_frame_equal(before_beh[m], after_beh[m])
    pd.testing.assert_frame_equal(before_cases, after_cases)
    dec = after_beh["2025-12"].loc[2]
    assert (dec["annual_income"], dec["deposit_balance"], dec["multi_lending_count"], dec["household_size"],
            dec["credit_household"], dec["village_grade"]) == (90_000, 77_000, 4, 6, 0, "none")
    with history.connect() as conn:
        hist = pd.read_sql(select(s.customer_fact).where(s.customer_fact.c.customer_id == 2)
                           .order_by(s.customer_fact.c.valid_from), conn)
        cust = conn.execute(select(s.customer.c.annual_income).where(s.customer.c.id == 2)).scalar()
    assert [(a, b if isinstance(b, str) else None) for a, b in zip(hist["valid_from"], hist["valid_to"])] == [
        ("2025-01", "2025-12"), ("2025-12", None)]
    assert list(hist["annual_income"]) == [50_000, 90_000] and cust == 90_000  # the pages still read today's value
    # the same extract loaded again changes nothing; a correction of the same month is made in place
    importer.run(history, {"customer.csv": _customer_file(history, annual_income=91_000, deposit_balance=77_000,
                                                          multi_lending_count=4, household_size=6,
                                                          credit_household=0)}, "t")
    with history.connect() as conn:
        again = pd.read_sql(select(s.customer_fact).where(s.customer_fact.c.customer_id == 2), conn)
    assert len(again) == 2 and sorted(again["annual_income"]) == [50_000, 91_000]


# ---------------------------------------------------------------- registry windows
def test_registry_refuses_windows_a_validator_would_not_sign():
    good = Windows("validated", "2025-01", "2025-06", 3, "2026-03", "2025-10", "2025-12")
    check_windows(good)
    assert (good.label_to, good.gap_months, good.valid_label_to, good.monitor_from) == ("2025-09", 3, "2026-03",
                                                                                        "2026-01")
    # the old behaviour batch: training months right up to the validation month, labels reading into it
    with pytest.raises(ValueError, match="inside the validation window"):
        check_windows(Windows("validated", "2025-01", "2025-09", 3, "2026-03", "2025-10", "2025-12"))
    with pytest.raises(ValueError, match="after the newest data month"):
        check_windows(Windows("validated", "2025-01", "2025-06", 3, "2026-02", "2025-10", "2025-12"))
    with pytest.raises(ValueError, match="after the newest data month"):
        check_windows(Windows("production", "2025-01", "2026-01", 3, "2026-03"))
    with pytest.raises(ValueError, match="no validation window"):
        check_windows(Windows("production", "2025-01", "2025-12", 3, "2026-03", "2025-10", "2025-12"))
    with pytest.raises(ValueError, match="must be a month"):
        check_windows(Windows("validated", "2025-1", "2025-06", 3, "2026-03", "2025-10", "2025-12"))
    with pytest.raises(ValueError, match="ends before it starts"):
        check_windows(Windows("production", "2025-07", "2025-06", 3, "2026-03"))


def test_monitor_months_never_include_a_training_or_validation_month():
    w = Windows("validated", "2025-01", "2025-06", 3, "2026-06", "2025-10", "2025-12")
    stability, perf = monitor_months(w, "2026-06")
    assert stability == month_range("2026-01", "2026-06")
    assert perf == ["2026-01", "2026-02", "2026-03"]  # April's outcome months run to July
    p = Windows("production", "2025-01", "2026-03", 3, "2026-06")
    stability, perf = monitor_months(p, "2026-06")
    assert stability == ["2026-04", "2026-05", "2026-06"] and perf == []  # none mature after its labels (to 2026-06)
    assert monitor_months(p, "2026-10")[1] == ["2026-07"]


# ---------------------------------------------------------------- on a generated bank
@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('windows')}/w.db")
    upgrade(engine)
    demo.generate(engine, size="tiny", seed=5, progress=False, households=12_000)
    marts.refresh(engine)
    out = postloan_batch.run(engine, trained_by="test")
    yield engine, out
    engine.dispose()


def _current(conn, name: str) -> dict:
    reg = s.model_registry
    out = {}
    for r in conn.execute(select(reg).where(reg.c.name == name, reg.c.active)).mappings():
        out["challenger" if r["role"] == "challenger" else r["kind"]] = dict(r)
    return out


def test_behaviour_validation_no_longer_shares_its_bads_with_training_labels(bank):
    """Finding 1: with training months right before the validation month, most validation bads were the same
    delinquency as a training label of the same loan; with the horizon-long gap the registry records, almost none."""
    engine, out = bank
    with engine.connect() as conn:
        models = _current(conn, "behaviour_pd")
        v = models["validated"]
        train = pd.concat([behaviour_frame(conn, m) for m in month_range(v["train_from"], v["train_to"])])
        valid = pd.concat([behaviour_frame(conn, m) for m in month_range(v["valid_from"], v["valid_to"])])
        # the old windows: validation month t, training t-1..t-6
        old_valid = behaviour_frame(conn, v["valid_to"])
        old_train = pd.concat([behaviour_frame(conn, shift_month(v["valid_to"], -k)) for k in range(1, 7)])
    assert v["label_to"] < v["valid_from"] and v["gap_months"] == 3
    new = postloan_batch.label_overlap(train.dropna(subset=["bad_3m"]), valid.dropna(subset=["bad_3m"]))
    old = postloan_batch.label_overlap(old_train.dropna(subset=["bad_3m"]), old_valid.dropna(subset=["bad_3m"]))
    assert old > 0.4 and new < 0.05
    assert json.loads(v["metrics"])["label_overlap"] == pytest.approx(new)
    # three models, named as such: validated, production (the one that scored), challenger on the same windows
    assert set(models) == {"validated", "production", "challenger"}
    p, c = models["production"], models["challenger"]
    assert out["model_id"] == p["id"] and out["validated_model_id"] == v["id"]
    assert (c["train_from"], c["train_to"], c["valid_from"], c["valid_to"]) == (
        v["train_from"], v["train_to"], v["valid_from"], v["valid_to"])
    assert p["train_to"] == shift_month(p["data_to"], -3) and p["valid_from"] is None
    with engine.connect() as conn:
        scored = set(conn.execute(select(s.model_score.c.model_id).distinct()).scalars())
    assert scored == {p["id"]}


def test_the_monitor_never_shows_a_month_a_model_saw(bank):
    """Finding 2: the old monitor read training months; now every row is after the model's training (and
    validation) window, and discrimination only after its labels."""
    engine, _ = bank
    monitor.run(engine, only="behaviour_pd")
    with engine.connect() as conn:
        models = _current(conn, "behaviour_pd")
        mon = pd.read_sql(select(s.model_monitor), conn)
    assert len(mon)
    for m in models.values():
        rows = mon[mon["model_id"] == m["id"]]
        end = m["valid_to"] or m["train_to"]
        assert (rows["month"] > end).all() and (rows["month"] >= m["monitor_from"]).all()
        assert (rows.loc[rows["metric"] == "auc", "month"] > m["label_to"]).all()
    assert (mon.loc[mon["model_id"] == models["validated"]["id"], "metric"] == "auc").sum() == 3


def test_the_lights_turn_amber_then_red_when_a_strong_input_decays(bank):
    """Finding 2 / item 4: on months after training, shuffling more and more of a strong input's values (the one
    whose shuffling costs the most AUC on the first monitored month) turns the AUC light amber, then red; the
    input's PSI stays put (a shuffle keeps its distribution), the score's need not."""
    import pickle
    from models.behaviour_pd import discrimination
    from models.registry import Windows
    engine, _ = bank
    with engine.connect() as conn:
        v = _current(conn, "behaviour_pd")["validated"]
        w, model = Windows.from_row(v), pickle.loads(v["artifact"])
        data = monitor.behaviour_data(conn, w.data_to)
        _, perf = monitor_months(w, w.data_to)
        for m in monitor_months(w, w.data_to)[0]:
            data(m)  # read every month once, inside the connection
    first, newest = perf[0], perf[-1]
    _, XL, y = data(first)
    base = discrimination(y, model.predict_proba(XL)[:, 1])["auc"]
    rng = np.random.default_rng(0)
    inputs = [c for c in postloan_batch.NUMERIC if XL[c].nunique() > 1]
    cost = {c: base - discrimination(y, model.predict_proba(XL.assign(**{c: rng.permutation(XL[c].to_numpy(copy=True))}))[:, 1])["auc"]
            for c in inputs}
    strong = max(cost, key=cost.get)
    assert cost[strong] > monitor.AUC_RED  # a strong input: shuffled outright it is worth more than the red line
    X, XL, y = data(newest)
    reference = discrimination(y, model.predict_proba(XL)[:, 1])["auc"]  # the month undegraded: its own yardstick
    order = rng.permutation(len(XL))
    colours = []
    for share in np.linspace(0, 1, 21):
        k = int(round(share * len(XL)))
        worse = XL.copy()
        idx = worse.index[order[:k]]
        worse.loc[idx, strong] = rng.permutation(worse.loc[idx, strong].to_numpy(copy=True))

        def degraded(month, worse=worse):
            return (worse, worse, y) if month == newest else data(month)
        rows = pd.DataFrame(monitor.monitor_model(v["id"], model, w, json.loads(v["metrics"]), degraded, w.data_to))
        lit = monitor.lights(rows, reference)
        assert lit["auc"]["month"] == newest
        colours.append(lit["auc"]["colour"])
    assert colours[0] == "green" and colours[-1] == "red"
    assert "amber" in colours and colours.index("amber") < colours.index("red")
    # and the monitor's own reference, the validation AUC from the registry, sees the fully shuffled month red too
    assert monitor.lights(rows, json.loads(v["metrics"])["auc"])["auc"]["colour"] == "red"


def test_every_model_input_has_a_name_in_the_bank_s_words():
    """Item 7: inputs are shown by name, never as raw variable names, in both languages."""
    from components.i18n import catalogue
    from data_access.features import APPLICATION_FEATURES, BEHAVIOUR_FEATURES, CASE_FEATURES
    names = set(BEHAVIOUR_FEATURES) | set(CASE_FEATURES) | set(APPLICATION_FEATURES) | {"option"}
    for lang in ("zh", "en"):
        cat = catalogue(lang)
        missing = [n for n in names if f"feat.{n}" not in cat]
        assert missing == [], (lang, missing)
        assert all("_" not in cat[f"feat.{n}"] for n in names)


def test_swap_set_realised_rates_come_from_a_scorecard_that_never_saw_that_year(bank):
    """Finding 5: the swap set's realised bad rates were scored by the scorecard trained on those very
    applications. The backtest year is now scored by the validated scorecard, whose training labels end before
    it; a year it did see is reported as in-sample."""
    import pickle
    from data_access import strategy
    from data_access.features import APPLICATION_FEATURES, application_frame
    from data_access.queries import Filters
    from data_access.scope import Scope
    from models import train_scorecard
    engine, _ = bank
    train_scorecard.run(engine, trained_by="test")
    hq = Scope(username="t", role="head_office", can_see_pii=False)
    with engine.connect() as conn:
        v = _current(conn, "application_scorecard")["validated"]
        last = conn.execute(select(s.loan_snapshot.c.month).order_by(s.loan_snapshot.c.month.desc())).scalars().first()
        oot = strategy.approval_backtest_cells(conn, hq, Filters(month=last))
        apps = application_frame(conn, known_only=False)
        seen = strategy.approval_backtest_cells(conn, hq, Filters(month=shift_month(v["label_to"], 12)))
    first, end = oot["months"].split("..")
    assert not oot["in_sample"] and oot["model_id"] == v["id"] and v["label_to"] < first
    year = apps[apps["month"].between(first, end)]
    expected = pickle.loads(v["artifact"]).predict_proba(year[APPLICATION_FEATURES])[:, 1].sum()
    assert oot["cells"]["applications"].sum() == len(year)
    assert oot["cells"]["pd_sum"].sum() == pytest.approx(expected)
    assert oot["cells"]["bads"].sum() == year["bad"].sum()
    # a year inside the validated model's training labels: no out-of-sample figures, said so
    assert seen["in_sample"] and seen["cells"].empty
