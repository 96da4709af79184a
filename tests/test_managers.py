"""Manager behaviour: the authenticity rules on hand-made events, the capability rating's monotonicity and
anchors, the staffing what-if, the marts' consistency with the flags, and scope."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select

from data_access import managers as dm, schema as s
from data_access.authenticity import Thresholds, evaluate
from data_access.scope import NOBODY, Scope, scope_for_user
from models.capability import INPUTS, WEIGHTS, CapabilityScore, inputs_from_team, stability

T0 = dt.datetime(2026, 10, 12, 9, 0)
HOME = (117.9000, 33.9000)
KM_LON = 1 / (111.195 * np.cos(np.radians(33.9)))  # degrees of longitude per km at this latitude


def ev(i, minutes, kind="visit", lon=HOME[0], lat=HOME[1], customer=1, home=HOME, manager=7):
    return dict(id=i, manager_id=manager, event_at=T0 + dt.timedelta(minutes=minutes), event_type=kind, lon=lon,
                lat=lat, customer_id=customer if kind == "visit" else None,
                home_lon=home[0] if kind == "visit" else None, home_lat=home[1] if kind == "visit" else None)


def rules_of(events, th=Thresholds()):
    flags = evaluate(pd.DataFrame(events), th)
    return {(int(r.event_id), r.rule): r for r in flags.itertuples()}


def test_a_visit_5_km_from_the_home_is_flagged_high_with_its_distance():
    got = rules_of([ev(1, 0, lon=HOME[0] + 5 * KM_LON), ev(2, 120, lon=HOME[0] + 0.2 * KM_LON)])
    far = got[(1, "far_from_home")]
    assert far.severity == "high" and far.value == pytest.approx(5000, rel=0.01)
    assert far.detail == f"距客户住址 {far.value / 1000:.2f} 公里"
    assert (2, "far_from_home") not in got  # 200 m from home: fine


def test_the_distance_threshold_is_configurable():
    events = [ev(1, 0, lon=HOME[0] + 1.5 * KM_LON)]
    assert (1, "far_from_home") in rules_of(events)                       # 1 km by default
    assert (1, "far_from_home") not in rules_of(events, Thresholds(max_distance_m=2000))
    assert rules_of(events)[(1, "far_from_home")].severity == "medium"    # under three times the threshold


def test_two_check_ins_30_km_apart_in_10_minutes_is_an_impossible_speed():
    got = rules_of([ev(1, 0, "check_in"), ev(2, 10, "check_in", lon=HOME[0] + 30 * KM_LON)])
    jump = got[(2, "impossible_speed")]
    assert jump.severity == "high" and jump.value == pytest.approx(180, rel=0.02)  # 30 km in 10 min = 180 km/h
    # the same distance in two hours is a plausible ride; and another manager's record is not "consecutive"
    assert (2, "impossible_speed") not in rules_of([ev(1, 0, "check_in"), ev(2, 120, "check_in", lon=HOME[0] + 30 * KM_LON)])
    assert (2, "impossible_speed") not in rules_of([ev(1, 0, "check_in"),
                                                    ev(2, 10, "check_in", lon=HOME[0] + 30 * KM_LON, manager=8)])


def test_many_households_from_one_spot_and_the_other_rules():
    spot = [ev(i, 5 * i, customer=i, home=(HOME[0] + 0.01 * i, HOME[1])) for i in range(1, 4)]
    got = rules_of(spot)
    assert got[(1, "same_spot")].value == 3 and got[(1, "same_spot")].severity == "medium"
    assert not [k for k in got if k[1] == "same_spot" and k[0] != 1]  # flagged once, on the first of the burst
    two = rules_of(spot[:2])
    assert not [k for k in two if k[1] == "same_spot"]
    late = rules_of([ev(1, 13 * 60 + 30, "check_in")])  # 22:30
    assert late[(1, "off_hours")].severity == "low"
    blind = rules_of([ev(1, 0, lon=np.nan, lat=np.nan)])
    assert set(blind) == {(1, "no_gps")}


def test_an_honest_day_raises_nothing():
    day = [ev(1, 0, "check_in"), ev(2, 60, lon=HOME[0] + 0.1 * KM_LON, customer=2, home=(HOME[0] + 0.1 * KM_LON, HOME[1])),
           ev(3, 150, lon=HOME[0] + 3 * KM_LON, customer=3, home=(HOME[0] + 3.05 * KM_LON, HOME[1])),
           ev(4, 300, "marketing")]
    assert rules_of(day) == {}


# ---------------------------------------------------------------- the rating
def _frame(**kw):
    base = dict(customers=150.0, npl_ratio=0.02, origination_ever30_rate=0.04, visit_coverage=0.3,
                task_on_time_rate=0.8, new_per_month=2.0, renewal_rate=0.4, flags_per_100=2.0)
    base.update(kw)
    return pd.DataFrame([base])


def test_anchors_and_weights_by_hand():
    model = CapabilityScore()
    best = _frame(customers=200, npl_ratio=0, origination_ever30_rate=0, visit_coverage=0.5, task_on_time_rate=1,
                  new_per_month=5, renewal_rate=0.6, flags_per_100=0)
    assert model.score(best).iloc[0] == 100 and model.rating(best).iloc[0] == "A"
    worst = _frame(customers=60, npl_ratio=0.05, origination_ever30_rate=0.1, visit_coverage=0, task_on_time_rate=0.5,
                   new_per_month=0, renewal_rate=0, flags_per_100=10)
    assert model.score(worst).iloc[0] == 0 and model.rating(worst).iloc[0] == "D"
    mid = model.contributions(_frame())
    # workload (150−60)/140·20; quality (0.6 + 0.6)/2·30; effort (0.6 + 0.6)/2·20; growth (0.4 + 0.667)/2·15; conduct 0.8·15
    assert mid.iloc[0]["workload"] == pytest.approx(90 / 140 * 20)
    assert mid.iloc[0]["quality"] == pytest.approx(18)
    assert mid.iloc[0]["effort"] == pytest.approx(12)
    assert mid.iloc[0]["growth"] == pytest.approx((0.4 + 0.4 / 0.6) / 2 * 15)
    assert mid.iloc[0]["conduct"] == pytest.approx(12)
    assert sum(WEIGHTS.values()) == 100


BETTER = {"customers": 1, "npl_ratio": -1, "origination_ever30_rate": -1, "visit_coverage": 1, "task_on_time_rate": 1,
          "new_per_month": 1, "renewal_rate": 1, "flags_per_100": -1}
RANGES = {"customers": (0, 400), "npl_ratio": (0, 0.2), "origination_ever30_rate": (0, 0.3), "visit_coverage": (0, 1),
          "task_on_time_rate": (0, 1), "new_per_month": (0, 12), "renewal_rate": (0, 1), "flags_per_100": (0, 30)}


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({k: st.floats(*RANGES[k]) for k in INPUTS}),
       st.fixed_dictionaries({k: st.floats(0, 1) for k in INPUTS}))
def test_better_on_every_figure_never_rates_lower(a, step):
    """Monotonicity: B is A moved in the good direction on every input (by any amount, possibly none)."""
    b = {k: float(np.clip(a[k] + BETTER[k] * step[k] * (RANGES[k][1] - RANGES[k][0]), *RANGES[k])) for k in INPUTS}
    model = CapabilityScore()
    sa, sb = model.score(pd.DataFrame([a])).iloc[0], model.score(pd.DataFrame([b])).iloc[0]
    assert sb >= sa
    order = "ABCD"
    assert order.index(model.grade(sb)) <= order.index(model.grade(sa))


def test_stability_counts_changes_between_consecutive_months():
    r = pd.DataFrame({"manager_id": [1, 1, 1, 2, 2, 2], "month": ["2026-08", "2026-09", "2026-10"] * 2,
                      "rating": ["A", "A", "B", "B", "D", "D"]})
    got = stability(r)
    assert got["pairs"] == 4 and got["unchanged"] == 0.5 and got["moved_two_or_more"] == 0.25


def test_staffing_what_if_by_hand():
    wl = pd.DataFrame({"branch_id": [1, 2], "branch": ["甲", "乙"], "managers": [3, 1], "customers": [601, 0],
                       "tasks_per_month": [30.0, 0.0]})
    got = dm.managers_needed(wl, 200)
    assert got["needed"].tolist() == [4, 0] and got["gap"].tolist() == [1, -1]
    assert got["tasks_per_manager"].tolist() == [7.5, 0.0]
    assert dm.managers_needed(wl, 120)["needed"].tolist() == [6, 0]
    with pytest.raises(ValueError):
        dm.managers_needed(wl, 0)


# ---------------------------------------------------------------- on the demo bank
def test_mart_flags_match_the_flag_table_and_inputs_are_sane(demo_engine):
    with demo_engine.connect() as conn:
        month = conn.execute(select(func.max(s.activity_flag.c.month))).scalar()
        hq = scope_for_user(conn, "hq_wang")
        team = dm.team(conn, hq, month)
        for sev in ("high", "medium", "low"):
            in_table = conn.execute(select(func.count()).select_from(s.activity_flag).where(
                s.activity_flag.c.severity == sev,
                s.activity_flag.c.month.in_([f"{month[:4]}-{int(month[5:]) - k:02d}" for k in range(3)]))).scalar_one()
            assert team[f"flags_{sev}_3m"].sum() == in_table
        assert conn.execute(select(func.count()).select_from(s.activity_flag)).scalar_one() > 0
    X = inputs_from_team(team)
    assert not X.isna().any().any()
    assert ((X["visit_coverage"] >= 0) & (X["visit_coverage"] <= 1)).all()
    assert (team["renewed_12m"] <= team["matured_12m"]).all()
    assert (team["originated_ever30_amount"] <= team["originated_amount"] + 1e-6).all()


@pytest.mark.parametrize("fn", dm.ROW_FUNCTIONS)
def test_branch_leader_sees_only_own_managers(demo_engine, fn):
    with demo_engine.connect() as conn:
        leader = scope_for_user(conn, "branch01")
        hq = scope_for_user(conn, "hq_wang")
        month = conn.execute(select(func.max(s.activity_flag.c.month))).scalar()
        own_branch = next(iter(leader.branch_ids))
        all_team = dm.team(conn, hq, month)
        other = all_team[all_team["branch_id"] != own_branch].iloc[0]
        own = all_team[all_team["branch_id"] == own_branch].iloc[0]
        day = pd.Timestamp(conn.execute(select(func.max(s.activity_event.c.event_at))
                                        .where(s.activity_event.c.manager_id == int(other["manager_id"]))).scalar()).date()
        calls = {
            "team": lambda sc, _mid: dm.team(conn, sc, month),
            "day_events": lambda sc, mid: dm.day_events(conn, sc, mid, day - dt.timedelta(days=40), day),
            "flag_list": lambda sc, _mid: dm.flag_list(conn, sc, month),
            "workload": lambda sc, _mid: dm.workload(conn, sc, month),
        }
        call = calls[fn]
        mine = call(leader, int(own["manager_id"]))
        theirs = call(leader, int(other["manager_id"]))
        if fn == "day_events":
            assert theirs.empty  # asking for another branch's manager by id gives nothing
        else:
            assert not mine.empty or fn == "flag_list"
            assert set(mine["branch_id" if "branch_id" in mine else "branch"]) <= {own_branch, own["branch"]}
        for user in ("strategy_chen", "agency1", "admin"):
            sc = scope_for_user(conn, user)
            assert call(sc, int(own["manager_id"])).empty, (fn, user)
        assert call(NOBODY, int(own["manager_id"])).empty
        assert not call(hq, int(other["manager_id"])).empty or fn == "flag_list"


def test_every_manager_row_function_is_tested():
    assert set(dm.ROW_FUNCTIONS) == {"team", "day_events", "flag_list", "workload"}


@pytest.mark.parametrize("limit", [1, 7, 40, 100_000])
def test_alert_list_is_the_most_severe_newest_first_page(demo_engine, limit):
    """The alert list read one severity at a time is the first ``limit`` rows of the whole month's alerts sorted
    high → medium → low, newest first (the reference sorts the table in pandas)."""
    hq = Scope(username="hq", role="head_office", can_see_pii=True)
    with demo_engine.connect() as conn:
        month = conn.execute(select(func.max(s.activity_flag.c.month))).scalar()
        f = s.activity_flag
        every = pd.read_sql(select(f.c.id, f.c.event_id, f.c.severity, f.c.event_at).where(f.c.month == month), conn)
        got = dm.flag_list(conn, hq, month, limit=limit)
        low = dm.flag_list(conn, hq, month, severity="low", limit=limit)
    rank = every["severity"].map({"high": 0, "medium": 1, "low": 2})
    ref = every.assign(rank=rank).sort_values(["rank", "event_at", "id"], ascending=[True, False, False])
    assert set(every["severity"]) >= {"high", "low"} and len(every) > 7
    assert got["event_id"].tolist() == ref.head(limit)["event_id"].tolist()
    assert low["event_id"].tolist() == ref[ref["severity"] == "low"].head(limit)["event_id"].tolist()


def _day(points: list[tuple[float, float]]) -> pd.DataFrame:
    """A manager's day of visits at ``points`` (lon, lat), each to a household at the same spot."""
    return pd.DataFrame([{"id": i, "event_at": pd.Timestamp(T0) + pd.Timedelta(minutes=20 * i), "event_type": "visit",
                          "lon": lon, "lat": lat, "customer_id": i, "customer_no": f"C{i:07d}", "name": "张*",
                          "home_lon": lon, "home_lat": lat, "flags": "", "worst": ""}
                         for i, (lon, lat) in enumerate(points, start=1)])


