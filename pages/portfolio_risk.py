"""资产质量 Portfolio risk: five categories, DPD buckets, roll rates and migration, vintages, concentration."""
import dataclasses

import pandas as pd
import streamlit as st

from components import navigation, pii, risk_charts as rc
from components.deviation_panels import deviation_tab
from components.filters import filter_bar
from components.formatting import money, month_label, pct
from components.i18n import current_lang, t, value_label
from components.kpi_cards import Kpi, kpi_row
from components.g11_panel import g11_section
from components.panels import empty_state
from components.provision_panels import provisions_tab
from components.session import products, read
from components.tables import Col, table
from data_access import deviation, grid, kpi, queries, regulatory

navigation.guard("portfolio_risk")
lang = current_lang()
st.title(t("page.portfolio_risk"))
f = filter_bar(("month", "branch", "township", "village", "product", "segment", "guarantee"))
if f is None:
    empty_state("db.empty")
    st.stop()
by_class = read(queries.portfolio_breakdown, f, "class5")
if by_class.empty or by_class["balance"].sum() == 0:
    empty_state()
    st.stop()
by_bucket = read(queries.portfolio_breakdown, f, "bucket")
mig = read(queries.migration_trend, f, 12)
last_pair = mig[mig["month"] == queries.shift_month(f.month, -1)]
ytd = read(queries.migration_ytd, f, 1)
cbirc = kpi.cbirc_migration_rates(ytd if not ytd.empty else last_pair)
cbirc_card = "risk.cbirc_card" if not ytd.empty else "risk.cbirc_card_month"  # the card names its window
balance = by_class["balance"].sum()
kpi_row([Kpi(t("kpi.balance"), money(balance, lang), None, None, "rel", None),
         Kpi(t("kpi.npl_ratio"), pct(kpi.npl_ratio(kpi.npl_balance(by_class), balance)), None, None, "pp", False),
         Kpi(t("risk.special_mention"), pct(kpi.class5_distribution(by_class)[2]), None, None, "pp", False),
         Kpi(t("kpi.overdue_ratio"), pct(kpi.overdue_ratio(by_bucket)), None, None, "pp", False),
         Kpi(t(cbirc_card, name=t("risk.cbirc.0")), pct(cbirc[0]), None, None, "pp", False),
         Kpi(t(cbirc_card, name=t("risk.cbirc.1")), pct(cbirc[1]), None, None, "pp", False)], per_row=6)

branch_level = dataclasses.replace(f, township_code=None, village_code=None)  # marts kept per branch
if f.geographic:
    st.caption(t("risk.geo_note"))
tabs = st.tabs([t("risk.tab.quality"), t("risk.tab.roll"), t("risk.tab.vintage"), t("risk.tab.concentration"),
                t("risk.tab.cbirc"), t("prov.tab"), t("dev.tab")])
with tabs[0]:
    a, b = st.columns(2)
    a.plotly_chart(rc.distribution_chart(by_class, "class5", lang), key="r_class")
    b.plotly_chart(rc.distribution_chart(by_bucket, "bucket", lang), key="r_bucket")
    st.subheader(t("risk.by_branch"))
    br = read(queries.portfolio_breakdown, branch_level, "branch_id").merge(read(queries.branches), left_on="branch_id",
                                                                 right_on="id")
    br["npl_ratio"] = [kpi.npl_ratio(n, b_) for n, b_ in zip(br["npl_balance"], br["balance"])]
    br["overdue_ratio"] = [kpi.ratio(o, b_) for o, b_ in zip(br["overdue_balance"], br["balance"])]
    table(br.sort_values("npl_ratio", ascending=False), {"name": Col("league.branch"), "balance": Col("league.balance", "money_wan"),
          "npl_ratio": Col("league.npl_ratio", "rate"), "overdue_ratio": Col("league.overdue_ratio", "rate"),
          "loans": Col("risk.loans", "count")}, name=f"risk_by_branch_{f.month}", height="fit")
    with st.expander(t("risk.loan_list")):
        c1, c2 = st.columns(2)
        worst = c1.selectbox(t("risk.min_bucket"), [0, 1, 2, 3, 4], index=1, key="r_min_bucket",
                             format_func=lambda b: {0: "M0+", 1: "M1+", 2: "M2+", 3: "M3+", 4: "M4+"}[b])
        loans, purpose = pii.gated_read("risk_loan_list", queries.loan_list, f.month, f.branch_id, None, worst, 2000,
                                        where=c2)
        if loans.empty:
            st.caption(t("risk.rows_not_permitted"))
        else:
            loans = loans.assign(class5=[rc.class_names(lang).get(c, c) for c in loans["class5"]])
            table(loans, {"loan_no": Col("col.loan_no"), "customer_no": Col("hh.customer_no"), "name": Col("hh.name"),
                          "balance": Col("col.balance", "money_wan"), "dpd": Col("hh.max_dpd", "count"),
                          "class5": Col("c360.class")}, name=f"loan_list_{f.month}_M{worst}", height=360,
                  purpose=purpose)
