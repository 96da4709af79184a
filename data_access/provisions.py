"""贷款损失准备 (loan-loss provisions) two ways, and the two ratios the regulator reads from them.

1. **By class** (the regulator's traditional method, 《银行贷款损失准备计提指引》 银发〔2002〕98号: a general
   provision of 1 % and specific provisions of 2 % for 关注, 25 % 次级, 50 % 可疑, 100 % 损失): provision =
   Σ balance of class c × rate c. The rates are the setting ``COCKPIT_PROVISION_RATES`` (percent, 正常 … 损失,
   default "1,2,25,50,100").
2. **Three-stage expected credit loss** (《企业会计准则第22号——金融工具确认和计量》, 财会〔2017〕7号): stage 1 正常 and
   at most 30 days past due, stage 2 关注 or 31–90 days, stage 3 不良 (or over 90 days, the standard's backstop);
   ECL = balance × PD × LGD with the 12-month PD in stage 1, the lifetime PD in stage 2 and PD = 1 in stage 3. The
   PDs come from the roll-rate chain over the five classes (models/rollrate.py: balance shares of the migration
   mart, the 12 months up to the month pooled): the probability that a loan of class c reaches 次级 or worse (or is
   written off) within 12 months, and ever (absorption of the chain, paying off the other way out). LGD is the
   setting ``COCKPIT_ECL_LGD`` (percent, default 45: the foundation-IRB LGD of senior unsecured claims in
   《商业银行资本管理办法》, 国家金融监督管理总局令2023年第4号); no discounting (terms are a year or two).

拨备覆盖率 = provision ÷ 不良贷款; 贷款拨备率 = provision ÷ 各项贷款. The regulator sets each bank's requirement
within 120–150 % and 1.5–2.5 % (《关于调整商业银行贷款损失准备监管要求的通知》 银监发〔2018〕7号); the ranges are the
settings ``COCKPIT_PROVISION_COVERAGE_RANGE`` ("120,150") and ``COCKPIT_PROVISION_LOAN_RANGE`` ("1.5,2.5").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from . import kpi, schema as s
from .base import Filters, _df, _mart_filter, _month_window
from .config import ConfigError, setting

STAGES = (1, 2, 3)


@dataclass(frozen=True)
class Settings:
    rates: tuple[float, float, float, float, float] = (0.01, 0.02, 0.25, 0.50, 1.00)
    lgd: float = 0.45
    coverage_range: tuple[float, float] = (1.20, 1.50)
    loan_range: tuple[float, float] = (0.015, 0.025)


def _percents(name: str, default: str, n: int) -> tuple[float, ...]:
    raw = setting(name, default) or default
    try:
        vals = tuple(float(x) / 100 for x in str(raw).replace("%", "").split(","))
    except ValueError:
        raise ConfigError(f"{name} must be {n} percentages separated by commas, e.g. {default!r}; got {raw!r}") from None
    if len(vals) != n or any(v < 0 or v > 10 for v in vals):
        raise ConfigError(f"{name} must be {n} percentages separated by commas, e.g. {default!r}; got {raw!r}")
    return vals


def settings() -> Settings:
    """The provision settings in force (environment or secrets.toml), else the defaults above."""
    rates = _percents("COCKPIT_PROVISION_RATES", "1,2,25,50,100", 5)
    if any(a > b for a, b in zip(rates, rates[1:])) or rates[-1] > 1:
        raise ConfigError("COCKPIT_PROVISION_RATES: the rates must not fall from 正常 to 损失 and not exceed 100")
    (lgd,) = _percents("COCKPIT_ECL_LGD", "45", 1)
    if lgd > 1:
        raise ConfigError("COCKPIT_ECL_LGD must be a percentage between 0 and 100")
    cov = _percents("COCKPIT_PROVISION_COVERAGE_RANGE", "120,150", 2)
    loan = _percents("COCKPIT_PROVISION_LOAN_RANGE", "1.5,2.5", 2)
    for name, (lo, hi) in (("COCKPIT_PROVISION_COVERAGE_RANGE", cov), ("COCKPIT_PROVISION_LOAN_RANGE", loan)):
        if lo > hi:
            raise ConfigError(f"{name}: the lower bound must come first")
    return Settings(rates, lgd, cov, loan)


def stage_of(class5, bucket):
    """ECL stage of a class (1–5) and DPD bucket (0–4): 3 for 不良 or over 90 days, 2 for 关注 or 31–90 days
    (buckets M2, M3), else 1. Works on numbers or arrays."""
    c, b = np.asarray(class5), np.asarray(bucket)
    out = np.where((c >= 3) | (b >= 4), 3, np.where((c == 2) | (b >= 2), 2, 1))
    return int(out) if out.ndim == 0 else out


def class_pds(class_transitions: pd.DataFrame, horizon: int = 12) -> pd.DataFrame:
    """12-month and lifetime PD of 正常 and 关注 loans from class migrations (from_class 1–5, to_class 1–7,
    balance), by the roll-rate chain: default = reaching 次级 or worse or being written off; paying off leaves.
    Index class 1, 2; columns pd_12m, pd_lifetime. Without transitions: nan."""
    from models.rollrate import class_rows, estimate
    if class_transitions.empty:
        return pd.DataFrame({"pd_12m": [np.nan] * 2, "pd_lifetime": [np.nan] * 2}, index=[1, 2])
    P = estimate(class_rows(class_transitions)).P          # 5 × 7: 正常 … 损失, paid off, written off
    Q = P[:2, :2]                                          # staying performing
    d = P[:2, [2, 3, 4, 6]].sum(axis=1)                    # into default in one month
    v, pd12 = np.eye(2), np.zeros(2)
    for _ in range(horizon):
        pd12 += v @ d
        v = v @ Q
    try:
        life = np.linalg.solve(np.eye(2) - Q, d)           # absorption: Σ_t Q^t d
    except np.linalg.LinAlgError:
        life = np.full(2, np.nan)
    life = np.clip(np.maximum(life, pd12), 0, 1)
    return pd.DataFrame({"pd_12m": np.clip(pd12, 0, 1), "pd_lifetime": life}, index=[1, 2])


def compute(book: pd.DataFrame, pds: pd.DataFrame, cfg: Settings) -> dict:
    """Provisions of a book (class5, bucket, balance) with PDs from :func:`class_pds`.

    Returns by_class (class5, balance, rate, provision), by_stage (stage, balance, ecl, coverage = ecl ÷ balance),
    and totals: loans, npl, class_provision, ecl, and each method's 拨备覆盖率 and 贷款拨备率."""
    book = book.astype({"balance": float})
    by_class = book.groupby("class5", as_index=False)["balance"].sum().set_index("class5").reindex(
        list(kpi.CLASS5), fill_value=0.0).reset_index()
    by_class["rate"] = [cfg.rates[c - 1] for c in by_class["class5"]]
    by_class["provision"] = by_class["balance"] * by_class["rate"]
    b = book.assign(stage=stage_of(book["class5"].to_numpy(), book["bucket"].to_numpy()))
    pd_of = {}
    for c in kpi.CLASS5:
        base = pds.loc[min(c, 2)] if c <= 2 else None
        pd_of[(c, 1)] = float(base["pd_12m"]) if base is not None else 1.0
        pd_of[(c, 2)] = float(base["pd_lifetime"]) if base is not None else 1.0
        pd_of[(c, 3)] = 1.0
    b["pd"] = [pd_of[(int(c), int(st))] for c, st in zip(b["class5"], b["stage"])]
    b["ecl"] = b["balance"] * b["pd"].fillna(0.0) * cfg.lgd
    by_stage = b.groupby("stage", as_index=False)[["balance", "ecl"]].sum().set_index("stage").reindex(
        list(STAGES), fill_value=0.0).reset_index()
    by_stage["coverage"] = [kpi.ratio(e, x) for e, x in zip(by_stage["ecl"], by_stage["balance"])]
    loans = float(book["balance"].sum())
    npl = float(book.loc[book["class5"] >= 3, "balance"].sum())
    cp, ecl = float(by_class["provision"].sum()), float(by_stage["ecl"].sum())
    totals = {"loans": loans, "npl": npl, "class_provision": cp, "ecl": ecl,
              "class_coverage": kpi.provision_coverage(cp, npl), "class_loan_ratio": kpi.loan_provision_ratio(cp, loans),
              "ecl_coverage": kpi.provision_coverage(ecl, npl), "ecl_loan_ratio": kpi.loan_provision_ratio(ecl, loans),
              "pd": pds}
    return {"by_class": by_class, "by_stage": by_stage, "totals": totals}


