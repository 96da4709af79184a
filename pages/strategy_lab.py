"""策略实验室 Strategy lab: what-if simulators on validated models, each against the current policy, with its
backtest beside it; scenarios saved by name and compared."""
import pandas as pd
import streamlit as st

from components import collection_charts as cc, lab_approval, navigation, strategy_charts as sc
from components.filters import filter_bar
from components.formatting import delta_money, delta_pp, money, pct, validation_months
from components.i18n import current_lang, t
from components.panels import empty_state, model_missing
from components.provision_panels import provision_stress_row
from components.scenarios import compare, save_box
from components.strategy_tests import tests_tab
from components.session import engine, read
from data_access import queries, strategy
from data_access.queries import Filters, shift_month
from models import allocation, rollrate
from models.behaviour_pd import caught_at

navigation.guard("strategy_lab")
lang = current_lang()
st.title(t("page.strategy_lab"))
f = filter_bar(("month", "branch"))
if f is None:
    empty_state("db.empty")
    st.stop()


def npl_tab():
    st.caption(t("lab.npl_intro"))
    c1, c2, c3 = st.columns(3)
    stress = c1.slider(t("lab.stress"), 0.5, 3.0, 1.0, 0.1, key="lab_stress", help=t("lab.stress_help"))
    volume = c2.slider(t("lab.volume"), 0.0, 2.0, 1.0, 0.1, key="lab_volume", help=t("lab.volume_help"))
    horizon = c3.slider(t("lab.horizon"), 3, 24, 12, 1, key="lab_horizon")
    inp = read(strategy.rollrate_inputs, f, 12)
    if inp["transitions"].empty or inp["book"].empty:
        empty_state()
    else:
        base = rollrate.simulate_inputs(inp, f.month, horizon)
        prop = rollrate.simulate_inputs(inp, f.month, horizon, stress, volume)
        k = st.columns(4)
        k[0].metric(t("lab.npl_now"), pct(base.npl[0]))
        gap = (prop.npl[-1] - base.npl[-1]) * 100
        k[1].metric(t("lab.npl_end", n=horizon), pct(prop.npl[-1]), delta=delta_pp(gap, 2, lang) if abs(gap) >= 0.005 else None,
                    delta_color="inverse", help=t("lab.vs_baseline", v=pct(base.npl[-1])))
        k[2].metric(t("lab.band_end"), f"{pct(prop.npl_low[-1])} – {pct(prop.npl_high[-1])}")
        k[3].metric(t("lab.balance_end", n=horizon), money(prop.balance[-1].sum(), lang))
        if prop.classes is not None:
            provision_stress_row(prop, base, horizon, lang)
        a, b = st.columns([1.4, 1])
        a.plotly_chart(sc.npl_projection_chart(prop, base, inp["realised"], lang), key="lab_npl")
        b.plotly_chart(sc.bucket_path_chart(prop, lang), key="lab_buckets")
        # backtest: the same simulator started six months ago, against what then happened
        start = shift_month(f.month, -6)
        back = read(strategy.rollrate_inputs, Filters(month=start, branch_id=f.branch_id), 12)
        real = inp["realised"].set_index("month")
        if not back["transitions"].empty and f.month in real.index:
            bt = rollrate.simulate_inputs(back, start, 6)
            actual = real.loc[f.month, "npl_balance"] / real.loc[f.month, "balance"]
            st.info(t("lab.npl_backtest", start=start, month=f.month, pred=pct(bt.npl[-1]), actual=pct(actual),
                      gap=f"{(bt.npl[-1] - actual) * 100:+.2f}"))
        save_box("npl_stress", {"month": f.month, "branch_id": f.branch_id, "stress": stress, "volume": volume,
                                "horizon": horizon},
                 {"npl_end": round(float(prop.npl[-1]), 6), "npl_low": round(float(prop.npl_low[-1]), 6),
                  "npl_high": round(float(prop.npl_high[-1]), 6), "baseline_npl_end": round(float(base.npl[-1]), 6)})
        compare("npl_stress", {"stress": ("lab.stress", "num2"), "volume": ("lab.volume", "num2"),
                               "horizon": ("lab.horizon", "count"), "npl_end": ("lab.col_npl_end", "rate"),
                               "baseline_npl_end": ("lab.col_baseline", "rate")},
                levers=lambda p: {"lab_stress": float(p.get("stress", 1.0)), "lab_volume": float(p.get("volume", 1.0)),
                                  "lab_horizon": int(p.get("horizon", 12))})