with tabs[1]:
    rates = pd.DataFrame([{"month": queries.shift_month(m, 1), "bucket": k, "rate": r}
                          for m, g in mig.groupby("month") for k, r in kpi.roll_rates(g).items()])
    st.plotly_chart(rc.roll_trend_chart(rates, lang), key="r_roll_trend")
    a, b = st.columns(2)
    a.plotly_chart(rc.matrix_chart(kpi.roll_rate_matrix(last_pair, "bucket"), "bucket", lang), key="r_roll_matrix")
    b.plotly_chart(rc.matrix_chart(kpi.roll_rate_matrix(last_pair, "class"), "class", lang), key="r_class_matrix")
    st.caption(t("risk.roll_help", month=month_label(queries.shift_month(f.month, -1), lang),
                 next=month_label(f.month, lang)))
    with st.expander(t("risk.matrix_export")):
        for state in ("bucket", "class"):
            mat = kpi.roll_rate_matrix(last_pair, state)
            names = {**(rc.class_names(lang) if state == "class" else kpi.BUCKETS), **rc.CLOSED[(state, lang)]}
            flat = mat.rename(index=names, columns=names).reset_index(names=t("risk.from")).fillna(0.0)
            table(flat, {t("risk.from"): Col("risk.from"), **{c: Col(str(c), "rate", raw=True) for c in flat.columns[1:]}},
                  name=f"migration_{state}_{f.month}", height="fit")
with tabs[2]:
    measure = st.radio(t("risk.vintage_measure"), ["ever30", "ever90"], horizontal=True, key="r_vintage_measure",
                       format_func=lambda m: t(f"risk.{m}_pct"))
    curves = kpi.vintage_curves(read(queries.vintage, f), measure)
    if curves.empty:
        empty_state()
    else:
        st.plotly_chart(rc.vintage_chart(curves, measure, lang), key="r_vintage")
        shown = curves.iloc[-12:, :13].astype(float)
        shown.columns = [f"MOB{c}" for c in shown.columns]
        shown = shown.reset_index(names=t("risk.cohort"))
        table(shown, {t("risk.cohort"): Col("risk.cohort"), **{c: Col(c, "rate", raw=True) for c in shown.columns[1:]}},
              name=f"vintage_{measure}_{f.month}", height="fit")
