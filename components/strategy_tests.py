"""The Strategy lab's champion/challenger tab: a new test (head office), the tests, each arm's results with
intervals, lift, significance and months still needed, the simulator's prediction for the arms beside what they
recovered, and promotion."""
from __future__ import annotations

import math
import secrets

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import experiments as ex

from .charts import apply_theme
from .formatting import month_label, month_span
from .i18n import code_label, current_lang, t, translate
from .panels import empty_state
from .session import engine, read, scope
from .tables import Col, table


def arm_label(arm: str) -> str:
    return t(f"test.arm.{arm}")


def params_text(arm: str, params: dict | None, lang: str) -> str:
    """A strategy's parameters as the reader says them: 委外≤15% · M1、M2先AI语音→短信 · 外访+20%."""
    p = params or {}
    sep = translate("test.param.sep", lang)
    if arm == "channel_mix":
        return sep.join(translate("test.param.mix_item", lang, channel=code_label(c, lang), share=f"{v:.0%}")
                        for c, v in p.get("max_share", {}).items())
    if arm == "digital":
        return translate("test.param.digital", lang, buckets=sep.join(f"M{b}" for b in p.get("buckets", [])),
                         channels=" → ".join(code_label(c, lang) for c in p.get("channels", [])))
    if arm == "capacity":
        return sep.join(translate("test.param.capacity_item", lang, channel=code_label(c, lang), change=f"{v - 1:+.0%}")
                        for c, v in p.get("scale", {}).items())
    return ""


def arm_text(arm: str, params: dict | None = None, lang: str | None = None) -> str:
    """The arm's strategy with its parameters, e.g. 渠道结构调整(委外≤15%)."""
    lang = lang or current_lang()
    name = translate(f"test.arm.{arm}", lang)
    detail = params_text(arm, params, lang)
    return translate("test.arm_with", lang, arm=name, params=detail) if detail else name


def refusal(exc: ex.ExperimentError) -> str:
    """The refusal's message with its values in the reader's words (an arm's strategy by its name)."""
    values = dict(exc.values)
    if "arm" in values:
        values["arm"] = arm_label(values["arm"])
    if "month" in values:
        values["month"] = month_label(values["month"], current_lang())
    return t(exc.key, **values)


def lift_chart(res: pd.DataFrame, lang: str) -> go.Figure:
    """Each challenger's recovery-rate lift over the champion with its 95 % interval (percentage points)."""
    ch = res[res["role"] == "challenger"]
    fig = go.Figure()
    fig.add_scatter(x=[translate(f"test.arm.{a}", lang) for a in ch["arm"]], y=ch["lift"] * 100, mode="markers",
                    marker=dict(size=12, color="#1f5fa8"), name=translate("test.lift", lang),
                    error_y=dict(type="data", symmetric=False, array=(ch["lift_high"] - ch["lift"]) * 100,
                                 arrayminus=(ch["lift"] - ch["lift_low"]) * 100),
                    hovertemplate="%{x}: %{y:+.2f} " + translate("test.pp", lang))
    fig.add_hline(y=0, line_dash="dot", line_color="#9ca3af")
    fig.update_yaxes(title_text=translate("test.lift_axis", lang))
    return apply_theme(fig, translate("test.lift_chart", lang), lang, height=300)


