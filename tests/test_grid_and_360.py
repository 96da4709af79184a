"""Grid map and Customer 360 through AppTest: drill-down, household list, search, purpose-gated PII, report, audit."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from sqlalchemy import select

from components.map_layers import METRICS, classify, colours, grid_deck
from data_access import customer360, grid, queries, schema as s
from data_access.scope import scope_for_user

from .security.served import served  # noqa: F401 - a fixture
from .test_app import APP, app_env, errors, logged_in, session_token  # noqa: F401 - fixtures shared with the shell tests


def _audit_rows(engine, action: str) -> list:
    with engine.connect() as conn:
        return conn.execute(select(s.audit_log).where(s.audit_log.c.action == action).order_by(s.audit_log.c.id.desc())).all()


def test_grid_levels_and_scope(app_env):
    with app_env.connect() as conn:
        hq, leader = scope_for_user(conn, "hq_wang"), scope_for_user(conn, "branch01")
        month = queries.available_months(conn)[-1]
        counties = grid.grid(conn, hq, month, "county")
        assert list(counties["code"]) == ["320324"]
        tw_all = grid.grid(conn, hq, month, "township", "320324")
        tw_own = grid.grid(conn, leader, month, "township", "320324")
        assert len(tw_all) == 20 and 0 < len(tw_own) < 20
        assert set(tw_own["code"]) == set(queries.townships(conn, leader)["code"])
        # the townships' households add up to the county's
        assert tw_all["households"].sum() == pytest.approx(counties["households"].iloc[0])
        foreign = sorted(set(tw_all["code"]) - set(tw_own["code"]))[0]
        assert grid.grid(conn, leader, month, "village", foreign).empty
        assert grid.region_path(conn, leader, foreign) == []
        villages = grid.grid(conn, hq, month, "village", tw_all["code"].iloc[0])
        assert villages["manager"].notna().all()
        assert villages["households"].sum() == pytest.approx(tw_all["households"].iloc[0])


@pytest.mark.parametrize("level", ["county", "township"])
def test_whole_bank_map_levels_are_their_villages_summed(app_env, level):
    """Head office reads the map's upper levels from mart_area; every measure of every grid must be its villages'
    sum (as a branch-scoped user's path computes it), in every month."""
    measures = list(s.AREA_MEASURES)
    with app_env.connect() as conn:
        hq = scope_for_user(conn, "hq_wang")
        months = queries.available_months(conn)
        for month in (months[0], months[-1]):
            upper = grid.grid(conn, hq, month, level).set_index("code")[measures]
            villages = grid.grid(conn, hq, month, "village", county_code="320324")
            key = villages["parent_code"] if level == "township" else villages["code"].str[:6]
            summed = villages.groupby(key)[measures].sum()
            assert len(upper) >= 1 and upper["balance"].sum() > 0
            pd.testing.assert_frame_equal(upper.sort_index(), summed.reindex(upper.index).fillna(0).sort_index(),
                                          check_dtype=False, check_names=False, atol=0.01)


def test_map_colours_and_legend_are_complete():
    df = pd.DataFrame({"v": [0.01, 0.02, 0.03, None, 0.05, 0.04]})
    cls, edges = classify(df["v"])
    assert list(cls) == [0, 1, 2, -1, 4, 3] or cls[3] == -1
    assert edges[0] == pytest.approx(0.01) and edges[-1] == pytest.approx(0.05)


def test_grid_deck_is_offline_and_labelled(app_env):
    with app_env.connect() as conn:
        hq = scope_for_user(conn, "hq_wang")
        month = queries.available_months(conn)[-1]
        tw = grid.grid(conn, hq, month, "township", "320324")
    for metric in METRICS:
        deck, legend = grid_deck(tw, metric, "zh")
        assert legend, metric
    text = deck.to_json()
    assert "cartocdn" not in text and "mapbox://" not in text and "https://" not in text
    spec = json.loads(text)
    assert spec["mapStyle"].startswith("data:")  # an inline style: no basemap is fetched
    labels = next(layer for layer in spec["layers"] if layer["@@type"] == "TextLayer")
    assert "双沟镇" in {d["name"] for d in labels["data"]}
    assert set("双沟镇") <= set(labels["characterSet"])
    fills, legend = colours(tw, "npl_ratio", "zh")
    assert len(fills) == len(tw) and all(len(f) == 3 for f in fills)


def test_grid_tooltips_open_towards_the_middle_and_wrap():
    """A grid right of and below the map's middle has its tooltip box left of and above the pointer, one left of
    and above the middle right and below; a box wraps at its maximum width (the browser test checks the boxes stay
    inside the map)."""
    from components.map_layers import TIP_BEFORE, TIP_GAP, TIP_MAX_PX

    def square(x, y):
        return json.dumps({"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1],
                                                               [x, y]]]})
    corners = (("NW", 117.0, 33.1), ("SE", 117.1, 33.0))
    df = pd.DataFrame([{"code": c, "name": c, "geometry": square(x, y), "centroid_lon": x + 0.05,
                        "centroid_lat": y + 0.05, "households": 100, "balance": 1e6, "npl_ratio": 0.01,
                        "credit_coverage": 0.5, "manager": "王"} for c, x, y in corners])
    deck, _ = grid_deck(df, "households", "zh")
    place = {r["code"]: (r["tip_x"], r["tip_y"]) for r in deck.layers[0].data}
    assert place == {"NW": (TIP_GAP, TIP_GAP), "SE": (TIP_BEFORE, TIP_BEFORE)}
    html = deck._tooltip["html"]
    assert "translate({tip_x},{tip_y})" in html and f"max-width:{TIP_MAX_PX}px" in html and "white-space:normal" in html


