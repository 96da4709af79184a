"""催收管理 Collections: allocation (board, rules, capacity, the allocation run), performance by entry bucket, channel,
branch and agency, funnels, the agency league, litigation and write-offs."""
import streamlit as st

from components import collection_charts as cc, navigation
from components.collection_panels import allocation_tab, performance_tab
from components.conduct_panels import conduct_tab, league_tab
from components.filters import filter_bar
from components.plan_panels import plans_tab
from components.i18n import current_lang, t
from components.panels import empty_state
from components.session import read
from components.tables import Col, table
from data_access import collections as dc

navigation.guard("collections")
lang = current_lang()
st.title(t("page.collections"))
f = filter_bar(("month", "branch"))
if f is None:
    empty_state("db.empty")
    st.stop()
window = st.segmented_control(t("coll.window"), [3, 6, 12, 24], default=12, key="coll_window",
                              format_func=lambda n: t("coll.months", n=n)) or 12
st.caption(t("coll.cohort_note", n=window))

tabs = st.tabs([t("coll.tab.allocation"), t("coll.tab.performance"), t("coll.tab.funnel"), t("coll.tab.agencies"),
                t("conduct.tab"), t("plan.tab"), t("coll.tab.legal")])
with tabs[0]:
    allocation_tab(f, lang)
with tabs[1]:
    performance_tab(f, window, lang)
with tabs[2]:
    fun = read(dc.funnel, f, window)
    if fun.empty or fun["cases"].sum() == 0:
        empty_state()
    else:
        a, b = st.columns([1, 1.3])
        with a:
            channel = st.selectbox(t("coll.channel"), list(fun["channel"]), key="coll_funnel_channel",
                                   format_func=lambda c: cc.channel_label(c, lang))
            st.plotly_chart(cc.funnel_chart(fun.set_index("channel").loc[channel], channel, lang), key="coll_funnel")
        with b:
            st.plotly_chart(cc.channel_economics_chart(fun, lang), key="coll_channel_econ")
        shown = fun.assign(channel=[cc.channel_label(c, lang) for c in fun["channel"]], cost_per_100=fun["cost_per_yuan"] * 100)
        table(shown, {"channel": Col("coll.channel"), "cases": Col("coll.stage.cases", "count"),
                      "contact_rate": Col("coll.contact_rate", "rate"), "promise_rate": Col("coll.promise_rate", "rate"),
                      "kept_rate": Col("coll.kept_rate", "rate"), "pay_rate": Col("coll.pay_rate", "rate"),
                      "cure_rate": Col("coll.cure_rate", "rate"), "recovery_rate": Col("coll.recovery_rate", "rate"),
                      "recovered_amount": Col("coll.recovered_wan", "money_wan"), "cost": Col("coll.cost_wan", "money_wan"),
                      "cost_per_100": Col("coll.cost_per_100", "num2")},
              name=f"collection_funnel_{f.month}", height="fit")
with tabs[3]:
    league_tab(f, window)
with tabs[4]:
    conduct_tab(f, window, lang)
with tabs[5]:
    plans_tab(f, window, lang)
with tabs[6]:
    a, b = st.columns(2)
    with a:
        pipe = read(dc.litigation_pipeline, f, 36)
        if pipe.empty:
            empty_state()
        else:
            st.plotly_chart(cc.litigation_chart(pipe, lang), key="coll_litigation")
            st.caption(t("coll.litigation_note", open=int(pipe["open_cases"].sum()),
                         recovered=f"{pipe['recovered_amount'].sum() / 1e4:,.1f}"))
    with b:
        wo = read(dc.write_offs, f, 24)
        if wo.empty:
            empty_state()
        else:
            st.plotly_chart(cc.write_off_chart(wo, lang), key="coll_write_off")
            st.caption(t("coll.write_off_note", amount=f"{wo['balance_at_entry'].sum() / 1e4:,.1f}",
                         recovered=f"{wo['recovered_amount'].sum() / 1e4:,.1f}"))
