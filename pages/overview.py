"""驾驶舱总览 Overview: headline KPIs with MoM / YoY, 24-month trends, branch league, today's attention list."""
import streamlit as st

from components import charts, navigation
from components.deviation_panels import overdue_npl_chart, ratio_cards
from components.attention import attention_list, league_style
from components.filters import filter_bar
from components.formatting import count_with_unit, money, month_label, pct, prev_month
from components.i18n import current_lang, t
from components.kpi_cards import Kpi, kpi_row
from components.panels import empty_state
from components.safe_text import md
from components.session import read
from components.shell import scope_label
from components.tables import Col, table
from data_access import deviation, kpi, provisions, queries

navigation.guard("overview")
lang = current_lang()
st.title(t("page.overview"))
f = filter_bar()
if f is None:
    empty_state("db.empty")
    st.stop()
st.caption(t("overview.caption", scope=md(scope_label()), month=month_label(f.month, lang)))

ov = deviation.add_overdue_ratios(read(queries.overview, f)).set_index("month")
if ov.empty or ov.loc[f.month, "balance"] == 0:
    empty_state()
    st.stop()
cur = ov.loc[f.month]
prev = ov.loc[prev_month(f.month)] if prev_month(f.month) in ov.index else None
ago = ov.loc[prev_month(f.month, 12)] if prev_month(f.month, 12) in ov.index else None


def rel(col):
    return (kpi.change(cur[col], prev[col]) if prev is not None else None,
            kpi.change(cur[col], ago[col]) if ago is not None else None)


def pp(col):
    return (kpi.change_pp(cur[col], prev[col]) if prev is not None else None,
            kpi.change_pp(cur[col], ago[col]) if ago is not None else None)


cards = [
    Kpi(t("kpi.balance"), money(cur["balance"], lang), *rel("balance"), "rel", True, t("kpi.help.balance")),
    Kpi(t("kpi.borrowers"), count_with_unit(cur["households_with_loan"], t("unit.households")), *rel("households_with_loan"),
        "rel", True, t("kpi.help.borrowers")),
    Kpi(t("kpi.coverage"), pct(cur["credit_coverage"], 1), *pp("credit_coverage"), "pp", True, t("kpi.help.coverage")),
    Kpi(t("kpi.usage"), pct(cur["usage_rate"], 1), *pp("usage_rate"), "pp", True, t("kpi.help.usage")),
    Kpi(t("kpi.usage_amount"), pct(cur["usage_amount_rate"], 1), *pp("usage_amount_rate"), "pp", True,
        t("kpi.help.usage_amount")),
    Kpi(t("kpi.disbursed"), money(cur["disbursed_amount"], lang), *rel("disbursed_amount"), "rel", True,
        t("kpi.help.disbursed")),
    Kpi(t("kpi.npl_ratio"), pct(cur["npl_ratio"]), *pp("npl_ratio"), "pp", False, t("kpi.help.npl_ratio")),
    Kpi(t("kpi.m1_ratio"), pct(cur["m1_ratio"]), *pp("m1_ratio"), "pp", False, t("kpi.help.m1_ratio")),
    Kpi(t("kpi.m2_ratio"), pct(cur["m2_ratio"]), *pp("m2_ratio"), "pp", False, t("kpi.help.m2_ratio")),
    Kpi(t("kpi.m3p_ratio"), pct(cur["m3p_ratio"]), *pp("m3p_ratio"), "pp", False, t("kpi.help.m3p_ratio")),
    Kpi(t("kpi.recovery"), pct(cur["recovery_rate"], 1), *pp("recovery_rate"), "pp", True, t("kpi.help.recovery")),
    # provisions are kept per branch and product, not per village: "—" on a township or village
    Kpi(t("kpi.provision_coverage"), "—" if f.geographic else pct(read(provisions.provisions, f)["totals"]["class_coverage"]),
        None, None, "pp", True, t("kpi.help.provision_coverage")),
    Kpi(t("kpi.open_warnings"), count_with_unit(cur["open_warnings"], t("unit.items")), *rel("open_warnings"), "rel", False,
        t("kpi.help.open_warnings")),
    Kpi(t("kpi.tasks_overdue"), count_with_unit(cur["tasks_overdue"], t("unit.items")), *rel("tasks_overdue"), "rel", False,
        t("kpi.help.tasks_overdue")),
]
kpi_row(cards[:7], per_row=7)
kpi_row(cards[7:], per_row=7)
if not f.geographic and (f.product_id is not None or f.segment is not None or f.guarantee_type is not None):
    # the household and collection marts are not split by product: say so rather than show them as the product's
    st.caption(t("overview.all_products_note",
                 scope=t("overview.scope_branch") if f.branch_id is not None else scope_label()))
# regulatory asset-quality ratios (五级分类偏离: above 100 % reads as under-classification)
kpi_row(ratio_cards(ov.reset_index(), f.month, prev_month(f.month), prev_month(f.month, 12)), per_row=7)

st.subheader(t("overview.trend"))
trend = ov.reset_index()
c1, c2, c3 = st.columns(3)
c1.plotly_chart(charts.balance_npl_chart(trend, lang), width="stretch", key="ch_balance")
c2.plotly_chart(charts.overdue_chart(trend, lang), width="stretch", key="ch_overdue")
c3.plotly_chart(charts.coverage_chart(trend, lang), width="stretch", key="ch_coverage")
league = read(queries.branch_league, f.month, prev_month(f.month), prev_month(f.month, 12))
# today's attention list beside the fourth chart, so that the league below has the page's full width: at 1600 px
# its last columns were cut off beside the list
c4, right = st.columns([1, 2])
c4.plotly_chart(overdue_npl_chart(trend, lang), width="stretch", key="ch_overdue_npl")
with right:
    st.subheader(t("overview.attention"))
    attention_list(f, league)

st.subheader(t("overview.league"))
table(league, {"branch": Col("league.branch"), "balance": Col("league.balance", "money_wan"),
               "growth_mom": Col("league.growth_mom", "change"), "growth_yoy": Col("league.growth_yoy", "change"),
               "npl_ratio": Col("league.npl_ratio", "rate"), "npl_change_pp": Col("league.npl_change", "pp"),
               "overdue_ratio": Col("league.overdue_ratio", "rate"), "recovery_rate": Col("league.recovery", "rate"),
               "households_with_loan": Col("league.borrowers", "count"),
               "tasks_overdue": Col("league.tasks_overdue", "count")},
      name=f"branch_league_{f.month}", styler=league_style, height="fit")
