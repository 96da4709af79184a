"""The strategy lab's approval cut-off and limits simulator tab: levers, headline figures against the current
policy, trade-off curve, swap set, backtests, saved scenarios."""
from __future__ import annotations

import streamlit as st

from data_access import queries, strategy
from data_access.queries import Filters
from models import approval

from . import strategy_charts as sc
from .formatting import delta_pp, money as fmt_money, month_span, pct
from .i18n import t
from .panels import empty_state, model_missing
from .scenarios import compare, save_box
from .session import read
from .tables import Col, table

SEGMENTS = ("farmer", "grower", "business", "salaried")
GRADES = ("AAA", "AA", "A", "none")


def _levers(cells, default_cut: int) -> approval.Policy:
    lo, hi = int(cells["score_band"].min()), int(cells["score_band"].max())
    if "appr_cutoff" in st.session_state:  # a reopened scenario from another month may lie outside this one's range
        st.session_state["appr_cutoff"] = min(max(int(st.session_state["appr_cutoff"]), lo), hi)
    c = st.columns(4)
    cutoff = c[0].slider(t("appr.cutoff"), lo, hi, min(max(default_cut, lo), hi), approval.BAND, key="appr_cutoff",
                         help=t("appr.cutoff_help"))
    discount = c[1].slider(t("appr.ch_discount"), 0.0, 1.5, approval.CURRENT_CH_DISCOUNT * 100, 0.05,
                           key="appr_discount", help=t("appr.ch_discount_help")) / 100
    lgd = c[2].slider(t("appr.lgd"), 10, 90, int(approval.DEFAULT_LGD * 100), 5, key="appr_lgd") / 100
    funding = c[3].slider(t("appr.funding"), 1.0, 5.0, approval.DEFAULT_FUNDING * 100, 0.1, key="appr_funding",
                          help=t("appr.funding_help")) / 100
    e1, e2 = st.columns(2)
    with e1.expander(t("appr.segment_overrides")):
        cols = st.columns(2)
        shift = {sg: cols[i % 2].slider(t(f"segment.{sg}"), -60, 60, 0, approval.BAND, key=f"appr_seg_{sg}")
                 for i, sg in enumerate(SEGMENTS)}
    with e2.expander(t("appr.limit_multipliers")):
        cols = st.columns(2)
        mult = {g: cols[i % 2].slider(t("appr.grade", grade=t("appr.grade_none") if g == "none" else g), 0.5, 2.0,
                                      1.0, 0.1, key=f"appr_mult_{g}") for i, g in enumerate(GRADES)}
    return approval.Policy(cutoff=cutoff, segment_cutoffs={k: cutoff + v for k, v in shift.items() if v},
                           limit_multiplier={k: v for k, v in mult.items() if v != 1.0}, ch_discount=discount,
                           lgd=lgd, funding=funding)


def _kpis(now: dict, new: dict, lang: str) -> None:
    def money(v):  # five cards in a row: whole 万元, the unit still chosen by size
        return fmt_money(v, lang, 0 if abs(v) >= 1e4 and abs(v) < 1e8 else None)
    k = st.columns(5)
    k[0].metric(t("appr.approval_rate"), pct(new["approval_rate"], 1),
                delta=delta_pp((new['approval_rate'] - now['approval_rate']) * 100, 1, lang),
                help=t("lab.vs_baseline", v=pct(now["approval_rate"], 1)))
    k[1].metric(t("appr.expected_bad"), pct(new["bad_rate"]), delta=delta_pp((new['bad_rate'] - now['bad_rate']) * 100, 2, lang),
                delta_color="inverse", help=t("lab.vs_baseline", v=pct(now["bad_rate"])))
    k[2].metric(t("appr.expected_loss"), money(new["expected_loss"]),
                delta=money(new["expected_loss"] - now["expected_loss"]), delta_color="inverse",
                help=t("lab.vs_baseline", v=money(now["expected_loss"])))
    k[3].metric(t("appr.income"), money(new["income"]), delta=money(new["income"] - now["income"]),
                help=t("lab.vs_baseline", v=money(now["income"])))
    k[4].metric(t("appr.net_margin"), money(new["net_margin"]),
                delta=money(new["net_margin"] - now["net_margin"]),
                help=t("appr.net_margin_help", v=money(now["net_margin"]), pct=pct(new["margin_pct"])))


