"""The data-admin page's panels: import with validation report, data freshness, audit log (users: admin_users)."""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time
import zipfile

import pandas as pd
import streamlit as st

from data_access import admin, importer, marts, users
from data_access.config import ConfigError
from data_access.extract_format import TABLES, describe, template_csv, template_xlsx
from models import postloan_batch

from . import downloads
from .i18n import catalogue, t
from .session import connect, engine, scope
from .tables import Col, table


@st.cache_data(show_spinner=False)
def _templates_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in TABLES:
            z.writestr(f"{name}.csv", template_csv(name))
            z.writestr(f"{name}.xlsx", template_xlsx(name))
    return buf.getvalue()


def readable_detail(detail: str | None) -> str:
    """An audit row's detail as an administrator reads it: ``key: value`` pairs, nested ones inline, empty values left
    out (the stored JSON, with its braces and nulls, stays in the database and in the export)."""
    if not isinstance(detail, str) or not detail:  # None, or NaN where pandas filled a column's missing details
        return ""
    try:
        value = json.loads(detail)
    except (TypeError, ValueError):
        return str(detail)

    def flat(v) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k}={flat(x)}" for k, x in v.items() if x is not None)
        if isinstance(v, list):
            return ", ".join(flat(x) for x in v)
        if isinstance(v, bool):
            return t("common.yes") if v else t("common.no")
        return str(v)
    if not isinstance(value, dict):
        return flat(value)
    return "；".join(f"{k}: {flat(v)}" for k, v in value.items() if v is not None and v != "" and v != {})


def action_label(action: str) -> str:
    """An audit action in words; an action the catalogue does not know shows as stored."""
    return t(f"audit.{action}") if f"audit.{action}" in catalogue("zh") else action


def import_panel() -> None:
    st.caption(t("imp.intro"))
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    with c2:
        downloads.offer(t("imp.templates"), _templates_zip, file_name="cockpit_import_templates.zip",
                        mime="application/zip", key="imp_templates", what="import_templates")
    with c1.expander(t("imp.format")):
        pick = st.selectbox(t("imp.format_table"), TABLES, key="imp_format_table")
        st.dataframe(describe(pick), hide_index=True, width="stretch")
    files = st.file_uploader(t("imp.files"), type=["csv", "xlsx"], accept_multiple_files=True, key="imp_files",
                             help=t("imp.files_help"))
    dry = st.checkbox(t("imp.dry_run"), key="imp_dry", help=t("imp.dry_run_help"))
    if not st.button(t("imp.start"), type="primary", disabled=not files, key="imp_start"):
        return
    bar = st.progress(0.0, text=t("imp.reading"))

    def progress(fraction: float, what: str) -> None:
        bar.progress(min(1.0, fraction), text=t("imp.step", what=what))

    try:
        result = importer.run(engine(), {f.name: f.getvalue() for f in files}, scope().username, progress,
                              dry_run=dry)
    except ConfigError as exc:  # an import limit set to nonsense: the operator's to fix, named in the server's log
        logging.getLogger(__name__).error("import refused: %s", exc)
        bar.empty()
        st.error(t("imp.bad_limits"))
        return
    bar.empty()
    shown = pd.DataFrame([{"file": n, "table": tb or "—", "rows": result.rows.get(tb, 0),
                           "new_rows": f"{result.new_rows[tb]:,}" if tb in result.new_rows else "—"}
                          for n, tb in result.files.items()])
    if result.ok and dry:
        st.success(t("imp.valid", rows=f"{sum(result.rows.values()):,}"))
    elif result.ok:
        st.cache_data.clear()
        st.success(t("imp.done", rows=f"{sum(result.rows.values()):,}", new=f"{sum(result.new_rows.values()):,}",
                     seconds=f"{result.seconds:.1f}", version=result.version))
        if result.flagged:
            st.warning(t("conduct.import_flagged", n=f"{result.flagged:,}"))
        if result.deviations:  # loaded, but classed better than the 2023 rules allow: the examiner's question
            st.warning(t("imp.class_deviations", n=f"{sum(result.deviations.values()):,}",
                         months="、".join(sorted(result.deviations))))
    elif result.error:
        st.error(t("imp.failed", error=result.error))
    else:
        st.error(t("imp.refused", n=f"{result.problem_count:,}"))
    table(shown, {"file": Col("imp.col.file"), "table": Col("imp.col.table"), "rows": Col("imp.col.rows", "count"),
                  "new_rows": Col("imp.col.new_rows")}, name="import_files", height="fit", downloads=False)
    if not result.problems.empty:
        probs = result.problems.head(500).copy()
        if result.problem_count > len(probs):
            st.caption(t("imp.problems_capped", total=f"{result.problem_count:,}", shown=f"{len(probs):,}",
                         kept=f"{len(result.problems):,}"))
        probs["reason"] = [t(f"imp.reason.{r}") for r in probs["reason"]]
        table(probs, {c: Col(f"imp.col.{c}") for c in ("file", "line", "column", "value", "reason", "detail")},
              name="import_problems", height=min(420, 38 + 35 * len(probs)), downloads=False)
        problems = result.problems
        downloads.offer(t("imp.report"), lambda: importer.report_bytes(problems), file_name="import_bad_rows.csv",
                        mime="text/csv", key="imp_report", what="import_bad_rows", rows=len(problems))