def _book(conn: Connection, scope, f: Filters, months: list[str]) -> pd.DataFrame:
    mp = s.mart_portfolio
    return _df(conn, select(mp.c.month, mp.c.class5, mp.c.bucket, func.sum(mp.c.balance).label("balance"))
               .where(mp.c.month.in_(months), _mart_filter(mp, scope, f))
               .group_by(mp.c.month, mp.c.class5, mp.c.bucket))


def _class_transitions(conn: Connection, scope, f: Filters, months: list[str]) -> pd.DataFrame:
    mm = s.mart_migration
    keys = [mm.c.month, mm.c.from_class, mm.c.to_class]
    return _df(conn, select(*keys, func.sum(mm.c.balance).label("balance"),
                            func.sum(mm.c.balance_next).label("balance_next"))
               .where(mm.c.month.in_(months), _mart_filter(mm, scope, f)).group_by(*keys))


def provisions(conn: Connection, scope, f: Filters) -> dict:
    """:func:`compute` for the book at ``f.month`` (branch, product, segment and guarantee filters apply), PDs from
    the 12 month pairs ending at it (t−12 → t−11 … t−1 → t)."""
    from .base import shift_month
    book = _book(conn, scope, f, [f.month])
    pairs = _month_window(conn, shift_month(f.month, -1), 12)
    return compute(book, class_pds(_class_transitions(conn, scope, f, pairs)), settings())


