"""An independent recomputation of the regulator's figures from the raw tables, paired with what the app shows.

    .venv/bin/python -m bench.recompute                                   # the cockpit database (COCKPIT_DATABASE_URL)
    .venv/bin/python -m bench.recompute --url sqlite:///bench/data/county.db --months 12 --show-all

The *independent* side reads only raw tables (loan, loan_snapshot, customer, credit_line, region,
branch_township, org_unit) with plain SQL ``SELECT``s and computes every figure in pandas, written from the
regulator's texts (README "Risk terms"), never calling data_access.kpi, marts, classification, provisions,
overview, regulatory or g11; it reads only the provision-rate setting (data_access.config). The *app* side calls
the read functions the pages and the G11 report call (queries.overview, deviation.add_overdue_ratios,
queries.portfolio_breakdown, queries.branch_league, regulatory.migration_rate_table and new_loan_npl,
provisions.provisions and provision_trend, g11.report_frames). Each figure is paired by (figure, scope, month);
ratios agree within 0.01 percentage points, amounts within 0.01 元. tests/test_independent_recomputation.py runs
this on the demo bank on SQLite and PostgreSQL.

Texts followed (see the README's risk terms for their sources):

* 不良贷款 = 次级 + 可疑 + 损失; 不良率 = 不良 ÷ 各项贷款; 逾期90天以上 = more than 90 days past due (60 likewise).
* Migration rates (风险迁徙类指标): for the loans on the book at the period start in the from-classes,
  rate = 向下迁徙金额 ÷ (期初余额 − 期间减少金额). 向下迁徙金额 = the period-END balance of those loans classified in
  the target classes at the period end. 期间减少金额 = what those loans lost in the period through 正常收回, 不良处置,
  核销: per loan, the sum of its balance decreases over the period (a loan that left the book lost all of it),
  capped at its start balance. Money drawn again on a loan during the period (a revolving loan's redraw) is new
  lending: it offsets no decrease and is not part of the period-start loan, so the moved amount is the end balance
  less what was drawn in the period (never below 0). Periods: the month (start = previous month end), the quarter
  to date (start = previous quarter end), the year to date (start = previous December).
* 新发放贷款不良率 = (本年新发放贷款 now 不良, at their balance now + those that left the book 不良, at their last
  balance) ÷ 本年累计新发放贷款 (loans disbursed from January to the month).
* 贷款损失准备 by class = Σ balance × the class's rate (COCKPIT_PROVISION_RATES, default 1/2/25/50/100 %);
  拨备覆盖率 = 准备 ÷ 不良; 贷款拨备率 = 准备 ÷ 各项贷款.
* 授信覆盖率 = households registered by month end with a credit line valid at month end (granted on or before it,
  expiring after it) ÷ households registered by month end; 用信率 by household = those line holders with a loan
  balance ÷ line holders; by amount = balance of loans drawn under those lines ÷ their limits. A household's
  branch is its village's township's branch; a loan's branch is the loan's.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import text

RATIO_TOL = 0.0001   # 0.01 percentage points, as a fraction
AMOUNT_TOL = 0.01    # 元
BANK = "bank"
CLASSES = (1, 2, 3, 4, 5)
NPL = (3, 4, 5)
# the five migration rates: period-start classes → the classes that count as moved down at the period end
RATES = {0: ((1, 2), (3, 4, 5)), 1: ((1,), (2, 3, 4, 5)), 2: ((2,), (3, 4, 5)), 3: ((3,), (4, 5)), 4: ((4,), (5,))}
PERIODS = ("monthly", "qtd", "ytd")


# ---------------------------------------------------------------- raw tables
@dataclass
class Raw:
    loans: pd.DataFrame       # id, branch_id, product_id, disbursed_month, amount, credit_line_id, customer_id
    snaps: pd.DataFrame       # loan_id, month, balance, dpd, class5 (+ branch_id, product_id)
    customers: pd.DataFrame   # id, created_on, branch_id (of the village's township)
    lines: pd.DataFrame       # id, customer_id, limit_amount, granted_on, expires_on
    branches: list[int]
    products: list[int]
    months: list[str]


def _read(conn, sql: str) -> pd.DataFrame:
    res = conn.execute(text(sql))
    return pd.DataFrame(list(map(tuple, res.fetchall())), columns=list(res.keys()))


def load_raw(conn) -> Raw:
    loans = _read(conn, "SELECT id, branch_id, product_id, disbursed_month, amount, credit_line_id, customer_id "
                        "FROM loan")
    loans["amount"] = loans["amount"].astype(float)
    snaps = _read(conn, "SELECT loan_id, month, balance, dpd, class5 FROM loan_snapshot")
    snaps["balance"] = snaps["balance"].astype(float)
    snaps = snaps.merge(loans[["id", "branch_id", "product_id"]].rename(columns={"id": "loan_id"}), on="loan_id")
    customers = _read(conn, "SELECT c.id, c.created_on, bt.branch_id FROM customer c "
                            "JOIN region v ON v.code = c.village_code "
                            "JOIN branch_township bt ON bt.township_code = v.parent_code")
    lines = _read(conn, "SELECT id, customer_id, limit_amount, granted_on, expires_on FROM credit_line")
    lines["limit_amount"] = lines["limit_amount"].astype(float)
    for frame, cols in ((customers, ["created_on"]), (lines, ["granted_on", "expires_on"])):
        for c in cols:
            frame[c] = pd.to_datetime(frame[c]).dt.date
    branches = sorted(int(b) for b in _read(conn, "SELECT id FROM org_unit WHERE level = 'branch'")["id"])
    products = sorted(int(p) for p in _read(conn, "SELECT id FROM product")["id"])
    return Raw(loans, snaps, customers, lines, branches, products, sorted(snaps["month"].unique()))


def provision_rates() -> tuple[float, ...]:
    """The configured class rates (COCKPIT_PROVISION_RATES, percent), read as the setting, not through the app."""
    from data_access.config import setting
    raw = setting("COCKPIT_PROVISION_RATES", "1,2,25,50,100") or "1,2,25,50,100"
    return tuple(float(x) / 100 for x in str(raw).replace("%", "").split(","))


# ---------------------------------------------------------------- month arithmetic (written again, on purpose)
def _idx(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _month(idx: int) -> str:
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def _month_end(month: str) -> dt.date:
    return dt.date(int(month[:4]) + (month[5:7] == "12"), int(month[5:7]) % 12 + 1, 1) - dt.timedelta(days=1)


def period_start(month: str, period: str) -> str:
    """The month whose end starts the period ending at ``month``: the month before; the last month of the
    previous quarter; the previous December."""
    y, m = int(month[:4]), int(month[5:7])
    if period == "monthly":
        return _month(_idx(month) - 1)
    if period == "qtd":
        return _month(_idx(month) - ((m - 1) % 3) - 1)
    if period == "ytd":
        return f"{y - 1}-12"
    raise ValueError(period)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _with_bank(df: pd.DataFrame, keys: list[str], measures: list[str]) -> pd.DataFrame:
    """Rows per branch plus the whole bank (scope 'bank') summed from them; column scope."""
    per = df.groupby(["branch_id", *keys], as_index=False)[measures].sum()
    bank = df.groupby(keys, as_index=False)[measures].sum() if keys else df[measures].sum().to_frame().T
    per["scope"] = per.pop("branch_id").astype(int).astype(str)
    bank["scope"] = BANK
    return pd.concat([per, bank], ignore_index=True)


def _rows(df: pd.DataFrame, figures: dict[str, str], kind: str) -> list[dict]:
    out = []
    for r in df.to_dict("records"):
        for fig, col in figures.items():
            out.append({"figure": fig, "scope": r["scope"], "month": r["month"], "value": float(r[col]), "kind": kind})
    return out


# ---------------------------------------------------------------- the independent figures
def portfolio_figures(raw: Raw, rates: tuple[float, ...]) -> list[dict]:
    """Balance, the five classes, 不良, 不良率, 逾期90/60天以上 ÷ 不良, class provisions and both ratios."""
    s = raw.snaps
    m = pd.DataFrame({"month": s["month"], "branch_id": s["branch_id"], "balance": s["balance"]})
    for c in CLASSES:
        m[f"class{c}"] = np.where(s["class5"] == c, s["balance"], 0.0)
    m["npl"] = np.where(s["class5"].isin(NPL), s["balance"], 0.0)
    m["over90"] = np.where(s["dpd"] > 90, s["balance"], 0.0)
    m["over60"] = np.where(s["dpd"] > 60, s["balance"], 0.0)
    m["provision"] = sum(np.where(s["class5"] == c, s["balance"] * rates[c - 1], 0.0) for c in CLASSES)
    cols = ["balance", *[f"class{c}" for c in CLASSES], "npl", "over90", "over60", "provision"]
    g = _with_bank(m, ["month"], cols)
    g["npl_ratio"] = [_ratio(a, b) for a, b in zip(g["npl"], g["balance"])]
    g["over90_npl"] = [_ratio(a, b) for a, b in zip(g["over90"], g["npl"])]
    g["over60_npl"] = [_ratio(a, b) for a, b in zip(g["over60"], g["npl"])]
    g["provision_coverage"] = [_ratio(a, b) for a, b in zip(g["provision"], g["npl"])]
    g["loan_provision_ratio"] = [_ratio(a, b) for a, b in zip(g["provision"], g["balance"])]
    return (_rows(g, {c: c for c in ["balance", *[f"class{c}" for c in CLASSES], "npl", "provision"]}, "amount")
            + _rows(g, {c: c for c in ["npl_ratio", "over90_npl", "over60_npl", "provision_coverage",
                                      "loan_provision_ratio"]}, "ratio"))


def by_product_figures(raw: Raw) -> list[dict]:
    """The G11 tables' split by product (whole bank): five classes, 不良率, overdue in the day bands."""
    s = raw.snaps
    out = []
    for (month, pid), g in s.groupby(["month", "product_id"]):
        scope = f"product:{pid}"
        bal = float(g["balance"].sum())
        for c in CLASSES:
            out.append({"figure": f"class{c}", "scope": scope, "month": month,
                        "value": float(g.loc[g["class5"] == c, "balance"].sum()), "kind": "amount"})
        npl = float(g.loc[g["class5"].isin(NPL), "balance"].sum())
        out.append({"figure": "balance", "scope": scope, "month": month, "value": bal, "kind": "amount"})
        out.append({"figure": "npl", "scope": scope, "month": month, "value": npl, "kind": "amount"})
        out.append({"figure": "npl_ratio", "scope": scope, "month": month, "value": _ratio(npl, bal), "kind": "ratio"})
        for band, lo, hi in ((1, 1, 90), (2, 91, 360), (3, 361, 3 * 365), (4, 3 * 365 + 1, 10 ** 9)):
            out.append({"figure": f"overdue_band{band}", "scope": scope, "month": month, "kind": "amount",
                        "value": float(g.loc[g["dpd"].between(lo, hi), "balance"].sum())})
    return out


