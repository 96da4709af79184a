"""数据管理 Data admin: data freshness, mart refresh, the read-only audit log."""
import time

import streamlit as st

from components import navigation
from components.i18n import t
from components.session import connect, engine, scope
from data_access import marts, users
from models import postloan_batch

navigation.guard("data_admin")
st.title(t("page.data_admin"))

with connect() as conn:
    counts, status = users.freshness(conn)
c1, c2 = st.columns([1, 2])
with c1:
    st.subheader(t("admin.freshness"))
    st.markdown(f"**{t('admin.version')}**  \n`{status['data_version'].value if 'data_version' in status else '—'}`")
    st.markdown(f"**{t('admin.last_refresh')}**  \n{status['refresh'].value if 'refresh' in status else '—'}")
    if st.button(t("admin.refresh"), type="primary", key="refresh_marts"):
        with st.spinner("…"):
            started = time.perf_counter()
            marts.refresh(engine())
            with engine().begin() as conn:
                users.audit(conn, scope().username, "refresh_marts")
                version = marts.data_version(conn)
        st.cache_data.clear()
        st.success(t("admin.refreshed", seconds=time.perf_counter() - started, version=version))
    if st.button(t("admin.batch"), key="postloan_batch"):
        with st.spinner("…"):
            out = postloan_batch.run(engine(), trained_by=scope().username)
            with engine().begin() as conn:
                users.audit(conn, scope().username, "postloan_batch", detail=out)
        st.cache_data.clear()
        st.success(t("admin.batch_done", version=out["version"], auc=out["auc"], scored=out["scored"],
                     on_site=out["on_site_tasks"], off_site=out["off_site_tasks"]))
with c2:
    st.dataframe(counts.rename(columns={"table": t("admin.table"), "rows": t("admin.rows")}), hide_index=True,
                 width="stretch", height=38 + 35 * len(counts),
                 column_config={t("admin.rows"): st.column_config.NumberColumn(format="localized")})

st.subheader(t("admin.audit"))
st.caption(t("admin.audit_help"))
f1, f2 = st.columns(2)
who = f1.text_input(t("admin.audit_user"), key="audit_user").strip() or None
what = f2.selectbox(t("admin.audit_action"), [None, "login", "login_failed", "logout", "export", "view_customer",
                                             "refresh_marts", "import"], key="audit_action",
                    format_func=lambda a: t("filter.all") if a is None else a)
with connect() as conn:
    log = users.audit_entries(conn, scope().role, who, what)
st.dataframe(log.rename(columns={c: t(f"admin.col.{c}") for c in log.columns}).fillna(""), hide_index=True,
             width="stretch", height=420)
