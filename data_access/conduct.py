"""Collection conduct rules (催收行为规范): what a contact may be, checked where contacts are recorded (the agency
workspace refuses a breaking one), flagged where they arrive from elsewhere (the import and the demo record them
and write a ``contact_breach`` row), and watched on the Collections page.

Sources (README "Collection conduct" cites them):

* 中国银行业协会《金融机构个人消费类贷款催收工作指引(试行)》 (credit cards and personal consumer loans): no
  telephone, visit or other collection 22:00–08:00 without the debtor's consent; when the debtor does not answer, no
  more than 6 attempts a day to the same contact; third parties only once the debtor cannot be reached (invalid
  number, several failed attempts in a row), debt-related third parties kept apart from unrelated ones, and no
  collection from unrelated third parties.
* 《商业银行信用卡业务监督管理办法》(银监会令2011年第2号) 第六十六条: collectors are not assessed on recovered amount
  alone (the agency league's composite); 第六十八条: collect from the debtor and the guarantor only, never from a third
  party unrelated to the debt; the collection process is recorded and the record kept at least two years.

The issue names the association's 2021 card-collection guideline; its text could not be confirmed here, so every
limit is a setting (environment or ``.streamlit/secrets.toml``) whose default is the figure of the texts above.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from .config import ConfigError, setting

PARTIES = ("debtor", "guarantor", "family", "other")   # guarantor: co-borrower or guarantor (debt-related)
WAYS = ("call", "sms", "visit", "ai_voice")
RULES = ("quiet_hours", "daily_attempts", "unrelated_party", "third_party_early", "unrecorded")
VOICE = ("call", "ai_voice")          # attempts the daily cap counts
RECORDED = ("call", "visit", "ai_voice")  # contacts that leave a recording
# the case channel's usual way of making contact (a row without a way takes it)
CHANNEL_WAY = {"ai_voice": "ai_voice", "sms": "sms", "phone": "call", "field": "visit", "agency": "call",
               "mediation": "visit", "litigation": "call", "write_off": "call"}


@dataclass(frozen=True)
class Limits:
    """The conduct limits in force. Defaults and where they come from:

    * ``quiet_start`` 22:00, ``quiet_end`` 08:00 — 个人消费类贷款催收工作指引: none between 22:00 and 08:00 without
      consent (COCKPIT_CONDUCT_QUIET_START / _QUIET_END, HH:MM).
    * ``max_attempts_per_day`` 6 — the same guideline: attempts a day to the same contact (COCKPIT_CONDUCT_MAX_ATTEMPTS).
    * ``third_party_after`` 3 — the same guideline lets a third party be contacted once the debtor is unreachable;
      "unreachable" is read as this many failed attempts on the debtor in a row (COCKPIT_CONDUCT_THIRD_PARTY_AFTER).
    * ``retention_years`` 2 — 信用卡业务监督管理办法 第六十八条: records kept at least two years
      (COCKPIT_CONDUCT_RETENTION_YEARS); nothing in the cockpit deletes a contact, a purge must keep this many years.
    * ``recovery_weight`` 0.6 — the agency league's composite: share of recovery against conduct (第六十六条: not
      on recovered amount alone; COCKPIT_CONDUCT_RECOVERY_WEIGHT, 0 … 0.9).
    """
    quiet_start: dt.time = dt.time(22, 0)
    quiet_end: dt.time = dt.time(8, 0)
    max_attempts_per_day: int = 6
    third_party_after: int = 3
    retention_years: int = 2
    recovery_weight: float = 0.6


def _time(name: str, default: dt.time) -> dt.time:
    raw = setting(name)
    if raw is None:
        return default
    try:
        return dt.datetime.strptime(raw.strip(), "%H:%M").time()
    except ValueError:
        raise ConfigError(f"{name} must be a time of day as HH:MM (e.g. 22:00); got {raw!r}.") from None


def _number(name: str, default, lo, hi, kind=int):
    raw = setting(name)
    if raw is None:
        return default
    try:
        v = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number between {lo} and {hi}; got {raw!r}.") from None
    if not lo <= v <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}; got {raw!r}.")
    return v


def limits() -> Limits:
    """The limits in force, from the settings (defaults: :class:`Limits`)."""
    d = Limits()
    return Limits(quiet_start=_time("COCKPIT_CONDUCT_QUIET_START", d.quiet_start),
                  quiet_end=_time("COCKPIT_CONDUCT_QUIET_END", d.quiet_end),
                  max_attempts_per_day=_number("COCKPIT_CONDUCT_MAX_ATTEMPTS", d.max_attempts_per_day, 1, 100),
                  third_party_after=_number("COCKPIT_CONDUCT_THIRD_PARTY_AFTER", d.third_party_after, 1, 20),
                  retention_years=_number("COCKPIT_CONDUCT_RETENTION_YEARS", d.retention_years, 2, 30),
                  recovery_weight=_number("COCKPIT_CONDUCT_RECOVERY_WEIGHT", d.recovery_weight, 0.0, 0.9, float))


def in_quiet_hours(t: dt.time, lim: Limits) -> bool:
    """22:00 is inside, 21:59 and 08:00 outside (the window wraps midnight when start > end)."""
    if lim.quiet_start > lim.quiet_end:
        return t >= lim.quiet_start or t < lim.quiet_end
    return lim.quiet_start <= t < lim.quiet_end


def check(contacts: pd.DataFrame, lim: Limits | None = None) -> pd.DataFrame:
    """Every breach among ``contacts``: one row per (contact, rule) broken.

    ``contacts`` columns: key (anything identifying the row), case_id, contact_at (datetime), party, way,
    contacted (bool), consented (bool), recording_ref. Pass a case's whole history: the daily cap and the
    third-party rule depend on the contacts before. Rows without a time (recorded before contacts carried one) are
    not judged. Returns columns key, rule, value (the measure: the hour, the attempt's number that day, the failed
    attempts before).

    * quiet_hours — any way, at or after quiet_start or before quiet_end, unless the debtor consented.
    * daily_attempts — calls and AI-voice calls to the same party of a case on one calendar day: the
      (cap + 1)-th and later.
    * unrelated_party — party 'other': a third party unrelated to the debt is never collected from.
    * third_party_early — party 'family' before the debtor has failed ``third_party_after`` attempts in a row.
    * unrecorded — a call, visit or AI-voice call without a recording reference.
    """
    lim = lim or limits()
    cols = ["key", "rule", "value"]
    if contacts.empty:
        return pd.DataFrame(columns=cols)
    df = contacts[contacts["contact_at"].notna()].copy()
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["contact_at"] = pd.to_datetime(df["contact_at"])
    df = df.sort_values(["case_id", "contact_at"], kind="stable")
    out = []
    times = df["contact_at"].dt.time
    consented = df["consented"].fillna(False).astype(bool)
    quiet = times.map(lambda t: in_quiet_hours(t, lim)) & ~consented
    out.append(pd.DataFrame({"key": df.loc[quiet, "key"], "rule": "quiet_hours",
                             "value": df.loc[quiet, "contact_at"].dt.hour + df.loc[quiet, "contact_at"].dt.minute / 60}))
    voice = df[df["way"].isin(VOICE)]
    if not voice.empty:
        nth = voice.groupby([voice["case_id"], voice["party"], voice["contact_at"].dt.date]).cumcount() + 1
        over = nth > lim.max_attempts_per_day
        out.append(pd.DataFrame({"key": voice.loc[over, "key"], "rule": "daily_attempts", "value": nth[over]}))
    other = df["party"] == "other"
    out.append(pd.DataFrame({"key": df.loc[other, "key"], "rule": "unrelated_party", "value": 0}))
    # failed debtor attempts in a row just before each contact, per case
    fails = []
    run: dict = {}
    for case_id, party, ok in zip(df["case_id"], df["party"], df["contacted"].fillna(False).astype(bool)):
        n = run.get(case_id, 0)
        fails.append(n)
        if party == "debtor":
            run[case_id] = 0 if ok else n + 1
    fails = pd.Series(fails, index=df.index)
    early = (df["party"] == "family") & (fails < lim.third_party_after)
    out.append(pd.DataFrame({"key": df.loc[early, "key"], "rule": "third_party_early", "value": fails[early]}))
    ref = df["recording_ref"].fillna("").astype(str).str.strip()
    unrec = df["way"].isin(RECORDED) & (ref == "")
    out.append(pd.DataFrame({"key": df.loc[unrec, "key"], "rule": "unrecorded", "value": 0}))
    res = pd.concat([o for o in out if not o.empty], ignore_index=True) if any(not o.empty for o in out) else \
        pd.DataFrame(columns=cols)
    res["value"] = res["value"].astype(float)
    return res[cols]


def retention_cutoff(today: dt.date, lim: Limits | None = None) -> dt.date:
    """Contacts on or after this day must be kept (第六十八条: at least two years)."""
    lim = lim or limits()
    try:
        return today.replace(year=today.year - lim.retention_years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - lim.retention_years, day=28)


def max_attempts_in_month(entry: dt.date, lim: Limits | None = None) -> int:
    """Calls a case entering collection on ``entry`` can take to one contact within its entry month's calendar
    without passing the daily cap: days left in the month (the entry day included) × the cap."""
    lim = lim or limits()
    nxt = (entry.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (nxt - entry).days * lim.max_attempts_per_day