def loan_periods(raw: Raw, start: str, end: str) -> pd.DataFrame:
    """One row per loan on the book at the end of ``start``: its class and balance then, its class (0 once it has
    left the book) and balance (0) at the end of ``end``, what it drew in the period, and the regulator's parts:
    reduction (期间减少金额) and moved_base (what of the period-start loan is still owed at the period end)."""
    s = raw.snaps
    path = s[(s["month"] >= start) & (s["month"] <= end)][["loan_id", "month", "balance"]].sort_values(
        ["loan_id", "month"])
    prev = path.groupby("loan_id")["balance"].shift(1)
    path = path.assign(drawn=(path["balance"] - prev).clip(lower=0).fillna(0.0))
    drawn = path[path["month"] > start].groupby("loan_id")["drawn"].sum()
    a = s[s["month"] == start][["loan_id", "branch_id", "product_id", "class5", "balance"]]
    b = s[s["month"] == end][["loan_id", "class5", "balance"]].rename(columns={"class5": "class_end",
                                                                            "balance": "balance_end"})
    p = a.merge(b, on="loan_id", how="left").fillna({"class_end": 0, "balance_end": 0.0})
    p["drawn"] = p["loan_id"].map(drawn).fillna(0.0)
    decreases = p["balance"] - p["balance_end"] + p["drawn"]          # Σ of its balance decreases over the path
    p["reduction"] = np.minimum(p["balance"], decreases)
    p["moved_base"] = (p["balance_end"] - p["drawn"]).clip(lower=0)   # = start − reduction
    return p