def inspection_tab():
    model = read(queries.model_summary, "behaviour_pd")
    if model is None:
        model_missing("ew.no_model")
    else:
        m = model["metrics"]
        st.caption(t("lab.inspection_intro", valid=validation_months(m, lang), auc=f"{m['auc']:.2f}"))
        share = st.slider(t("lab.inspect_share"), 0.5, 30.0, 5.0, 0.5, key="lab_share", help=t("lab.inspect_help")) / 100
        caught = caught_at(m["capture"], share)
        base_n = read(strategy.inspection_base, f)
        per_manager = share * base_n["scored_loans"] / max(1, base_n["managers"])
        per = m["periodic"]
        k = st.columns(4)
        k[0].metric(t("lab.caught"), pct(caught, 0), delta=delta_pp((caught - per['caught']) * 100, 0, lang),
                    help=t("lab.vs_periodic", w=pct(per["workload"], 0), c=pct(per["caught"], 0)))
        k[1].metric(t("lab.workload"), pct(share, 1), delta=delta_pp((share - per['workload']) * 100, 0, lang),
                    delta_color="inverse")
        k[2].metric(t("lab.tasks_per_manager"), f"{per_manager:.1f}" if base_n["managers"] else "—",
                    help=t("lab.tasks_help"))
        k[3].metric(t("lab.efficiency"), f"{caught / share:.1f}×" if share else "—", help=t("lab.efficiency_help"))
        st.plotly_chart(sc.capture_chart(m["capture"], per, share, caught, lang), key="lab_capture")
        st.info(t("lab.inspection_backtest", valid=validation_months(m, lang)))
        save_box("inspection", {"month": f.month, "share": share},
                 {"caught": round(caught, 4), "periodic_caught": per["caught"], "periodic_workload": per["workload"]})
        compare("inspection", {"share": ("lab.workload", "rate"), "caught": ("lab.caught", "rate"),
                               "periodic_caught": ("lab.periodic_caught", "rate")},
                levers=lambda p: {"lab_share": round(float(p.get("share", 0.05)) * 200) / 2})

def collection_tab():
    loaded = allocation.active_model(engine())
    inp = read(strategy.allocation_inputs, f)
    if loaded is None:
        model_missing("lab.no_propensity")
    elif inp["cases"].empty:
        empty_state()
    else:
        model_id, model = loaded
        st.caption(t("lab.collection_intro", month=f.month, n=len(inp["cases"])))
        c = st.columns(5)
        scale = {ch: c[i].slider(t("lab.cap", channel=cc.channel_label(ch, lang)), 0.0, 3.0, 1.0, 0.1, key=f"lab_cap_{ch}")
                 for i, ch in enumerate(("ai_voice", "phone", "field", "agency"))}
        commission = c[4].slider(t("lab.commission"), 0.5, 2.0, 1.0, 0.05, key="lab_commission")
        # the model's predictions do not depend on the sliders: once per model and month, kept in the session
        key = ("lab_prepared", model_id, f.month, f.branch_id, len(inp["cases"]))
        if st.session_state.get("lab_prepared_key") != key:
            prepared = allocation.prepare(model, inp["cases"], inp["options"])
            st.session_state["lab_prepared"] = prepared
            st.session_state["lab_now"] = allocation.what_if(prepared, inp["cases"], inp["options"], inp["rules"])
            st.session_state["lab_prepared_key"] = key
        prepared, now = st.session_state["lab_prepared"], st.session_state["lab_now"]
        new = allocation.what_if(prepared, inp["cases"], inp["options"], inp["rules"], scale, commission)
        base = now["rules"]
        k = st.columns(4)
        k[0].metric(t("lab.net_opt"), money(new["optimised"]["net"], lang),
                    delta=delta_money(new["optimised"]["net"] - base["net"], lang), help=t("lab.vs_rules", v=money(base["net"], lang)))
        k[1].metric(t("lab.net_rules_new"), money(new["rules"]["net"], lang))
        k[2].metric(t("lab.cost"), money(new["optimised"]["cost"], lang),
                    delta=delta_money(new["optimised"]["cost"] - base["cost"], lang), delta_color="inverse")
        k[3].metric(t("lab.queued"), f"{new['optimised']['queued']:,}", help=t("lab.queued_help"))
        st.plotly_chart(cc.run_compare_chart(pd.concat([new["optimised"]["lines"], now["rules"]["lines"]]), lang,
                                             "lab.alloc_chart", {"rules": "lab.baseline_rules", "optimised": "lab.proposed"}),
                        key="lab_alloc_chart")
        bt = (read(queries.model_summary, "propensity_to_pay") or {}).get("metrics", {}).get("recovery_backtest")
        if bt:
            st.info(t("lab.collection_backtest", months=bt["months"], n=bt["cases"], pred=money(bt["predicted"], lang),
                      real=money(bt["realised"], lang), gap=pct(bt["predicted"] / bt["realised"] - 1, 1)))
        save_box("collection", {"month": f.month, **{f"cap_{k_}": v for k_, v in scale.items()}, "commission": commission},
                 {"net": round(new["optimised"]["net"], 2), "rules_net": round(base["net"], 2),
                  "cost": round(new["optimised"]["cost"], 2), "queued": new["optimised"]["queued"]})
        compare("collection", {"cap_phone": ("lab.cap_phone", "num2"), "cap_field": ("lab.cap_field", "num2"),
                               "cap_agency": ("lab.cap_agency", "num2"), "net": ("lab.net_opt", "money_wan"),
                               "rules_net": ("lab.col_rules_net", "money_wan")},
                levers=lambda p: {**{f"lab_cap_{ch}": float(p.get(f"cap_{ch}", 1.0)) for ch in scale},
                                  "lab_commission": float(p.get("commission", 1.0))})


# each simulator runs only while its tab is open (a stateful tab set reruns on a switch), so the page opens with one
# simulator computed instead of four
tabs = st.tabs([t("lab.tab.approval"), t("lab.tab.inspection"), t("lab.tab.collection"), t("lab.tab.npl"),
                t("test.tab")], key="lab_tab", on_change="rerun")
for tab, draw in zip(tabs, (lambda: lab_approval.render(f, lang), inspection_tab, collection_tab, npl_tab,
                            lambda: tests_tab(lang))):
    if tab.open:
        with tab, st.spinner(t("lab.computing")):
            draw()
