"""An agency's printable work list: only the masked fields collection needs, every page watermarked with the user
and the time, so that a leaked sheet names who printed it and when."""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
from fpdf import FPDF

from data_access.kpi import BUCKETS

from .post_loan_report import FONTS

# fpdf2 subsets fonts through fontTools, which logs every table at INFO: keep the server log readable
logging.getLogger("fontTools").setLevel(logging.WARNING)


class _Sheet(FPDF):
    def __init__(self, mark: str, title: str):
        super().__init__(orientation="L", format="A4")
        self.mark, self.title_text = mark, title

    def header(self):
        # the diagonal watermark first, so that the table prints over it
        self.set_font("noto", "", 26)
        self.set_text_color(215)
        for y in (70, 140):
            with self.rotation(25, x=self.w / 2, y=y):
                self.text(self.w / 2 - 110, y, self.mark)
        self.set_text_color(0)
        self.set_font("noto", "B", 12)
        self.cell(0, 8, self.title_text, new_x="LMARGIN", new_y="NEXT")
        self.set_font("noto", "", 8)
        self.set_text_color(120)
        self.cell(0, 5, self.mark, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)

    def footer(self):
        self.set_y(-12)
        self.set_font("noto", "", 8)
        self.set_text_color(120)
        self.cell(0, 6, f"{self.mark} · 第 {self.page_no()} 页", align="C")


COLUMNS = [("case_no", "案件号", 34), ("entry_date", "入催日期", 24), ("entry_bucket", "阶段", 14),
           ("overdue_at_entry", "入催逾期额(元)", 30), ("name", "客户", 22), ("phone", "电话", 30),
           ("address", "地址(至村)", 70), ("last_action_on", "最近行动", 24), ("actions", "次数", 14)]


def watermark(username: str, when: dt.datetime) -> str:
    return f"{username} · {when:%Y-%m-%d %H:%M} · 仅限本机构催收使用 · 禁止外传"


def build_worklist(cases: pd.DataFrame, agency_name: str, username: str, when: dt.datetime | None = None) -> bytes:
    """PDF bytes of the masked work list ``cases`` (from :func:`data_access.collections.my_cases`)."""
    when = when or dt.datetime.now()
    pdf = _Sheet(watermark(username, when), f"{agency_name} · 在催案件工作清单（{len(cases)} 件，客户信息已脱敏）")
    pdf.add_font("noto", "", str(FONTS / "NotoSansSC-Regular-subset.otf"))
    pdf.add_font("noto", "B", str(FONTS / "NotoSansSC-Bold-subset.otf"))
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    pdf.set_font("noto", "B", 8)
    pdf.set_fill_color(238, 244, 251)
    for _, label, w in COLUMNS:
        pdf.cell(w, 7, label, border=1, fill=True)
    pdf.ln()
    pdf.set_font("noto", "", 8)
    for r in cases.itertuples():
        for key, _, w in COLUMNS:
            v = getattr(r, key)
            if key == "entry_bucket":
                v = BUCKETS.get(int(v), v)
            elif key == "overdue_at_entry":
                v = f"{float(v):,.2f}"
            elif v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
                v = ""
            text = str(v)[:40]
            pdf.cell(w, 6, text, border=1)
        pdf.ln()
    return bytes(pdf.output())


__all__ = ["build_worklist", "watermark"]
