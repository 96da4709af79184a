"""Finding 4: one purpose gate for every list with personal data. A user with the PII right sees each list masked
until a purpose is chosen for it in this session; then it shows in full and an audit row names the customers
shown. A user without the right never gets the choice and always sees masked rows.

Each case opens a page as the user, finds the list, and compares its names with the customers table."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import func, select

from data_access import grid, schema as s
from data_access.scope import mask_name, scope_for_user

from ..test_app import app_env, logged_in  # noqa: F401 - app_env is a fixture

NAME, NO = "户主", "客户号"  # the lists' column labels (hh.name, hh.customer_no)


def _frame(at, *columns: str, raw: bool = False) -> pd.DataFrame:
    """The page's first table that has all ``columns`` (raw: a grid with the query's own column names)."""
    for d in at.dataframe:
        df = d.value
        if all(c in df.columns for c in columns):
            return df.rename(columns={"name": NAME, "customer_no": NO}) if raw else df
    raise AssertionError(f"no list with columns {columns} on the page")


def _village(engine) -> dict:
    """The first village with at least three households (hq_wang's and hq_li's scope is the whole bank)."""
    c = s.customer
    with engine.connect() as conn:
        code = conn.execute(select(c.c.village_code).group_by(c.c.village_code).having(func.count() >= 3)
                            .order_by(c.c.village_code)).scalar()
        name = conn.execute(select(s.region.c.name).where(s.region.c.code == code)).scalar()
        crumb = grid.region_path(conn, scope_for_user(conn, "hq_wang"), code)
    return {"code": code, "name": name, "crumb": crumb}


def _search(at, engine):
    at.switch_page("pages/customer_360.py").run()
    at.text_input(key="c360_query").input(_village(engine)["name"]).run()


def _households(at, engine):
    at.session_state["grid_path"] = _village(engine)["crumb"]
    at.switch_page("pages/grid_map.py").run()


def _tasks(at):
    """The post-loan form's task choice: each option reads 'due · type · customer_no name · manager'."""
    opts = [o.split(" · ")[2] for o in at.selectbox(key="tr_task").options]
    return pd.DataFrame({NO: [o.split(" ", 1)[0] for o in opts], NAME: [o.split(" ", 1)[1] for o in opts]})


def _trajectory(at):
    df = _frame(at, "顺序", NAME, NO)
    return df[~df[NO].astype(str).isin(["", "—"])]  # a check-in at no household names no customer


def _page(path):
    return lambda at, engine: at.switch_page(path).run()


LISTS = {  # view (audit target): (purpose widget key, how to open its page, how to read the list off the page)
    "c360_search": ("c360_purpose", _search, lambda at: _frame(at, "name", "customer_no", "phone", raw=True)),
    "grid_households": ("pii_purpose_grid_households", _households,
                        lambda at: _frame(at, "name", "customer_no", "phone", raw=True)),
    "risk_loan_list": ("pii_purpose_risk_loan_list", _page("pages/portfolio_risk.py"),
                       lambda at: _frame(at, "借据号", NO, NAME)),
    "risk_top_borrowers": ("pii_purpose_risk_top_borrowers", _page("pages/portfolio_risk.py"),
                           lambda at: _frame(at, "客群", NO, NAME)),
    "ew_open_signals": ("pii_purpose_ew_open_signals", _page("pages/early_warning.py"),
                        lambda at: _frame(at, "说明", NO, NAME)),
    "ew_pending_tasks": ("pii_purpose_ew_pending_tasks", _page("pages/early_warning.py"), _tasks),
    "mgr_trajectory": ("pii_purpose_mgr_trajectory", _page("pages/managers.py"), _trajectory),
}


def true_names(engine, numbers) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(s.customer.c.customer_no, s.customer.c.name)
                                 .where(s.customer.c.customer_no.in_(list(numbers)))).all())


def pii_rows(engine, user: str, view: str) -> list:
    a = s.audit_log
    with engine.connect() as conn:
        return conn.execute(select(a.c.detail).where(a.c.username == user, a.c.action == "view_pii",
                                                     a.c.target == view).order_by(a.c.id)).scalars().all()


@pytest.mark.parametrize("view", LISTS)
def test_every_pii_list_is_masked_until_a_purpose_is_chosen_then_audited(app_env, view):
    key, open_page, read = LISTS[view]
    before = len(pii_rows(app_env, "hq_wang", view))
    at = logged_in("hq_wang")
    open_page(at, app_env)
    shown = read(at)
    assert not at.exception and len(shown) > 0, view
    names = true_names(app_env, shown[NO])
    # masked before a purpose is chosen, though the user may see PII, and nothing audited as shown
    assert key in [sb.key for sb in at.selectbox], "the user with the right is offered the choice"
    assert list(shown[NAME]) == [mask_name(names[n]) for n in shown[NO]]
    assert len(pii_rows(app_env, "hq_wang", view)) == before
    # a purpose chosen for this list: names in full, one audit row naming exactly the customers shown
    at.selectbox(key=key).set_value("inspection").run()
    at.run()  # a rerun showing the same rows is the same showing
    assert not at.exception
    shown = read(at)
    assert list(shown[NAME]) == [true_names(app_env, [n])[n] for n in shown[NO]]
    rows = pii_rows(app_env, "hq_wang", view)
    assert len(rows) == before + 1, "one row per showing, not one per rerun"
    detail = json.loads(rows[-1])
    assert detail["purpose"] == "inspection" and set(detail["customers"]) == set(shown[NO])
    assert detail["rows"] == len(shown) or view == "mgr_trajectory"  # a trajectory lists a customer per visit


@pytest.mark.parametrize("view", LISTS)
def test_a_user_without_the_right_gets_no_choice_and_masked_rows(app_env, view):
    key, open_page, read = LISTS[view]
    at = logged_in("hq_li")
    open_page(at, app_env)
    shown = read(at)
    assert not at.exception and len(shown) > 0
    assert key not in [sb.key for sb in at.selectbox]
    names = true_names(app_env, shown[NO])
    assert list(shown[NAME]) == [mask_name(names[n]) for n in shown[NO]]
    assert pii_rows(app_env, "hq_li", view) == []


def test_the_purpose_is_per_list(app_env):
    """Choosing a purpose for the loan list leaves the top-borrower list on the same page masked."""
    at = logged_in("hq_wang", "pages/portfolio_risk.py")
    at.selectbox(key="pii_purpose_risk_loan_list").set_value("collection").run()
    _, _, read = LISTS["risk_top_borrowers"]
    top = read(at)
    names = true_names(app_env, top[NO])
    assert list(top[NAME]) == [mask_name(names[n]) for n in top[NO]]
    loans = LISTS["risk_loan_list"][2](at)
    assert list(loans[NAME]) == [true_names(app_env, [n])[n] for n in loans[NO]]
