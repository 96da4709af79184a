"""Repayment plans on screen (#19 part 3), through AppTest on the demo bank: the agency workspace's plan history and
form, the Collections page's plans view, the Customer 360's plans; nothing raw in either language."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from data_access import plans as dp, queries, schema as s
from data_access.scope import scope_for_user
from tests.rendered import findings
from streamlit.testing.v1 import AppTest

from tests.test_app import APP, app_env, errors, logged_in, session_token  # noqa: F401 - the fixture
from tests.test_rendered_text import render

P, K = s.repayment_plan, s.collection_case


def _logins(conn) -> set[str]:
    return set(conn.execute(select(s.app_user.c.username)).scalars()) | {"collector"}


def _agency_case(conn, agency_id: int, with_plan: bool):
    """An open case of the agency on its work list's first page, with a demo plan or without any plan."""
    page = select(K.c.id).where(K.c.agency_id == agency_id, K.c.status == "open", K.c.channel != "pending") \
        .order_by(K.c.entry_date.desc(), K.c.id.desc()).limit(100).subquery()
    has = select(P.c.case_id)
    cond = K.c.id.in_(has) if with_plan else K.c.id.notin_(has)
    return conn.execute(select(K.c.id, K.c.case_no).where(K.c.id.in_(select(page.c.id)), cond)
                        .order_by(K.c.id)).first()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_agency_workspace_shows_a_cases_plan_and_nothing_raw(app_env, lang):
    with app_env.connect() as conn:
        case = _agency_case(conn, 1, with_plan=True)
        assert case is not None, "the demo gives agency 1 an open case with a plan"
        plan = conn.execute(select(P).where(P.c.case_id == case.id).order_by(P.c.id.desc())).mappings().first()
        logins = _logins(conn)
    # the case chosen before the first run: in English AppTest cannot run the page again (it formats the form's
    # selectboxes in the test's process, in Chinese, and finds no such option)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["session_token"] = session_token("agency1")
    at.session_state["lang"] = lang
    at.session_state["agency_case"] = case.id
    at.run()
    assert at.selectbox(key="agency_case").value == case.id
    assert not at.exception and not errors(at), errors(at)
    texts = " ".join(m.value for m in at.markdown)
    word = {"zh": "计划", "en": "Plan"}[lang]
    assert f"{word} {plan['id']}" in texts
    status = dp_label(plan["status"], lang)
    assert status in texts
    # the instalments as a static table (an agency gets no grid, so no export control)
    due = {"zh": "到期日", "en": "Due date"}[lang]
    inst = [tb.value for tb in at.table if due in tb.value.columns]
    assert inst and len(inst[0]) == plan["instalments"]
    # the work list flags the case's plan
    flag = {"zh": "协商还款", "en": "Repayment plans"}[lang]
    work = next(tb.value for tb in at.table if flag in tb.value.columns)
    assert set(work[flag]) - {""} <= {dp_flag(x, lang) for x in dp.STATUSES}
    found = findings(at, lang, logins)
    assert found == [], "\n".join(found)


def dp_label(status, lang):
    from components.plan_panels import status_label
    return status_label(status, lang)


def dp_flag(status, lang):
    from components.plan_panels import flag_label
    return flag_label(status, lang)