def tests_tab(lang: str) -> None:
    st.caption(t("test.intro"))
    flash = st.session_state.pop("test_flash", None)
    if flash:
        st.success(flash)
    tests = read(ex.tests)
    if scope().role == "head_office":
        with st.expander(t("test.new"), expanded=tests.empty, icon=":material/add_circle:"):
            new_test_form(lang)
    else:
        st.caption(t("test.read_only"))
    if tests.empty:
        empty_state("test.none")
        return
    st.markdown(f"**{t('test.list_title')}**")
    listing = tests.assign(
        arms_text=[" / ".join(f"{arm_text(a, ps.get(a), lang)} {float(x):.0%}" for a, x in zip(arms_, sh.split(",")))
                   for arms_, ps, sh in zip(tests["arms"], tests["arm_params"], tests["shares"])],
        months_text=[month_span(a if a == b else f"{a}..{b}", lang) for a, b in zip(tests["first_month"],
                                                                                     tests["last_month"])],
        measure_text=[t(f"test.measure.{m}") for m in tests["measure"]],
        status_text=[t(f"test.status.{x}") for x in tests["status"]],
        matures_text=[str(d) for d in tests["matures_on"]])
    table(listing, {"name": Col("test.col.name"), "arms_text": Col("test.col.arms"),
                    "months_text": Col("test.col.months"), "measure_text": Col("test.measure"),
                    "status_text": Col("test.col.status"), "matures_text": Col("test.col.matures"),
                    "seed": Col("test.seed", "text"), "created_by": Col("test.col.by")},
                name="strategy_tests", height="fit")
    labels = {int(r.id): f"{r.name} · {r.first_month}–{r.last_month} · {t('test.status.' + r.status)}"
              for r in tests.itertuples()}
    index = next((i for i, r in enumerate(tests.itertuples()) if r.status != "running"), 0)
    chosen = st.session_state.pop("test_pick_next", None)
    if chosen in labels:  # the test just created (set before the box exists, so no default competes with it)
        st.session_state["test_pick"] = chosen
        index = 0
    test_id = st.selectbox(t("test.pick"), list(labels), format_func=labels.get, key="test_pick", index=index)
    row = tests.set_index("id").loc[test_id]
    arms = row["arms"]
    params = row["arm_params"]
    months = _months(row["first_month"], row["last_month"])
    st.markdown(t("test.card", champion=arm_text(arms[0], params.get(arms[0]), lang),
                  challengers="、".join(arm_text(a, params.get(a), lang) for a in arms[1:]),
                  shares=" / ".join(f"{float(x):.0%}" for x in row["shares"].split(",")), seed=int(row["seed"]),
                  measure=t(f"test.measure.{row['measure']}"), matures=str(row["matures_on"]),
                  by=row["created_by"]))
    cases = read(ex.arm_cases, test_id)
    if cases.empty:
        st.info(t("test.no_cases"))
        return
    res = ex.results(cases, arms, int(row["seed"]), months, row["measure"])
    shown = res.assign(arm=[arm_text(a, params.get(a), lang) for a in res["arm"]],
                       lift_ci=[_ci(r) for r in res.itertuples()],
                       cure_ci=[_ci(r, "cure_") for r in res.itertuples()],
                       verdict=[_verdict(r) for r in res.itertuples()])
    table(shown, {"arm": Col("test.arm"), "cases": Col("coll.stage.cases", "count"),
                  "overdue": Col("test.overdue_wan", "money_wan"), "recovered": Col("coll.recovered_wan", "money_wan"),
                  "cost": Col("coll.cost_wan", "money_wan"), "net": Col("test.net_wan", "money_wan"),
                  "recovery_rate": Col("coll.recovery_rate", "rate"), "cure_rate": Col("coll.cure_rate", "rate"),
                  "cost_per_100": Col("coll.cost_per_100", "num2"), "lift_ci": Col("test.lift_ci"),
                  "cure_ci": Col("test.cure_ci"),
                  "verdict": Col("test.verdict")}, name=f"strategy_test_{test_id}", height="fit")
    a, b = st.columns([1, 1])
    with a:
        if (res["role"] == "challenger").any() and res["lift"].notna().any():
            st.plotly_chart(lift_chart(res, lang), key="test_lift")
    with b:
        pred = read(ex.predicted, test_id)
        if not pred.empty:
            st.markdown(f"**{t('test.predicted_title')}**")
            p = pred.assign(arm=[arm_text(x, params.get(x), lang) for x in pred["arm"]],
                            gap=pred["predicted"] / pred["realised"] - 1)
            table(p, {"arm": Col("test.arm"), "cases": Col("coll.stage.cases", "count"),
                      "predicted": Col("test.predicted_wan", "money_wan"), "realised": Col("test.realised_wan", "money_wan"),
                      "gap": Col("test.gap", "change")}, name=f"strategy_test_pred_{test_id}", height="fit", downloads=False)
            st.caption(t("test.predicted_note"))
    if row["status"] == "promoted":
        won = row["promoted_arm"]
        st.success(t("test.promoted", arm=arm_text(won, params.get(won), lang), by=row["promoted_by"],
                     at=str(row["promoted_at"])))
    elif scope().role == "head_office":
        with st.form(f"promote_{test_id}"):
            arm = st.selectbox(t("test.promote_arm"), arms[1:] + arms[:1], key="test_promote_arm",
                               format_func=lambda a: arm_text(a, params.get(a), lang))
            if st.form_submit_button(t("test.promote"), help=t("test.promote_help")):
                try:
                    with engine().begin() as conn:
                        ex.promote(conn, scope(), test_id, arm)
                except ex.ExperimentError as exc:
                    st.error(refusal(exc))
                else:
                    st.cache_data.clear()
                    st.success(t("test.promoted_now", arm=arm_text(arm, params.get(arm), lang)))