def migration_parts(p: pd.DataFrame) -> dict[int, dict]:
    """The five rates' start, reduction, moved, denominator and rate from :func:`loan_periods` rows."""
    out = {}
    for k, (froms, targets) in RATES.items():
        sel = p[p["class5"].isin(froms)]
        start, red = float(sel["balance"].sum()), float(sel["reduction"].sum())
        moved = float(sel.loc[sel["class_end"].isin(targets), "moved_base"].sum())
        out[k] = {"start": start, "reduction": red, "moved": moved, "denominator": start - red,
                  "rate": _ratio(moved, start - red)}
    return out


def migration_figures(raw: Raw, months: list[str]) -> list[dict]:
    have, out = set(raw.months), []
    for end in months:
        for period in PERIODS:
            start = period_start(end, period)
            if start not in have:
                continue
            p = loan_periods(raw, start, end)
            groups = [(BANK, p)] + [(str(b), p[p["branch_id"] == b]) for b in raw.branches]
            for scope, g in groups:
                for k, parts in migration_parts(g).items():
                    out.append({"figure": f"mig_{period}_c{k}", "scope": scope, "month": end, "value": parts["rate"],
                                "kind": "ratio"})
                    if scope == BANK:
                        for part in ("start", "reduction", "moved", "denominator"):
                            out.append({"figure": f"mig_{period}_c{k}_{part}", "scope": scope, "month": end,
                                        "value": parts[part], "kind": "amount"})
    return out


