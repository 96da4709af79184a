"""Tables formatted the bank's way, with CSV / Excel downloads that are written to the audit log."""
from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from data_access import users

from .i18n import t
from .session import engine, scope


@dataclass(frozen=True)
class Col:
    """How to show one column: label key and kind (text, count, num2, money_wan, rate, pp, change); ``raw`` when the
    label is already the text to show (e.g. a category name)."""
    label_key: str
    kind: str = "text"
    raw: bool = False


def display_frame(df: pd.DataFrame, cols: dict[str, Col]) -> tuple[pd.DataFrame, dict]:
    """The frame to show (rates as percentages, money in 万元) and its column_config."""
    out = pd.DataFrame(index=df.index)
    config = {}
    for name, col in cols.items():
        label = col.label_key if col.raw else t(col.label_key)
        v = df[name]
        if col.kind == "money_wan":
            out[label] = (v.astype(float) / 1e4).round(2)
            config[label] = st.column_config.NumberColumn(label, format="localized")
        elif col.kind in ("rate", "change"):
            out[label] = (v.astype(float) * 100).round(2)
            config[label] = st.column_config.NumberColumn(label, format="%.2f%%")
        elif col.kind == "pp":
            out[label] = v.astype(float).round(2)
            config[label] = st.column_config.NumberColumn(label, format="%+.2f")
        elif col.kind == "num2":
            out[label] = v.astype(float).round(2)
            config[label] = st.column_config.NumberColumn(label, format="%.2f")
        elif col.kind == "count":
            out[label] = v.astype(float).round(0).astype("Int64")
            config[label] = st.column_config.NumberColumn(label, format="localized")
        else:
            if pd.api.types.is_datetime64_any_dtype(v) or (len(v.dropna()) and hasattr(v.dropna().iloc[0], "isoformat")):
                v = pd.to_datetime(v).dt.strftime("%Y-%m-%d")  # dates read as dates, not epoch numbers
            out[label] = v.astype(object).where(v.notna(), "")  # a missing text shows blank, not "None"
            config[label] = st.column_config.TextColumn(label)
    return out.reset_index(drop=True), config


def _audit_export(name: str, fmt: str, rows: int) -> None:
    with engine().begin() as conn:
        users.audit(conn, scope().username or "?", "export", target=name, detail={"format": fmt, "rows": rows})


def to_excel(df: pd.DataFrame, sheet: str = "data") -> bytes:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    # Excel cannot hold control characters (a typed search stored in the audit log may have them): drop them
    df = df.apply(lambda c: c.map(lambda v: ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
                  if c.dtype == object or pd.api.types.is_string_dtype(c) else c)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        df.to_excel(xw, index=False, sheet_name=sheet[:31])
    return buf.getvalue()


def table(df: pd.DataFrame, cols: dict[str, Col], name: str, styler=None, height: int | str = "auto",
          downloads: bool = True) -> None:
    """Show ``df`` formatted per ``cols``; offer CSV and Excel downloads (audited) when allowed."""
    shown, config = display_frame(df, cols)
    data = styler(shown) if styler else shown
    if height == "fit":  # every row visible, no inner scroll, for short tables such as a branch league
        height = 38 + 35 * max(1, len(shown))
    if scope().role == "agency":
        # an agency may read its masked cases but gets no export of any kind, not even the grid's own
        st.markdown("<style>[data-testid='stElementToolbar']{display:none}</style>", unsafe_allow_html=True)
    st.dataframe(data, column_config=config, hide_index=True, width="stretch", height=height)
    if downloads and scope().role in ("head_office", "branch_leader", "strategy", "admin"):
        row = st.container(horizontal=True, gap="small")
        row.download_button(t("table.download_csv"), shown.to_csv(index=False).encode("utf-8-sig"),
                           file_name=f"{name}.csv", mime="text/csv", key=f"dl_csv_{name}",
                           on_click=_audit_export, args=(name, "csv", len(shown)))
        row.download_button(t("table.download_xlsx"), to_excel(shown, name), file_name=f"{name}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"dl_xlsx_{name}", on_click=_audit_export, args=(name, "xlsx", len(shown)))
