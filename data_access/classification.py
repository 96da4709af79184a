"""The five-category classification floor of a retail loan, with its reasons.

Source: 《商业银行金融资产风险分类办法》 (中国银行保险监督管理委员会 中国人民银行令〔2023〕第1号, issued
2023-02-10, in force 2023-07-01). The cockpit classifies retail assets; the rules it applies are those of the
regulation's chapter on risk classification (第二章 风险分类) and chapter on restructured assets (第三章 重组资产
的风险分类):

* 逾期 (第二章, the overdue floors): an asset overdue at all is at least 关注; overdue more than 90 days at least
  次级; more than 270 days at least 可疑; more than 360 days 损失. These day counts were checked against the
  published rule's wording ("逾期后应至少归为关注类,逾期90天以上应至少归为次级类,逾期270天以上应至少归为可疑类,
  逾期360天以上应归为损失类"); they are still settings (``COCKPIT_CLASS_SUBSTANDARD_DPD`` / ``_DOUBTFUL_DPD`` /
  ``_LOSS_DPD``) so a bank whose internal policy is stricter can tighten them. A setting looser than the
  regulation is refused.
* 不良上调 (第二章, upgrading an NPL): an NPL moves back to 正常 or 关注 only once its overdue amounts are repaid
  and it has then paid as agreed for an observation period. The regulation's period is "the last two repayment
  periods or six months, whichever is longer"; for the monthly book the cockpit counts whole months with no
  overdue, ``COCKPIT_CLASS_NPL_OBSERVATION_MONTHS``, default 6 (the six months of that text; the article's
  number could not be confirmed against an official copy here, so the period is a setting). Until then the floor
  is 次级.
* 重组资产 (第三章): a restructured asset is at least 关注 and is not upgraded during its observation period
  (from the restructuring, at least one year: ``COCKPIT_CLASS_RESTRUCTURE_OBSERVATION_MONTHS``, default 12, from
  the regulation's "观察期…至少1年"; a setting for the same reason). A restructured NPL stays NPL.
* 债务人 rule: for non-retail assets the regulation classifies by debtor (以债务人为中心), so one debtor's assets
  share the worst class; retail assets may be classified asset by asset. Whether the cockpit applies the debtor
  rule to retail customers is the setting ``COCKPIT_CLASS_CUSTOMER_LEVEL`` (default off: asset by asset).

The result is a *floor*: the best class the rules allow. The bank's own class may be worse (a manager's
judgement), never better; a bank class better than the floor is a classification deviation (五级分类偏离),
flagged by the importer and listed on the Portfolio risk page. Every floor carries its reasons: the rules whose
floor equals the result, as a bit mask (``REASON_BITS``) so marts and the demo store it in one integer.

The history rules need the previous month's state of each loan (``State``): whether it was held as an NPL
(its effective class, the worse of the floor and the bank's class, was 次级 or worse), how many consecutive
months it has had no overdue, and its effective class during a restructuring's observation period.
``classify`` steps a month for a whole book at once (numpy arrays), ``classify_history`` runs one loan's months
(hand-worked tests, the importer's checks).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ConfigError, setting

PASS, SPECIAL_MENTION, SUBSTANDARD, DOUBTFUL, LOSS = 1, 2, 3, 4, 5

# reason codes, in the order they are shown; each a bit of the stored mask
REASONS = ("current", "overdue", "overdue_substandard", "overdue_doubtful", "overdue_loss", "npl_observation",
           "restructured", "customer_level")
REASON_BITS = {r: 1 << i for i, r in enumerate(REASONS)}


@dataclass(frozen=True)
class Rules:
    """The thresholds in force. Defaults: the regulation's (see the module docstring for each source)."""
    substandard_dpd: int = 90
    doubtful_dpd: int = 270
    loss_dpd: int = 360
    npl_observation_months: int = 6
    restructure_observation_months: int = 12
    customer_level: bool = False

    def __post_init__(self):
        if not (0 < self.substandard_dpd < self.doubtful_dpd < self.loss_dpd):
            raise ConfigError("classification: the day thresholds must rise (次级 < 可疑 < 损失)")
        if self.substandard_dpd > 90 or self.doubtful_dpd > 270 or self.loss_dpd > 360:
            raise ConfigError("classification: a day threshold looser than the regulation (90 / 270 / 360 days)")
        if self.npl_observation_months < 1 or self.restructure_observation_months < 12:
            raise ConfigError("classification: observation periods must be at least 1 month (NPL) and 12 months "
                              "(restructured)")


def rules() -> Rules:
    """The rules in force: the ``COCKPIT_CLASS_*`` settings (environment or secrets.toml), else the defaults."""
    def number(name: str, default: int) -> int:
        raw = setting(name)
        if raw is None:
            return default
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{name} must be a whole number; got {raw!r}") from None
    level = (setting("COCKPIT_CLASS_CUSTOMER_LEVEL") or "").strip().lower() in {"1", "true", "yes", "on"}
    return Rules(substandard_dpd=number("COCKPIT_CLASS_SUBSTANDARD_DPD", 90),
                 doubtful_dpd=number("COCKPIT_CLASS_DOUBTFUL_DPD", 270),
                 loss_dpd=number("COCKPIT_CLASS_LOSS_DPD", 360),
                 npl_observation_months=number("COCKPIT_CLASS_NPL_OBSERVATION_MONTHS", 6),
                 restructure_observation_months=number("COCKPIT_CLASS_RESTRUCTURE_OBSERVATION_MONTHS", 12),
                 customer_level=level)