def _param_inputs(arm: str, lang: str) -> dict:
    """The inputs of one parametrised strategy, started at its defaults (data_access.experiments.DEFAULT_PARAMS)."""
    d = ex.DEFAULT_PARAMS[arm]
    st.markdown(t("test.params_of", arm=arm_label(arm)))
    c1, c2 = st.columns(2)
    if arm == "channel_mix":
        (ch, share), = list(d["max_share"].items())[:1]
        channel = c1.selectbox(t("test.mix_channel"), ex.MIX_CHANNELS, index=ex.MIX_CHANNELS.index(ch),
                               format_func=lambda c: code_label(c, lang), key="test_mix_channel")
        most = c2.number_input(t("test.mix_share"), min_value=0, max_value=99, value=int(round(share * 100)), step=1,
                               key="test_mix_share", help=t("test.mix_share_help"))
        return {"max_share": {channel: most / 100}}
    if arm == "digital":
        buckets = c1.multiselect(t("test.digital_buckets"), [1, 2, 3, 4], default=d["buckets"],
                                 format_func=lambda b: f"M{b}", key="test_dig_buckets",
                                 placeholder=t("test.digital_buckets_placeholder"))
        channels = c2.multiselect(t("test.digital_channels"), ex.DIGITAL_CHANNELS, default=d["channels"],
                                  format_func=lambda c: code_label(c, lang), key="test_dig_channels",
                                  placeholder=t("test.digital_channels_placeholder"), help=t("test.digital_help"))
        return {"buckets": buckets, "channels": channels}
    if arm == "capacity":
        (ch, factor), = list(d["scale"].items())[:1]
        channel = c1.selectbox(t("test.capacity_channel"), ex.CAPACITY_CHANNELS, index=ex.CAPACITY_CHANNELS.index(ch),
                               format_func=lambda c: code_label(c, lang), key="test_cap_channel")
        lo, hi = ex.SCALE_RANGE
        change = c2.number_input(t("test.capacity_change"), min_value=int(round((lo - 1) * 100)),
                                 max_value=int(round((hi - 1) * 100)), value=int(round((factor - 1) * 100)), step=5,
                                 key="test_cap_change", help=t("test.capacity_help"))
        return {"scale": {channel: 1 + change / 100}}
    return {}


