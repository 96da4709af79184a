"""A G11-style asset-quality report (资产质量五级分类情况表) for one month, as an Excel workbook.

Laid out to be set beside the bank's regulatory filing: the five classes by product and by branch, overdue loans
in the G11 day bands (1–90 days, 91–360, 361 days–3 years, over 3 years), the regulator's migration rates with
their numerators and denominators (year and quarter to date, the month), and loan-loss provisions with 拨备覆盖率
and 贷款拨备率. Everything comes from the marts, scoped like every read; the caller audits the export. Text from the
database is written as text, never as a formula (a name beginning with "=" stays a name).
"""
from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from . import kpi, provisions as pv, regulatory, schema as s
from .base import Filters, _df, _mart_filter, available_months, branches, each_branch, products
from .scope import Scope

BANDS = {1: "逾期1-90天", 2: "逾期91-360天", 3: "逾期361天-3年", 4: "逾期3年以上"}
RATE_NAMES = {0: "正常贷款迁徙率", 1: "正常类贷款迁徙率", 2: "关注类贷款迁徙率", 3: "次级类贷款迁徙率", 4: "可疑类贷款迁徙率"}
HEAD = Font(bold=True)
FILL = PatternFill("solid", fgColor="DDE6F2")


class ReportError(ValueError):
    """The report cannot be built for what was asked (the message says why, in the user's terms)."""


def _classes(conn, scope: Scope, f: Filters, by: str) -> pd.DataFrame:
    from sqlalchemy import func, select
    mp = s.mart_portfolio
    return _df(conn, select(mp.c[by], mp.c.class5, func.sum(mp.c.balance).label("balance"))
               .where(mp.c.month == f.month, each_branch(mp, scope) if by == "branch_id" else _mart_filter(mp, scope, f))
               .group_by(mp.c[by], mp.c.class5))


def _class_table(df: pd.DataFrame, key: str, names: dict, label: str) -> pd.DataFrame:
    wide = df.pivot_table(index=key, columns="class5", values="balance", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=list(kpi.CLASS5), fill_value=0.0)
    wide.columns = [kpi.CLASS5[c] for c in wide.columns]
    wide.loc["合计"] = wide.sum()
    wide["各项贷款"] = wide[list(kpi.CLASS5.values())].sum(axis=1)
    wide["不良贷款"] = wide[["次级", "可疑", "损失"]].sum(axis=1)
    wide["不良率"] = [kpi.npl_ratio(n, b) for n, b in zip(wide["不良贷款"], wide["各项贷款"])]
    wide.index = [names.get(i, str(i)) if i != "合计" else "合计" for i in wide.index]
    return wide.reset_index(names=label)