def test_agency_records_a_plan_on_its_own_case_and_is_refused_a_bad_one(app_env):
    with app_env.connect() as conn:
        case = _agency_case(conn, 1, with_plan=False)
        assert case is not None
        before = conn.execute(select(func.count()).select_from(P)).scalar_one()
    at = logged_in("agency1", "pages/agency_workspace.py")
    at.selectbox(key="agency_case").set_value(case.id).run()
    assert not at.exception and not errors(at), errors(at)
    today = dt.date.today()
    # a first instalment before the agreement: refused with its message, nothing written
    at.number_input(key=f"plan_n_{case.id}").set_value(2)
    at.number_input(key=f"plan_total_{case.id}").set_value(300.0)
    at.date_input(key=f"plan_first_{case.id}").set_value(today - dt.timedelta(days=1))
    at.run()
    at.button(key=f"plan_submit_{case.id}").click().run()
    assert any("不早于约定日期" in e for e in errors(at)), errors(at)
    with app_env.connect() as conn:
        assert conn.execute(select(func.count()).select_from(P)).scalar_one() == before
    at.date_input(key=f"plan_first_{case.id}").set_value(today + dt.timedelta(days=10)).run()
    at.button(key=f"plan_submit_{case.id}").click().run()
    assert not errors(at), errors(at)
    assert any("已登记案件" in x.value for x in at.success)
    with app_env.connect() as conn:
        plan = conn.execute(select(P).where(P.c.case_id == case.id).order_by(P.c.id.desc())).mappings().first()
        inst = conn.execute(select(s.repayment_plan_instalment.c.amount)
                            .where(s.repayment_plan_instalment.c.plan_id == plan["id"])).scalars().all()
        last = conn.execute(select(s.audit_log.c.action, s.audit_log.c.target, s.audit_log.c.username)
                            .order_by(s.audit_log.c.id.desc())).first()
    assert (plan["agreed_by"], plan["agency_id"], plan["status"], plan["source"]) == ("agency1", 1, "active", "app")
    assert sorted(inst) == [150.0, 150.0] and plan["start_on"] == today
    assert tuple(last) == ("repayment_plan_agreed", f"case:{case.id}", "agency1")
    # shown at once; a second active plan is not offered
    at.run()
    assert any(f"计划 {plan['id']}" in m.value for m in at.markdown)
    assert any("已有履约中的计划" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == f"plan_submit_{case.id}"]


@pytest.mark.parametrize("user", ["hq_wang", "branch01"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_collections_plans_view_matches_the_summary(app_env, user, lang):
    from components.formatting import pct
    with app_env.connect() as conn:
        sc = scope_for_user(conn, user)
        month = queries.available_months(conn)[-1]
        total = dp.summary(conn, sc, month, 12).iloc[0]
        logins = _logins(conn)
    at = render(user, "pages/collections.py", lang)
    assert not at.exception and not errors(at), errors(at)
    metrics = {m.label: m.value for m in at.metric}
    made, rate = {"zh": ("新增计划", "履约率"), "en": ("Plans made", "Kept rate")}[lang]
    assert total["plans"] > 0 and metrics[made] == f"{int(total['plans']):,}"
    assert metrics[rate] == pct(total["kept_rate"], 1)
    figs = {c.proto.spec: c for c in at.get("plotly_chart")}
    import json
    titles = [json.loads(spec)["layout"]["title"]["text"] for spec in figs]
    want = {"zh": ("协商还款计划：按入催逾期档", "协商还款计划：按约定机构（条末为履约率）"),
            "en": ("Repayment plans by entry bucket", "Repayment plans by agency (kept rate at the bar's end)")}[lang]
    assert set(want) <= set(titles)
    spec = next(json.loads(x) for x in figs if json.loads(x)["layout"]["title"]["text"] == want[0])
    names = [tr["name"] for tr in spec["data"]]
    assert names == {"zh": ["已履约", "已违约", "履约中", "履约率"], "en": ["Kept", "Broken", "Active", "Kept rate"]}[lang]
    assert spec["layout"]["yaxis"]["title"]["text"] == {"zh": "计划数(件)", "en": "Plans"}[lang]
    found = findings(at, lang, logins)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("user", ["hq_wang", "branch01"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_customer_360_shows_the_customers_plans(app_env, user, lang):
    with app_env.connect() as conn:
        sc = scope_for_user(conn, user)
        row = conn.execute(select(s.customer.c.customer_no, s.customer.c.id, P.c.id.label("plan_id"))
                           .join(K, K.c.customer_id == s.customer.c.id).join(P, P.c.case_id == K.c.id)
                           .where(sc.row_clause(s.customer.c.branch_id))
                           .order_by((P.c.status != "broken"), P.c.id)).first()  # a broken plan where there is one
        status = conn.execute(select(P.c.status).where(P.c.id == row.plan_id)).scalar_one()
        assert row is not None
        logins = _logins(conn)
    at = render(user, "pages/customer_360.py", lang)
    at.text_input(key="c360_query").input(row.customer_no).run()
    assert not at.exception and not errors(at), errors(at)
    word = {"zh": "计划", "en": "Plan"}[lang]
    assert any(f"{word} {row.plan_id}" in m.value for m in at.markdown)
    back = {"zh": "恢复正常催收", "en": "back in ordinary collection"}[lang]
    assert any(back in w.value for w in at.warning) == (status == "broken")
    found = findings(at, lang, logins)
    assert found == [], "\n".join(found)
