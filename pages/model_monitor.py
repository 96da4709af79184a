"""模型监控 Model monitor: for each model, its registered windows, AUC / KS by month on months it never saw, score
and input stability (PSI against the training window), calibration, the challenger beside the champion, amber /
red lights against the validation figure and what to do when one turns (models.monitor, models.registry)."""
import pandas as pd
import streamlit as st

from components import monitor_charts as mc, navigation, validation_report
from components.i18n import current_lang, t
from components.panels import empty_state, model_missing
from components.safe_text import md
from components.session import read
from components.tables import Col, table
from data_access import strategy
from models import challengers, monitor

navigation.guard("model_monitor")
lang = current_lang()
st.title(t("page.model_monitor"))
models = read(strategy.model_monitor)
if not models:
    model_missing("mon.none")
    st.stop()
name = st.selectbox(t("mon.model"), list(models), key="mon_model", format_func=lambda n: t(f"mon.name.{n}"))
validation_report.section(name, models[name], lang)
slots = models[name]["models"]
prod, val, chall = slots.get("production"), slots.get("validated"), slots.get("challenger")
card = (prod or val or chall)["card"]
vm = (val or prod or chall)["card"]["metrics"]
valid_auc = vm.get("auc")


def fmt3(v) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and v == v else "—"


def span(a, b) -> str:
    return f"{a} – {b}" if a and b else "—"


by = t("mon.by_first_start") if card["trained_by"] == "bootstrap" else card["trained_by"]  # the first start's name
st.caption(t("mon.card", version=md(card["version"]), trained=str(card["trained_at"])[:16], by=md(by),
             window=span(card.get("train_from"), card.get("train_to")), auc=fmt3(valid_auc), ks=fmt3(vm.get("ks")),
             valid=vm.get("valid_months", "—").replace("..", " – ")))

# every model's windows, so that each figure below can be traced to the months behind it
win = []
for slot in ("production", "validated", "challenger"):
    entry = slots.get(slot)
    if entry is None:
        continue
    c, m = entry["card"], entry["card"]["metrics"]
    win.append({"model": t(f"mon.slot.{slot}"),
                "method": t(f"mon.{'challenger_method' if slot == 'challenger' else 'method'}.{name}"),
                "train": span(c.get("train_from"), c.get("train_to")), "label_to": c.get("label_to") or "—",
                "gap": "—" if c.get("gap_months") is None else str(c["gap_months"]),
                "valid": span(c.get("valid_from"), c.get("valid_to")), "monitor_from": c.get("monitor_from") or "—",
                "auc": fmt3(m.get("auc")) if slot != "production" else "—",
                "ks": fmt3(m.get("ks")) if slot != "production" else "—"})
st.subheader(t("mon.windows"), help=t("mon.windows_help", cure=(val or prod)["card"].get("horizon_months") or 3))
table(pd.DataFrame(win), {"model": Col("mon.w.model"), "method": Col("mon.w.method"), "train": Col("mon.w.train"),
                          "label_to": Col("mon.w.label_to"), "gap": Col("mon.w.gap"), "valid": Col("mon.w.valid"),
                          "monitor_from": Col("mon.w.monitor_from"), "auc": Col("mon.w.auc"), "ks": Col("mon.w.ks")},
      name=f"model_windows_{name}", height="fit")

prod_rows = prod["rows"] if prod else pd.DataFrame(columns=["month", "metric", "feature", "value"])
val_rows = val["rows"] if val else prod_rows.iloc[0:0]
if prod_rows.empty and val_rows.empty:
    st.info(t("mon.no_rows"))
    st.stop()
# discrimination: the model in use where it has mature months after its training, else its validated fit
champ_rows = prod_rows if (prod_rows["metric"] == "auc").any() else val_rows
lit = monitor.lights(champ_rows, valid_auc, psi_rows=prod_rows if not prod_rows.empty else val_rows)
DOT = {"red": ":red[●]", "amber": ":orange[●]", "green": ":green[●]", None: ""}

k = st.columns(3)
if lit["auc"]:
    a = lit["auc"]
    k[0].metric(f"{DOT[a['colour']]} " + t("mon.auc_latest", month=a["month"]), f"{a['value']:.3f}",
                delta=f"{-a['drop']:+.3f}" if a["drop"] is not None else None, help=t("mon.auc_help"))
