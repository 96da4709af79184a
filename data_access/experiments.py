"""Champion/challenger strategy tests (策略测试) on the collection allocation.

A test has a champion and one or more challengers, each an allocation strategy with its parameters (:data:`STRATEGIES`:
``rules``, the rules in force alone; ``optimised``, the optimiser of :mod:`models.allocation`; ``channel_mix``, the
optimiser with channels' shares of the arm's cases capped; ``digital``, the rules with early buckets sent to AI voice
and SMS first; ``capacity``, the optimiser with channels' capacity changed — extra visits at their cost per case),
the share of the intake each arm gets, a seed, the intake months, the measure and the date it matures. The
parameters are recorded with the test (``strategy_test.params``), so every arm can be recomputed from the record.
Every case of the intake gets its arm by :func:`arms`, a pure function of (seed, case id, shares): anyone can recompute the split from what the test records, and a case keeps
its arm (``strategy_test_case``). The allocation run allocates each arm's cases by the arm's strategy within the
arm's share of every channel's capacity.

Results per arm: cases, overdue at entry, recovered, cost, net; recovery rate (recovered ÷ overdue at entry) with a
bootstrap interval over cases; cure rate with the normal approximation for a difference of two proportions; lift of
each challenger over the champion, significant when its 95 % interval excludes 0, and the months of intake still
needed to tell a difference of the size seen (two-sided 5 %, power 80 %). Promoting an arm makes its strategy the
one the allocation run applies (``allocation_policy``), audited.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, insert, select, update

from . import schema as s
from .queries import _df
from .scope import Scope
from .users import audit

STRATEGIES = ("rules", "optimised", "channel_mix", "digital", "capacity")
MEASURES = ("recovery", "cure", "net", "cost_per_100")
# each strategy's parameters with their defaults (the form's starting values; a test records the ones it ran)
DEFAULT_PARAMS: dict[str, dict] = {
    "rules": {}, "optimised": {},
    "channel_mix": {"max_share": {"agency": 0.15}},       # at most 15 % of the arm's cases to the agencies
    "digital": {"buckets": [1, 2], "channels": ["ai_voice", "sms"]},  # M1 and M2: AI voice, then SMS, first
    "capacity": {"scale": {"field": 1.2}},                # +20 % field visits for the arm, at their cost per case
}
MIX_CHANNELS = ("ai_voice", "sms", "phone", "field", "agency", "mediation", "litigation")
DIGITAL_CHANNELS = ("ai_voice", "sms")
CAPACITY_CHANNELS = ("ai_voice", "phone", "field", "agency", "mediation", "litigation")  # channels with a capacity
SCALE_RANGE = (0.5, 2.0)
MAX_MONTHS, MAX_MATURITY = 12, 24
Z95, Z80 = 1.959964, 0.841621
BOOTSTRAP = 2000


class ExperimentError(ValueError):
    """The test cannot be made or changed as asked; ``key`` is the message's i18n key."""

    def __init__(self, key: str, **values):
        super().__init__(key)
        self.key, self.values = key, values