DEFAULT = Rules()


def dpd_floor(dpd, r: Rules = DEFAULT):
    """The overdue floor alone: 1 current, 2 overdue, 3 over ``substandard_dpd``, 4 over ``doubtful_dpd``,
    5 over ``loss_dpd`` days. Works on a number or an array."""
    d = np.asarray(dpd)
    if (d < 0).any():
        raise ValueError(f"dpd must be >= 0; got {dpd}.")
    out = np.select([d > r.loss_dpd, d > r.doubtful_dpd, d > r.substandard_dpd, d > 0],
                    [LOSS, DOUBTFUL, SUBSTANDARD, SPECIAL_MENTION], PASS)
    return int(out) if out.ndim == 0 else out


_DPD_REASON = np.array([0, REASON_BITS["current"], REASON_BITS["overdue"], REASON_BITS["overdue_substandard"],
                        REASON_BITS["overdue_doubtful"], REASON_BITS["overdue_loss"]])


@dataclass
class State:
    """Each loan's state at the end of the previous month (arrays of one length)."""
    npl_hold: np.ndarray        # bool: its effective class was 次级 or worse
    clean_months: np.ndarray    # int: consecutive months with no overdue, up to that month
    effective: np.ndarray       # int: the worse of the floor and the bank's class (0 before the first month)

    @classmethod
    def new(cls, n: int) -> "State":
        return cls(np.zeros(n, bool), np.zeros(n, int), np.zeros(n, int))


def classify(state: State, dpd, restructure_age=None, bank_class=None, customer=None, r: Rules = DEFAULT):
    """One month for a book: ``(floor, reasons, next_state)``.

    ``dpd``: days past due at month end; ``restructure_age``: months since the loan was restructured (0 in the
    month of restructuring, negative or -1 when it never was); ``bank_class``: the bank's own class this month
    (omit to take the floor as the bank's class); ``customer``: customer keys, used when ``r.customer_level``.
    ``reasons`` is the bit mask of the rules whose floor equals the result.
    """
    dpd = np.asarray(dpd, dtype=int)
    n = len(dpd)
    if (dpd < 0).any():
        raise ValueError("dpd must be >= 0.")
    base = dpd_floor(dpd, r)
    clean = np.where(dpd == 0, state.clean_months + 1, 0)
    # an NPL stays 次级 or worse until its overdue is repaid and it has paid as agreed for the observation period
    held = state.npl_hold & (clean < r.npl_observation_months)
    obs = np.where(held, SUBSTANDARD, PASS)
    # a restructured asset: at least 关注, and never better than it was earlier in its observation period
    age = np.full(n, -1) if restructure_age is None else np.asarray(restructure_age, dtype=int)
    in_obs = (age >= 0) & (age < r.restructure_observation_months)
    restr = np.where(in_obs, np.maximum(SPECIAL_MENTION, state.effective), PASS)
    floor = np.maximum(np.maximum(base, obs), restr)
    if r.customer_level and customer is not None and n:
        cust = np.asarray(customer)
        _, inv = np.unique(cust, return_inverse=True)
        worst = np.zeros(inv.max() + 1, int)
        np.maximum.at(worst, inv, floor)
        by_cust = worst[inv]
    else:
        by_cust = np.full(n, PASS)
    final = np.maximum(floor, by_cust)
    reasons = np.where(base == final, _DPD_REASON[base], 0)
    reasons |= np.where(held & (final == SUBSTANDARD) & (base < SUBSTANDARD), REASON_BITS["npl_observation"], 0)
    reasons |= np.where(in_obs & (restr == final), REASON_BITS["restructured"], 0)
    reasons |= np.where((by_cust == final) & (floor < final), REASON_BITS["customer_level"], 0)
    bank = final if bank_class is None else np.asarray(bank_class, dtype=int)
    effective = np.maximum(final, bank)
    return final, reasons, State(effective >= SUBSTANDARD, clean, effective)


def reason_codes(mask: int) -> tuple[str, ...]:
    """The reason codes of a stored mask, in ``REASONS`` order."""
    return tuple(r for r in REASONS if int(mask) & REASON_BITS[r])


@dataclass(frozen=True)
class Result:
    """One loan-month: the floor class and the rules that set it."""
    month: str
    floor: int
    reasons: tuple[str, ...]