def test_trajectory_markers_never_cover_each_other():
    """A household visited three times, its neighbour 15 m away, and a visit 3 km off: at the map's first zoom every
    numbered marker is clear of the others (they overlapped: repeats were set off 40 m whatever the day's span,
    8 px on a 3-km day, and near neighbours not at all)."""
    from components.manager_charts import MARKER_PX, trajectory_figure
    x0, y0 = HOME
    near = x0 + 0.015 * KM_LON
    day = _day([(x0, y0), (x0, y0), (near, y0), (x0, y0), (x0 + 3 * KM_LON, y0 + 0.01)])
    fig = trajectory_figure(day, "zh", width_px=700, height_px=560)
    events = next(tr for tr in fig.data if tr.mode == "markers+text")
    assert list(events.text) == ["1", "2", "3", "4", "5"]
    xs, ys = list(events.x), list(events.y)
    scale = fig.layout.yaxis.scaleratio
    assert scale == pytest.approx(1 / np.cos(np.radians(y0)), rel=0.01)
    # degrees per pixel once the day's true extent fits the map (85 % of 700 × 560), as the map's view does
    lon_span, lat_span = max(day["lon"]) - min(day["lon"]), max(day["lat"]) - min(day["lat"])
    per_px = max(lon_span / (0.85 * 700), lat_span * scale / (0.85 * 560))
    gaps = [np.hypot(xs[i] - xs[j], (ys[i] - ys[j]) * scale) / per_px
            for i in range(len(xs)) for j in range(i + 1, len(xs))]
    assert min(gaps) >= MARKER_PX
    assert (xs[0], ys[0]) == (x0, y0)  # the first record at a spot keeps its true place


