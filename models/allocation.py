"""智能分案 The allocation run: new overdue cases → channels and agencies, by the rules plus the propensity model,
within every channel's and agency's monthly capacity.

    .venv/bin/python -m models.allocation [--retrain] [--dry-run] [--user NAME]

The rules in force (``allocation_rule``) say which channels may work a case (by entry bucket and overdue amount);
within that, a linear program (scipy's HiGHS) chooses the channel or agency that maximises the expected net
recovery of all new cases together — expected recovery from the propensity model minus the channel's cost per
case and the agency's commission — first assigning as many cases as capacity allows. The assignment constraints
form a bipartite (transportation) matrix, so the LP optimum is integral; ``milp`` is kept as a guard.

The baseline is the rules alone: every case, oldest first, to its highest-priority eligible channel with capacity
left (agencies: the one with most capacity left). Both are valued with the same model, recorded with the run and
shown side by side.
"""
from __future__ import annotations

import argparse
import math
import pickle
import sys

import numpy as np
import pandas as pd
from scipy.optimize import LinearConstraint, linprog, milp
from scipy.sparse import csr_matrix
from sqlalchemy import Engine, func, select

from data_access import collections as dc, conduct, experiments, marts, schema as s
from data_access.features import CASE_FEATURES, CURE_MONTHS, case_frame
from data_access.queries import shift_month

from .behaviour_pd import discrimination
from .challengers import LogisticChallenger
from .propensity import FEATURES, PropensityToPay
from .registry import Windows, in_use, register
from .stability import reference
from .validation import evidence

MODEL_NAME = "propensity_to_pay"
TRAIN_MONTHS = 18   # entry months of history a model learns from, at most
VALID_MONTHS = 3    # entry months of the validated model's out-of-time check
MONITOR_MONTHS = 3  # mature entry months after validation kept for monitoring the validated model
MATURITY = CURE_MONTHS  # months after entry within which a cure counts (the label's horizon)
CATEGORICAL = ["village_grade", "segment", "product_id", "guarantee_type", "option"]
NUMERIC = [c for c in CASE_FEATURES if c not in CATEGORICAL]


# ---------------------------------------------------------------- pure parts (tested on fixtures)
def eligibility(cases: pd.DataFrame, options: pd.DataFrame, rules: pd.DataFrame) -> np.ndarray:
    """Boolean cases × options: a rule for the case's entry bucket, with min_amount ≤ overdue at entry, names the
    option's channel (a rule naming 'agency' admits every agency)."""
    elig = np.zeros((len(cases), len(options)), dtype=bool)
    b = cases["entry_bucket"].astype(int).to_numpy()
    over = cases["overdue_at_entry"].astype(float).to_numpy()
    chan = options["channel"].to_numpy()
    for r in rules.itertuples():
        rows = (b == int(r.entry_bucket)) & (over >= float(r.min_amount))
        cols = chan == r.channel
        elig |= np.outer(rows, cols)
    return elig


# calls (or AI-voice calls) an option plans on one contact of a case in its entry month: the cadence behind the
# channels' cost per case (data_access/demo.py: cost of one attempt × 4 for AI voice and SMS, × 3 otherwise)
ATTEMPTS_PER_CASE = {"ai_voice": 4, "sms": 4, "phone": 3, "field": 3, "agency": 3, "mediation": 3, "litigation": 3,
                     "write_off": 3}


def within_caps(cases: pd.DataFrame, options: pd.DataFrame, lim: conduct.Limits | None = None) -> np.ndarray:
    """Boolean cases × options: the option's planned calls fit the conduct caps within the case's entry month's
    calendar — at most ``max_attempts_per_day`` a day on the days left from the entry date (data_access/conduct.py).
    Options that do not call (SMS, visits) always fit."""
    lim = lim or conduct.limits()
    room = np.array([conduct.max_attempts_in_month(pd.Timestamp(d).date(), lim) for d in cases["entry_date"]])
    need = np.array([ATTEMPTS_PER_CASE.get(ch, 3) if conduct.CHANNEL_WAY.get(ch) in conduct.VOICE else 0
                     for ch in options["channel"]])
    return need[None, :] <= room[:, None]