def strategy_params(name: str, params: dict | None = None) -> dict:
    """``params`` of strategy ``name`` checked and normalised (the defaults of :data:`DEFAULT_PARAMS` when None);
    raises ExperimentError('test.err_params_<name>') when they say nothing sensible.

    * channel_mix — ``max_share``: {channel: share of the arm's cases, 0 ≤ share < 1}, at least one channel of
      MIX_CHANNELS (agency: all agencies together).
    * digital — ``buckets``: entry buckets 1–4 whose cases go to ``channels`` (ordered, of DIGITAL_CHANNELS) first,
      the rules in force after them.
    * capacity — ``scale``: {channel: factor on the arm's share of its capacity, 0.5 ≤ factor ≤ 2, ≠ 1}, channels of
      CAPACITY_CHANNELS (agency: every agency's).
    """
    if name not in STRATEGIES:
        raise ExperimentError("test.err_arms")
    p = DEFAULT_PARAMS[name] if params is None else params
    if not isinstance(p, dict):
        raise ExperimentError(f"test.err_params_{name}", arm=name)
    try:
        if name == "channel_mix":
            caps = {str(c): round(float(v), 4) for c, v in dict(p["max_share"]).items()}
            if not caps or any(c not in MIX_CHANNELS or not 0 <= v < 1 for c, v in caps.items()):
                raise ValueError
            return {"max_share": {c: caps[c] for c in MIX_CHANNELS if c in caps}}
        if name == "digital":
            buckets = sorted({int(b) for b in p["buckets"]})
            chans = list(dict.fromkeys(str(c) for c in p["channels"]))
            if not buckets or any(b not in (1, 2, 3, 4) for b in buckets) or not chans or \
                    any(c not in DIGITAL_CHANNELS for c in chans):
                raise ValueError
            return {"buckets": buckets, "channels": chans}
        if name == "capacity":
            scale = {str(c): round(float(v), 4) for c, v in dict(p["scale"]).items()}
            lo, hi = SCALE_RANGE
            if not scale or any(c not in CAPACITY_CHANNELS or not lo <= v <= hi or v == 1 for c, v in scale.items()):
                raise ValueError
            return {"scale": {c: scale[c] for c in CAPACITY_CHANNELS if c in scale}}
    except (KeyError, TypeError, ValueError):
        raise ExperimentError(f"test.err_params_{name}", arm=name) from None
    return {}


def arm_params(test) -> dict[str, dict]:
    """Every arm's parameters as the test recorded them (``strategy_test.params``; tests recorded before there were
    parameters, and arms without any, get the strategy's defaults)."""
    names = [test["champion"], *test["challengers"].split(",")]
    raw = test.get("params")
    recorded = json.loads(raw) if isinstance(raw, str) and raw else {}
    return {a: strategy_params(a, recorded.get(a)) for a in names}


