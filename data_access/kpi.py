"""Every measure of DESIGN.md "Terms", defined once.

Pages, marts' readers and tests call these functions; nothing else computes
a ratio of its own. Inputs are plain numbers or small mart frames; a ratio
with a zero denominator is ``nan`` (shown as "—"), never a division error.

Definitions (kept exact):

* 五级分类 ``class5``: 1 正常, 2 关注, 3 次级, 4 可疑, 5 损失; NPL = 3 + 4 + 5;
  NPL ratio = NPL balance / balance.
* DPD buckets: M0 current; M1 1–30; M2 31–60; M3 61–90; M4+ over 90.
* Roll rate of bucket k at month t: balance in k at t (measured at t) that is
  in k+1 at t+1, over all balance in k at t.
* Vintage: for a disbursement month and months on book n, share of the
  disbursed amount that has ever been 30+ (bucket M2 or worse, i.e. over 30
  days) or 90+ (M4+, over 90 days) by month n.
* Recovery rate for entry bucket B: amount repaid by cases that entered
  collection in B, over the overdue amount at entry.
* 授信覆盖率 credit coverage = households registered by month end holding a credit line valid at month end /
  households registered by month end.
* 用信率 usage, by household = line holders (as above) with a loan balance at month end / line holders; by amount
  = balance drawn under lines valid at month end / their limits. Borrowers without a valid line are in neither.
* 催收回收率 collection recovery = amount repaid by the cases that entered collection in the window's entry months
  over their overdue amount at entry, leaving out cases still waiting for allocation and write-off transfers
  (``COLLECTION_RECOVERY_EXCLUDED``); recovery after write-off is its own figure.
* Regulator migration rates: see :func:`cbirc_migration_rates`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

CLASS5 = {1: "正常", 2: "关注", 3: "次级", 4: "可疑", 5: "损失"}
CLASS5_EN = {1: "Pass", 2: "Special mention", 3: "Substandard", 4: "Doubtful", 5: "Loss"}
BUCKETS = {0: "M0", 1: "M1", 2: "M2", 3: "M3", 4: "M4+"}
CLOSED_BUCKETS = {5: "结清", 6: "核销"}
NPL_CLASSES = (3, 4, 5)


def ratio(num: float, den: float) -> float:
    """``num / den``, or nan when the denominator is zero or missing."""
    if den is None or num is None:
        return math.nan
    try:
        if den == 0 or (isinstance(den, float) and math.isnan(den)):
            return math.nan
    except TypeError:
        return math.nan
    return float(num) / float(den)


def bucket_of_dpd(dpd: int) -> int:
    """DPD bucket code: 0 M0 (current), 1 M1 (1–30), 2 M2 (31–60), 3 M3 (61–90), 4 M4+ (over 90)."""
    if dpd < 0:
        raise ValueError(f"dpd must be >= 0; got {dpd}.")
    if dpd == 0:
        return 0
    return min(4, (dpd - 1) // 30 + 1)


def class5_of_dpd(dpd: int) -> int:
    """Five-category class implied by days past due alone: the overdue floor of
    :func:`data_access.classification.dpd_floor` under the rules in force (《商业银行金融资产风险分类办法》
    2023年第1号令, defaults: current 正常; 1–90 关注; 91–270 次级; 271–360 可疑; over 360 损失)."""
    from .classification import dpd_floor, rules
    if dpd < 0:
        raise ValueError(f"dpd must be >= 0; got {dpd}.")
    return dpd_floor(dpd, rules())


def npl_ratio(npl_balance: float, balance: float) -> float:
    """不良率 = NPL balance (次级+可疑+损失) / balance."""
    return ratio(npl_balance, balance)


def npl_balance(by_class: pd.DataFrame) -> float:
    """Sum of the balance of classes 次级, 可疑, 损失 in a frame with columns class5, balance."""
    return float(by_class.loc[by_class["class5"].isin(NPL_CLASSES), "balance"].sum())


def class5_distribution(by_class: pd.DataFrame) -> pd.Series:
    """Share of balance per class 1..5 (index 1..5, all present, summing to 1 when balance > 0)."""
    sums = by_class.groupby("class5")["balance"].sum().reindex(list(CLASS5), fill_value=0.0)
    total = sums.sum()
    return sums / total if total else sums * np.nan


def bucket_shares(by_bucket: pd.DataFrame) -> pd.Series:
    """Share of balance per DPD bucket 0..4 (M0..M4+)."""
    sums = by_bucket.groupby("bucket")["balance"].sum().reindex(list(BUCKETS), fill_value=0.0)
    total = sums.sum()
    return sums / total if total else sums * np.nan


def overdue_ratio(by_bucket: pd.DataFrame, min_bucket: int = 1, max_bucket: int = 4) -> float:
    """Balance in buckets min..max over all balance: M1+ overdue ratio by default."""
    total = by_bucket["balance"].sum()
    sel = by_bucket["bucket"].between(min_bucket, max_bucket)
    return ratio(by_bucket.loc[sel, "balance"].sum(), total)


def roll_rate_matrix(migration: pd.DataFrame, state: str = "bucket") -> pd.DataFrame:
    """Row-normalised migration matrix from a frame with from_<state>, to_<state>, balance.

    Rows: state at month t; columns: state at t+1 (including closed states);
    each row sums to 1 over the balance at t. For buckets, the roll rate of
    bucket k is ``matrix.loc[k, k + 1]``.
    """
    f, t = f"from_{state}", f"to_{state}"
    pivot = migration.astype({"balance": float}).pivot_table(index=f, columns=t, values="balance", aggfunc="sum",
                                                             fill_value=0.0)
    totals = pivot.sum(axis=1)
    return pivot.div(totals.where(totals != 0), axis=0)


def roll_rates(migration: pd.DataFrame) -> pd.Series:
    """Roll rate per bucket k = 0..3: share of balance in k at t found in k+1 at t+1."""
    m = roll_rate_matrix(migration, "bucket")
    out = {}
    for k in range(0, 4):
        out[k] = float(m.loc[k, k + 1]) if k in m.index and (k + 1) in m.columns else (0.0 if k in m.index else math.nan)
    return pd.Series(out)


def vintage_curves(vintage: pd.DataFrame, measure: str = "ever30") -> pd.DataFrame:
    """Cohort × months-on-book table of the share of disbursed amount ever 30+ (or ``ever90``)."""
    col = f"{measure}_amount"
    g = vintage.groupby(["cohort", "mob"])[[col, "amount"]].sum()
    return (g[col] / g["amount"].where(g["amount"] != 0)).unstack("mob")


def credit_coverage(households_with_line: float, households: float) -> float:
    """授信覆盖率 = households with a credit line / households."""
    return ratio(households_with_line, households)


def usage_rate(line_holders_with_loan: float, households_with_line: float) -> float:
    """用信率 by household = households holding a valid line that have a loan balance / households holding a valid
    line (the numerator is part of the denominator: a borrower without a valid line is not counted)."""
    return ratio(line_holders_with_loan, households_with_line)


def usage_amount_rate(line_used_amount: float, line_amount: float) -> float:
    """用信率 by amount = balance drawn under lines valid at month end / the limits of those lines."""
    return ratio(line_used_amount, line_amount)


def new_loan_npl_rate(npl_balance: float, disposed_npl: float, disbursed: float) -> float:
    """新发放贷款不良率 = (本年新发放贷款中形成不良贷款的部分 + 本年新发放贷款中处置不良贷款的部分) ÷ 本年累计新发放贷款
    (off-site supervision indicator "新发放贷款不良率"): the balance now of this year's loans classified NPL, plus
    the NPL balance of those that left the book as NPL (written off or recovered), over this year's disbursements."""
    return ratio(npl_balance + disposed_npl, disbursed)