def new_loan_figures(raw: Raw, months: list[str]) -> list[dict]:
    """新发放贷款不良率 and its parts as of every month, whole bank, by branch and by product."""
    s, out = raw.snaps, []
    for month in months:
        cohort = raw.loans[(raw.loans["disbursed_month"] >= f"{month[:4]}-01") & (raw.loans["disbursed_month"] <= month)]
        hist = s[s["loan_id"].isin(cohort["id"]) & (s["month"] <= month)].sort_values("month")
        last = hist.groupby("loan_id").tail(1).set_index("loan_id")
        now = last[last["month"] == month]
        gone = last[last["month"] < month]
        c = cohort.set_index("id")[["branch_id", "product_id", "amount"]].copy()
        c["npl_now"] = now.loc[now["class5"].isin(NPL), "balance"].reindex(c.index).fillna(0.0)
        c["npl_gone"] = gone.loc[gone["class5"].isin(NPL), "balance"].reindex(c.index).fillna(0.0)
        groups = [(BANK, c)] + [(str(b), g) for b, g in c.groupby("branch_id")] + \
                 [(f"product:{pid}", g) for pid, g in c.groupby("product_id")]
        for scope, g in groups:
            amount, now_, gone_ = float(g["amount"].sum()), float(g["npl_now"].sum()), float(g["npl_gone"].sum())
            out += [{"figure": "new_npl_rate", "scope": scope, "month": month, "value": _ratio(now_ + gone_, amount),
                     "kind": "ratio"},
                    {"figure": "new_disbursed", "scope": scope, "month": month, "value": amount, "kind": "amount"},
                    {"figure": "new_npl_now", "scope": scope, "month": month, "value": now_, "kind": "amount"},
                    {"figure": "new_npl_disposed", "scope": scope, "month": month, "value": gone_, "kind": "amount"}]
    return out