def freshness_panel() -> None:
    with connect() as conn:
        df = admin.freshness(conn, scope())
    k = st.columns(3)
    k[0].metric(t("admin.last_import"), str(df.attrs["import"] or "—")[:16])
    k[1].metric(t("admin.last_refresh"), str(df.attrs["refresh"] or "—")[:16])
    k[2].markdown(f"{t('admin.version')}  \n`{df.attrs['version'] or '—'}`")
    df["table"] = [f"{t('imp.table.' + n)} ({n})" for n in df["table"]]
    df["last_import"] = [None if pd.isna(v) else str(v)[:16] for v in df["last_import"]]
    # one way to say "never imported" in every column: the table helper writes — for a missing value
    table(df, {"table": Col("admin.table"), "rows": Col("admin.rows", "count"),
               "last_import": Col("admin.col.last_import"),
               "last_import_rows": Col("admin.col.last_import_rows", "count")},
          name="data_freshness", height="fit", downloads=False)
    b1, b2 = st.columns(2)
    if b1.button(t("admin.refresh"), type="primary", key="refresh_marts"):
        with st.spinner(t("admin.refreshing")):
            started = time.perf_counter()
            marts.refresh(engine())
            with engine().begin() as conn:
                users.audit(conn, scope().username, "refresh_marts")
                version = marts.data_version(conn)
        st.cache_data.clear()
        st.success(t("admin.refreshed", seconds=time.perf_counter() - started, version=version))
    if b2.button(t("admin.batch"), key="postloan_batch"):
        with st.spinner(t("admin.batch_running")):
            out = postloan_batch.run(engine(), trained_by=scope().username)
            with engine().begin() as conn:
                users.audit(conn, scope().username, "postloan_batch", detail=out)
        st.cache_data.clear()
        st.success(t("admin.batch_done", version=out["version"], auc=out["auc"], scored=out["scored"],
                     on_site=out["on_site_tasks"], off_site=out["off_site_tasks"]))


def chain_panel() -> None:
    """The audit log's hash chain: the last check's result and when it ran; a button checks it again now."""
    with connect() as conn:
        state = admin.audit_chain_state(conn, scope())
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    if c2.button(t("audit_chain.verify"), key="audit_chain_verify", help=t("audit_chain.verify_help")):
        with st.spinner(t("audit_chain.verifying")), engine().begin() as conn:
            admin.verify_audit_chain(conn, scope())
        with connect() as conn:
            state = admin.audit_chain_state(conn, scope())
    with c1:
        if state is None:
            st.info(t("audit_chain.never"))
        elif state["ok"]:
            st.success(t("audit_chain.intact", rows=f"{state['rows']:,}", head=state["head_id"] or 0,
                         at=str(state["checked_at"])[:19]))
        else:
            st.error(t("audit_chain.broken", row=state["broken_id"], rows=f"{state['rows']:,}",
                       reason=t(f"audit_chain.reason.{state['reason']}"), at=str(state["checked_at"])[:19]))


def audit_panel() -> None:
    st.caption(t("admin.audit_help"))
    chain_panel()
    with connect() as conn:
        actions = admin.audit_actions(conn, scope())
    f = st.columns(4)
    who = f[0].text_input(t("admin.audit_user"), key="audit_user", max_chars=64).strip() or None
    what = f[1].selectbox(t("admin.audit_action"), [None, *actions], key="audit_action",
                          format_func=lambda a: t("filter.all") if a is None else action_label(a))
    cust = f[2].text_input(t("admin.audit_customer"), key="audit_customer", max_chars=24,
                           help=t("admin.audit_customer_help")).strip()
    today = dt.date.today()
    span = f[3].date_input(t("admin.audit_dates"), (today - dt.timedelta(days=30), today), key="audit_dates")
    start, end = (span + (None, None))[:2] if isinstance(span, tuple) else (span, span)
    with connect() as conn:
        # the customer number staff know (C0324…), or the internal number an audit row records
        cust_id = admin.audit_customer_id(conn, scope(), cust) if cust else None
        if cust and cust_id is None:
            st.warning(t("admin.audit_customer_bad"))
            return
        log = admin.audit_log(conn, scope(), who, what, cust_id, start, end)
    if log.empty:
        st.info(t("admin.audit_none"))
        return
    log["action"] = [action_label(a) for a in log["action"]]
    log["detail"] = [readable_detail(d) for d in log["detail"]]
    log["at"] = log["at"].astype(str).str.slice(0, 19)  # to the second: the table would otherwise show the day only
    table(log.drop(columns=["id"]), {c: Col(f"admin.col.{c}") for c in ("at", "username", "action", "customer_id",
                                                                          "target", "detail")},
          name="audit_log", height=min(480, 38 + 35 * len(log)))
