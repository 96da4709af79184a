"""网格地图 Grid map: county → township → village → households, coloured by a chosen metric, offline."""
import streamlit as st

from components import grid_nav, navigation, pii
from components.filters import remember, widget_key
from components.formatting import month_label
from components.i18n import current_lang, t
from components.map_layers import METRICS, grid_deck, legend_html
from components.panels import empty_state
from components.safe_text import t_md
from components.session import months, read
from components.tables import Col, table
from data_access import grid, queries

navigation.guard("grid_map")
lang = current_lang()
st.title(t("page.grid_map"))
available = months()
if not available:
    empty_state("db.empty")
    st.stop()
c1, c2, _ = st.columns([1, 1.4, 2])
month = remember("f_month", c1.selectbox(t("filter.month"), list(reversed(available)),
                                         key=widget_key("f_month", list(reversed(available))),
                                         format_func=lambda m: month_label(m, lang)))
metric = remember("map_metric", c2.selectbox(t("map.metric"), list(METRICS), key=widget_key("map_metric", list(METRICS)),
                                             format_func=lambda m: t(f"metric.{m}")))
if grid_nav.path() and grid_nav.path()[-1]["level"] == "county":
    st.toggle(t("map.all_villages"), key="grid_all_villages")
level, parent, grids = grid_nav.current(month)
grid_nav.breadcrumb()

if level == "household":
    village = grid_nav.path()[-1]
    st.subheader(t_md("map.households_of", village=village["name"]))
    f = st.columns([1, 1, 1, 1, 2], vertical_alignment="bottom")
    flags = {k: (True if f[i].checkbox(t(f"map.flt.{k}"), key=f"hh_{k}") else None)
             for i, k in enumerate(("line", "loan", "overdue", "warning"))}
    hh, _ = pii.gated_read("grid_households", queries.village_households, village["code"], flags["line"],
                           flags["loan"], flags["overdue"], flags["warning"], where=f[4])
    if hh.empty:
        empty_state()
        st.stop()
    st.caption(t("map.open_360"))
    shown = hh.assign(segment=[t(f"segment.{s}") for s in hh["segment"]], balance=hh["balance"] / 1e4,
                      deposit_balance=hh["deposit_balance"] / 1e4)
    event = st.dataframe(
        shown[["customer_no", "name", "phone", "segment", "balance", "max_dpd", "open_warnings", "deposit_balance"]],
        hide_index=True, width="stretch", height=520, on_select="rerun", selection_mode="single-row", key="hh_table",
        column_config={"customer_no": t("hh.customer_no"), "name": t("hh.name"), "phone": t("hh.phone"),
                       "segment": t("hh.segment"),
                       "balance": st.column_config.NumberColumn(t("hh.balance"), format="%.2f"),
                       "max_dpd": st.column_config.NumberColumn(t("hh.max_dpd"), format="%d"),
                       "open_warnings": st.column_config.NumberColumn(t("hh.warnings"), format="%d"),
                       "deposit_balance": st.column_config.NumberColumn(t("hh.deposit"), format="%.2f")})
    rows = event.selection.rows if event else []
    if rows:
        st.session_state["c360_customer_id"] = int(hh["id"].iloc[rows[0]])
        st.switch_page("pages/customer_360.py")
    st.stop()

if grids.empty:
    empty_state()
    st.stop()
st.caption(t("map.schematic"))
outline = read(grid.grid, month, grid_nav.path()[-1]["level"], None) if grid_nav.path() else None
outline_geom = None
if outline is not None and not outline.empty:
    match = outline[outline["code"] == parent]
    outline_geom = match["geometry"].iloc[0] if not match.empty else None
deck, legend = grid_deck(grids, metric, lang, read(grid.outlets), outline_geom)
# the ranking table beside the map needs room for its four columns: at 1600 px the right-hand one was cut off
# ("空港开发区…") in 1.15 of 3.15 parts of the page
left, right = st.columns([1.7, 1.3])
with left:
    event = st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object", key=f"map_{level}_{parent}",
                            height=620)
    picked = (event.selection.get("objects", {}) or {}).get("grids") if event else None
    if picked:
        grid_nav.open_grid(picked[0]["code"])
        st.rerun()
with right:
    st.markdown(legend_html(t(f"metric.{metric}"), legend), unsafe_allow_html=True)
    names = dict(zip(grids["code"], grids["name"]))
    target = st.selectbox(t("map.open"), [None] + list(grids["code"]), key=f"open_{level}_{parent}",
                          format_func=lambda c: "—" if c is None else names[c])
    if target:
        grid_nav.open_grid(target)
        st.rerun()
    st.subheader(t("map.ranking"))
    spec = METRICS[metric]
    ranked = grids.sort_values(metric, ascending=spec.kind == "category" or spec.good_when_high is False)
    kind = {"rate": "rate", "money": "money_wan", "count": "count"}.get(spec.kind, "text")
    table(ranked, {"name": Col("map.col.name"), metric: Col(f"metric.{metric}", kind),
                   "households": Col("metric.households", "count"), "npl_ratio": Col("metric.npl_ratio", "rate"),
                   # a village's responsible person is its manager; a township's or county's is a branch
                   "manager" if level == "village" else "branch": Col("map.col.manager" if level == "village"
                                                                        else "league.branch")},
          name=f"grid_{level}_{parent}_{metric}")
if spec.kind != "category":
    st.plotly_chart(grid_nav.comparison_chart(grids, metric, level, lang), key=f"cmp_{level}")