def provision_coverage(provision: float, npl_balance: float) -> float:
    """拨备覆盖率 = 贷款损失准备 ÷ 不良贷款 (银监发〔2018〕7号)."""
    return ratio(provision, npl_balance)


def loan_provision_ratio(provision: float, loans: float) -> float:
    """贷款拨备率 = 贷款损失准备 ÷ 各项贷款 (银监发〔2018〕7号)."""
    return ratio(provision, loans)


# channels whose cases are not in 催收回收率: waiting for allocation, and write-off transfers (post-write-off
# recovery is reported apart)
COLLECTION_RECOVERY_EXCLUDED = ("pending", "write_off")
RECOVERY_WINDOW = 12  # entry months in every recovery label and figure (Overview, branch league, Collections default)


ENTRY_BUCKET_GROUPS = {"M1": (1,), "M2": (2,), "M1+M2": (1, 2), "M3+": (3, 4)}


def recovery_rate(cases: pd.DataFrame, entry_buckets: tuple[int, ...] | str) -> float:
    """Recovery rate for an entry bucket (or group "M1", "M2", "M1+M2", "M3+"):
    recovered amount of cases that entered in it over their overdue amount at entry."""
    if isinstance(entry_buckets, str):
        entry_buckets = ENTRY_BUCKET_GROUPS[entry_buckets]
    sel = cases[cases["entry_bucket"].isin(entry_buckets)]
    return ratio(sel["recovered_amount"].sum(), sel["overdue_at_entry"].sum())


