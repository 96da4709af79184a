"""Collection conduct rules (data_access/conduct.py) at their boundaries, the contact form's refusal and the
import's flag.

Hand-worked: the quiet hours are [22:00, 08:00): 21:59 and 08:00 pass, 22:00 and 07:59 break. The daily cap is 6
calls (or AI-voice calls) to one party of a case on one calendar day: the 6th passes, the 7th breaks; an SMS is not a
call; the next day starts again. 'other' parties always break; 'family' breaks until the debtor has failed 3 attempts
in a row (an answered debtor call resets the count); guarantors never do.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, select

from data_access import collections as dc, conduct, schema as s
from data_access.config import ConfigError
from tests.test_collections import AG1, coll, load_collections  # noqa: F401 - the fixture

T = dt.datetime
LIM = conduct.Limits()


def frame(rows):
    base = dict(case_id=1, party="debtor", way="call", contacted=False, consented=False, recording_ref="R")
    return pd.DataFrame([base | {"key": i} | r for i, r in enumerate(rows)])


def rules(rows, lim=LIM):
    out = conduct.check(frame(rows), lim)
    return sorted(zip(out["key"], out["rule"]))


@pytest.mark.parametrize("hh,mm,broken", [(21, 59, False), (22, 0, True), (23, 30, True), (0, 0, True),
                                          (7, 59, True), (8, 0, False), (12, 0, False)])
@pytest.mark.parametrize("way", conduct.WAYS)
def test_quiet_hours_boundary(hh, mm, broken, way):
    got = rules([dict(contact_at=T(2026, 3, 10, hh, mm), way=way)])
    assert got == ([(0, "quiet_hours")] if broken else [])


def test_quiet_hours_with_consent_pass():
    assert rules([dict(contact_at=T(2026, 3, 10, 22, 30), consented=True)]) == []


def test_daily_cap_and_one_over():
    six = [dict(contact_at=T(2026, 3, 10, 9 + i)) for i in range(6)]
    assert rules(six) == []
    seventh = six + [dict(contact_at=T(2026, 3, 10, 16))]
    assert rules(seventh) == [(6, "daily_attempts")]
    # AI voice counts with calls; an SMS does not; another party and the next day are counted apart
    assert rules(six + [dict(contact_at=T(2026, 3, 10, 16), way="ai_voice")]) == [(6, "daily_attempts")]
    assert rules(six + [dict(contact_at=T(2026, 3, 10, 16), way="sms")]) == []
    assert rules(six + [dict(contact_at=T(2026, 3, 10, 16), party="guarantor")]) == []
    assert rules(six + [dict(contact_at=T(2026, 3, 11, 9)), dict(contact_at=T(2026, 3, 10, 16, 30), case_id=2)]) == []
    # a lower cap set by the bank binds at its own figure
    assert rules(six[:3], conduct.Limits(max_attempts_per_day=2)) == [(2, "daily_attempts")]


@pytest.mark.parametrize("party,fails_before,broken", [
    ("debtor", 0, None), ("guarantor", 0, None), ("other", 5, "unrelated_party"),
    ("family", 0, "third_party_early"), ("family", 2, "third_party_early"), ("family", 3, None)])
def test_each_party(party, fails_before, broken):
    rows = [dict(contact_at=T(2026, 3, 10, 9, i)) for i in range(fails_before)]
    rows.append(dict(contact_at=T(2026, 3, 10, 11), party=party))
    got = rules(rows)
    assert got == ([] if broken is None else [(fails_before, broken)])


def test_an_answered_debtor_call_resets_the_failed_run():
    rows = [dict(contact_at=T(2026, 3, 10, 9, i)) for i in range(3)]
    rows.append(dict(contact_at=T(2026, 3, 10, 10), contacted=True))
    rows.append(dict(contact_at=T(2026, 3, 10, 11), party="family"))
    assert rules(rows) == [(4, "third_party_early")]


def test_unrecorded_calls_visits_and_ai_voice_but_not_sms():
    rows = [dict(contact_at=T(2026, 3, 10, 10), way=w, recording_ref=r)
            for w, r in (("call", None), ("visit", " "), ("ai_voice", ""), ("sms", None), ("call", "REC-9"))]
    assert rules(rows) == [(0, "unrecorded"), (1, "unrecorded"), (2, "unrecorded")]


def test_contacts_without_a_time_are_not_judged():
    assert rules([dict(contact_at=None, party="other")]) == []


def test_settings_change_the_limits_and_bad_ones_say_so(monkeypatch):
    monkeypatch.setenv("COCKPIT_CONDUCT_QUIET_START", "21:00")
    monkeypatch.setenv("COCKPIT_CONDUCT_MAX_ATTEMPTS", "3")
    lim = conduct.limits()
    assert lim.quiet_start == dt.time(21) and lim.max_attempts_per_day == 3 and lim.quiet_end == dt.time(8)
    assert conduct.in_quiet_hours(dt.time(21, 0), lim) and not conduct.in_quiet_hours(dt.time(20, 59), lim)
    monkeypatch.setenv("COCKPIT_CONDUCT_MAX_ATTEMPTS", "lots")
    with pytest.raises(ConfigError, match="COCKPIT_CONDUCT_MAX_ATTEMPTS"):
        conduct.limits()
    monkeypatch.setenv("COCKPIT_CONDUCT_MAX_ATTEMPTS", "6")
    monkeypatch.setenv("COCKPIT_CONDUCT_RETENTION_YEARS", "1")  # below the two years of 第六十八条
    with pytest.raises(ConfigError, match="between 2 and 30"):
        conduct.limits()


def test_retention_and_calendar_caps():
    assert conduct.retention_cutoff(dt.date(2026, 12, 1), LIM) == dt.date(2024, 12, 1)
    assert conduct.retention_cutoff(dt.date(2028, 2, 29), LIM) == dt.date(2026, 2, 28)
    assert conduct.max_attempts_in_month(dt.date(2026, 3, 31), LIM) == 6        # one day left
    assert conduct.max_attempts_in_month(dt.date(2026, 2, 1), LIM) == 28 * 6


# ---------------------------------------------------------------- the form's refusal (record_action)
def _count(engine, case_id):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(s.collection_action)
                            .where(s.collection_action.c.case_id == case_id)).scalar_one()


@pytest.mark.parametrize("kwargs,rule", [
    (dict(contact_at=T(2026, 3, 10, 22, 0)), "quiet_hours"),
    (dict(contact_at=T(2026, 3, 10, 7, 59)), "quiet_hours"),
    (dict(party="other"), "unrelated_party"),
    (dict(party="family"), "third_party_early"),
    (dict(recording_ref=None), "unrecorded"),
])
def test_the_form_refuses_a_breaking_contact_naming_the_rule(coll, kwargs, rule):
    args = dict(result="no_answer", contact_at=T(2026, 3, 10, 10), recording_ref="REC-1") | kwargs
    before = _count(coll, 5)
    with pytest.raises(dc.ActionError) as err, coll.begin() as conn:
        dc.record_action(conn, AG1, 5, **args)
    assert err.value.rule == rule and err.value.key == f"conduct.err_{rule}"
    assert _count(coll, 5) == before


def test_the_form_counts_the_days_calls_already_recorded(coll):
    for i in range(6):
        with coll.begin() as conn:
            dc.record_action(conn, AG1, 5, "no_answer", T(2026, 3, 10, 9, i), recording_ref=f"REC-{i}")
    with pytest.raises(dc.ActionError) as err, coll.begin() as conn:
        dc.record_action(conn, AG1, 5, "no_answer", T(2026, 3, 10, 15), recording_ref="REC-7")
    assert err.value.rule == "daily_attempts" and err.value.values["cap"] == 6
    # after three failed debtor calls in a row the family may be asked to pass a message; at 21:59 still in hours
    with coll.begin() as conn:
        dc.record_action(conn, AG1, 5, "will_call_back", T(2026, 3, 10, 21, 59), party="family", recording_ref="REC-8")
        dc.audit_refusal(conn, AG1, 5, "daily_attempts")
    with coll.connect() as conn:
        row = conn.execute(select(s.collection_action).where(s.collection_action.c.case_id == 5)
                           .order_by(s.collection_action.c.id.desc())).mappings().first()
        audit = conn.execute(select(s.audit_log.c.action).where(s.audit_log.c.username == "agency1")).scalars().all()
    assert row["party"] == "family" and row["way"] == "call" and row["contact_at"] == T(2026, 3, 10, 21, 59)
    assert "case_action_refused" in audit


# ---------------------------------------------------------------- the import's flag
def test_the_import_records_and_flags_breaking_contacts(coll):
    from data_access import importer
    csv = ("id,case_id,action_on,channel,agency_id,contacted,result,contact_at,party,way,duration_s,recording_ref\n"
           "901,5,2026-03-11,agency,1,0,no_answer,2026-03-11 22:00:00,debtor,call,0,REC-901\n"
           "902,5,2026-03-11,agency,1,1,refused,2026-03-11 21:59:00,debtor,call,95,REC-902\n"
           "903,5,2026-03-12,agency,1,1,refused,2026-03-12 10:00:00,other,visit,600,\n")
    result = importer.run(coll, {"collection_action.csv": csv.encode()}, "admin")
    assert result.ok, result.problems
    assert result.flagged == 2  # 901 (quiet hours) and 903 (unrelated party, and no recording)
    with coll.connect() as conn:
        rows = conn.execute(select(s.contact_breach.c.action_id, s.contact_breach.c.rule, s.contact_breach.c.source,
                                   s.contact_breach.c.agency_id, s.contact_breach.c.month)
                            .order_by(s.contact_breach.c.action_id, s.contact_breach.c.rule)).all()
        stored = conn.execute(select(func.count()).select_from(s.collection_action)
                              .where(s.collection_action.c.id.in_([901, 902, 903]))).scalar_one()
    assert stored == 3  # they happened: recorded, not refused
    assert [(r.action_id, r.rule) for r in rows] == [(901, "quiet_hours"), (903, "unrecorded"), (903, "unrelated_party")]
    assert {(r.source, r.agency_id, r.month) for r in rows} == {("import", 1, "2026-03")}
    # importing the same file again replaces the flags instead of doubling them
    assert importer.run(coll, {"collection_action.csv": csv.encode()}, "admin").flagged == 2
    with coll.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.contact_breach)).scalar_one() == 3


def test_an_import_with_a_bad_party_is_refused_with_a_report(coll):
    from data_access import importer
    csv = ("id,case_id,action_on,channel,contacted,result,contact_at,party,way\n"
           "904,5,2026-03-11,agency,0,no_answer,2026-03-11 10:00:00,neighbour,call\n")
    result = importer.run(coll, {"collection_action.csv": csv.encode()}, "admin")
    assert not result.ok
    assert set(result.problems["reason"]) == {"not_allowed"} and set(result.problems["column"]) == {"party"}


# ---------------------------------------------------------------- the conduct view: counts, cases, scope, league
def _seed_breaches(engine):
    from data_access import importer
    csv = ("id,case_id,action_on,channel,agency_id,contacted,result,contact_at,party,way,duration_s,recording_ref\n"
           "911,5,2026-03-11,agency,1,0,no_answer,2026-03-11 22:00:00,debtor,call,0,REC-1\n"
           "912,5,2026-03-12,agency,1,0,no_answer,2026-03-12 07:30:00,debtor,call,0,REC-2\n"
           "913,10,2026-03-12,agency,2,1,refused,2026-03-12 10:00:00,other,call,60,REC-3\n")
    assert importer.run(engine, {"collection_action.csv": csv.encode()}, "admin").ok


def test_breaches_by_rule_and_agency_scoped_in_sql(coll):
    from data_access import conduct_view as cv
    from data_access.queries import Filters
    from tests.test_collections import AG2, HQ, OTHER_LEADER, STRATEGY
    _seed_breaches(coll)
    f = Filters(month="2026-03")
    with coll.connect() as conn:
        hq = cv.breaches(conn, HQ, f, ("agency_id", "rule"))
        assert sorted(zip(hq["agency_id"], hq["rule"], hq["breaches"])) == [(1, "quiet_hours", 2), (2, "unrelated_party", 1)]
        # an agency sees its own breaches only, whatever it asks for
        assert cv.breaches(conn, AG1, f)["breaches"].sum() == 2
        assert cv.breach_cases(conn, AG1, f, agency_id=2).empty
        assert set(cv.breach_cases(conn, AG2, f)["case_no"]) == {"K10"}
        assert cv.breaches(conn, STRATEGY, f).empty and cv.breaches(conn, OTHER_LEADER, f).empty
        cases = cv.breach_cases(conn, HQ, f, rule="quiet_hours")
        assert list(cases["case_no"]) == ["K5", "K5"] and list(cases["value"]) == [7.5, 22.0]


def test_the_league_ranks_on_recovery_and_conduct(coll):
    """Hand-worked, March, 12 months: agency 1 recovery 0.4 (score 1), 2 breaches + 1 complaint on 1 case = 300 per
    100 cases (the worst: conduct score 0); agency 2 recovery 0 (score 0), 1 breach on 1 case = 100 (score 2/3).
    Composite 0.6 × 1 + 0.4 × 0 = 0.6 against 0.6 × 0 + 0.4 × 2/3 = 0.267: agency 1 first; with the weight at 0.3,
    0.3 against 0.467: agency 2 first."""
    from data_access import conduct_view as cv
    from data_access.queries import Filters
    from tests.test_collections import HQ
    _seed_breaches(coll)
    with coll.connect() as conn:
        lg = cv.league(conn, HQ, Filters(month="2026-03")).set_index("agency_id")
        assert lg.loc[1, "conduct_rate"] == pytest.approx(300) and lg.loc[2, "conduct_rate"] == pytest.approx(100)
        assert lg.loc[1, "composite"] == pytest.approx(0.6) and lg.loc[2, "composite"] == pytest.approx(0.4 * 2 / 3)
        assert lg.loc[1, "rank"] == 1
        other = cv.league(conn, HQ, Filters(month="2026-03"), lim=conduct.Limits(recovery_weight=0.3))
        assert list(other["agency_id"]) == [2, 1]


# ---------------------------------------------------------------- the allocation run within the caps
def test_within_caps_counts_the_days_left_in_the_entry_month():
    from models import allocation
    cases = pd.DataFrame({"entry_date": [dt.date(2026, 3, 31), dt.date(2026, 3, 30), dt.date(2026, 3, 1)]})
    options = pd.DataFrame({"channel": ["ai_voice", "phone", "sms", "field"]})
    # cap 2 a day: 31 March leaves 2 calls (AI voice plans 4, phone 3: neither fits); 30 March leaves 4
    fits = allocation.within_caps(cases, options, conduct.Limits(max_attempts_per_day=2))
    assert fits.tolist() == [[False, False, True, True], [True, True, True, True], [True, True, True, True]]
    assert allocation.within_caps(cases, options, LIM).all()  # 6 a day: even the month's last day fits


def test_the_allocation_run_plans_no_more_calls_than_the_caps_allow(empty_engine, monkeypatch):
    from sqlalchemy import update
    from data_access import demo, marts
    from models import allocation
    demo.generate(empty_engine, size="tiny", seed=5, progress=False)
    k = s.collection_case
    with empty_engine.begin() as conn:
        last = conn.execute(select(func.max(k.c.entry_month))).scalar()
        y, m = int(last[:4]), int(last[5:])
        month_end = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1))
        conn.execute(update(k).where(k.c.entry_month == last, k.c.status == "open", k.c.channel != "write_off")
                     .values(channel="pending", agency_id=None, entry_date=month_end))
    marts.refresh(empty_engine)
    monkeypatch.setenv("COCKPIT_CONDUCT_MAX_ATTEMPTS", "2")
    out = allocation.run(empty_engine, run_by="hq_wang")
    assert out["assigned"] > 0
    with empty_engine.connect() as conn:
        chosen = conn.execute(select(k.c.channel).where(k.c.allocation_run_id == out["run_id"])).scalars().all()
        lines = dc.allocation_run_lines(conn, conduct_scope(), out["run_id"])
    # one day left at 2 calls a day: no channel that plans 3 or 4 calls, in the plan or in the rules' baseline
    calling = {c for c, n in allocation.ATTEMPTS_PER_CASE.items() if conduct.CHANNEL_WAY[c] in conduct.VOICE and n > 2}
    assert chosen and not set(chosen) & calling, set(chosen)
    assert not set(lines["channel"]) & calling


def conduct_scope():
    from tests.test_collections import HQ
    return HQ