else:
    k[0].caption(t("mon.auc_none"))
if lit["psi"]:
    p = lit["psi"]
    k[1].metric(f"{DOT[p['colour']]} " + t("mon.psi_latest", month=p["month"]), f"{p['value']:.3f}",
                help=t("mon.psi_help"))
if lit["input"]:
    i = lit["input"]
    k[2].metric(f"{DOT[i['colour']]} " + t("mon.input_light", month=i["month"]),
                f"{t('feat.' + i['feature'])} · {i['value']:.3f}", help=t("mon.psi_help"))

series = {t("mon.series.validated"): val_rows}
if (prod_rows["metric"] == "auc").any():
    series = {t("mon.series.production"): prod_rows, **series}
if chall:
    series[t("mon.series.challenger")] = chall["rows"]
a, b, c = st.columns(3)
a.plotly_chart(mc.discrimination_chart(series, valid_auc, lang), key="mon_disc")
b.plotly_chart(mc.psi_chart(prod_rows if not prod_rows.empty else val_rows, lang), key="mon_psi")
if (champ_rows["metric"] == "calib_pred").any():
    newest = champ_rows[champ_rows["metric"] == "calib_pred"]["month"].max()
    c.plotly_chart(mc.calibration_chart(champ_rows[champ_rows["month"] == newest], lang), key="mon_calib")
else:
    with c:
        empty_state()

if chall:
    st.subheader(t("mon.challenger"))
    cm = chall["card"]["metrics"]
    latest = {}
    for key, rows in (("champion", champ_rows), ("challenger", chall["rows"])):
        au = rows[rows["metric"] == "auc"].dropna(subset=["value"])
        latest[key] = f"{au['value'].iloc[-1]:.3f} ({au['month'].iloc[-1]})" if len(au) else "—"
    cmp_rows = pd.DataFrame([
        {"model": t("mon.champion"), "method": t(f"mon.method.{name}"), "auc": fmt3(vm.get("auc")),
         "ks": fmt3(vm.get("ks")), "gini": fmt3(vm.get("gini")), "latest": latest["champion"]},
        {"model": t("mon.challenger_row"), "method": t(f"mon.challenger_method.{name}"), "auc": fmt3(cm.get("auc")),
         "ks": fmt3(cm.get("ks")), "gini": fmt3(cm.get("gini")), "latest": latest["challenger"]}])
    table(cmp_rows, {"model": Col("mon.c.model"), "method": Col("mon.c.method"), "auc": Col("mon.w.auc"),
                     "ks": Col("mon.w.ks"), "gini": Col("mon.w.gini"), "latest": Col("mon.c.latest_auc")},
          name=f"champion_challenger_{name}", height="fit")
    v = challengers.verdict(vm.get("auc"), cm.get("auc"))
    diff = (cm.get("auc") or 0) - (vm.get("auc") or 0)
    say = st.warning if v == "replace" else st.success if v.startswith("keep") else st.info
    say(t(f"mon.verdict.{v}", champ=fmt3(vm.get("auc")), chall=fmt3(cm.get("auc")), diff=f"{diff:.3f}",
          material=f"{challengers.MATERIAL_AUC:.2f}", why=t(f"mon.why.{name}")))

st.subheader(t("mon.inputs"))
inputs = (prod_rows if not prod_rows.empty else val_rows)
inputs = inputs[inputs["metric"] == "input_psi"]
if inputs.empty:
    st.caption(t("mon.no_inputs"))
else:
    grid = inputs.pivot_table(index="feature", columns="month", values="value").round(3)
    grid["status"] = [t("mon.st_red") if v >= monitor.PSI_RED else t("mon.st_amber") if v >= monitor.PSI_AMBER
                      else t("mon.st_green") for v in grid.iloc[:, -1]]
    shown = grid.reset_index()
    shown["feature"] = [t(f"feat.{f}") for f in shown["feature"]]
    table(shown, {"feature": Col("mon.input"), **{mo: Col(mo, "num2", raw=True) for mo in grid.columns if mo != "status"},
                  "status": Col("mon.status")}, name=f"input_psi_{name}", height="fit")
st.info(t("mon.todo"))
