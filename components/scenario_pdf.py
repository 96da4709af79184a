"""One-page summary of a saved strategy-lab scenario, for the risk committee's papers: what was assumed, what the
simulator answered, the current policy beside it as bars, who saved it and when."""
from __future__ import annotations

import datetime as dt
import logging

from fpdf import FPDF

from .formatting import money, pct
from .post_loan_report import FONTS

logging.getLogger("fontTools").setLevel(logging.WARNING)


def fmt(value, kind: str, lang: str = "zh") -> str:
    """A value as the lab's tables show it (rate → %, money_wan → 万元 …)."""
    if value is None or value == "":
        return "—"
    if kind in ("rate", "change"):
        return pct(float(value))
    if kind == "money_wan":
        return money(float(value), lang)
    if kind == "num2":
        return f"{float(value):.2f}"
    if kind == "count":
        return f"{float(value):,.0f}"
    return str(value)


def build_summary(title: str, scenario: dict, rows: list[tuple[str, str]], bars: list[tuple[str, float, str]],
                  bar_title: str, footer: str) -> bytes:
    """PDF bytes. ``scenario`` has name, created_by, created_at; ``rows`` are (label, formatted value) of its
    parameters and results; ``bars`` are (label, value, formatted value) drawn side by side (e.g. current policy
    and proposal) under ``bar_title``."""
    pdf = FPDF(orientation="P", format="A4")
    pdf.add_font("noto", "", str(FONTS / "NotoSansSC-Regular-subset.otf"))
    pdf.add_font("noto", "B", str(FONTS / "NotoSansSC-Bold-subset.otf"))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("noto", "B", 15)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", "B", 12)
    pdf.cell(0, 8, str(scenario["name"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", "", 9)
    pdf.set_text_color(110)
    pdf.cell(0, 6, f"{scenario['created_by']} · {str(scenario['created_at'])[:16]}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(3)
    pdf.set_font("noto", "", 10)
    pdf.set_fill_color(238, 244, 251)
    pdf.set_draw_color(215)
    for i, (label, value) in enumerate(rows[:24]):  # one page: the lab's scenarios have well under 24 figures
        pdf.cell(110, 7.5, label, border="B", fill=i % 2 == 0)
        pdf.cell(70, 7.5, value, border="B", fill=i % 2 == 0, align="R", new_x="LMARGIN", new_y="NEXT")
    if bars:
        pdf.ln(6)
        pdf.set_font("noto", "B", 11)
        pdf.cell(0, 8, bar_title, new_x="LMARGIN", new_y="NEXT")
        top, height, width = pdf.get_y() + 10, 60.0, 34.0  # room for the value printed over the tallest bar
        peak = max(abs(v) for _, v, _ in bars) or 1.0
        colours = [(156, 163, 175), (31, 119, 180), (214, 39, 40), (44, 160, 44)]
        pdf.set_font("noto", "", 9)
        for i, (label, value, shown) in enumerate(bars):
            x = pdf.l_margin + 12 + i * (width + 20)
            h = height * abs(value) / peak
            pdf.set_fill_color(*colours[i % len(colours)])
            pdf.rect(x, top + height - h, width, h, style="F")
            pdf.set_xy(x - 6, top + height - h - 6)
            pdf.cell(width + 12, 5, shown, align="C")
            pdf.set_xy(x - 6, top + height + 2)
            pdf.cell(width + 12, 5, label, align="C")
        pdf.set_draw_color(200)
        pdf.line(pdf.l_margin, top + height, pdf.w - pdf.r_margin, top + height)
    pdf.set_y(-18)
    pdf.set_font("noto", "", 8)
    pdf.set_text_color(120)
    pdf.cell(0, 6, f"{footer} · {dt.datetime.now():%Y-%m-%d %H:%M}", align="C")
    return bytes(pdf.output())