def coverage_figures(raw: Raw, months: list[str]) -> list[dict]:
    """授信覆盖率, 用信率 by household and by amount, month by month, whole bank and by branch."""
    s, out = raw.snaps, []
    cust = raw.customers.set_index("id")
    lines = raw.lines.merge(raw.customers.rename(columns={"id": "customer_id"}), on="customer_id")
    for month in months:
        end = _month_end(month)
        registered = cust[cust["created_on"] <= end]
        valid = lines[(lines["created_on"] <= end) & (lines["granted_on"] <= end) & (lines["expires_on"] > end)]
        now = s[(s["month"] == month) & (s["balance"] > 0)]
        borrowers = set(raw.loans.set_index("id").loc[now["loan_id"], "customer_id"])
        under = now.merge(raw.loans[["id", "credit_line_id"]], left_on="loan_id", right_on="id")
        under = under[under["credit_line_id"].isin(valid["id"])]
        used = under.groupby("credit_line_id")["balance"].sum()
        v = valid.assign(used=valid["id"].map(used).fillna(0.0))
        for scope in [BANK] + [str(b) for b in raw.branches]:
            reg = registered if scope == BANK else registered[registered["branch_id"] == int(scope)]
            vv = v if scope == BANK else v[v["branch_id"] == int(scope)]
            holders = set(vv["customer_id"])
            with_loan = holders & borrowers
            out += [{"figure": "credit_coverage", "scope": scope, "month": month, "kind": "ratio",
                     "value": _ratio(len(holders), len(reg))},
                    {"figure": "usage_rate", "scope": scope, "month": month, "kind": "ratio",
                     "value": _ratio(len(with_loan), len(holders))},
                    {"figure": "usage_amount_rate", "scope": scope, "month": month, "kind": "ratio",
                     "value": _ratio(float(vv["used"].sum()), float(vv["limit_amount"].sum()))}]
    return out


def independent(raw: Raw, months: list[str]) -> pd.DataFrame:
    rows = (portfolio_figures(raw, provision_rates()) + by_product_figures(raw) + migration_figures(raw, months)
            + new_loan_figures(raw, months) + coverage_figures(raw, months))
    df = pd.DataFrame(rows)
    return df[df["month"].isin(months)].reset_index(drop=True)