def provision_trend(conn: Connection, scope, f: Filters, months: int = 13) -> pd.DataFrame:
    """Both methods month by month up to ``f.month`` (each month's PDs from its own 12 preceding month pairs).
    Columns: month, loans, npl, class_provision, ecl, class_coverage, class_loan_ratio, ecl_coverage,
    ecl_loan_ratio."""
    window = _month_window(conn, f.month, months)
    if not window:
        return pd.DataFrame()
    from .base import shift_month
    books = _book(conn, scope, f, window)
    trans = _class_transitions(conn, scope, f, _month_window(conn, shift_month(f.month, -1), months + 12))
    cfg, rows = settings(), []
    for m in window:
        pairs = trans[(trans["month"] < m) & (trans["month"] >= shift_month(m, -12))]
        out = compute(books[books["month"] == m], class_pds(pairs), cfg)["totals"]
        rows.append({"month": m, **{k: v for k, v in out.items() if k != "pd"}})
    return pd.DataFrame(rows)


def stressed_provisions(class_balances: np.ndarray, cfg: Settings | None = None) -> dict:
    """The class method on a projected book (balance of 正常 … 损失, e.g. the NPL simulator's path at a month):
    provision need, NPL, loans and both ratios."""
    cfg = cfg or settings()
    bal = np.asarray(class_balances, float)
    need = float(bal @ np.array(cfg.rates))
    loans, npl = float(bal.sum()), float(bal[2:].sum())
    return {"provision": need, "loans": loans, "npl": npl, "coverage": kpi.provision_coverage(need, npl),
            "loan_ratio": kpi.loan_provision_ratio(need, loans)}
