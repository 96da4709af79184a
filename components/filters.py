"""The filter bar: month, branch → township → village, product, segment — offering only what the user's scope
covers. Choices persist across pages in session state."""
from __future__ import annotations

import streamlit as st

from data_access import queries

from .formatting import month_label
from .i18n import DEFAULT_LANG, current_lang, t, value_label
from .session import months, products, read

ALL = ("month", "branch", "township", "village", "product", "segment")


CHOSEN = "filters_chosen"


def widget_key(key: str, options: list) -> str:
    """The widget key of filter ``key`` in the current language, with the choice made in any language carried over.

    A selectbox keeps the text it was drawn with: after a language switch the page still showed 全部 and 2026年10月.
    A widget per language is drawn anew in the new words (Chinese keeps the plain key, which the tests address)."""
    lang = current_lang()
    wkey = key if lang == DEFAULT_LANG else f"{key}__{lang}"
    chosen = st.session_state.setdefault(CHOSEN, {})
    if wkey not in st.session_state and key in chosen and chosen[key] in options:
        st.session_state[wkey] = chosen[key]
    if st.session_state.get(wkey) not in options:
        st.session_state.pop(wkey, None)
    return wkey


def remember(key: str, value):
    st.session_state.setdefault(CHOSEN, {})[key] = value
    return value


def chosen(key: str, default=None):
    """The filter's current choice, whichever language it was made in."""
    return st.session_state.get(CHOSEN, {}).get(key, default)


def _select(label_key: str, options: list, names: dict, key: str, disabled: bool = False, help: str | None = None):
    """A selectbox whose first option may be None ("all"); drops a remembered choice no longer offered."""
    return remember(key, st.selectbox(t(label_key), options, key=widget_key(key, options), disabled=disabled, help=help,
                                      placeholder=t("filter.all"),
                                      format_func=lambda v, n=names: t("filter.all") if v is None else n[v]))


def filter_bar(show: tuple[str, ...] = ALL) -> queries.Filters | None:
    """Render the bar; returns the chosen Filters, or None when there is no data at all."""
    available = months()
    if not available:
        return None
    lang = current_lang()
    cols = iter(st.columns(len(show)))
    v: dict = {}
    if "month" in show:
        with next(cols):
            options = list(reversed(available))
            v["month"] = remember("f_month", st.selectbox(t("filter.month"), options, key=widget_key("f_month", options),
                                                          format_func=lambda m: month_label(m, lang)))
    if "branch" in show:
        br = read(queries.branches)
        options = list(br["id"]) if len(br) == 1 else [None] + list(br["id"])
        with next(cols):
            v["branch_id"] = _select("filter.branch", options, dict(zip(br["id"], br["name"])), "f_branch")
    if "township" in show:
        tw = read(queries.townships, v.get("branch_id"))
        with next(cols):
            v["township_code"] = _select("filter.township", [None] + list(tw["code"]), dict(zip(tw["code"], tw["name"])),
                                         "f_township")
    if "village" in show:
        vl = read(queries.villages, v["township_code"]) if v.get("township_code") else None
        with next(cols):
            v["village_code"] = _select("filter.village", [None] + ([] if vl is None else list(vl["code"])),
                                        {} if vl is None else dict(zip(vl["code"], vl["name"])), "f_village",
                                        disabled=vl is None)
    geographic = bool(v.get("township_code") or v.get("village_code"))
    if "product" in show:
        pr = products()
        with next(cols):
            v["product_id"] = _select("filter.product", [None] + list(pr["id"]),
                                      dict(zip(pr["id"], [value_label(n, lang) for n in pr["name"]])),
                                      "f_product", disabled=geographic, help=t("filter.geo_help") if geographic else None)
    if "segment" in show:
        with next(cols):
            v["segment"] = _select("filter.segment", [None] + list(queries.SEGMENTS),
                                   {sg: t(f"segment.{sg}") for sg in queries.SEGMENTS}, "f_segment",
                                   disabled=geographic, help=t("filter.geo_help") if geographic else None)
    if "guarantee" in show:
        with next(cols):
            v["guarantee_type"] = _select("filter.guarantee", [None] + list(queries.GUARANTEE_TYPES),
                                          {g: t(f"code.{g}_guarantee") for g in queries.GUARANTEE_TYPES}, "f_guarantee",
                                          disabled=geographic, help=t("filter.geo_help") if geographic else None)
    if geographic:
        v["product_id"] = v["segment"] = v["guarantee_type"] = None
    month = v.pop("month", available[-1])
    return queries.Filters(month=month, branch_id=_int(v.get("branch_id")), product_id=_int(v.get("product_id")),
                           segment=v.get("segment"), township_code=v.get("township_code"),
                           village_code=v.get("village_code"), guarantee_type=v.get("guarantee_type"))


def _int(x):
    return None if x is None else int(x)
