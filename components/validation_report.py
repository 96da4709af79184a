"""验证报告 Validation report of one model: the Model monitor's section and its one-click PDF.

``document`` turns ``models.validation_report.build``'s dict into blocks (heading, paragraph, table) in the
user's language; the page draws them and the PDF prints the same blocks, so the two never disagree. The PDF is
built only when the button is clicked, and the click writes the audit row (``validation_report_pdf``).
"""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import streamlit as st
from fpdf import FPDF

from models import validation_report as vr

from .formatting import pct
from .i18n import catalogue, translate
from .post_loan_report import FONTS
from . import downloads

logging.getLogger("fontTools").setLevel(logging.WARNING)
DASH = "—"


def _f3(v) -> str:
    return DASH if v is None else f"{v:.3f}"


def _span(a, b) -> str:
    return f"{a} – {b}" if a and b else (a or DASH)


def _feature(name: str, lang: str) -> str:
    key = f"feat.{name}"
    return catalogue(lang).get(key) or catalogue("zh").get(key) or name


def _by(who, lang: str) -> str:
    """Who trained it: the first start and the nightly batch by name, a person by their user name."""
    if not who:
        return DASH
    return catalogue(lang).get(f"vr.by.{who}") or str(who)


def document(report: dict, lang: str) -> list[tuple]:
    """Blocks: ("h", text), ("p", text), ("table", headers, rows of strings)."""
    def T(key, **kw):
        return translate(key, lang, **kw)

    name = report["name"]
    out: list[tuple] = []
    slot_name = {s: T(f"vr.slot.{s}") for s in vr.SLOTS}
    out.append(("h", T("vr.s.purpose")))
    out.append(("p", T(f"vr.purpose.{name}")))
    out.append(("p", T(f"vr.use.{name}")))
    out.append(("table", [T("vr.c.model"), T("vr.c.registry"), T("vr.c.trained"), T("vr.c.by")],
                [[slot_name[m["slot"]], T("vr.registry_ref", id=m["id"] if m["id"] is not None else DASH,
                                          version=m["version"]), m["trained_at"] or DASH, _by(m["trained_by"], lang)]
                 for m in report["models"]]))

    out.append(("h", T("vr.s.windows")))
    out.append(("p", T("vr.windows_help")))
    out.append(("table", [T("vr.c.model"), T("vr.c.train"), T("vr.c.horizon"), T("vr.c.label_to"), T("vr.c.gap"),
                          T("vr.c.valid"), T("vr.c.valid_label_to"), T("vr.c.monitor_from"), T("vr.c.data_to")],
                [[slot_name[w["slot"]], _span(w["train_from"], w["train_to"]),
                  DASH if w["horizon_months"] is None else T("vr.months", n=w["horizon_months"]),
                  w["label_to"] or DASH, DASH if w["gap_months"] is None else T("vr.months", n=w["gap_months"]),
                  _span(w["valid_from"], w["valid_to"]), w["valid_label_to"] or DASH, w["monitor_from"] or DASH,
                  w["data_to"] or DASH] for w in report["windows"]]))

    s = report["sample"]
    out.append(("h", T("vr.s.data")))
    out.append(("p", T(f"vr.label.{name}")))
    rate = T(f"vr.rate.{name}")
    out.append(("table", [T("vr.c.item"), T("vr.c.value")], [
        [T("vr.train_rows"), DASH if s["train_rows"] is None else f"{int(s['train_rows']):,}"],
        [T("vr.valid_rows"), DASH if s["valid_rows"] is None else f"{int(s['valid_rows']):,}"],
        [T("vr.valid_events", rate=rate), DASH if s["valid_events"] is None else f"{int(s['valid_events']):,}"],
        [T("vr.train_rate", rate=rate), pct(s["train_rate"])],
        [T("vr.valid_rate", rate=rate), pct(s["valid_rate"])],
        [T("vr.valid_predicted", rate=rate), pct(s["valid_predicted"])]]))

    out.append(("h", T("vr.s.discrimination")))
    d = report["discrimination"]
    level = next((x["level"] for x in d if x.get("level")), 0.95)
    n_boot = next((x["n_boot"] for x in d if x.get("n_boot")), None)
    out.append(("p", T("vr.discrimination_help", level=f"{level:.0%}") + " "
                + (T("vr.interval_how", level=f"{level:.0%}", n=n_boot) if n_boot else T("vr.interval_missing"))))
    out.append(("table", [T("vr.c.model"), T("vr.c.metric"), T("vr.c.value"), T("vr.c.interval", level=f"{level:.0%}")],
                [[slot_name[x["slot"]], x["metric"].upper() if x["metric"] != "gini" else "Gini", _f3(x["value"]),
                  DASH if x["low"] is None else f"{x['low']:.3f} – {x['high']:.3f}"] for x in d]))
    g = report.get("german_credit")
    if g and g.get("auc") is not None:
        out.append(("p", T("vr.german", auc=_f3(g["auc"]), ks=_f3(g.get("ks")), splits=g.get("splits", 10))))

    out.append(("h", T("vr.s.calibration")))
    c = report["calibration"]
    if c is None:
        out.append(("p", T("vr.calibration_none")))
    else:
        out.append(("p", T("vr.calibration_validation") if c["source"] == "validation"
                    else T("vr.calibration_monitor", month=c["month"])))
        counted = all(b["rows"] is not None for b in c["bands"])
        out.append(("table", [T("vr.c.band"), *([T("vr.c.rows")] if counted else []), T("vr.c.predicted"),
                              T("vr.c.observed")],
                    [[str(b["band"]), *([f"{b['rows']:,}"] if counted else []), pct(b["predicted"]),
                      pct(b["observed"])] for b in c["bands"]]))

    st_ = report["stability"]
    th = report["thresholds"]
    out.append(("h", T("vr.s.stability")))
    rows = [[T("vr.psi_validation"), _f3(st_["psi_validation"])]]
    if st_["psi_latest"]:
        rows.append([T("vr.psi_latest", month=st_["psi_latest"][0]), _f3(st_["psi_latest"][1])])
    for f, v in st_["inputs"]:
        rows.append([T("vr.input_psi", month=st_["inputs_month"], input=_feature(f, lang)), _f3(v)])
    out.append(("table", [T("vr.c.item"), T("vr.c.value")], rows))
    if not st_["psi_latest"]:
        out.append(("p", T("vr.stability_none")))

    out.append(("h", T("vr.s.challenger")))
    ch = report["challenger"]
    if ch is None:
        out.append(("p", T("vr.challenger_none")))
    else:
        out.append(("p", T(f"vr.challenger_method.{name}")))
        gap = ch["auc_gap"]
        out.append(("p", T("vr.challenger_gap", gap=DASH if gap is None else f"{gap:+.3f}")
                    + ("" if not ch.get("verdict") else " " + T(f"vr.verdict.{ch['verdict']}"))))

    out.append(("h", T("vr.s.limitations")))
    for key, params in report["limitations"]:
        shown = {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in params.items()}
        out.append(("p", "· " + T(key, **shown)))

    out.append(("h", T("vr.s.thresholds")))
    out.append(("table", [T("vr.c.metric"), T("vr.c.amber"), T("vr.c.red"), T("vr.c.source")], [
        [T("vr.th.auc"), T("vr.th.below", d=f"{th['auc_amber']:.2f}", line=_f3(th["auc_amber_line"])),
         T("vr.th.below", d=f"{th['auc_red']:.2f}", line=_f3(th["auc_red_line"])), T("vr.th.auc_source")],
        [T("vr.th.psi"), f"≥ {th['psi_amber']:.2f}", f"≥ {th['psi_red']:.2f}", T("vr.th.psi_source")]]))
    out.append(("p", translate("mon.todo", lang)))
    return out


