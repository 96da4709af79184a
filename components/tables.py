"""Tables formatted the bank's way, with CSV / Excel downloads built and audited only on a click (downloads.py)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from data_access import export_safety

from . import downloads as downloads_
from .i18n import t
from .safe_text import md
from .session import scope

EXPORT_ROLES = ("head_office", "branch_leader", "strategy", "admin")  # never an agency


@dataclass(frozen=True)
class Col:
    """How to show one column: label key and kind; ``raw`` when the label is already the text to show (e.g. a
    category name).

    Kinds: text, bool (是/否), count (whole numbers), num2 (two decimals), money_yuan (元, two decimals), money_wan
    (万元; a column whose every amount is under 1 万元 is shown in 元 instead, its label saying so), rate and change
    (percent, two decimals), pp (percentage points, signed)."""
    label_key: str
    kind: str = "text"
    raw: bool = False
    missing: str | None = None  # what a missing value says in this column (default —), e.g. 不限 for a capacity


MISSING = "—"
NUMERIC = ("count", "num2", "money_yuan", "money_wan", "rate", "change", "pp")
# a money column's unit written in its label, per language: swapped when the column is shown in 元
_WAN_IN_LABEL = (("万元", "元"), ("¥10k", "¥"), ("10k yuan", "yuan"), ("(10k)", "(¥)"))


def _yuan_label(label: str) -> str:
    for wan, yuan in _WAN_IN_LABEL:
        if wan in label:
            return label.replace(wan, yuan)
    return label


def _fmt(pattern: str, missing: str = MISSING):
    return lambda v: missing if pd.isna(v) else pattern.format(v)


def _display_width(text: str) -> int:
    """Pixels a cell's text needs at the table's font: CJK characters are about twice as wide as Latin ones."""
    return sum(14 if ord(ch) > 0x2E80 else 8 for ch in text)


def display_frame(df: pd.DataFrame, cols: dict[str, Col]) -> tuple[pd.DataFrame, dict, dict]:
    """The frame to show, its column_config and one formatter per column (value → text).

    Numbers stay numbers (the table sorts them as numbers); the formatters give every shown value one format per
    kind: thousands separators always, money and rates with two decimals, counts without, ``—`` for a missing
    value, 是/否 for a yes/no. Each column is as wide as its label and longest value need (within bounds), and the
    first column is pinned so that a wide table scrolled to the right still says which row is which."""
    out = pd.DataFrame(index=df.index)
    config, formats, needs = {}, {}, {}
    yes, no = t("common.yes"), t("common.no")
    for i, (name, col) in enumerate(cols.items()):
        label = col.label_key if col.raw else t(col.label_key)
        v = df[name]
        kind = col.kind
        if kind == "text" and (pd.api.types.is_bool_dtype(v) or (len(v.dropna()) and
                                                               all(isinstance(x, bool) for x in v.dropna()))):
            kind = "bool"
        if kind in NUMERIC:
            v = pd.to_numeric(v, errors="coerce").astype(float)
        if kind == "money_wan" and len(v.dropna()) and (v.dropna().abs() < 1e4).all() and (v.dropna() != 0).any():
            kind, label = "money_yuan", _yuan_label(label)  # 0.06 万元 is 600 元: say it in 元
        gap = MISSING if col.missing is None else col.missing
        if kind == "money_wan":
            out[label], formats[label] = (v / 1e4).round(2), _fmt("{:,.2f}", gap)
        elif kind == "money_yuan":
            out[label], formats[label] = v.round(2), _fmt("{:,.2f}", gap)
        elif kind in ("rate", "change"):
            out[label], formats[label] = (v * 100).round(2), _fmt("{:,.2f}%", gap)
        elif kind == "pp":
            out[label], formats[label] = v.round(2), _fmt("{:+,.2f}", gap)
        elif kind == "num2":
            out[label], formats[label] = v.round(2), _fmt("{:,.2f}", gap)
        elif kind == "count":
            out[label], formats[label] = v.round(0), _fmt("{:,.0f}", gap)
        elif kind == "bool":
            out[label] = [gap if pd.isna(x) else (yes if x else no) for x in v]
        else:
            if pd.api.types.is_datetime64_any_dtype(v) or (len(v.dropna()) and hasattr(v.dropna().iloc[0], "isoformat")):
                v = pd.to_datetime(v).dt.strftime("%Y-%m-%d")  # dates read as dates, not epoch numbers
            out[label] = [gap if (x is None or (isinstance(x, float) and pd.isna(x)) or x is pd.NaT
                                      or (isinstance(x, str) and not x.strip())) else str(x) for x in v]
        texts = [formats[label](x) for x in out[label]] if label in formats else list(out[label])
        cap = 320 if kind == "text" else 200
        values = min(max(max([_display_width(str(x)) for x in texts[:500]] or [0]) + 28, 64), cap)
        width = min(max(_display_width(label) + 28, values), cap)
        # a number is never cut; a text cell other than the row's name may be, to 120 px (whole on hover)
        needs[label] = (width, values, values if kind != "text" or i == 0 else min(values, 120))
        if label in formats and out[label].isna().any():
            # the grid draws an empty number cell as 'None' whatever the display text: a column with gaps is shown
            # as its formatted text, right-aligned like the numbers it holds
            out[label] = texts
            del formats[label]
            config[label] = st.column_config.TextColumn(label, width=width, alignment="right")
        elif label in formats:
            config[label] = st.column_config.NumberColumn(label, width=width)
        else:
            config[label] = st.column_config.TextColumn(label, width=width, pinned=i == 0)
    widths = fitted_widths(needs)
    for label, c in config.items():
        c["width"] = widths[label]
        if widths[label] < needs[label][0]:  # the header is cut: its whole text on hover
            c["help"] = label
    return out.reset_index(drop=True), config, formats


def fitted_widths(needs: dict[str, tuple[int, int, int]], room: int | None = None) -> dict[str, int]:
    """Column widths from each column's (label-and-values width, values-only width, least width): as wide as both
    need when the table fits ``room`` (:data:`MAIN_PX`); otherwise the headers give way first — each column
    narrowed towards its values' width in proportion to what its header adds — and then, if that is not enough,
    long text cells (a note, an address; never a number or the row's name) towards their least width, so that
    every column shows at 1600 px instead of the right-hand ones scrolled out of sight. A cut header or cell shows
    whole on hover. Only a table whose least widths do not fit still scrolls."""
    room = MAIN_PX if room is None else room
    widths = {k: w for k, (w, _, _) in needs.items()}
    for stage in (1, 2):  # 1: headers towards the values; 2: text values towards their least width
        top = {k: (n[0] if stage == 1 else n[1]) for k, n in needs.items()}
        low = {k: (n[1] if stage == 1 else n[2]) for k, n in needs.items()}
        over, spare = sum(top.values()) - room, sum(top[k] - low[k] for k in needs)
        if over <= 0:
            return widths
        cut = min(over, spare)
        widths = {k: int(top[k] - (top[k] - low[k]) * cut / spare) if spare else top[k] for k in needs}
    return widths


STYLED_CELLS = 60_000
# the main area's width at 1600 px with the sidebar open: the columns a table shows first must fit in it (what
# does not goes under ``table(..., more=...)``), or the grid scrolls sideways and the user meets the right-hand
# columns cut off
MAIN_PX = 1120


def columns_width(config: dict) -> int:
    """Pixels the columns of a ``display_frame`` column_config take side by side."""
    return sum(int(c.get("width") or 0) for c in config.values())


def fit_height(rows: int, cap: int = 20) -> int:
    """Pixels for a table of ``rows`` rows: every row up to ``cap`` visible, no blank rows under a short table."""
    return 38 + 35 * max(1, min(rows, cap))


def to_excel(df: pd.DataFrame, sheet: str = "data") -> bytes:
    """``df`` as .xlsx with formula cells neutralised (see data_access.export_safety)."""
    return export_safety.excel_bytes(df, sheet)


def static_frame(shown: pd.DataFrame, formats: dict) -> pd.DataFrame:
    """``shown`` (from display_frame) as text for st.table, which has no export control but reads its cells as
    Markdown: each value in its column's format, escaped (components.safe_text)."""
    return pd.DataFrame({md(label): [md(formats[label](x) if label in formats else x) for x in shown[label]]
                         for label in shown.columns})


def table(df: pd.DataFrame, cols: dict[str, Col], name: str, styler=None, height: int | str = "auto",
          downloads: bool = True, purpose: str | None = None, more: dict[str, Col] | None = None) -> None:
    """Show ``df`` formatted per ``cols``; offer CSV and Excel downloads (built and audited on click) when allowed.

    ``height``: "auto" shows up to 20 rows, "fit" every row, or pixels. An agency gets a static table: the grid's
    toolbar would offer its own CSV download (decided here on the server, not hidden by CSS). ``purpose``: the PII
    purpose the rows were unmasked for (components.pii); an export then records it and the customers
    (``customer_no``) it names. ``more``: secondary columns, shown in an expander under the table beside the first
    column (so that ``cols`` fit :data:`MAIN_PX` and the table does not scroll sideways); the downloads hold
    ``cols`` and ``more``."""
    if scope().role == "agency":  # a static table scrolls sideways (theme CSS): every column in it
        shown, _, formats = display_frame(df, {**cols, **(more or {})})
        st.table(static_frame(shown, formats), hide_index=True, border="horizontal")
        return
    shown, config, formats = display_frame(df, cols)
    export = display_frame(df, {**cols, **more})[0] if more else shown
    if shown.size <= STYLED_CELLS:
        data = (styler(shown) if styler else shown.style).format(formats)
    else:  # pandas' Styler renders every cell: a long list keeps the grid's own number format instead
        data = shown
        for label in formats:
            config[label] = st.column_config.NumberColumn(label, width=config[label].get("width"), format="localized")
    if height == "fit":  # every row visible, no inner scroll, for short tables such as a branch league
        height = fit_height(len(shown), cap=len(shown))
    elif height == "auto":
        height = fit_height(len(shown))
    st.dataframe(data, column_config=config, hide_index=True, width="stretch", height=height)
    if more:
        first = next(iter(cols))
        with st.expander(t("table.more_columns", n=len(more))):
            table(df, {first: cols[first], **more}, name=f"{name}_more", styler=styler, height=height,
                  downloads=False)
    if downloads and scope().role in EXPORT_ROLES:
        row = st.container(horizontal=True, gap="small")
        unmasked = purpose not in (None, "none")
        customers = list(df["customer_no"]) if unmasked and "customer_no" in df else None
        common = dict(what=name, rows=len(shown), purpose=purpose if unmasked else None, customers=customers,
                      masked=None if purpose is None else not unmasked, where=row)
        downloads_.offer(t("table.download_csv"), lambda: export_safety.csv_bytes(export), file_name=f"{name}.csv",
                         mime="text/csv", key=f"dl_csv_{name}", **common)
        downloads_.offer(t("table.download_xlsx"), lambda: to_excel(export, name), file_name=f"{name}.xlsx",
                         mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         key=f"dl_xlsx_{name}", **common)
