"""The filter bar: month, branch, product, segment — offering only what the user's scope covers."""
from __future__ import annotations

import streamlit as st

from data_access import queries

from .formatting import month_label
from .i18n import current_lang, t
from .session import months, products, read


def filter_bar(show: tuple[str, ...] = ("month", "branch", "product", "segment")) -> queries.Filters | None:
    """Render the bar; returns the chosen Filters, or None when there is no data at all."""
    available = months()
    if not available:
        return None
    lang = current_lang()
    cols = st.columns(len(show))
    values = {}
    for col, what in zip(cols, show):
        with col:
            if what == "month":
                values["month"] = st.selectbox(t("filter.month"), list(reversed(available)), key="f_month",
                                               format_func=lambda m: month_label(m, lang))
            elif what == "branch":
                br = read(queries.branches)
                options = [None] + list(br["id"]) if len(br) != 1 else list(br["id"])
                names = dict(zip(br["id"], br["name"]))
                if st.session_state.get("f_branch") not in options:
                    st.session_state.pop("f_branch", None)
                values["branch_id"] = st.selectbox(t("filter.branch"), options, key="f_branch",
                                                   format_func=lambda b, n=names: t("filter.all") if b is None else n[b])
            elif what == "product":
                pr = products()
                names = dict(zip(pr["id"], pr["name"]))
                values["product_id"] = st.selectbox(t("filter.product"), [None] + list(pr["id"]), key="f_product",
                                                    format_func=lambda p, n=names: t("filter.all") if p is None else n[p])
            elif what == "segment":
                values["segment"] = st.selectbox(t("filter.segment"), [None] + list(queries.SEGMENTS), key="f_segment",
                                                 format_func=lambda s: t("filter.all") if s is None else t(f"segment.{s}"))
    month = values.pop("month", available[-1])
    return queries.Filters(month=month, **{k: (int(v) if k != "segment" and v is not None else v)
                                           for k, v in values.items()})
