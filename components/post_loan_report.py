"""一键贷后报告: a one-click PDF post-loan report for a customer, with embedded Chinese fonts (no download)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from fpdf import FPDF
from fpdf.fonts import FontFace

from data_access.customer360 import latest_inspection
from data_access.kpi import BUCKETS, CLASS5

from .formatting import money
from .i18n import code_label, translate

FONTS = Path(__file__).resolve().parent / "fonts"


def conclusion(parts: dict) -> tuple[str, list[str]]:
    """(level, reasons): 正常 / 关注 / 预警 from the customer's current loans, open signals and cases."""
    reasons = []
    loans = parts["loans"]
    active = loans[loans["status"] == "active"] if not loans.empty else loans
    worst = int(active["dpd"].fillna(0).max()) if not active.empty else 0
    if worst > 90:
        reasons.append(f"在贷借据最长逾期 {worst} 天，已进入不良")
    elif worst > 0:
        reasons.append(f"在贷借据当前逾期 {worst} 天")
    w = parts["warnings"]
    open_w = w[w["status"] == "open"] if not w.empty else w
    high = int((open_w["severity"] == "high").sum()) if not open_w.empty else 0
    if len(open_w):
        reasons.append(f"未结预警 {len(open_w)} 条（其中高风险 {high} 条）")
    risk_tags = parts["tags"][parts["tags"]["tag_type"] == "risk"]["tag"].tolist() if not parts["tags"].empty else []
    if risk_tags:
        reasons.append("风险标签：" + "、".join(risk_tags))
    open_cases = parts["cases"][parts["cases"]["status"] == "open"] if not parts["cases"].empty else parts["cases"]
    if len(open_cases):
        reasons.append(f"在催案件 {len(open_cases)} 件")
    if worst > 30 or high:
        return "预警", reasons
    if reasons:
        return "关注", reasons
    return "正常", ["借据按期还款，无未结预警与在催案件"]


class _Report(FPDF):
    def header(self):
        self.set_font("noto", "B", 9)
        self.set_text_color(110)
        self.cell(0, 6, translate("app.title", "zh") + " · 贷后检查报告", align="L")
        self.cell(0, 6, f"第 {self.page_no()} 页", align="R", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)