def render(f: Filters, lang: str) -> None:
    model = read(queries.model_summary, "application_scorecard")
    cells = read(strategy.approval_inputs, f, 12)
    if model is None:
        model_missing("appr.no_model")
        return
    if cells.empty:
        empty_state()
        return
    m = model["metrics"]
    st.caption(t("appr.intro", month=f.month, n=f"{int(cells['applications'].sum()):,}", version=model["version"],
                 auc=f"{m.get('auc', 0):.2f}"))
    policy = _levers(cells, approval.equal_rate_cutoff(cells))
    out = approval.simulate(cells, policy)
    now, new = out["current"], out["proposed"]
    _kpis(now, new, lang)
    a, b = st.columns([1.2, 1])
    a.plotly_chart(sc.tradeoff_chart(approval.tradeoff(cells), now, new, lang), key="appr_tradeoff")
    b.plotly_chart(sc.swap_chart(out["swap"], lang), key="appr_swap")
    # realised bad rates need 12 months on book: the same policy on the year before, whose outcomes are observed,
    # scored by the validated scorecard (trained only on months whose outcomes closed before that year) so that
    # the swap set's realised rates are out of sample; where that cannot be had, they are labelled in-sample
    oot = read(strategy.approval_backtest_cells, f, 12, 12)
    back_cells = oot["cells"] if not oot["in_sample"] else read(strategy.approval_inputs, f, 12, 12)
    swap = out["swap"].drop(columns=["known", "realised_bad_rate"])
    if not back_cells.empty:
        back_swap = approval.simulate(back_cells, policy)["swap"]
        swap = swap.merge(back_swap[["group", "known", "realised_bad_rate"]], on="group", how="left")
    else:
        swap = swap.assign(known=None, realised_bad_rate=None)
    swap["group"] = [t(f"appr.swap.{g}") for g in swap["group"]]
    # never observed (swap-in: the bank rejected them) reads as a dash, not as an empty number
    swap["realised_bad_rate"] = [pct(v) if v is not None and v == v else "—" for v in swap["realised_bad_rate"]]
    table(swap, {"group": Col("appr.group"), "applications": Col("appr.applications", "count"),
                 "amount": Col("appr.amount_wan", "money_wan"), "expected_bad_rate": Col("appr.expected_bad", "rate"),
                 "known": Col("appr.known", "count"), "realised_bad_rate": Col("appr.realised_bad")},
          name="approval_swap_set", height="fit")
    months = month_span(oot["months"], lang)
    if not oot["in_sample"]:
        st.caption(t("appr.swap_oot", months=months, label_to=oot["label_to"]))
    else:
        st.warning(t("appr.swap_in_sample", months=months))
    bt = m.get("approval_backtest")
    if bt:
        st.info(t("appr.backtest", months=month_span(bt["months"], lang), n=f"{bt['applications']:,}", pred=pct(bt["predicted"]),
                  real=pct(bt["realised"]), gap=f"{(bt['predicted'] - bt['realised']) * 100:+.2f}"))
    back = approval.backtest(back_cells)
    if back:
        st.caption(t("appr.backtest_in_sample", n=f"{back['known']:,}", pred=pct(back["predicted"]),
                     real=pct(back["realised"])))
    params = {"month": f.month, "branch_id": f.branch_id, "cutoff": policy.cutoff,
              "segment_cutoffs": policy.segment_cutoffs, "limit_multiplier": policy.limit_multiplier,
              "ch_discount": policy.ch_discount, "lgd": policy.lgd, "funding": policy.funding}
    save_box("approval", params, {
        "approval_rate": round(new["approval_rate"], 6), "bad_rate": round(new["bad_rate"], 6),
        "expected_loss": round(new["expected_loss"], 2), "income": round(new["income"], 2),
        "net_margin": round(new["net_margin"], 2), "baseline_approval_rate": round(now["approval_rate"], 6),
        "baseline_bad_rate": round(now["bad_rate"], 6), "baseline_net_margin": round(now["net_margin"], 2)})
    compare("approval", {"cutoff": ("appr.cutoff", "count"), "approval_rate": ("appr.approval_rate", "rate"),
                         "bad_rate": ("appr.expected_bad", "rate"), "baseline_bad_rate": ("appr.baseline_bad", "rate"),
                         "net_margin": ("appr.col_net_margin", "money_wan"),
                         "baseline_net_margin": ("appr.baseline_margin", "money_wan")}, levers=levers)


def levers(params: dict) -> dict:
    """A saved approval scenario's parameters as the values of this tab's sliders (segment cut-offs are shown as
    shifts from the cut-off, rates in per cent)."""
    cut = int(params.get("cutoff", 0))
    seg = params.get("segment_cutoffs") or {}
    mult = params.get("limit_multiplier") or {}
    return {"appr_cutoff": cut, "appr_discount": float(params.get("ch_discount", approval.CURRENT_CH_DISCOUNT)) * 100,
            "appr_lgd": int(round(float(params.get("lgd", approval.DEFAULT_LGD)) * 100)),
            "appr_funding": float(params.get("funding", approval.DEFAULT_FUNDING)) * 100,
            **{f"appr_seg_{sg}": max(-60, min(60, int(seg[sg]) - cut)) if sg in seg else 0 for sg in SEGMENTS},
            **{f"appr_mult_{g}": float(mult.get(g, 1.0)) for g in GRADES}}

