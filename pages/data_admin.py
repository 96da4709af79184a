"""数据管理 Data admin: import of the bank's extracts with validation, data freshness and mart refresh, users and
their scopes, the read-only audit log."""
import streamlit as st

from components import admin_panels, admin_users, navigation
from components.i18n import t

navigation.guard("data_admin")
st.title(t("page.data_admin"))
tabs = st.tabs([t("admin.tab.import"), t("admin.tab.freshness"), t("admin.tab.users"), t("admin.tab.audit")])
with tabs[0]:
    admin_panels.import_panel()
with tabs[1]:
    admin_panels.freshness_panel()
with tabs[2]:
    admin_users.users_panel()
with tabs[3]:
    admin_panels.audit_panel()