def build_report(parts: dict, generated_by: str, masked: bool, when: dt.datetime | None = None) -> bytes:
    """The PDF bytes of the post-loan report for one customer's 360 ``parts``."""
    when = when or dt.datetime.now()
    p = parts["profile"]
    pdf = _Report(format="A4")
    pdf.add_font("noto", "", str(FONTS / "NotoSansSC-Regular-subset.otf"))
    pdf.add_font("noto", "B", str(FONTS / "NotoSansSC-Bold-subset.otf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("noto", "B", 18)
    pdf.cell(0, 12, "贷后检查报告（一键生成）", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", "", 9)
    pdf.set_text_color(90)
    pdf.cell(0, 6, f"客户号 {p['customer_no']} · 生成人 {generated_by} · 生成时间 {when:%Y-%m-%d %H:%M}"
             + (" · 敏感信息已脱敏" if masked else ""), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)

    def section(title: str) -> None:
        pdf.ln(3)
        pdf.set_font("noto", "B", 12)
        pdf.set_fill_color(232, 240, 250)
        pdf.cell(0, 8, title, fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("noto", "", 9.5)

    def kv(rows: list[tuple[str, str]]) -> None:
        with pdf.table(col_widths=(28, 62, 28, 62), text_align="LEFT", first_row_as_headings=False,
                       borders_layout="HORIZONTAL_LINES", line_height=6) as table:
            for i in range(0, len(rows), 2):
                row = table.row()
                for k, v in rows[i:i + 2]:
                    row.cell(k, style=FontFace(emphasis="BOLD"))
                    row.cell(str(v))

    def grid(df: pd.DataFrame, widths: tuple) -> None:
        if df.empty:
            pdf.cell(0, 6, "（无）", new_x="LMARGIN", new_y="NEXT")
            return
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=5.5,
                       headings_style=FontFace(emphasis="BOLD", fill_color=(245, 245, 245))) as table:
            table.row([str(c) for c in df.columns])
            for r in df.itertuples(index=False):
                table.row(["" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in r])

    segment = translate(f"segment.{p['segment']}", "zh")
    section("一、客户基本信息")
    kv([("客户姓名", p["name"]), ("身份证号", p["id_number"]), ("联系电话", p["phone"] or ""),
        ("客群", segment), ("所在村", f"{p['township']}{p['village']}"), ("所属支行", p["branch"]),
        ("客户经理", p.get("manager") or ""), ("家庭人口", f"{p.get('household_size') or ''} 人"),
        ("年收入", money(p.get("annual_income"))), ("家庭资产", money(p.get("assets"))),
        ("负债", money(p.get("liabilities"))), ("存款余额", money(p.get("deposit_balance"))),
        ("多头借贷机构数", str(p.get("multi_lending_count") or 0)), ("信用户", "是" if p.get("credit_household") else "否")])

    section("二、授信与贷款")
    lines = parts["lines"]
    grid(pd.DataFrame({"产品": lines["product"], "授信额度": [money(v) for v in lines["limit_amount"]],
                       "已用": [money(v) for v in lines["used"]], "到期日": lines["expires_on"].astype(str),
                       "状态": [code_label(v, "zh") for v in lines["status"]]}) if not lines.empty else lines, (40, 35, 35, 35, 35))
    loans = parts["loans"]
    if not loans.empty:
        loans = loans.sort_values("disbursed_on", ascending=False).head(8)
        grid(pd.DataFrame({"借据号": loans["loan_no"], "产品": loans["product"],
                           "金额": [money(v) for v in loans["amount"]], "余额": [money(v) for v in loans["balance"]],
                           "逾期天数": loans["dpd"].fillna(0).astype(int), "五级分类": [CLASS5.get(c, "") if pd.notna(c) else "结清"
                                                                                 for c in loans["class5"]],
                           "状态": [code_label(v, "zh") for v in loans["status"]]}), (36, 30, 24, 24, 18, 20, 28))

    section("三、风险信号")
    w = parts["warnings"].head(10)
    grid(pd.DataFrame({"日期": w["raised_on"].astype(str), "类型": [code_label(v, "zh") for v in w["signal_type"]],
                       "级别": [code_label(v, "zh") for v in w["severity"]],
                       "状态": [code_label(v, "zh") for v in w["status"]], "说明": w["detail"]}) if not w.empty else w, (26, 36, 16, 16, 86))
    snaps = parts["snapshots"]
    if not snaps.empty:
        last12 = snaps[snaps["month"] >= sorted(snaps["month"].unique())[-min(12, snaps["month"].nunique())]]
        pdf.cell(0, 6, f"近 12 个月最长逾期天数：{int(last12['dpd'].max())} 天；最差逾期阶段："
                       f"{BUCKETS[int(last12['bucket'].max())]}", new_x="LMARGIN", new_y="NEXT")

    section("四、最近一次贷后检查")
    insp = latest_inspection(parts)
    if insp is None:
        pdf.cell(0, 6, "（无已完成的检查任务）", new_x="LMARGIN", new_y="NEXT")
    else:
        kv([("检查类型", code_label(insp["task_type"], "zh")), ("触发方式", code_label(insp["trigger"], "zh")), ("完成日期", str(insp["completed_on"])),
            ("检查结论", insp["result"] or ""), ("检查人", insp.get("manager") or ""), ("应完成日", str(insp["due_on"]))])

    section("五、结论与建议")
    level, reasons = conclusion(parts)
    pdf.set_font("noto", "B", 11)
    pdf.cell(0, 7, f"风险评价：{level}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", "", 9.5)
    for r in reasons:
        pdf.multi_cell(0, 6, f"· {r}", new_x="LMARGIN", new_y="NEXT")
    advice = {"正常": "维持现有授信，按常规频率开展贷后检查。",
              "关注": "加强监测，30 日内完成一次非现场检查，核实预警原因。",
              "预警": "7 日内完成现场检查，评估压降额度或提前收回，必要时移交催收。"}[level]
    pdf.multi_cell(0, 6, f"建议：{advice}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.cell(0, 6, "客户经理签字：______________        支行负责人签字：______________", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