def test_trajectory_is_drawn_without_webgl():
    """The trajectory map is SVG (plotly scatter), not deck.gl: on a desktop without a graphics card, Chromium's
    software WebGL took 3–5 s to compile the deck's layers before the tab showed anything."""
    from components.manager_charts import trajectory_figure
    grid = pd.DataFrame([{"code": "V1", "name": "顾庄村委会", "centroid_lon": HOME[0], "centroid_lat": HOME[1],
                          "geometry": '{"type": "Polygon", "coordinates": [[[117.89, 33.89], [117.91, 33.89], '
                                      '[117.91, 33.91], [117.89, 33.89]]]}'}])
    fig = trajectory_figure(_day([HOME, (HOME[0] + 0.01, HOME[1])]), "zh", grid)
    assert {tr.type for tr in fig.data} == {"scatter"}
    assert "顾庄村" in [t for tr in fig.data if tr.mode == "text" for t in tr.text]


def test_score_parts_are_labelled_in_plain_text_with_their_maximum():
    """The rating's waterfall: each part's name as its tick (the maximum on a second tick line was printed as
    '<br>' and ran the labels together), its points over its maximum above the bar."""
    from components.manager_charts import contributions_chart
    fig = contributions_chart(pd.Series({p: w / 2 for p, w in WEIGHTS.items()}), "zh")
    bars = fig.data[0]
    assert not [x for x in bars.x if "<" in x or "&lt;" in x]
    assert list(bars.text) == [f"{w / 2:.1f}/{w:.0f}" for w in WEIGHTS.values()] + [f"{sum(WEIGHTS.values()) / 2:.1f}"]


