"""Finding 3: a download exists only once asked for, and every file served is audited. Finding 10: an agency gets no
table export control at all, decided on the server.

A page run must leave nothing in Streamlit's media store for an export (before, every st.download_button put its
file there on each run, at a /media address that answered without a login, and the audit row came only from the
button's on_click). Each download button instead carries a deferred callable; running it, as the browser's click
does, makes the file and writes its audit row."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update
from streamlit.runtime.media_file_manager import MediaFileStorageError

from data_access import schema as s

from ..test_app import app_env, logged_in  # noqa: F401 - app_env is a fixture
from .served import served  # noqa: F401 - served is a fixture

PAGES = {  # user: pages whose downloads a run draws
    "hq_wang": ["pages/overview.py", "pages/grid_map.py", "pages/customer_360.py", "pages/portfolio_risk.py",
                "pages/early_warning.py", "pages/collections.py", "pages/managers.py", "pages/strategy_lab.py",
                "pages/model_monitor.py"],
    "agency1": ["pages/agency_workspace.py"],
    "admin": ["pages/data_admin.py"],
}


def exports(engine, target: str | None = None) -> list:
    a = s.audit_log
    q = select(a.c.username, a.c.action, a.c.target, a.c.customer_id, a.c.detail).where(
        a.c.action.in_(("export", "export_denied")))
    if target:
        q = q.where(a.c.target == target)
    with engine.connect() as conn:
        return conn.execute(q.order_by(a.c.id)).all()


def open_customer(at, engine) -> None:
    with engine.connect() as conn:
        cid = conn.execute(select(s.customer.c.id).order_by(s.customer.c.id)).scalar()
    at.session_state["c360_customer_id"] = cid


@pytest.mark.parametrize("user, page", [(u, p) for u, ps in PAGES.items() for p in ps])
def test_a_page_run_makes_no_file_and_every_file_served_is_audited(app_env, served, user, page):
    at = logged_in(user)
    if page.endswith("customer_360.py"):
        open_customer(at, app_env)
    at.switch_page(page).run()
    assert not at.exception
    buttons = at.get("download_button")
    assert served.stored() == {}, f"{page} left {len(served.stored())} file(s) at /media before any click"
    before = exports(app_env)
    for b in buttons:
        assert b.proto.deferred_file_id and not b.proto.url
    for i, b in enumerate(buttons, start=1):
        data = served.fetch(b)
        rows = exports(app_env)
        assert len(rows) == len(before) + i, f"{b.proto.label}: served without an audit row"
        last = rows[-1]
        detail = json.loads(last.detail)
        assert last.username == user and last.action == "export" and detail["bytes"] == len(data) > 0
        assert detail["format"] in ("csv", "xlsx", "pdf", "zip") and "filters" in detail
        assert detail["rows"] is None or detail["rows"] >= 0
    if user == "hq_wang" and page.endswith(("overview.py", "customer_360.py")):
        assert buttons, "the page offers downloads"  # so that the loop above checked something


def test_the_audit_row_says_what_filters_and_rows(app_env, served):
    at = logged_in("hq_wang", "pages/overview.py")
    month = at.session_state["f_month"]
    (csv_button,) = [b for b in at.get("download_button") if "dl_csv_" in b.proto.id]
    data = served.fetch(csv_button).decode("utf-8-sig")
    last = exports(app_env)[-1]
    detail = json.loads(last.detail)
    assert last.target == f"branch_league_{month}" or last.target.startswith("branch_league_")
    assert detail["filters"]["month"] == month and detail["format"] == "csv"
    assert detail["rows"] == len(data.strip().splitlines()) - 1  # the header line is not a row


def test_rights_changed_since_the_page_ran_get_no_file(app_env, served):
    at = logged_in("hq_wang", "pages/overview.py")
    button = at.get("download_button")[0]
    u = s.app_user
    with app_env.begin() as conn:
        conn.execute(update(u).where(u.c.username == "hq_wang").values(active=False))
    try:
        with pytest.raises(MediaFileStorageError):
            served.fetch(button)
    finally:
        with app_env.begin() as conn:
            conn.execute(update(u).where(u.c.username == "hq_wang").values(active=True))
    last = exports(app_env)[-1]
    assert last.action == "export_denied" and last.username == "hq_wang"


def test_a_session_ended_since_the_page_ran_gets_no_file(app_env, served):
    """Logged out in another tab (or reset by an admin) after the page was drawn: its buttons make nothing."""
    from data_access import sessions
    at = logged_in("hq_wang", "pages/overview.py")
    button = at.get("download_button")[0]
    with app_env.begin() as conn:
        sessions.end_token(conn, at.session_state["session_token"], "logout")
    with pytest.raises(MediaFileStorageError):
        served.fetch(button)
    last = exports(app_env)[-1]
    assert last.action == "export_denied" and json.loads(last.detail)["reason"] == "session ended"


def test_an_agency_page_has_no_table_export_control(app_env, served):
    at = logged_in("agency1", "pages/agency_workspace.py")
    assert not at.exception
    # st.dataframe's toolbar has its own "Download as CSV": an agency's tables are static, with no toolbar at all
    assert not at.dataframe, "an interactive grid (with its CSV download) was sent to an agency"
    assert at.table, "the agency still sees its cases"
    assert not [b for b in at.get("download_button") if "dl_csv_" in b.proto.id or "dl_xlsx_" in b.proto.id]
    assert not [m for m in at.markdown if "stElementToolbar" in m.value]  # nothing left to a style sheet
    # the one download an agency has is its masked, watermarked work list
    assert [b.proto.id for b in at.get("download_button")] and all(
        "agency_worklist" in b.proto.id for b in at.get("download_button"))