def new_test_form(lang: str) -> None:
    """Head office's new test: name, champion, challengers with their parameters, each arm's share (summing to
    100 %), the seed (drawn at random, shown, editable), intake months, measure and maturity. Refusals say why;
    the test is recorded and audited by data_access.experiments.create."""
    ctx = read(ex.form_context)
    if not ctx["months"]:
        return
    name = st.text_input(t("test.name"), max_chars=64, key="test_new_name", placeholder=t("test.name_placeholder"))
    in_force = ctx["in_force"][0]
    def label(a: str) -> str:  # bound to the language: AppTest formats options outside a script run
        return translate(f"test.arm.{a}", lang)

    c1, c2 = st.columns(2)
    champion = c1.selectbox(t("test.champion"), ex.STRATEGIES, index=ex.STRATEGIES.index(in_force),
                            format_func=label, key="test_new_champion", help=t("test.champion_help"))
    others = [a for a in ex.STRATEGIES if a != champion]
    challengers = c2.multiselect(t("test.challengers"), others, default=[others[0]], format_func=label,
                                 key=f"test_new_challengers_{champion}", placeholder=t("test.challengers_placeholder"))
    arms = [champion, *challengers]
    params = {a: _param_inputs(a, lang) for a in arms if ex.DEFAULT_PARAMS[a]}
    st.markdown(t("test.shares_title"))
    cols = st.columns(max(len(arms), 1))
    even = 100 // len(arms)
    start = [even + (100 - even * len(arms) if i == 0 else 0) for i in range(len(arms))]  # the champion the rest
    shares = [int(c.number_input(label(a), min_value=0, max_value=100, value=v, step=5,
                                 key=f"test_share_{len(arms)}_{a}"))  # a new set of arms starts evenly again
              for c, a, v in zip(cols, arms, start)]
    total = sum(shares)
    st.caption(t("test.shares_total", total=total))
    if "test_new_seed" not in st.session_state:  # drawn once per form, shown, editable, recorded with the test
        st.session_state["test_new_seed"] = secrets.randbelow(2 ** 31 - 2) + 1
    c1, c2, c3, c4, c5 = st.columns(5)
    seed = c1.number_input(t("test.seed"), min_value=0, max_value=2 ** 31 - 1, step=1, key="test_new_seed",
                           help=t("test.seed_help"))
    months = ctx["months"]
    taken = ctx["taken"]
    def month_text(m: str) -> str:  # a month a running test covers says so (create refuses it)
        return month_label(m, lang) + (translate("test.month_taken", lang, name=taken[m]) if m in taken else "")

    free = next((i for i, m in enumerate(months) if m not in taken), 0)
    first = c2.selectbox(t("test.first_month"), months, index=free, format_func=month_text, key="test_new_first")
    n_months = c3.number_input(t("test.months"), min_value=1, max_value=ex.MAX_MONTHS, value=1, step=1,
                               key="test_new_months")
    measure = c4.selectbox(t("test.measure"), ex.MEASURES, format_func=lambda m: translate(f"test.measure.{m}", lang),
                           key="test_new_measure")
    maturity = c5.number_input(t("test.maturity"), min_value=1, max_value=ex.MAX_MATURITY, value=3, step=1,
                               key="test_new_maturity", help=t("test.maturity_help"))
    if not st.button(t("test.create"), type="primary", key="test_create"):
        return
    if not challengers:
        st.error(t("test.err_arms"))
        return
    if total != 100:
        st.error(t("test.err_shares_total", total=total))
        return
    try:
        with engine().begin() as conn:
            test_id = ex.create(conn, scope(), name, champion, challengers, [x / 100 for x in shares], int(seed),
                                first, int(n_months), measure, int(maturity), params=params)
    except ex.ExperimentError as exc:
        st.error(refusal(exc))
        return
    st.cache_data.clear()
    st.session_state["test_flash"] = t("test.created", name=name.strip(), seed=int(seed))
    st.session_state["test_pick_next"] = test_id
    for key in ("test_new_seed", "test_new_name"):  # a fresh seed and name for the next test
        st.session_state.pop(key, None)
    st.rerun()


def _months(first: str, last: str) -> int:
    return (int(last[:4]) * 12 + int(last[5:])) - (int(first[:4]) * 12 + int(first[5:])) + 1


def _ci(r, prefix: str = "") -> str:
    name = prefix + "lift" if prefix else "lift"
    est = getattr(r, name, float("nan"))
    if r.role == "champion" or pd.isna(est):
        return t("test.baseline") if r.role == "champion" else "—"
    low, high = getattr(r, (prefix or "lift_") + "low"), getattr(r, (prefix or "lift_") + "high")
    return f"{est * 100:+.2f} {t('test.pp')} ({low * 100:+.2f} … {high * 100:+.2f})"


def _verdict(r) -> str:
    if r.role == "champion":
        return ""
    if pd.isna(getattr(r, "significant", float("nan"))):
        return "—"
    if r.significant:
        return t("test.significant_up") if r.lift > 0 else t("test.significant_down")
    if not math.isfinite(r.months_needed):
        return t("test.no_difference")
    return t("test.more_months", n=int(r.months_needed))


__all__ = ["tests_tab", "lift_chart", "new_test_form", "arm_text", "params_text"]