def recovery_rates(cases: pd.DataFrame) -> pd.Series:
    """Recovery rates for M1, M2, M1+M2 and M3+."""
    return pd.Series({k: recovery_rate(cases, v) for k, v in ENTRY_BUCKET_GROUPS.items()})


def contact_rate(contacted_cases: float, cases: float) -> float:
    """Share of cases in which the debtor was reached at least once."""
    return ratio(contacted_cases, cases)


def promise_kept_rate(kept_cases: float, promised_cases: float) -> float:
    """Promise-to-pay kept rate: cases with a kept promise over cases with a promise."""
    return ratio(kept_cases, promised_cases)


def cure_rate(cured_cases: float, cases: float) -> float:
    """Share of cases that returned to M0."""
    return ratio(cured_cases, cases)


def cost_per_yuan_recovered(cost: float, recovered: float) -> float:
    """Collection cost per yuan recovered."""
    return ratio(cost, recovered)


def roll_forward_rate(rolled_cases: float, cases: float) -> float:
    """Share of cases that rolled into the next (worse) bucket before they were resolved."""
    return ratio(rolled_cases, cases)


def promise_rate(promised_cases: float, contacted_cases: float) -> float:
    """Promise-to-pay made rate: contacted cases in which the debtor promised to pay."""
    return ratio(promised_cases, contacted_cases)


COLLECTION_RATES = {
    "recovery_rate": ("recovered_amount", "overdue_at_entry"), "cure_rate": ("cured_cases", "cases"),
    "roll_forward_rate": ("rolled_cases", "cases"), "contact_rate": ("contacted_cases", "cases"),
    "promise_rate": ("promised_cases", "contacted_cases"), "kept_rate": ("kept_cases", "promised_cases"),
    "pay_rate": ("paying_cases", "cases"), "cost_per_yuan": ("cost", "recovered_amount"),
}


def collection_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Add every collection rate (COLLECTION_RATES: numerator / denominator of summed case counts and amounts)
    to a frame of summed collection measures, row by row; nan where the denominator is 0."""
    df = df.copy()
    for name, (num, den) in COLLECTION_RATES.items():
        df[name] = [ratio(float(a), float(b)) for a, b in zip(df[num], df[den])]
    return df


def change(current: float, previous: float) -> float:
    """Relative change (current / previous − 1), nan when there is no previous value."""
    return ratio(current, previous) - 1 if previous else math.nan


def change_pp(current: float, previous: float) -> float:
    """Change of a rate in percentage points."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (current, previous)):
        return math.nan
    return (current - previous) * 100


# The off-site supervision indicators' migration rates (风险迁徙类指标). Key 0 is the first-level 正常贷款迁徙率
# (正常 and 关注 together, into 不良); 1..4 are the per-class rates. Each maps the period-start classes to the
# classes that count as "moved down" at the period end.
CBIRC_RATES = {0: ((1, 2), (3, 4, 5)), 1: ((1,), (2, 3, 4, 5)), 2: ((2,), (3, 4, 5)), 3: ((3,), (4, 5)), 4: ((4,), (5,))}
CBIRC_TARGETS = {k: targets for k, (_, targets) in CBIRC_RATES.items() if k}
CLOSED_WRITTEN_OFF_CLASS = 7
CBIRC_SOURCE = ("原中国银监会《商业银行风险监管核心指标（试行）》（银监发〔2005〕89号）风险迁徙类指标，"
                "非现场监管报表指标体系（1104）“各类贷款迁徙率”指标定义")