with tabs[3]:
    a, b = st.columns(2)
    with a:
        st.subheader(t("risk.top_borrowers"))
        top, purpose = pii.gated_read("risk_top_borrowers", queries.top_borrowers, f.month, f.branch_id, 20)
        if top.empty:
            st.caption(t("risk.rows_not_permitted"))
        else:
            table(top.assign(segment=[t(f"segment.{x}") for x in top["segment"]]),
                  {"customer_no": Col("hh.customer_no"), "name": Col("hh.name"), "segment": Col("hh.segment"),
                   "balance": Col("col.balance", "money_wan"), "max_dpd": Col("hh.max_dpd", "count")},
                  name=f"top_borrowers_{f.month}", purpose=purpose)
            st.caption(t("risk.top_share", share=pct(top["balance"].sum() / balance)))
        st.subheader(t("risk.by_industry"))
        ind = read(queries.industry_breakdown, f)
        ind["share"] = ind["balance"] / ind["balance"].sum()
        ind["npl_ratio"] = [kpi.npl_ratio(n, b_) for n, b_ in zip(ind["npl_balance"], ind["balance"])]
        ind = ind.assign(industry=[value_label(x, lang) for x in ind["industry"]])
        table(ind, {"industry": Col("risk.industry"), "balance": Col("league.balance", "money_wan"),
                    "share": Col("risk.share", "rate"), "npl_ratio": Col("league.npl_ratio", "rate"),
                    "borrowers": Col("league.borrowers", "count")}, name=f"risk_by_industry_{f.month}", height="fit")
        tw = read(grid.grid, f.month, "township", None)
        if f.branch_id is not None:
            tw = tw[tw["branch"] == next(iter(read(queries.branches).query(f"id == {f.branch_id}")["name"]), None)]
        area = "township"
        if len(tw) == 1:  # a branch of one township (a branch leader's usual view): its villages say more
            tw, area = read(grid.grid, f.month, "village", tw["code"].iloc[0]), "village"
        st.subheader(t(f"risk.by_{area}"))
        tw = tw.assign(share=tw["balance"] / max(tw["balance"].sum(), 1)).sort_values("balance", ascending=False)
        table(tw, {"name": Col(f"risk.{area}"), "balance": Col("league.balance", "money_wan"),
                   "share": Col("risk.share", "rate"), "npl_ratio": Col("league.npl_ratio", "rate"),
                   "households_with_loan": Col("league.borrowers", "count")}, name=f"risk_by_{area}_{f.month}")
    with b:
        st.subheader(t("risk.by_segment"))
        seg = read(queries.portfolio_breakdown, branch_level, "segment")
        seg["share"] = seg["balance"] / seg["balance"].sum()
        seg["npl_ratio"] = [kpi.npl_ratio(n, b_) for n, b_ in zip(seg["npl_balance"], seg["balance"])]
        table(seg.assign(segment=[t(f"segment.{x}") for x in seg["segment"]]),
              {"segment": Col("hh.segment"), "balance": Col("league.balance", "money_wan"),
               "share": Col("risk.share", "rate"), "npl_ratio": Col("league.npl_ratio", "rate")},
              name=f"risk_by_segment_{f.month}", height="fit")
        st.subheader(t("risk.by_product"))
        prod = read(queries.portfolio_breakdown, branch_level, "product_id").merge(products(), left_on="product_id",
                                                                        right_on="id")
        prod["share"] = prod["balance"] / prod["balance"].sum()
        prod["npl_ratio"] = [kpi.npl_ratio(n, b_) for n, b_ in zip(prod["npl_balance"], prod["balance"])]
        prod = prod.assign(name=[value_label(x, lang) for x in prod["name"]])
        table(prod, {"name": Col("col.product"), "balance": Col("league.balance", "money_wan"),
                     "share": Col("risk.share", "rate"), "npl_ratio": Col("league.npl_ratio", "rate")},
              name=f"risk_by_product_{f.month}", height="fit")
with tabs[4]:
    mig_tables = read(regulatory.migration_rate_table, f, 12)
    for key in ("ytd", "qtd", "monthly"):
        st.markdown(f"**{t(f'risk.cbirc_{key}')}**")
        if mig_tables[key].empty:
            st.caption(t("risk.cbirc_none"))
            continue
        table(mig_tables[key], {"month": Col("col.month"),
                                **{f"c{c}": Col(f"risk.cbirc.{c}", "rate") for c in kpi.CBIRC_RATES}},
              name=f"cbirc_{key}_{f.month}", height="fit")
    st.markdown(t("risk.cbirc_help"))
    st.subheader(t("risk.new_npl"))
    new_all = read(regulatory.new_loan_npl, f)
    if new_all.empty or new_all["amount"].sum() == 0:
        st.caption(t("risk.new_npl_none"))
    else:
        st.caption(t("risk.new_npl_total", year=f.month[:4], rate=pct(new_all["rate"].iloc[0]),
                     amount=money(new_all["amount"].iloc[0], lang)))
        cols = {"amount": Col("risk.new_npl_amount", "money_wan"), "npl_balance": Col("risk.new_npl_npl", "money_wan"),
                "disposed_npl": Col("risk.new_npl_disposed", "money_wan"), "rate": Col("risk.new_npl_rate", "rate")}
        a, b = st.columns(2)
        with a:
            nb = read(regulatory.new_loan_npl, branch_level, "branch_id").merge(read(queries.branches), left_on="branch_id",
                                                                                right_on="id")
            table(nb.sort_values("rate", ascending=False), {"name": Col("league.branch"), **cols},
                  name=f"new_npl_branch_{f.month}", height="fit" if len(nb) <= 20 else 500)
        with b:
            npr = read(regulatory.new_loan_npl, branch_level, "product_id").merge(products(), left_on="product_id",
                                                                                  right_on="id")
            table(npr, {"name": Col("col.product"), **cols}, name=f"new_npl_product_{f.month}", height="fit")
    st.caption(t("risk.new_npl_help"))
    g11_section(f.month)
with tabs[5]:
    provisions_tab(branch_level, lang)
with tabs[6]:
    deviation_tab(f, deviation.add_overdue_ratios(read(queries.overview, f)), lang)