# ---------------------------------------------------------------- what the app shows
def app_figures(conn, raw: Raw, months: list[str]) -> pd.DataFrame:
    """The same figures from the read functions the Overview, Portfolio risk and the G11 report call."""
    from data_access import deviation, g11, provisions, queries, regulatory
    from data_access.scope import Scope
    hq = Scope(username="recompute", role="head_office", can_see_pii=False)
    last, n = months[-1], len(months)
    rows: list[dict] = []

    def put(fig, scope, month, value, kind):
        rows.append({"figure": fig, "scope": scope, "month": month, "value": float(value), "kind": kind})

    for b in [None, *raw.branches]:
        scope = BANK if b is None else str(b)
        f = queries.Filters(month=last, branch_id=b)
        ov = deviation.add_overdue_ratios(queries.overview(conn, hq, f, months=n))
        for r in ov[ov["month"].isin(months)].to_dict("records"):
            for fig, col in (("balance", "balance"), ("npl", "npl_balance"),
                             *[(f"class{c}", f"class{c}") for c in CLASSES]):
                put(fig, scope, r["month"], r[col], "amount")
            for fig in ("npl_ratio", "credit_coverage", "usage_rate", "usage_amount_rate"):
                put(fig, scope, r["month"], r[fig], "ratio")
            put("over90_npl", scope, r["month"], r["overdue90_npl"], "ratio")
            put("over60_npl", scope, r["month"], r["overdue60_npl"], "ratio")
        tables = regulatory.migration_rate_table(conn, hq, f, months=n)
        for period in PERIODS:
            for r in tables[period].to_dict("records"):
                if r["month"] in months:
                    for k in RATES:
                        put(f"mig_{period}_c{k}", scope, r["month"], r[f"c{k}"], "ratio")
        trend = provisions.provision_trend(conn, hq, f, months=n)
        for r in trend[trend["month"].isin(months)].to_dict("records"):
            put("provision", scope, r["month"], r["class_provision"], "amount")
            put("provision_coverage", scope, r["month"], r["class_coverage"], "ratio")
            put("loan_provision_ratio", scope, r["month"], r["class_loan_ratio"], "ratio")
    for month in months:
        f = queries.Filters(month=month)
        nl = {"bank": regulatory.new_loan_npl(conn, hq, f)}
        by_b = regulatory.new_loan_npl(conn, hq, f, "branch_id")
        by_p = regulatory.new_loan_npl(conn, hq, f, "product_id")
        frames = [(BANK, r) for r in nl["bank"].to_dict("records")] + \
                 [(str(int(r["branch_id"])), r) for r in by_b.to_dict("records")] + \
                 [(f"product:{int(r['product_id'])}", r) for r in by_p.to_dict("records")]
        for scope, r in frames:
            put("new_npl_rate", scope, month, r["rate"], "ratio")
            put("new_disbursed", scope, month, r["amount"], "amount")
            put("new_npl_now", scope, month, r["npl_balance"], "amount")
            put("new_npl_disposed", scope, month, r["disposed_npl"], "amount")
        # the Portfolio-risk page's five-class split and branch table, the Overview's branch league
        for r in queries.portfolio_breakdown(conn, hq, f, "branch_id").to_dict("records"):
            put("npl_ratio", f"{int(r['branch_id'])}", month, _ratio(r["npl_balance"], r["balance"]), "ratio")
        league = queries.branch_league(conn, hq, month)
        for r in league.to_dict("records"):
            put("npl_ratio", str(int(r["branch_id"])), month, r["npl_ratio"], "ratio")
        cls = queries.portfolio_breakdown(conn, hq, f, "class5")
        for r in cls.to_dict("records"):
            put(f"class{int(r['class5'])}", BANK, month, r["balance"], "amount")
        # the provisions card of the Overview (the month's book)
        p = provisions.provisions(conn, hq, f)
        for r in p["by_class"].to_dict("records"):
            put(f"provision_class{int(r['class5'])}", BANK, month, r["provision"], "amount")
        put("provision_coverage", BANK, month, p["totals"]["class_coverage"], "ratio")
        put("loan_provision_ratio", BANK, month, p["totals"]["class_loan_ratio"], "ratio")
        # the G11 report
        rep = g11.report_frames(conn, hq, month)
        names = {v: k for k, v in dict(zip(queries.products(conn)["id"], queries.products(conn)["name"])).items()}
        bnames = {v: k for k, v in dict(zip(queries.branches(conn, hq)["id"], queries.branches(conn, hq)["name"])).items()}
        for sheet, key, lookup in (("一、按产品", "产品", names), ("二、按机构", "机构", bnames)):
            for r in rep[sheet].to_dict("records"):
                scope = BANK if r[key] == "合计" else (f"product:{lookup[r[key]]}" if key == "产品"
                                                        else str(int(lookup[r[key]])))
                for c, cname in zip(CLASSES, ("正常", "关注", "次级", "可疑", "损失")):
                    put(f"class{c}", scope, month, r[cname], "amount")
                put("npl", scope, month, r["不良贷款"], "amount")
                put("balance", scope, month, r["各项贷款"], "amount")
                put("npl_ratio", scope, month, r["不良率"], "ratio")
        for r in rep["三、逾期贷款"].to_dict("records"):
            if r["产品"] != "合计":
                for band, col in enumerate(("逾期1-90天", "逾期91-360天", "逾期361天-3年", "逾期3年以上"), 1):
                    put(f"overdue_band{band}", f"product:{names[r['产品']]}", month, r[col], "amount")
        period_of = {"本年累计": "ytd", "本季累计": "qtd", "本月": "monthly"}
        rate_of = {v: k for k, v in g11.RATE_NAMES.items()}
        for r in rep["四、迁徙率"].to_dict("records"):
            period = next(v for k, v in period_of.items() if r["口径"].startswith(k))
            k = rate_of[r["指标"]]
            put(f"mig_{period}_c{k}", BANK, month, r["迁徙率"], "ratio")
            for part, col in (("start", "期初余额"), ("reduction", "期间减少金额"), ("moved", "向下迁徙金额（期末余额）"),
                              ("denominator", "分母")):
                put(f"mig_{period}_c{k}_{part}", BANK, month, r[col], "amount")
        for r in rep["五、贷款损失准备"].to_dict("records"):
            if r["项目"].endswith("类贷款"):
                c = ("正常", "关注", "次级", "可疑", "损失").index(r["项目"][:2]) + 1
                put(f"provision_class{c}", BANK, month, r["贷款损失准备"], "amount")
            elif r["项目"].startswith("合计（按五级分类计提）"):
                put("provision", BANK, month, r["贷款损失准备"], "amount")
            elif r["项目"].startswith("拨备覆盖率（按分类"):
                put("provision_coverage", BANK, month, r["计提比例"], "ratio")
            elif r["项目"].startswith("贷款拨备率（按分类"):
                put("loan_provision_ratio", BANK, month, r["计提比例"], "ratio")
    return pd.DataFrame(rows)