def cbirc_reduction(balance, balance_next):
    """期间减少金额 of period-start loans: what their balance fell by during the period (正常收回, 不良处置, 核销;
    a closed loan's period-end balance is 0, so all of it). A balance that rose is no reduction."""
    return (pd.Series(balance, dtype=float) - pd.Series(balance_next, dtype=float)).clip(lower=0)


def cbirc_migration_parts(migration: pd.DataFrame) -> pd.DataFrame:
    """Numerator and denominator of every regulator migration rate (index 0..4, see ``CBIRC_RATES``).

    Columns: start (期初余额), reduction (期间减少金额), moved (向下迁徙金额: period-END balance of the
    period-start loans then classified in the target classes), denominator = start − reduction, rate.

    With a ``reduction`` column (the marts keep it per loan, before grouping) the moved amount is the period-start
    loans' part of their end balance, start − reduction: the end balance itself for a loan that was only repaid,
    less what was drawn again in the period for a revolving loan (new lending is no period-start loan). Without it
    each row is taken as one loan: reduction = start − end (never below 0), moved = end.
    """
    if "reduction" in migration.columns:
        reduction = migration["reduction"].astype(float)
        remaining = migration["balance"].astype(float) - reduction
    else:
        reduction = cbirc_reduction(migration["balance"].to_numpy(), migration["balance_next"].to_numpy())
        reduction.index = migration.index
        remaining = migration["balance_next"].astype(float)
    rows = []
    for key, (froms, targets) in CBIRC_RATES.items():
        sel = migration["from_class"].isin(froms)
        start = float(migration.loc[sel, "balance"].astype(float).sum())
        red = float(reduction[sel].sum())
        moved = float(remaining[sel & migration["to_class"].isin(targets)].sum())
        rows.append({"rate": key, "start": start, "reduction": red, "moved": moved, "denominator": start - red,
                     "value": ratio(moved, start - red)})
    return pd.DataFrame(rows).set_index("rate")


def cbirc_migration_rates(migration: pd.DataFrame) -> pd.Series:
    """The regulator's migration rates (风险迁徙类指标), exactly as the off-site supervision indicators define them
    (source: ``CBIRC_SOURCE``):

    * 正常类贷款迁徙率 (1) = 期初正常类贷款向下迁徙金额 ÷ (期初正常类贷款余额 − 期初正常类贷款期间减少金额), where
      向下迁徙金额 is the balance *at the end of the period* of the period-start 正常 loans then classified 关注, 次级,
      可疑 or 损失;
    * 关注类 (2): → 次级/可疑/损失; 次级类 (3): → 可疑/损失; 可疑类 (4): → 损失, alike;
    * 正常贷款迁徙率 (0) = (期初正常类 + 期初关注类 loans then classified 不良, at their period-end balance) ÷
      (期初正常类余额 − 其期间减少 + 期初关注类余额 − 其期间减少).

    期间减少金额 is what the period-start loans of the class lost during the period through 正常收回, 不良处置 or 核销:
    per loan the sum of its balance's decreases over the period, at most its start balance (the marts keep it per
    loan in a ``reduction`` column, see :func:`cbirc_migration_parts`; a frame without one is read a row a loan,
    start − end, never below 0). A revolving loan's redraw in the period is new lending: it offsets none of the
    loan's repayments and is not counted as moved (the per-loan-reduction decision of issue #16). A loan written off (to_class 7) or paid off (6) has a period-end balance of 0: all of
    its start balance is a reduction and none of it is counted as moved, whatever its class was.

    Worked exam example: 10,000 正常 at the start, 800 of it 关注 or worse at the end, 600 repaid → 800 ÷ 9,400 =
    8.51 %.

    ``migration`` has from_class, to_class, balance (period start), balance_next (period end, 0 once closed) and
    optionally reduction. Index 0..4; nan when the denominator is 0.
    """
    return cbirc_migration_parts(migration)["value"].rename(None)
