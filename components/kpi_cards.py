"""A row of KPI cards with month-on-month and year-on-year deltas, coloured good or bad for a bank."""
from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st

from .formatting import signed_pct, signed_pp
from .i18n import current_lang, t
from .safe_text import html_text


@dataclass(frozen=True)
class Kpi:
    """One card. ``kind``: "rel" shows relative changes, "pp" changes in percentage points.
    ``good_when_up``: True (balance), False (NPL ratio) or None (neutral)."""
    label: str
    value: str
    mom: float | None
    yoy: float | None
    kind: str = "rel"
    good_when_up: bool | None = True
    help: str = ""


# a change too small to show in the printed digits is no change: 0.005 pp, or 0.05 % relative
FLAT = {"pp": 0.005, "rel": 0.0005}


def _flat(change, kind: str) -> bool:
    return change is None or (isinstance(change, float) and math.isnan(change)) or abs(change) < FLAT[kind]


def delta_class(change: float | None, good_when_up: bool | None, kind: str = "rel") -> str:
    """CSS class of a change: kpi-good, kpi-bad or kpi-flat."""
    if _flat(change, kind) or good_when_up is None:
        return "kpi-flat"
    return "kpi-good" if (change > 0) == good_when_up else "kpi-bad"


def _arrow(change, kind: str) -> str:
    if _flat(change, kind):
        return "■"
    return "▲" if change > 0 else "▼"


def kpi_card_html(k: Kpi, mom_label: str, yoy_label: str, lang: str = "zh") -> str:
    fmt = (lambda v: signed_pp(v, lang=lang)) if k.kind == "pp" else signed_pct
    parts = []
    if k.mom is None and k.yoy is None:  # a point-in-time figure: no comparison line at all
        return (f'<div class="kpi-card"{" title=" + chr(34) + html_text(k.help) + chr(34) if k.help else ""}>'
                f'<div class="kpi-label">{html_text(k.label)}</div><div class="kpi-value">{html_text(k.value)}</div></div>')
    for label, change in ((mom_label, k.mom), (yoy_label, k.yoy)):
        shown = fmt(0.0 if _flat(change, k.kind) and change is not None and not math.isnan(change) else change)
        parts.append(f'<span class="{delta_class(change, k.good_when_up, k.kind)}">{html_text(label)} '
                     f'{_arrow(change, k.kind)} {html_text(shown)}</span>')
    title = f' title="{html_text(k.help)}"' if k.help else ""
    return (f'<div class="kpi-card"{title}><div class="kpi-label">{html_text(k.label)} ⓘ</div>'
            f'<div class="kpi-value">{html_text(k.value)}</div><div class="kpi-delta">{"".join(parts)}</div></div>')


def kpi_row(kpis: list[Kpi], per_row: int = 5) -> None:
    for start in range(0, len(kpis), per_row):
        cols = st.columns(per_row)
        for col, k in zip(cols, kpis[start:start + per_row]):
            col.markdown(kpi_card_html(k, t("kpi.mom"), t("kpi.yoy"), current_lang()), unsafe_allow_html=True)