def report_frames(conn, scope: Scope, month: str) -> dict[str, pd.DataFrame]:
    """The report's tables for ``month`` (in the caller's scope), each a frame with Chinese column names."""
    if month not in available_months(conn):
        raise ReportError(f"no figures for {month}: the marts hold no such month (python -m data_access status)")
    f = Filters(month=month)
    pnames = dict(zip(products(conn)["id"], products(conn)["name"]))
    b = branches(conn, scope)
    bnames = dict(zip(b["id"], b["name"]))
    out = {"一、按产品": _class_table(_classes(conn, scope, f, "product_id"), "product_id", pnames, "产品"),
           "二、按机构": _class_table(_classes(conn, scope, f, "branch_id"), "branch_id", bnames, "机构")}
    od = regulatory.overdue_bands(conn, scope, f, "product_id")
    rows = []
    for pid, g in od.groupby("product_id"):
        bal = g.set_index("band")["balance"]
        rows.append({"产品": pnames.get(pid, str(pid)), **{BANDS[k]: float(bal.get(k, 0.0)) for k in BANDS}})
    odt = pd.DataFrame(rows, columns=["产品", *BANDS.values()])
    if not odt.empty:
        odt.loc[len(odt)] = ["合计", *odt[list(BANDS.values())].sum()]
    odt["逾期贷款合计"] = odt[list(BANDS.values())].sum(axis=1) if not odt.empty else []
    out["三、逾期贷款"] = odt
    from .portfolio import migration_trend
    from .base import shift_month
    periods = {"本年累计（期初 = 上年末）": regulatory.migration_period(conn, scope, f, "ytd", 1),
               "本季累计（期初 = 上季末）": regulatory.migration_period(conn, scope, f, "qtd", 1),
               "本月（期初 = 上月末）": migration_trend(conn, scope, f, 1)}
    mrows = []
    for period, frame in periods.items():
        if frame.empty:
            continue
        parts = kpi.cbirc_migration_parts(frame)
        for k, r in parts.iterrows():
            mrows.append({"口径": period, "指标": RATE_NAMES[k], "期初余额": r["start"], "期间减少金额": r["reduction"],
                          "向下迁徙金额（期末余额）": r["moved"], "分母": r["denominator"], "迁徙率": r["value"]})
    out["四、迁徙率"] = pd.DataFrame(mrows, columns=["口径", "指标", "期初余额", "期间减少金额", "向下迁徙金额（期末余额）",
                                                "分母", "迁徙率"])
    p = pv.provisions(conn, scope, f)
    cfg, tot = pv.settings(), p["totals"]
    prow = [{"项目": f"{kpi.CLASS5[int(r.class5)]}类贷款", "余额": r.balance, "计提比例": r.rate, "贷款损失准备": r.provision}
            for r in p["by_class"].itertuples()]
    prow += [{"项目": "合计（按五级分类计提）", "余额": tot["loans"], "计提比例": None, "贷款损失准备": tot["class_provision"]},
             {"项目": "预期信用损失（三阶段）", "余额": tot["loans"], "计提比例": None, "贷款损失准备": tot["ecl"]},
             {"项目": f"拨备覆盖率（按分类；监管区间 {cfg.coverage_range[0]:.0%}–{cfg.coverage_range[1]:.0%}）",
              "余额": None, "计提比例": tot["class_coverage"], "贷款损失准备": None},
             {"项目": f"贷款拨备率（按分类；监管区间 {cfg.loan_range[0]:.1%}–{cfg.loan_range[1]:.1%}）",
              "余额": None, "计提比例": tot["class_loan_ratio"], "贷款损失准备": None},
             {"项目": "拨备覆盖率（预期信用损失）", "余额": None, "计提比例": tot["ecl_coverage"], "贷款损失准备": None},
             {"项目": "贷款拨备率（预期信用损失）", "余额": None, "计提比例": tot["ecl_loan_ratio"], "贷款损失准备": None}]
    out["五、贷款损失准备"] = pd.DataFrame(prow, columns=["项目", "余额", "计提比例", "贷款损失准备"])
    return out


RATE_COLUMNS = {"不良率", "迁徙率", "计提比例"}


def _put(ws, row: int, col: int, value):
    cell = ws.cell(row=row, column=col)
    if value is None or (isinstance(value, float) and value != value):
        return cell
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # text, even when it begins with "=", "+", "-" or "@"
    return cell


def build(conn, scope: Scope, month: str, user: str) -> bytes:
    """The workbook for ``month``: a cover sheet (scope, user, time, sources) and one sheet per table."""
    frames = report_frames(conn, scope, month)
    wb = Workbook()
    cover = wb.active
    cover.title = "说明"
    where = "全行" if scope.all_branches else "、".join(branches(conn, scope)["name"])
    lines = [f"资产质量报表（G11 口径）  {month}", f"范围：{where}",
             f"生成：{user}  {dt.datetime.now():%Y-%m-%d %H:%M}", "金额单位：元；比率为小数（0.0123 = 1.23%）",
             "五级分类：《商业银行金融资产风险分类办法》（银保监会、中国人民银行令2023年第1号）",
             "迁徙率：非现场监管指标“风险迁徙类指标”（向下迁徙金额取期末余额；期间减少 = 正常收回、不良处置、核销）",
             "贷款损失准备：按分类计提《银行贷款损失准备计提指引》（银发〔2002〕98号）；拨备覆盖率、贷款拨备率区间：银监发〔2018〕7号",
             "逾期分段：逾期1-90天、91-360天、361天-3年、3年以上（按逾期天数）"]
    for i, line in enumerate(lines, 1):
        _put(cover, i, 1, line).font = HEAD if i == 1 else Font()
    cover.column_dimensions["A"].width = 110
    for name, df in frames.items():
        ws = wb.create_sheet(name[:31])
        for j, col in enumerate(df.columns, 1):
            c = _put(ws, 1, j, str(col))
            c.font, c.fill, c.alignment = HEAD, FILL, Alignment(wrap_text=True)
            ws.column_dimensions[get_column_letter(j)].width = 26 if j == 1 else 18
        for i, row in enumerate(df.itertuples(index=False), 2):
            for j, (col, v) in enumerate(zip(df.columns, row), 1):
                v = float(v) if hasattr(v, "dtype") else v
                c = _put(ws, i, j, v)
                if isinstance(v, float):
                    c.number_format = "0.00%" if col in RATE_COLUMNS else "#,##0.00"
        ws.freeze_panes = "B2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