def _provision_by_class(raw: Raw, months: list[str]) -> list[dict]:
    rates, out = provision_rates(), []
    s = raw.snaps[raw.snaps["month"].isin(months)]
    for (month, c), g in s.groupby(["month", "class5"]):
        out.append({"figure": f"provision_class{c}", "scope": BANK, "month": month,
                    "value": float(g["balance"].sum()) * rates[c - 1], "kind": "amount"})
    return out


# ---------------------------------------------------------------- pairing
def compare(conn, months: int | None = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every app figure beside its independent recomputation, and the recomputed figures with no app figure.

    The first frame: figure, scope, month, kind, app, independent, diff (percentage points for ratios, 元 for
    amounts), agree; an app figure without a recomputed one is a row that does not agree. The second: recomputed
    figures (not nan) the app shows nowhere among the reads paired here."""
    raw = load_raw(conn)
    window = raw.months[-months:] if months else raw.months
    ind = pd.concat([independent(raw, window), pd.DataFrame(_provision_by_class(raw, window))], ignore_index=True)
    app = app_figures(conn, raw, window)
    m = app.merge(ind.rename(columns={"value": "independent"}), on=["figure", "scope", "month", "kind"], how="left")
    m = m.rename(columns={"value": "app"})
    # the class of a product or branch with no such loans is shown as 0 by the app and absent here
    missing = m["independent"].isna() & (m["kind"] == "amount") & (m["app"] == 0)
    m.loc[missing, "independent"] = 0.0
    scale = np.where(m["kind"] == "ratio", 100.0, 1.0)
    m["diff"] = (m["app"] - m["independent"]) * scale
    both_nan = m["app"].isna() & m["independent"].isna()
    tol = np.where(m["kind"] == "ratio", RATIO_TOL * 100, AMOUNT_TOL)
    m["agree"] = both_nan | (m["diff"].abs() <= tol + 1e-9)
    shown = app[["figure", "scope", "month"]].drop_duplicates()
    u = ind.merge(shown, on=["figure", "scope", "month"], how="left", indicator=True)
    return m, u[(u["_merge"] == "left_only") & ~u["value"].isna()].drop(columns="_merge")


def paired(conn, months: int | None = 12) -> pd.DataFrame:
    """The first frame of :func:`compare`."""
    return compare(conn, months)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="database URL (default: COCKPIT_DATABASE_URL or the embedded SQLite file)")
    ap.add_argument("--months", type=int, default=12, help="the last N months (0 = all)")
    ap.add_argument("--show-all", action="store_true", help="print every pair, not only the summary and mismatches")
    args = ap.parse_args(argv)
    from data_access.config import database_url
    from data_access.engine import make_engine
    engine = make_engine(args.url or database_url())
    with engine.connect() as conn:
        m, extra = compare(conn, args.months or None)
    pd.set_option("display.width", 200, "display.max_rows", None)
    summary = m.assign(family=m["figure"].str.replace(r"_c\d.*|\d+$", "", regex=True)).groupby(
        ["family", "kind"]).agg(pairs=("agree", "size"), agree=("agree", "sum"),
                                max_abs_diff=("diff", lambda d: d.abs().max())).reset_index()
    print(summary.to_string(index=False))
    bad = m[~m["agree"]]
    if args.show_all:
        print(m.to_string(index=False))
    if not bad.empty:
        print("\nMISMATCHES (diff in pp for ratios, 元 for amounts):")
        print(bad.to_string(index=False))
    print(f"\n{int(m['agree'].sum())} of {len(m)} paired figures agree (ratios within 0.01 pp, amounts within 0.01 元); "
          f"{len(extra)} recomputed figures have no figure in the app to pair with.")
    return 0 if bad.empty else 1


if __name__ == "__main__":
    sys.exit(main())