def section(name: str, entry: dict, lang: str) -> None:
    """The report inside an expander on the Model monitor, with its PDF button."""
    report = vr.build(name, entry)
    with st.expander(translate("vr.title", lang), icon=":material/fact_check:"):
        for block in document(report, lang):
            if block[0] == "h":
                st.markdown(f"**{block[1]}**")
            elif block[0] == "p":
                st.markdown(block[1].replace("$", r"\$"))
            else:
                st.dataframe(pd.DataFrame(block[2], columns=block[1]), hide_index=True, width="stretch")
        offer_pdf(report, lang)


def offer_pdf(report: dict, lang: str) -> None:
    """One button (components.downloads, like every export): the PDF is built only when clicked, after the user's
    session and rights are checked again, and the export is audited with the registry entries it reports on."""
    downloads.offer(translate("vr.pdf", lang), lambda: build_pdf(report, lang),
                    file_name=f"validation_report_{report['name']}.pdf", mime="application/pdf",
                    what=f"validation_report:{report['name']}", key=f"vr_pdf_{report['name']}",
                    filters={"models": [m["id"] for m in report["models"]], "lang": lang}, type="primary",
                    help=translate("vr.pdf_help", lang, model=translate(f"mon.name.{report['name']}", lang)))


def build_pdf(report: dict, lang: str) -> bytes:
    """The report as an A4 PDF (CJK font embedded), every block of ``document`` in order."""
    pdf = FPDF(orientation="P", format="A4")
    pdf.add_font("noto", "", str(FONTS / "NotoSansSC-Regular-subset.otf"))
    pdf.add_font("noto", "B", str(FONTS / "NotoSansSC-Bold-subset.otf"))
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_title(translate("vr.title", lang))
    pdf.add_page()
    pdf.set_font("noto", "B", 15)
    pdf.cell(0, 10, f"{translate('vr.title', lang)} · {translate('mon.name.' + report['name'], lang)}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", "", 8)
    pdf.set_text_color(110)
    pdf.cell(0, 5, translate("vr.pdf_generated", lang, at=f"{dt.datetime.now():%Y-%m-%d %H:%M}"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for block in document(report, lang):
        if block[0] == "h":
            pdf.ln(3)
            pdf.set_font("noto", "B", 11.5)
            pdf.cell(0, 8, _printable(block[1]), new_x="LMARGIN", new_y="NEXT")
        elif block[0] == "p":
            pdf.set_font("noto", "", 9)
            pdf.multi_cell(width, 5, _printable(block[1].replace("**", "")), new_x="LMARGIN", new_y="NEXT")
        else:
            headers, rows = block[1], block[2]
            pdf.set_font("noto", "", 7.5 if len(headers) > 5 else 8.5)
            with pdf.table(width=width, line_height=4.6, first_row_as_headings=True,
                           headings_style=_heading_style(), borders_layout="HORIZONTAL_LINES") as tbl:
                for r in [headers, *rows]:
                    row = tbl.row()
                    for cell in r:
                        row.cell(_printable(str(cell)))
            pdf.ln(1.5)
    return bytes(pdf.output())


def _printable(text: str) -> str:
    """Characters the bundled font lacks, as their nearest ASCII (the minus sign of 'Gini = 2 × AUC − 1')."""
    return text.replace("\u2212", "-")


def _heading_style():
    from fpdf.fonts import FontFace
    return FontFace(emphasis="BOLD", fill_color=(238, 244, 251))
