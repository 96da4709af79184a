"""The page registry: which role may open which page, grouped into sections.

``app.py`` builds ``st.navigation`` from it; every page calls ``guard`` first,
so a page opened directly (URL or ``switch_page``) by a role that may not see
it stops with a message, whatever the navigation showed.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from .i18n import t
from .session import scope


def no_pages_folder() -> None:
    """Tell Streamlit, before the server's first script run, that the app's pages come from ``st.navigation`` and
    not from the ``pages/`` folder. Streamlit decides that when its first session starts (a ``pages/`` folder
    next to app.py: the folder's multipage mode) and changes its mind at the first ``st.navigation`` call. That
    first run, in the folder's mode, runs app.py as the folder's main page, whose hash goes into every widget's id;
    each later run has app.py's own. So the login form of a fresh server's first page was a form whose fields and
    button no later run knew: its first submit came back to an empty form, no message. (That run also sent an
    anonymous visitor the list of the folder's pages.) Called by ``serve.py`` when the server starts; a bare
    ``streamlit run app.py`` keeps the fault for its first run."""
    from streamlit.runtime.pages_manager import PagesManager
    PagesManager.uses_pages_directory = False


SECTIONS = ("section.overview", "section.risk", "section.collection", "section.team", "section.strategy",
            "section.system")


@dataclass(frozen=True)
class PageSpec:
    key: str
    path: str
    section: str
    icon: str
    roles: tuple[str, ...]
    url_path: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "pages/overview.py", "section.overview", ":material/dashboard:", ("head_office", "branch_leader", "strategy"),
             "overview"),
    PageSpec("grid_map", "pages/grid_map.py", "section.overview", ":material/map:", ("head_office", "branch_leader"),
             "grid-map"),
    PageSpec("customer_360", "pages/customer_360.py", "section.overview", ":material/person_search:",
             ("head_office", "branch_leader"), "customer-360"),
    PageSpec("portfolio_risk", "pages/portfolio_risk.py", "section.risk", ":material/monitoring:",
             ("head_office", "branch_leader", "strategy"), "portfolio-risk"),
    PageSpec("early_warning", "pages/early_warning.py", "section.risk", ":material/notifications_active:",
             ("head_office", "branch_leader", "strategy"), "early-warning"),
    PageSpec("collections", "pages/collections.py", "section.collection", ":material/payments:",
             ("head_office", "branch_leader"), "collections"),
    PageSpec("managers", "pages/managers.py", "section.team", ":material/groups:", ("head_office", "branch_leader"),
             "managers"),
    PageSpec("strategy_lab", "pages/strategy_lab.py", "section.strategy", ":material/science:", ("head_office", "strategy"),
             "strategy-lab"),
    PageSpec("model_monitor", "pages/model_monitor.py", "section.strategy", ":material/query_stats:",
             ("head_office", "strategy"), "model-monitor"),
    PageSpec("agency", "pages/agency_workspace.py", "section.collection", ":material/support_agent:", ("agency",), "agency"),
    PageSpec("data_admin", "pages/data_admin.py", "section.system", ":material/database:", ("admin",), "data-admin"),
)


def pages_for(role: str) -> list[PageSpec]:
    return [p for p in PAGES if role in p.roles]


def build(role: str):
    """``st.navigation`` with only the pages ``role`` may open, in their sections."""
    sections: dict[str, list] = {}
    specs = pages_for(role)
    for i, p in enumerate(specs):
        sections.setdefault(t(p.section), []).append(
            st.Page(p.path, title=t(f"page.{p.key}"), icon=p.icon, url_path=p.url_path, default=i == 0))
    ordered = {t(s): sections[t(s)] for s in SECTIONS if t(s) in sections}
    return st.navigation(ordered, expanded=True)


def guard(page_key: str) -> None:
    """Stop the page unless the logged-in role may open it."""
    spec = next(p for p in PAGES if p.key == page_key)
    role = scope().role
    if role not in spec.roles:
        st.warning(t("guard.denied", role=t(f"role.{role}") if role in ("head_office", "branch_leader", "strategy",
                                                                             "agency", "admin") else role))
        st.stop()