def test_every_rules_evidence_reads_in_english():
    """The evidence the five rules store (in Chinese) shows in English with its figures, and as stored in Chinese
    (English mode showed '距客户住址 5.78 公里' in the alerts, the trajectory and the drill)."""
    import re
    from components.manager_panels import evidence
    spot = [ev(i, 5 * i, customer=i, home=(HOME[0] + 0.01 * i, HOME[1])) for i in range(1, 4)]
    details = {r: x.detail for (_, r), x in {**rules_of([ev(1, 0, lon=HOME[0] + 5 * KM_LON)]),
                                            **rules_of([ev(1, 0, "check_in"), ev(2, 10, "check_in", lon=HOME[0] + 30 * KM_LON)]),
                                            **rules_of(spot), **rules_of([ev(1, 13 * 60 + 30, "check_in")]),
                                            **rules_of([ev(1, 0, lon=np.nan, lat=np.nan)])}.items()}
    assert set(details) >= {"far_from_home", "impossible_speed", "same_spot", "off_hours", "no_gps"}
    english = {r: evidence(d, "en") for r, d in details.items()}
    assert not [x for x in english.values() if re.search(r"[\u4e00-\u9fff]", x)], english
    assert english["far_from_home"] == f"{details['far_from_home'].split()[1]} km from the home"
    assert english["off_hours"] == "recorded at 22:30" and english["no_gps"] == "visit without GPS"
    both = f"{details['far_from_home']}；{details['off_hours']}"  # a record's several, as day_events joins them
    assert evidence(both, "en") == f"{english['far_from_home']}; recorded at 22:30"
    assert {r: evidence(d, "zh") for r, d in details.items()} == details
