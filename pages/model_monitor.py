"""模型监控 Model monitor: for each registered model, AUC / KS by month, score and input stability (PSI), calibration,
with amber / red thresholds and what to do when a figure turns."""
import pandas as pd
import streamlit as st

from components import monitor_charts as mc, navigation
from components.i18n import current_lang, t
from components.panels import empty_state, model_missing
from components.session import read
from components.tables import Col, table
from data_access import strategy

navigation.guard("model_monitor")
lang = current_lang()
st.title(t("page.model_monitor"))
models = read(strategy.model_monitor)
if not models:
    model_missing("mon.none")
    st.stop()
name = st.selectbox(t("mon.model"), list(models), key="mon_model", format_func=lambda n: t(f"mon.name.{n}"))
card, rows = models[name]["card"], models[name]["rows"]
m = card["metrics"]
valid_auc = m.get("auc")
st.caption(t("mon.card", version=card["version"], trained=str(card["trained_at"])[:16], by=card["trained_by"],
             window=card["data_window"], auc=f"{valid_auc:.3f}" if valid_auc else "—",
             ks=f"{m['ks']:.3f}" if m.get("ks") else "—"))
if rows.empty:
    st.info(t("mon.no_rows"))
    st.stop()

latest_auc = rows[rows["metric"] == "auc"].tail(1)
latest_psi = rows[rows["metric"] == "psi"].tail(1)
inputs = rows[rows["metric"] == "input_psi"]
worst_input = inputs[inputs["month"] == inputs["month"].max()].sort_values("value", ascending=False).head(1)


def light(value: float, amber: float, red: float) -> str:
    """A coloured dot for a metric label (a font glyph, not an emoji: intranet machines lack emoji fonts)."""
    if value is None or pd.isna(value):
        return ""
    return ":red[●]" if value >= red else ":orange[●]" if value >= amber else ":green[●]"


k = st.columns(3)
if not latest_auc.empty:
    auc = float(latest_auc["value"].iloc[0])
    drop = (valid_auc - auc) if valid_auc else 0.0
    status = light(drop, 0.03, 0.05)
    k[0].metric(f"{status} " + t("mon.auc_latest", month=latest_auc["month"].iloc[0]), f"{auc:.3f}",
                delta=f"{-drop:+.3f}" if valid_auc else None, help=t("mon.auc_help"))
if not latest_psi.empty:
    v = float(latest_psi["value"].iloc[0])
    k[1].metric(f"{light(v, 0.10, 0.25)} " + t("mon.psi_latest", month=latest_psi["month"].iloc[0]), f"{v:.3f}",
                help=t("mon.psi_help"))
if not worst_input.empty:
    v = float(worst_input["value"].iloc[0])
    k[2].metric(f"{light(v, 0.10, 0.25)} " + t("mon.worst_input"), f"{worst_input['feature'].iloc[0]} · {v:.3f}")

a, b, c = st.columns(3)
a.plotly_chart(mc.discrimination_chart(rows, valid_auc, lang), key="mon_disc")
b.plotly_chart(mc.psi_chart(rows, lang), key="mon_psi")
if (rows["metric"] == "calib_pred").any():
    c.plotly_chart(mc.calibration_chart(rows, lang), key="mon_calib")
else:
    with c:
        empty_state()

st.subheader(t("mon.inputs"))
if inputs.empty:
    st.caption(t("mon.no_inputs"))
else:
    grid = inputs.pivot_table(index="feature", columns="month", values="value").round(3)
    grid["status"] = [t("mon.st_red") if v >= 0.25 else t("mon.st_amber") if v >= 0.10 else t("mon.st_green")
                      for v in grid.iloc[:, -1]]
    shown = grid.reset_index()
    table(shown, {"feature": Col("mon.input"), **{mo: Col(mo, "num2", raw=True) for mo in grid.columns if mo != "status"},
                  "status": Col("mon.status")}, name=f"input_psi_{name}", height="fit")
st.info(t("mon.todo"))