def classify_history(months, dpd, restructured_month: str | None = None, bank_class=None,
                     r: Rules = DEFAULT) -> list[Result]:
    """One loan's consecutive months (``YYYY-MM``, ascending) with their days past due: a ``Result`` a month.
    ``bank_class`` (same length) feeds the history rules as the bank classified; omit it to use the floors."""
    def idx(m: str) -> int:
        return int(m[:4]) * 12 + int(m[5:7]) - 1
    st = State.new(1)
    out = []
    for k, (m, d) in enumerate(zip(months, dpd)):
        age = [idx(m) - idx(restructured_month)] if restructured_month else None
        b = None if bank_class is None else [bank_class[k]]
        f, why, st = classify(st, [d], age, b, r=r)
        out.append(Result(m, int(f[0]), reason_codes(int(why[0]))))
    return out


def reclassify(conn, from_month: str, r: Rules | None = None) -> dict[str, int]:
    """Set ``loan_snapshot.floor_class5`` / ``floor_reasons`` from ``from_month`` to the last month held, month by
    month, each loan's state carried from the month before (read from the snapshots before ``from_month``: the
    previous month's classes and up to ``npl_observation_months`` months of days past due). Used by the importer
    after it loads snapshots; returns ``{month: loans classed better than their floor}``."""
    import pandas as pd
    from sqlalchemy import Column, Integer, MetaData, String, Table, text

    from .bulk import bulk_insert
    r = r or rules()
    months = [m for (m,) in conn.execute(text(
        "SELECT DISTINCT month FROM loan_snapshot WHERE month >= :m ORDER BY month"), {"m": from_month})]
    if not months:
        return {}
    before = [m for (m,) in conn.execute(text(
        "SELECT DISTINCT month FROM loan_snapshot WHERE month < :m ORDER BY month DESC"), {"m": from_month}).all()
              [:r.npl_observation_months]]
    state: dict[int, tuple[bool, int, int]] = {}
    if before:
        hist = pd.read_sql(text("SELECT loan_id, month, dpd, class5, floor_class5 FROM loan_snapshot "
                                "WHERE month >= :lo AND month < :hi"), conn, params={"lo": before[-1], "hi": from_month})
        prev = hist[hist["month"] == before[0]]
        eff = prev[["class5", "floor_class5"]].fillna(0).max(axis=1).astype(int)
        eff = eff.where(prev["floor_class5"].notna(), pd.concat([eff, pd.Series(dpd_floor(prev["dpd"].to_numpy(), r),
                                                                                index=prev.index)], axis=1).max(axis=1))
        # trailing clean months: the consecutive months, newest first, in which the loan had no overdue
        piv = hist.pivot_table(index="loan_id", columns="month", values="dpd", aggfunc="max")[sorted(before, reverse=True)]
        clean = (piv.eq(0).astype(int).cumprod(axis=1)).sum(axis=1)
        for lid, e in zip(prev["loan_id"], eff):
            state[int(lid)] = (e >= SUBSTANDARD, int(clean.get(lid, 0)), int(e))
    # the floors go to a temporary table (COPY on PostgreSQL) and into the snapshots by one UPDATE … FROM: a
    # county's two years are 1.2 million rows, too many for one UPDATE statement each
    tmp = Table("tmp_class_floor", MetaData(), Column("loan_id", Integer), Column("month", String(7)),
                Column("floor_class5", Integer), Column("floor_reasons", Integer), prefixes=["TEMPORARY"])
    tmp.create(conn)
    out = {}
    for month in months:
        cur = pd.read_sql(text("SELECT s.loan_id, s.dpd, s.class5, l.customer_id, l.restructured_on FROM loan_snapshot s "
                               "JOIN loan l ON l.id = s.loan_id WHERE s.month = :m ORDER BY s.loan_id"), conn,
                          params={"m": month})
        ids = cur["loan_id"].to_numpy()
        prior = [state.get(int(i), (False, 0, 0)) for i in ids]
        st = State(np.array([p[0] for p in prior], bool), np.array([p[1] for p in prior], int),
                   np.array([p[2] for p in prior], int))
        mi = int(month[:4]) * 12 + int(month[5:7]) - 1
        ro = pd.to_datetime(cur["restructured_on"])
        age = np.where(ro.notna(), mi - (ro.dt.year.fillna(0) * 12 + ro.dt.month.fillna(1) - 1), -1).astype(int)
        age = np.where(age < 0, -1, age)
        f, why, nxt = classify(st, cur["dpd"].to_numpy(), age, cur["class5"].to_numpy(), cur["customer_id"].to_numpy(), r)
        bulk_insert(conn, tmp, pd.DataFrame({"loan_id": ids, "month": month, "floor_class5": f, "floor_reasons": why}))
        state = {int(i): (bool(h), int(c), int(e)) for i, h, c, e in zip(ids, nxt.npl_hold, nxt.clean_months, nxt.effective)}
        out[month] = int((cur["class5"].to_numpy() < f).sum())
    conn.execute(text("UPDATE loan_snapshot SET floor_class5 = t.floor_class5, floor_reasons = t.floor_reasons "
                      "FROM tmp_class_floor t WHERE loan_snapshot.loan_id = t.loan_id AND loan_snapshot.month = t.month"))
    tmp.drop(conn)
    return out