def optimise(value: np.ndarray, eligible: np.ndarray, capacity: np.ndarray,
             groups: list[tuple[np.ndarray, float]] | None = None) -> np.ndarray:
    """Option index per case (−1: queued) maximising first the number of cases assigned, then the total value.

    ``value``: cases × options expected net recovery; ``capacity``: cases each option can still take (inf or nan:
    no limit; fractions are floored, a case is whole); ``groups``: (boolean mask over options, most cases) — at most
    that many cases to those options together (the channel-mix strategy's cap on a channel, all its agencies).

    Solved as a linear program by HiGHS' dual simplex: case rows and option rows make a transportation matrix,
    which is totally unimodular, so with whole capacities the basic optimum is already 0/1 — an order of
    magnitude faster than branch and bound at province size. ``milp`` stays as the guard should a solve ever end
    off a vertex (fractional x).
    """
    n, m = eligible.shape
    out = np.full(n, -1)
    ii, jj = np.nonzero(eligible)
    if len(ii) == 0:
        return out
    v = value[ii, jj]
    # a bonus larger than any value difference makes "assign one more case" always worth more than any reshuffle
    bonus = float(np.abs(v).sum()) + 1.0
    cost = -(v + bonus)
    k = len(ii)
    rows, cols, upper = [ii], [np.arange(k)], [np.ones(n)]
    cap = np.asarray(capacity, dtype=float)
    limited = np.flatnonzero(np.isfinite(cap))
    if len(limited):
        pos = np.full(m, -1)
        pos[limited] = np.arange(len(limited))
        sel = np.flatnonzero(pos[jj] >= 0)
        rows.append(n + pos[jj[sel]])
        cols.append(sel)
        upper.append(np.floor(np.maximum(cap[limited], 0)))
    # a group is a union of options, the options' rows a partition: both families are laminar, so with the case rows
    # the matrix stays totally unimodular and the optimum whole
    base = n + len(limited)
    for g, (mask, most) in enumerate(groups or ()):
        sel = np.flatnonzero(np.asarray(mask, dtype=bool)[jj])
        rows.append(np.full(len(sel), base + g))
        cols.append(sel)
        upper.append(np.array([np.floor(max(float(most), 0))]))
    a = csr_matrix((np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(base + len(groups or ()), k))
    ub = np.concatenate(upper)
    res = linprog(cost, A_ub=a, b_ub=ub, bounds=(0, 1), method="highs-ds")
    x = res.x if res.status == 0 else None
    if x is None or np.abs(x - np.round(x)).max() > 1e-6:
        res = milp(cost, constraints=[LinearConstraint(a, 0, ub)], integrality=np.ones(k), bounds=(0, 1))
        if res.x is None:
            raise RuntimeError(f"the allocation program found no solution: {res.message}")
        x = res.x
    chosen = x > 0.5
    out[ii[chosen]] = jj[chosen]
    return out


def rule_allocation(cases: pd.DataFrame, options: pd.DataFrame, rules: pd.DataFrame,
                    capacity: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """The rules alone: each case in order to its highest-priority eligible channel with capacity left; among
    agencies, the one with most capacity left (lowest index on a tie). −1 when nothing is left. ``allowed``
    (cases × options, optional) rules options out for single cases (the conduct caps: :func:`within_caps`).

    Sequential by nature (each case takes what the earlier ones left), so it runs on plain Python lists: a
    province month of 5,000 cases takes milliseconds, where per-case pandas/numpy calls took seconds.
    """
    left = [float(c) if np.isfinite(c) else np.inf for c in np.asarray(capacity, dtype=float)]
    chan = options["channel"].tolist()
    by_channel: dict[str, list[int]] = {}
    for j, ch in enumerate(chan):
        by_channel.setdefault(ch, []).append(j)
    by_bucket: dict[int, list[tuple[float, list[int]]]] = {}
    for r in rules.sort_values("priority", kind="stable").itertuples():
        by_bucket.setdefault(int(r.entry_bucket), []).append((float(r.min_amount), by_channel.get(r.channel, [])))
    out = np.full(len(cases), -1)
    for i, (b, over) in enumerate(zip(cases["entry_bucket"].astype(int).tolist(),
                                      cases["overdue_at_entry"].astype(float).tolist())):
        for min_amount, cand in by_bucket.get(b, ()):
            if over < min_amount:
                continue
            free = [j for j in cand if left[j] >= 1 and (allowed is None or allowed[i, j])]
            if free:
                j = max(free, key=left.__getitem__)  # first of the largest: lowest index on a tie
                out[i] = j
                left[j] -= 1
                break
    return out


def values(model: PropensityToPay, cases: pd.DataFrame, options: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """P(cure), expected recovery, expected cost and expected net recovery, each cases × options."""
    p = model.proba_by_option(cases, options["option"].tolist())
    rec = model.expected_recovery(cases, p)
    cost = options["cost_per_case"].to_numpy()[None, :] + rec * options["commission_rate"].to_numpy()[None, :]
    return p, rec, cost, rec - cost


def summarise(cases: pd.DataFrame, options: pd.DataFrame, choice: np.ndarray, rec: np.ndarray, cost: np.ndarray,
              method: str) -> pd.DataFrame:
    """Run lines: per entry bucket and option, cases, overdue and expected recovery and cost."""
    ok = choice >= 0
    i = np.flatnonzero(ok)
    j = choice[ok]
    df = pd.DataFrame({"entry_bucket": cases["entry_bucket"].astype(int).to_numpy()[i],
                       "channel": options["channel"].to_numpy()[j], "agency_id": options["agency_id"].to_numpy()[j],
                       "overdue": cases["overdue_at_entry"].astype(float).to_numpy()[i],
                       "expected_recovery": rec[i, j], "expected_cost": cost[i, j]})
    out = df.groupby(["entry_bucket", "channel", "agency_id"], as_index=False).agg(
        cases=("overdue", "size"), overdue=("overdue", "sum"), expected_recovery=("expected_recovery", "sum"),
        expected_cost=("expected_cost", "sum"))
    out["method"] = method
    for c in ("overdue", "expected_recovery", "expected_cost"):
        out[c] = out[c].round(2)
    out["agency_id"] = out["agency_id"].astype(int)
    out["entry_bucket"] = out["entry_bucket"].astype(int)
    out["cases"] = out["cases"].astype(int)
    return out[["method", "entry_bucket", "channel", "agency_id", "cases", "overdue", "expected_recovery",
                "expected_cost"]]


# ---------------------------------------------------------------- model: train once, keep in the registry
def plan(month: str, first_month: str, cure_months: int = MATURITY) -> tuple[Windows, Windows]:
    """The windows of the validated and the production propensity model with data up to ``month``, cases from
    ``first_month``. A case's label reads its entry month and the ``cure_months`` after it, so the newest mature
    entry month is ``month`` − ``cure_months``. Production learns from up to TRAIN_MONTHS mature entry months; the
    validated model keeps MONITOR_MONTHS mature months after validation, validates on the VALID_MONTHS before them
    and trains on entry months whose labels close before validation starts."""
    mature_to = shift_month(month, -cure_months)
    valid_to = shift_month(mature_to, -MONITOR_MONTHS)
    valid_from = shift_month(valid_to, -(VALID_MONTHS - 1))
    train_to = shift_month(valid_from, -(cure_months + 1))
    return (Windows("validated", max(first_month, shift_month(train_to, -(TRAIN_MONTHS - 1))), train_to, cure_months,
                    month, valid_from, valid_to),
            Windows("production", max(first_month, shift_month(mature_to, -(TRAIN_MONTHS - 1))), mature_to,
                    cure_months, month))


def recovery_backtest(model, valid: pd.DataFrame, p_valid, months: str) -> dict:
    """Recovery predicted for mature held-out cases in the channels they went to, against what they recovered
    within the same months after entry (not recovery to date, which grows with the case's age)."""
    return {"months": months, "cases": int(len(valid)),
            "predicted": float(model.expected_recovery(valid, p_valid).sum()),
            "realised": float(valid["recovered_in_horizon"].astype(float).sum())}


def train(engine: Engine, month: str, trained_by: str, register_models: bool = True,
          cure_months: int = MATURITY) -> tuple[int | None, PropensityToPay]:
    """Train the validated model (checked out of time on its validation window), its logistic challenger on the
    same windows, and the production model on the newest mature entry months; register them unless told not to
    (the previous versions are deactivated) and return (production model id or None, production model).

    Labels: cure and recovery within ``cure_months`` of entry; cases whose months are not all observed by
    ``month`` (immature) are left out of training and of the backtest."""
    with engine.connect() as conn:
        first = conn.execute(select(func.min(s.collection_case.c.entry_month))).scalar() or month
        validated, production = plan(month, first, cure_months)
        hist = case_frame(conn, validated.train_from, production.train_to, cure_months=cure_months, as_of=month)
    hist = hist[hist["mature"]] if not hist.empty else hist
    span = f"{validated.train_from}..{production.train_to}"
    if hist.empty or hist["cured"].nunique() < 2 or validated.train_to < validated.train_from:
        raise ValueError(f"too little collection history to train the propensity model (cases entered {span}).")
    fit_part = hist[hist["entry_month"].between(validated.train_from, validated.train_to)]
    valid = hist[hist["entry_month"].between(validated.valid_from, validated.valid_to)]
    if fit_part["cured"].nunique() < 2:
        raise ValueError(f"too little collection history to train the propensity model (cases entered {span}).")
    model = PropensityToPay().fit(fit_part, fit_part["cured"])
    months = f"{validated.valid_from}..{validated.valid_to}"
    metrics = {"train_rows": int(len(fit_part)), "valid_rows": int(len(valid)), "valid_months": months,
               "cure_months": cure_months, "cure_rate": float(fit_part["cured"].mean()),
               "reference": reference(model.predict_proba(fit_part)[:, 1], fit_part, NUMERIC, CATEGORICAL)}
    challenger = LogisticChallenger(tuple(FEATURES), tuple(CATEGORICAL)).fit(fit_part, fit_part["cured"])
    c_metrics = {"train_rows": int(len(fit_part)), "valid_rows": int(len(valid)), "valid_months": months,
                 "reference": reference(challenger.predict_proba(fit_part)[:, 1], fit_part, NUMERIC, CATEGORICAL)}
    if valid["cured"].nunique() == 2:
        p_valid = model.predict_proba(valid)[:, 1]
        metrics.update(discrimination(valid["cured"], p_valid), evidence=evidence(valid["cured"], p_valid))
        # the strategy lab's backtest
        metrics["recovery_backtest"] = recovery_backtest(model, valid, p_valid, months)
        c_valid = challenger.predict_proba(valid)[:, 1]
        c_metrics.update(discrimination(valid["cured"], c_valid), evidence=evidence(valid["cured"], c_valid))
    full = hist[hist["entry_month"].between(production.train_from, production.train_to)]
    final = PropensityToPay().fit(full, full["cured"])
    if not register_models:
        return None, final
    p_metrics = {**{k: v for k, v in metrics.items() if k != "reference"}, "train_rows": int(len(full)),
                 "reference": reference(final.predict_proba(full)[:, 1], full, NUMERIC, CATEGORICAL)}
    with engine.begin() as conn:  # computed above: the write transaction only stores
        validated_id = register(conn, MODEL_NAME, validated, metrics, model, trained_by)
        register(conn, MODEL_NAME, validated, c_metrics, challenger, trained_by, role="challenger")
        p_metrics["validated_model_id"] = validated_id
        model_id = register(conn, MODEL_NAME, production, p_metrics, final, trained_by)
    return model_id, final


_LOADED: dict[int, PropensityToPay] = {}


def active_model(engine: Engine) -> tuple[int, PropensityToPay] | None:
    """The registered active model, unpickled once per process."""
    reg = s.model_registry
    with engine.connect() as conn:
        row = conn.execute(select(reg.c.id).where(in_use(MODEL_NAME)).order_by(reg.c.version.desc())).first()
        if row is None:
            return None
        if row.id not in _LOADED:
            _LOADED[row.id] = pickle.loads(conn.execute(select(reg.c.artifact).where(reg.c.id == row.id)).scalar_one())
    return row.id, _LOADED[row.id]


# ---------------------------------------------------------------- the run
def run(engine: Engine, run_by: str = "batch", retrain: bool = False, dry_run: bool = False) -> dict:
    """Allocate every pending case; record the run, refresh the collection mart's month. Returns the totals."""
    with engine.connect() as conn:
        cases = case_frame(conn, pending=True)
        last_month = conn.execute(select(func.max(s.collection_case.c.entry_month))).scalar()
        if cases.empty:
            return {"cases": 0, "assigned": 0, "queued": 0, "month": last_month}
        month = str(cases["entry_month"].max())
        options = dc.capacity(conn, month)
        rules = dc.allocation_rules(conn)
        test = experiments.running_test(conn, month)
        in_force = experiments.policy_in_force(conn)
    options = options[options["channel"] != "write_off"].reset_index(drop=True)
    loaded = None if retrain else active_model(engine)
    model_id, model = loaded if loaded else train(engine, month, run_by, register_models=not dry_run)
    p, rec, cost, net = values(model, cases, options)
    fits = within_caps(cases, options)
    elig = eligibility(cases, options, rules) & fits
    cap = options["left"].to_numpy(dtype=float)
    base = rule_allocation(cases, options, rules, cap, fits)
    best = base.copy() if in_force[0] == "rules" else allocate(*in_force, cases, options, rules, net, elig, fits, cap)
    arm_of = None
    if test is not None:  # a champion/challenger test on this month's intake: each arm by its own strategy
        best, arm_of = by_arm(test, cases, options, rules, net, elig, fits, cap, in_force)

    def total(choice, m):
        i = np.flatnonzero(choice >= 0)
        return float(m[i, choice[i]].sum())

    totals = {"cases": int(len(cases)), "assigned": int((best >= 0).sum()), "queued": int((best < 0).sum()),
              "expected_recovery": round(total(best, rec), 2), "expected_cost": round(total(best, cost), 2),
              "baseline_recovery": round(total(base, rec), 2), "baseline_cost": round(total(base, cost), 2)}
    lines = pd.concat([summarise(cases, options, best, rec, cost, "optimised"),
                       summarise(cases, options, base, rec, cost, "rules")], ignore_index=True)
    ok = np.flatnonzero(best >= 0)
    chosen = pd.DataFrame({"case_id": cases["case_id"].to_numpy()[ok],
                           "channel": options["channel"].to_numpy()[best[ok]],
                           "agency_id": options["agency_id"].to_numpy()[best[ok]],
                           "propensity": p[ok, best[ok]], "expected_recovery": rec[ok, best[ok]]})
    if dry_run:
        return {**totals, "month": month, "model_id": model_id, "lines": lines}
    with engine.begin() as conn:
        run_id = dc.record_allocation(conn, run_by, month, model_id, chosen, lines, totals)
        if arm_of is not None:
            experiments.assign(conn, test, arm_of["case_id"].tolist())
        for m in sorted(set(cases["entry_month"])):
            marts.refresh_collection_month(conn, m)
    return {**totals, "month": month, "model_id": model_id, "run_id": run_id}


def split_capacity(cap: np.ndarray, shares) -> list[np.ndarray]:
    """Each arm's whole share of every option's capacity, the arms' together equal to it (largest remainder: an
    option that can take one more case gives it to the arm with the largest fraction left, the champion first on a
    tie). Unlimited options stay unlimited for every arm."""
    cap = np.floor(np.maximum(np.asarray(cap, dtype=float), 0))
    finite = np.isfinite(cap)
    exact = np.outer(shares, np.where(finite, cap, 0))
    whole = np.floor(exact)
    short = np.where(finite, cap, 0) - whole.sum(0)
    order = np.argsort(-(exact - whole), axis=0, kind="stable")
    for j in np.flatnonzero(short > 0):
        whole[order[: int(short[j]), j], j] += 1
    return [np.where(finite, whole[a], cap) for a in range(len(shares))]


def digital_rules(rules: pd.DataFrame, buckets, channels) -> pd.DataFrame:
    """The rules with ``channels`` (in their order, from 0 元) put first for the entry ``buckets``: the digital-first
    strategy. The rules in force follow them for a case the digital channels cannot take (capacity, conduct caps);
    a rule of the bucket naming one of ``channels`` is replaced by the new first one."""
    keep = rules[~(rules["entry_bucket"].astype(int).isin(buckets) & rules["channel"].isin(channels))]
    first = pd.DataFrame([dict(entry_bucket=int(b), min_amount=0.0, channel=c, priority=-len(channels) + i,
                               description="") for b in buckets for i, c in enumerate(channels)])
    cols = [c for c in rules.columns if c in first.columns] or list(first.columns)
    return pd.concat([first[cols], keep[cols]], ignore_index=True).sort_values(["entry_bucket", "priority"],
                                                                               kind="stable").reset_index(drop=True)


def scaled_capacity(cap: np.ndarray, options: pd.DataFrame, scale: dict[str, float]) -> np.ndarray:
    """``cap`` with the options of each channel in ``scale`` multiplied by its factor, floored (the capacity
    strategy: +20 % field visits is {"field": 1.2}; 'agency' scales every agency). Unlimited options stay so."""
    factor = np.array([scale.get(ch, 1.0) for ch in options["channel"]], dtype=float)
    out = np.asarray(cap, dtype=float) * factor
    return np.where(np.isfinite(out), np.floor(np.maximum(out, 0)), out)


def mix_groups(options: pd.DataFrame, max_share: dict[str, float], n_cases: int) -> list[tuple[np.ndarray, float]]:
    """The channel-mix strategy's caps as :func:`optimise` groups: at most ⌊share × the arm's cases⌋ to a channel
    (all its agencies together)."""
    chan = options["channel"].to_numpy()
    return [(chan == ch, math.floor(share * n_cases + 1e-9)) for ch, share in max_share.items()]


def allocate(strategy: str, params: dict, cases: pd.DataFrame, options: pd.DataFrame, rules: pd.DataFrame,
             net: np.ndarray, elig: np.ndarray, fits: np.ndarray | None, cap: np.ndarray) -> np.ndarray:
    """``cases`` allocated by one strategy of :data:`data_access.experiments.STRATEGIES` with its parameters
    (:func:`data_access.experiments.strategy_params`). Option index per case, −1 queued.

    ``net``: expected net recovery, cases × options; ``elig``: the rules' eligibility already and-ed with ``fits``
    (the conduct caps, :func:`within_caps`), which every strategy keeps; ``cap``: what the cases may use of every
    option.

    * rules — :func:`rule_allocation`; optimised — :func:`optimise`.
    * channel_mix — the optimiser with at most ``max_share`` of the cases to each channel named.
    * digital — the rules with AI voice / SMS first for the buckets named (:func:`digital_rules`); a case whose
      entry date leaves no room for AI voice's calls under the daily cap goes on to SMS.
    * capacity — the optimiser with the channels named at ``scale`` × their capacity (:func:`scaled_capacity`):
      the extra cases are extra work, at the channel's cost per case, which the arm's cost and net carry.
    """
    from data_access.experiments import strategy_params
    p = strategy_params(strategy, params)
    if strategy == "rules":
        return rule_allocation(cases, options, rules, cap, fits)
    if strategy == "optimised":
        return optimise(net, elig, cap)
    if strategy == "channel_mix":
        return optimise(net, elig, cap, mix_groups(options, p["max_share"], len(cases)))
    if strategy == "digital":
        return rule_allocation(cases, options, digital_rules(rules, p["buckets"], p["channels"]), cap, fits)
    if strategy == "capacity":
        return optimise(net, elig, scaled_capacity(cap, options, p["scale"]))
    raise ValueError(f"unknown allocation strategy {strategy!r}")


def by_arm(test, cases: pd.DataFrame, options: pd.DataFrame, rules: pd.DataFrame, net: np.ndarray, elig: np.ndarray,
           fits: np.ndarray, cap: np.ndarray, in_force: tuple[str, dict] = ("optimised", {})
           ) -> tuple[np.ndarray, pd.DataFrame]:
    """The plan under a running strategy test: the cases of the test's months split by
    :func:`data_access.experiments.arms` (seed and shares of the test), each arm allocated by its own strategy with
    the parameters the test recorded (:func:`allocate`) within its share of every option's capacity
    (:func:`split_capacity`: together exactly the capacity; a capacity arm's extra is on top); other cases by the
    strategy in force with what is left. Returns the choice per case and case_id, arm of the test's cases."""
    names = [test["champion"], *test["challengers"].split(",")]
    shares = [float(x) for x in test["shares"].split(",")]
    params = experiments.arm_params(test)
    inside = ((cases["entry_month"] >= test["first_month"]) & (cases["entry_month"] <= test["last_month"])).to_numpy()
    idx = np.flatnonzero(inside)
    arm = experiments.arms(cases["case_id"].to_numpy()[idx], shares, test["seed"])
    out = np.full(len(cases), -1)
    left = np.asarray(cap, dtype=float).copy()
    caps = split_capacity(cap, shares)
    for a, name in enumerate(names):
        rows = idx[arm == a]
        if not len(rows):
            continue
        sub = cases.iloc[rows].reset_index(drop=True)
        choice = allocate(name, params[name], sub, options, rules, net[rows], elig[rows], fits[rows], caps[a])
        out[rows] = choice
        left = left - np.bincount(choice[choice >= 0], minlength=len(options))
    rest = np.flatnonzero(~inside)
    if len(rest):
        sub = cases.iloc[rest].reset_index(drop=True)
        out[rest] = allocate(in_force[0], in_force[1], sub, options, rules, net[rest], elig[rest], fits[rest],
                             np.maximum(left, 0))
    return out, pd.DataFrame({"case_id": cases["case_id"].to_numpy()[idx], "arm": [names[a] for a in arm]})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.allocation", description=__doc__.split("\n")[0])
    ap.add_argument("--retrain", action="store_true", help="train and register a new propensity model first")
    ap.add_argument("--dry-run", action="store_true", help="compute and print, write nothing")
    ap.add_argument("--user", default="batch", help="recorded as the run's author")
    args = ap.parse_args(argv)
    from data_access.engine import DatabaseUnavailable, get_engine
    try:
        out = run(get_engine(), run_by=args.user, retrain=args.retrain, dry_run=args.dry_run)
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if out["cases"] == 0:
        print("no cases are waiting for allocation.")
        return 0
    print(f"{out['cases']} cases of {out['month']}: {out['assigned']} assigned, {out['queued']} queued; expected "
          f"recovery {out['expected_recovery']:,.0f} 元 at cost {out['expected_cost']:,.0f} 元 "
          f"(rules alone: {out['baseline_recovery']:,.0f} 元 at {out['baseline_cost']:,.0f} 元)"
          + (" — dry run, nothing written" if args.dry_run else f"; run {out['run_id']} recorded"))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------- the strategy lab's what-if
def prepare(model: PropensityToPay, cases: pd.DataFrame, options: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """P(cure) and expected recovery of every case in every option: the expensive part of a what-if, which does
    not depend on capacities or commissions, so the lab computes it once per month."""
    p = model.proba_by_option(cases, options["option"].tolist())
    return p, model.expected_recovery(cases, p)


def what_if(prepared: tuple[np.ndarray, np.ndarray], cases: pd.DataFrame, options: pd.DataFrame, rules: pd.DataFrame,
            capacity_scale: dict[str, float] | None = None, commission_scale: float = 1.0) -> dict:
    """A month's intake allocated (a) by the optimiser and (b) by the rules alone, with every option's full monthly
    capacity scaled per channel (``capacity_scale``, e.g. {"phone": 1.5}) and agency commissions scaled.
    ``prepared``: :func:`prepare`'s matrices. Returns totals for both and their lines."""
    opts = options.copy()
    scale = capacity_scale or {}
    opts["capacity"] = [c * scale.get(ch, 1.0) if np.isfinite(c) else c for c, ch in zip(opts["capacity"], opts["channel"])]
    opts["commission_rate"] = opts["commission_rate"] * commission_scale
    _p, rec = prepared
    cost = opts["cost_per_case"].to_numpy()[None, :] + rec * opts["commission_rate"].to_numpy()[None, :]
    net = rec - cost
    fits = within_caps(cases, opts) if "entry_date" in cases else None
    elig = eligibility(cases, opts, rules) if fits is None else eligibility(cases, opts, rules) & fits
    cap = np.floor(opts["capacity"].to_numpy(dtype=float))
    out = {}
    for name, choice in (("optimised", optimise(net, elig, cap)),
                         ("rules", rule_allocation(cases, opts, rules, cap, fits))):
        i = np.flatnonzero(choice >= 0)
        out[name] = {"assigned": int(len(i)), "queued": int((choice < 0).sum()),
                     "recovery": float(rec[i, choice[i]].sum()), "cost": float(cost[i, choice[i]].sum())}
        out[name]["net"] = out[name]["recovery"] - out[name]["cost"]
        out[name]["lines"] = summarise(cases, opts, choice, rec, cost, name)
    return out
