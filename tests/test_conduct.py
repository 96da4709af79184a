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