def arms(case_ids, shares, seed: int) -> np.ndarray:
    """The arm index of each case: u = the first 60 bits of SHA-256("<seed>:<case id>") as a fraction of 2^60,
    arm = the first whose cumulative share exceeds u. Independent per case, reproducible from the seed alone."""
    cum = np.cumsum(np.asarray(shares, dtype=float))
    if len(cum) < 2 or abs(cum[-1] - 1) > 1e-9 or (np.asarray(shares) <= 0).any():
        raise ExperimentError("test.err_shares")
    u = np.array([int(hashlib.sha256(f"{int(seed)}:{int(c)}".encode()).hexdigest()[:15], 16) / 16 ** 15
                  for c in case_ids])
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def diff_of_rates(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """p2 − p1 and its 95 % interval by the normal approximation: se = √(p1(1−p1)/n1 + p2(1−p2)/n2)."""
    p1, p2 = k1 / n1, k2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    d = p2 - p1
    return d, d - Z95 * se, d + Z95 * se


def bootstrap_ratio_diff(rec1, over1, rec2, over2, seed: int, n: int = BOOTSTRAP) -> tuple[float, float, float]:
    """Σrec2/Σover2 − Σrec1/Σover1 and its 95 % percentile interval, cases resampled within each arm."""
    rng = np.random.default_rng(seed)
    r1, o1, r2, o2 = (np.asarray(x, dtype=float) for x in (rec1, over1, rec2, over2))
    d = r2.sum() / o2.sum() - r1.sum() / o1.sum()
    i1 = rng.integers(0, len(r1), (n, len(r1)))
    i2 = rng.integers(0, len(r2), (n, len(r2)))
    boot = r2[i2].sum(1) / o2[i2].sum(1) - r1[i1].sum(1) / o1[i1].sum(1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(d), float(lo), float(hi)


def cases_needed(p1: float, p2: float) -> float:
    """Cases per arm to tell p1 from p2 (two-sided 5 %, power 80 %): (z.975 + z.8)² (p1q1 + p2q2) ÷ (p2 − p1)²."""
    if p1 == p2:
        return math.inf
    return (Z95 + Z80) ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2


# ---------------------------------------------------------------- the tests in the database
def create(conn: Connection, scope: Scope, name: str, champion: str, challengers: list[str], shares: list[float],
           seed: int, first_month: str, months: int, measure: str = "recovery", maturity_months: int = 3,
           params: dict[str, dict] | None = None) -> int:
    """Record a test (head office only), audited. Returns its id.

    ``params``: {arm: parameters} for the arms whose strategy takes any (the defaults otherwise), checked by
    :func:`strategy_params` and recorded. Refused (ExperimentError with the message's key): another role; no name or
    one over 64 characters; an unknown or repeated strategy, or no challenger; shares not > 0 or not summing to 1;
    a seed not a whole number in 0 … 2³¹−1; a first month not YYYY-MM or before the newest intake month (its cases
    are already allocated); months not 1 … MAX_MONTHS; maturity not 1 … MAX_MATURITY months; an intake month a
    running test already covers (the allocation run applies one test a month: :func:`running_test`)."""
    if scope.role != "head_office":
        raise ExperimentError("test.err_role")
    arms_ = [champion, *challengers]
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 64:
        raise ExperimentError("test.err_name")
    if any(a not in STRATEGIES for a in arms_) or len(set(arms_)) != len(arms_) or not challengers:
        raise ExperimentError("test.err_arms")
    if len(shares) != len(arms_):
        raise ExperimentError("test.err_shares")
    shares = [float(x) for x in shares]
    arms([1], shares, 0)  # validates the shares
    given = params or {}
    arm_params = {a: strategy_params(a, given.get(a)) for a in arms_}
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 31:
        raise ExperimentError("test.err_seed")
    if measure not in MEASURES:
        raise ExperimentError("test.err_measure")
    if not isinstance(first_month, str) or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", first_month):
        raise ExperimentError("test.err_month")
    if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or not 1 <= months <= MAX_MONTHS:
        raise ExperimentError("test.err_months", n=MAX_MONTHS)
    if isinstance(maturity_months, bool) or not isinstance(maturity_months, (int, np.integer)) or \
            not 1 <= maturity_months <= MAX_MATURITY:
        raise ExperimentError("test.err_maturity", n=MAX_MATURITY)
    newest = intake_month(conn)
    if newest is not None and first_month < newest:
        raise ExperimentError("test.err_month_past", month=newest)
    y, m = int(first_month[:4]), int(first_month[5:])
    end = y * 12 + m - 1 + months + maturity_months
    matures = dt.date(end // 12, end % 12 + 1, 1)
    last = y * 12 + m - 1 + months - 1
    last_month = f"{last // 12:04d}-{last % 12 + 1:02d}"
    t = s.strategy_test
    clash = conn.execute(select(t.c.name).where(t.c.status == "running", t.c.first_month <= last_month,
                                                t.c.last_month >= first_month).order_by(t.c.id)).scalar()
    if clash is not None:
        raise ExperimentError("test.err_overlap", name=clash)
    recorded = {a: p for a, p in arm_params.items() if p}
    test_id = conn.execute(insert(t).values(
        name=name.strip(), champion=champion, challengers=",".join(challengers),
        shares=",".join(f"{x:g}" for x in shares), seed=int(seed), measure=measure, first_month=first_month,
        last_month=last_month, matures_on=matures, status="running",
        params=json.dumps(recorded, ensure_ascii=False, sort_keys=True) if recorded else None,
        created_by=scope.username, created_at=dt.datetime.now().replace(microsecond=0)).returning(t.c.id)).scalar_one()
    audit(conn, scope.username, "strategy_test_create", target=f"strategy_test:{test_id}",
          detail={"name": name.strip(), "arms": arms_, "shares": shares, "seed": int(seed), "first_month": first_month,
                  "months": int(months), "measure": measure, "maturity_months": int(maturity_months),
                  "params": recorded})
    return test_id


def form_context(conn: Connection, scope: Scope, ahead: int = 12) -> dict:
    """What the Strategy lab's new-test form offers (bank-wide: head office and strategy): ``months``, the newest
    intake month and the ``ahead`` after it, each with the running test covering it (``taken``: month → name), and
    the strategy in force with its parameters (``in_force``)."""
    if scope.role not in ("head_office", "strategy"):
        return {"months": [], "taken": {}, "in_force": ("optimised", {})}
    newest = intake_month(conn) or dt.date.today().strftime("%Y-%m")
    y, m = int(newest[:4]), int(newest[5:])
    months = [f"{(y * 12 + m - 1 + i) // 12:04d}-{(y * 12 + m - 1 + i) % 12 + 1:02d}" for i in range(ahead + 1)]
    t = s.strategy_test
    taken: dict[str, str] = {}
    for r in conn.execute(select(t.c.name, t.c.first_month, t.c.last_month).where(t.c.status == "running")
                          .order_by(t.c.id)):
        for month in months:
            if r.first_month <= month <= r.last_month:
                taken.setdefault(month, r.name)
    return {"months": months, "taken": taken, "in_force": policy_in_force(conn)}


def intake_month(conn: Connection) -> str | None:
    """The newest entry month of the collection cases (the month the allocation run is working on), or None."""
    return conn.execute(select(func.max(s.collection_case.c.entry_month))).scalar()


def tests(conn: Connection, scope: Scope) -> pd.DataFrame:
    """Every test (bank-wide figures: head office and strategy). Columns as strategy_test plus arms (list) and
    arm_params ({arm: parameters})."""
    if scope.role not in ("head_office", "strategy"):
        return pd.DataFrame()
    t = s.strategy_test
    df = _df(conn, select(t).order_by(t.c.first_month.desc(), t.c.id.desc()))
    if not df.empty:
        df["arms"] = [[c, *ch.split(",")] for c, ch in zip(df["champion"], df["challengers"])]
        df["arm_params"] = [arm_params(r) for _, r in df.iterrows()]
    return df


def running_test(conn: Connection, month: str):
    """The running test whose intake months cover ``month`` (the newest if several), or None."""
    t = s.strategy_test
    return conn.execute(select(t).where(t.c.status == "running", t.c.first_month <= month, t.c.last_month >= month)
                        .order_by(t.c.id.desc())).mappings().first()


def assign(conn: Connection, test, case_ids) -> pd.DataFrame:
    """Give every case of ``case_ids`` not yet in the test its arm (a case keeps the arm it has). Returns case_id,
    arm (strategy name) for all of ``case_ids``."""
    names = [test["champion"], *test["challengers"].split(",")]
    shares = [float(x) for x in test["shares"].split(",")]
    tc = s.strategy_test_case
    ids = [int(c) for c in case_ids]
    have = dict(conn.execute(select(tc.c.case_id, tc.c.arm).where(tc.c.test_id == test["id"], tc.c.case_id.in_(ids))).all()) \
        if ids else {}
    new = [c for c in ids if c not in have]
    if new:
        idx = arms(new, shares, test["seed"])
        rows = [dict(test_id=test["id"], case_id=c, arm=names[i]) for c, i in zip(new, idx)]
        conn.execute(insert(tc), rows)
        have.update({r["case_id"]: r["arm"] for r in rows})
    return pd.DataFrame({"case_id": ids, "arm": [have[c] for c in ids]})


def arm_cases(conn: Connection, scope: Scope, test_id: int) -> pd.DataFrame:
    """The test's cases with their outcome (bank-wide: head office and strategy). Columns: case_id, arm,
    entry_month, entry_bucket, channel, agency_id, overdue_at_entry, recovered_amount, cost, status, cured,
    complaints, compliance_breaches."""
    if scope.role not in ("head_office", "strategy"):
        return pd.DataFrame()
    tc, k = s.strategy_test_case, s.collection_case
    df = _df(conn, select(tc.c.case_id, tc.c.arm, k.c.entry_month, k.c.entry_bucket, k.c.channel, k.c.agency_id,
                          k.c.overdue_at_entry, k.c.recovered_amount, k.c.cost, k.c.status, k.c.complaints,
                          k.c.compliance_breaches)
             .join(k, k.c.id == tc.c.case_id).where(tc.c.test_id == test_id, k.c.channel != "pending"))
    if not df.empty:
        df["cured"] = df["status"].isin(["cured", "settled"]).astype(int)
    return df


def results(cases: pd.DataFrame, arms_: list[str], seed: int, months_of_intake: int,
            measure: str = "recovery") -> pd.DataFrame:
    """Per arm: cases, overdue, recovered, cost, net, recovery_rate, cure_rate, cost_per_100; for challengers the
    lift over the champion in recovery rate (``lift``, bootstrap interval) and in cure rate (``cure_lift``, normal
    interval); ``significant`` when the interval of the test's measure (cure for 'cure', recovery otherwise)
    excludes 0; ``months_needed``: more months of intake until a difference of the size seen would be (0 when
    significant; for cure the sample-size formula of :func:`cases_needed`, otherwise the bootstrap's standard error
    scaled by 1/√n)."""
    rows = []
    champ = cases[cases["arm"] == arms_[0]]
    per_month = {a: (cases["arm"] == a).sum() / max(months_of_intake, 1) for a in arms_}
    for a in arms_:
        d = cases[cases["arm"] == a]
        n = len(d)
        over, rec, cost = (float(d[c].astype(float).sum()) for c in ("overdue_at_entry", "recovered_amount", "cost"))
        row = dict(arm=a, role="champion" if a == arms_[0] else "challenger", cases=n, overdue=over, recovered=rec,
                   cost=cost, net=rec - cost, recovery_rate=rec / over if over else float("nan"),
                   cure_rate=d["cured"].mean() if n else float("nan"),
                   cost_per_100=cost / rec * 100 if rec else float("nan"))
        if a != arms_[0] and n and len(champ):
            d_rec, lo, hi = bootstrap_ratio_diff(champ["recovered_amount"], champ["overdue_at_entry"],
                                                 d["recovered_amount"], d["overdue_at_entry"], seed)
            d_cure, c_lo, c_hi = diff_of_rates(int(champ["cured"].sum()), len(champ), int(d["cured"].sum()), n)
            est, low, high = (d_cure, c_lo, c_hi) if measure == "cure" else (d_rec, lo, hi)
            sig = low > 0 or high < 0
            now = min(n, len(champ))
            if measure == "cure":
                need = cases_needed(champ["cured"].mean(), d["cured"].mean())
            else:
                se = (high - low) / (2 * Z95)
                need = math.inf if est == 0 else now * ((Z95 + Z80) * se / abs(est)) ** 2
            rate = max(min(per_month[a], per_month[arms_[0]]), 1e-9)
            more = 0.0 if sig else (math.inf if not math.isfinite(need) else max(1.0, math.ceil((need - now) / rate)))
            row.update(lift=d_rec, lift_low=lo, lift_high=hi, cure_lift=d_cure, cure_low=c_lo, cure_high=c_hi,
                       significant=bool(sig), months_needed=more)
        rows.append(row)
    return pd.DataFrame(rows)


def predicted(conn: Connection, scope: Scope, test_id: int) -> pd.DataFrame:
    """What the Strategy lab's simulator (the registered propensity model) predicts each arm's cases recover in
    the channels they were given, against what they recovered. Columns: arm, cases, predicted, realised."""
    if scope.role not in ("head_office", "strategy"):
        return pd.DataFrame(columns=["arm", "cases", "predicted", "realised"])
    import pickle
    from .features import case_frame
    reg = s.model_registry
    art = conn.execute(select(reg.c.artifact).where(reg.c.name == "propensity_to_pay", reg.c.active)
                       .order_by(reg.c.version.desc())).scalar()
    t = conn.execute(select(s.strategy_test).where(s.strategy_test.c.id == test_id)).mappings().first()
    if art is None or t is None:
        return pd.DataFrame(columns=["arm", "cases", "predicted", "realised"])
    model = pickle.loads(art)
    frame = case_frame(conn, t["first_month"], t["last_month"])
    tc = s.strategy_test_case
    arm = dict(conn.execute(select(tc.c.case_id, tc.c.arm).where(tc.c.test_id == test_id)).all())
    frame = frame[frame["case_id"].isin(arm)]
    if frame.empty:
        return pd.DataFrame(columns=["arm", "cases", "predicted", "realised"])
    p = model.predict_proba(frame)[:, 1]
    frame = frame.assign(arm=frame["case_id"].map(arm), predicted=model.expected_recovery(frame, p),
                         realised=frame["recovered_amount"].astype(float))
    return frame.groupby("arm", as_index=False).agg(cases=("case_id", "size"), predicted=("predicted", "sum"),
                                                    realised=("realised", "sum"))


def promote(conn: Connection, scope: Scope, test_id: int, arm: str) -> None:
    """Make ``arm``'s strategy the one the allocation run applies (head office only), close the test, audit."""
    if scope.role != "head_office":
        raise ExperimentError("test.err_role")
    t = s.strategy_test
    row = conn.execute(select(t).where(t.c.id == test_id)).mappings().first()
    if row is None:
        raise ExperimentError("test.err_missing")
    if arm not in [row["champion"], *row["challengers"].split(",")]:
        raise ExperimentError("test.err_arms")
    now = dt.datetime.now().replace(microsecond=0)
    params = arm_params(row)[arm]
    conn.execute(update(t).where(t.c.id == test_id).values(status="promoted", promoted_arm=arm, promoted_at=now,
                                                           promoted_by=scope.username))
    conn.execute(insert(s.allocation_policy).values(
        method=arm, since=now, set_by=scope.username, test_id=test_id,
        params=json.dumps(params, ensure_ascii=False, sort_keys=True) if params else None))
    audit(conn, scope.username, "strategy_promote", target=f"strategy_test:{test_id}",
          detail={"arm": arm, "name": row["name"], "params": params})


def policy(conn: Connection) -> str:
    """The allocation strategy in force: the latest promotion's, else the optimiser."""
    return policy_in_force(conn)[0]


def policy_in_force(conn: Connection) -> tuple[str, dict]:
    """The allocation strategy in force and its parameters (as the promoted arm ran them in its test)."""
    p = s.allocation_policy
    row = conn.execute(select(p.c.method, p.c.params).order_by(p.c.id.desc()).limit(1)).first()
    if row is None:
        return "optimised", {}
    return row.method, strategy_params(row.method, json.loads(row.params) if row.params else None)


def finish_matured(conn: Connection, today: dt.date) -> int:
    """Running tests whose maturity date has passed become finished; returns how many."""
    t = s.strategy_test
    return conn.execute(update(t).where(t.c.status == "running", t.c.matures_on <= today)
                        .values(status="finished")).rowcount


__all__ = ["arms", "diff_of_rates", "bootstrap_ratio_diff", "cases_needed", "create", "tests", "running_test",
           "assign", "arm_cases", "results", "predicted", "promote", "policy", "policy_in_force", "finish_matured",
           "strategy_params", "arm_params", "intake_month", "form_context", "ExperimentError", "STRATEGIES", "MEASURES",
           "DEFAULT_PARAMS"]