@pytest.mark.parametrize("user", ["hq_wang", "branch01"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_grid_ranking_fits_beside_the_map_at_1600_px(app_env, user, lang):
    """The ranking beside the map shows all four columns at 1600 px: its columns fit the page column it stands in
    (in 1.15 of 3.15 parts of the main area the responsible branch was cut off)."""
    from streamlit.testing.v1 import AppTest

    from components.tables import MAIN_PX
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["session_token"] = session_token(user)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/grid_map.py").run()
    assert not at.exception and not errors(at)
    widths = {k: c["width"] for k, c in json.loads(at.dataframe[0].proto.columns).items() if c.get("width")}
    beside = next(c for c in at.columns if len(c.dataframe))  # its share of the main area (weights add up to 1)
    assert len(widths) == 4 and sum(widths.values()) <= (MAIN_PX - 16) * beside.weight, (widths, beside.weight)


def test_grid_map_drill_down_to_households_and_open_360(app_env):
    at = logged_in("branch01", "pages/grid_map.py")
    assert not at.exception and not errors(at)
    assert at.get("deck_gl_json_chart")
    # county → township (the leader's own) → village → households
    at.selectbox(key=[sb.key for sb in at.selectbox if sb.key and sb.key.startswith("open_township")][0]).select_index(1).run()
    assert not errors(at)
    at.selectbox(key=[sb.key for sb in at.selectbox if sb.key and sb.key.startswith("open_village")][0]).select_index(1).run()
    assert not at.exception and not errors(at)
    assert at.subheader and "农户名单" in at.subheader[0].value
    for metric in METRICS:  # every metric renders at the top level too
        top = logged_in("hq_wang", "pages/grid_map.py")
        top.selectbox(key="map_metric").set_value(metric).run()
        assert not top.exception and not errors(top), metric


def test_customer_360_search_purpose_and_report(app_env, served):
    with app_env.connect() as conn:
        leader = scope_for_user(conn, "branch01")
        cust = conn.execute(select(s.customer.c.id, s.customer.c.customer_no, s.customer.c.phone, s.customer.c.name)
                            .join(s.loan, s.loan.c.customer_id == s.customer.c.id)
                            .where(s.customer.c.branch_id.in_(leader.branch_ids)).limit(1)).first()
    at = logged_in("branch01", "pages/customer_360.py")
    at.text_input(key="c360_query").input(cust.customer_no).run()
    assert not at.exception and not errors(at)
    assert cust.customer_no in at.subheader[0].value
    # masked until a purpose is chosen, then in clear, and both openings audited with their purpose
    assert cust.phone not in at.caption[0].value
    at.selectbox(key="c360_purpose").set_value("inspection").run()
    assert cust.phone in at.caption[0].value and cust.name in at.subheader[0].value
    views = _audit_rows(app_env, "view_customer")
    assert views[0].customer_id == cust.id and '"purpose": "inspection"' in views[0].detail
    assert '"masked": false' in views[0].detail
    assert any('"masked": true' in v.detail for v in views if v.customer_id == cust.id)
    # one-click report: audited on download, and its text carries the customer's figures
    report = [b for b in at.get("download_button") if b.proto.label.startswith("一键")][0]
    served.fetch(report)  # the browser's click: the PDF is made, and audited, only now
    exports = _audit_rows(app_env, "export")
    assert exports[0].target == f"post_loan_report:{cust.customer_no}"


def test_report_text_contains_the_customers_figures(app_env):
    from pypdf import PdfReader
    from components.post_loan_report import build_report
    from components.formatting import money
    with app_env.connect() as conn:
        hq = scope_for_user(conn, "hq_wang")
        cid = conn.execute(select(s.loan.c.customer_id).where(s.loan.c.status == "active").limit(1)).scalar()
        parts = customer360.customer_360(conn, hq, cid)
    pdf = build_report(parts, "hq_wang", masked=False)
    # pypdf reads the embedded CID font as UTF-16 with NULs between characters
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\x00", "")
    p = parts["profile"]
    assert p["customer_no"] in text and p["name"] in text
    assert money(p["deposit_balance"]) in text.replace("\n", "")
    assert parts["loans"]["loan_no"].iloc[0] in text
    assert "结论" in text and "风险评价" in text


def test_foreign_customer_is_not_found_and_audited(app_env):
    with app_env.connect() as conn:
        leader = scope_for_user(conn, "branch01")
        foreign = conn.execute(select(s.customer.c.customer_no).where(~s.customer.c.branch_id.in_(leader.branch_ids))
                               .limit(1)).scalar()
    at = logged_in("branch01", "pages/customer_360.py")
    at.text_input(key="c360_query").input(foreign).run()
    unknown = logged_in("branch01", "pages/customer_360.py")
    unknown.text_input(key="c360_query").input("C9999999999999").run()
    for page in (at, unknown):
        assert not page.exception
        assert [w.value for w in page.warning] == ["未找到该客户，或您无权查看该客户。"]
        assert not page.subheader
    denied = _audit_rows(app_env, "view_denied")
    assert {d.target for d in denied[:2]} == {foreign, "C9999999999999"}


def test_customer_360_data_refuses_other_scopes(app_env):
    with app_env.connect() as conn:
        leader = scope_for_user(conn, "branch01")
        foreign = conn.execute(select(s.customer.c.id).where(~s.customer.c.branch_id.in_(leader.branch_ids)).limit(1)).scalar()
        own = conn.execute(select(s.customer.c.id).where(s.customer.c.branch_id.in_(leader.branch_ids)).limit(1)).scalar()
        assert customer360.customer_360(conn, leader, foreign) is None
        assert customer360.customer_360(conn, leader, own) is not None
        for user in ("agency1", "strategy_chen", "admin"):
            assert customer360.customer_360(conn, scope_for_user(conn, user), own) is None
