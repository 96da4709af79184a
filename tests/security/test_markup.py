"""Finding 6: data is never read as Markdown or HTML. Customer and village names that are Markdown images and links
render as the text they are: no request to the image's address, no clickable link (Customer 360's header and
caption, the grid map's household header and breadcrumb). Finding 11 (part): map tooltips break lines for real."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import select, update

from components.safe_text import html_text, md, t_md
from data_access import demo, grid, marts, schema as s
from data_access.engine import make_engine
from data_access.migrate import upgrade
from data_access.scope import mask_name, scope_for_user

from ..appenv import app_on
from ..test_app import logged_in
from .markup import hostile_markup, links_and_images

IMAGE = "![](http://127.0.0.1:8629/p.png)"
LINK = "[核验](http://x.invalid/a)"
PLOTLY_LINK = '<a href="http://x.invalid/p">核验</a>'
PAYLOADS = [IMAGE, LINK, "<img src=http://127.0.0.1:8629/q.png>", "http://x.invalid/b", "www.x.invalid",
            ":red[**x**] $x$ `y` *z* _w_ # h", "a\n\n# heading\n[l](http://x.invalid/c)"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_makes_no_link_image_or_html(payload):
    escaped = md(payload)
    assert links_and_images(escaped) == []
    assert "\n" not in escaped and "<" not in escaped.replace("\\<", "")
    # commonmark shows the escaped text as the original (line breaks as spaces)
    import commonmark
    shown = commonmark.commonmark(escaped)
    assert shown.startswith("<p>") and shown.count("<p>") == 1 and "<img" not in shown and "<a " not in shown


@pytest.mark.parametrize("payload", PAYLOADS)
def test_html_text_is_inert_inside_html_and_markdown(payload):
    import html
    escaped = html_text(payload)
    assert not set(escaped) & set("<>\"'[]()!*_`:$\n")
    assert links_and_images(f"<div>{escaped}</div>") == [] and links_and_images(f"a <b>{escaped}</b>") == []
    assert html.unescape(escaped) == payload.replace("\n", " ")


def test_t_md_escapes_the_values_but_keeps_the_templates_markdown():
    out = t_md("map.households_of", village=LINK)
    assert links_and_images(out) == [] and "核验" in out


@pytest.fixture(scope="module")
def hostile_bank(tmp_path_factory):
    """A tiny demo bank where a customer is named as a Markdown image and the customer's village as a link.
    Yields (engine, customer id, village code)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('markup') / 'bank.db'}")
    upgrade(engine)
    demo.generate(engine, size="tiny", seed=29, progress=False)
    c = s.customer
    with engine.begin() as conn:
        cid, village = conn.execute(select(c.c.id, c.c.village_code).order_by(c.c.id)).first()
        conn.execute(update(c).where(c.c.id == cid).values(name=IMAGE, address=LINK))
        conn.execute(update(s.region).where(s.region.c.code == village).values(name=LINK))
        # a branch and an agency named in plotly's pseudo-HTML (a link plotly would draw in a legend, tick or hover)
        branch = conn.execute(select(s.org_unit.c.id).where(s.org_unit.c.level == "branch")
                              .order_by(s.org_unit.c.id)).scalar()
        conn.execute(update(s.org_unit).where(s.org_unit.c.id == branch).values(name=PLOTLY_LINK))
        conn.execute(update(s.agency).values(name=PLOTLY_LINK))
    marts.refresh(engine)
    with app_on(engine):
        yield engine, cid, village
    engine.dispose()


def test_customer_360_shows_a_hostile_name_as_text(hostile_bank):
    engine, cid, _ = hostile_bank
    for purpose in (None, "inspection"):  # masked, and in full once a purpose is chosen
        at = logged_in("hq_wang")
        at.session_state["c360_customer_id"] = cid
        if purpose:
            at.session_state["c360_purpose"] = purpose
        at.switch_page("pages/customer_360.py").run()
        assert not at.exception
        assert hostile_markup(at) == [], hostile_markup(at)
        shown = IMAGE if purpose else mask_name(IMAGE)
        assert any(h.value.startswith(md(shown)) for h in at.subheader)  # the name is there, as text


def test_grid_map_shows_a_hostile_village_name_as_text(hostile_bank):
    engine, _, village = hostile_bank
    with engine.connect() as conn:
        crumb = grid.region_path(conn, scope_for_user(conn, "hq_wang"), village)
    assert crumb and crumb[-1]["name"] == LINK
    at = logged_in("hq_wang")
    at.session_state["grid_path"] = crumb
    at.switch_page("pages/grid_map.py").run()
    assert not at.exception
    assert any("核验" in h.value for h in at.subheader)  # the household list's header names the village
    assert any("核验" in b.proto.label for b in at.button)  # and so does the breadcrumb
    assert hostile_markup(at) == [], hostile_markup(at)
    # one level up, the village is a grid on the map and a row of the ranking: still no link anywhere
    at.session_state["grid_path"] = crumb[:-1]
    at.run()
    assert not at.exception and hostile_markup(at) == []


def _tooltip_lines(deck, row: dict) -> list[str]:
    """The lines the browser shows for ``row`` under the deck's tooltip, filled in as Streamlit does: each {field}
    replaced by the row's value, HTML-escaped in an HTML tooltip (so markup inside a value, a <br/> included, is
    printed as text and breaks no line); a text tooltip is set as plain text, where a newline breaks the line."""
    import html
    import re
    spec = deck._tooltip
    template = spec.get("html") or spec["text"]
    # the box the lines sit in (placed by the row's tip_x / tip_y, components.map_layers.tooltip)
    template = re.sub(r'^<div style="[^"<>]*">(.*)</div>$', r"\1", template, flags=re.S)
    for k, v in row.items():
        template = template.replace("{" + k + "}", html.escape(str(v)) if "html" in spec else str(v))
    if "html" not in spec:
        return template.split("\n")
    # a line is the bold name or a block; an empty block takes no height, so it is no line on screen
    parts = re.findall(r"<b>(.*?)</b>|<div>(.*?)</div>", template, flags=re.S)
    return [html.unescape(b or d) for b, d in parts if (b or d)]


def test_grid_map_tooltip_has_real_line_breaks():
    from components.map_layers import grid_deck
    square = json.dumps({"type": "Polygon", "coordinates": [[[117, 33], [117.1, 33], [117.1, 33.1], [117, 33]]]})
    df = pd.DataFrame([{"code": "V1", "name": LINK, "geometry": square, "centroid_lon": 117.05, "centroid_lat": 33.05,
                        "households": 120, "balance": 3_500_000.0, "npl_ratio": 0.0123, "credit_coverage": 0.456,
                        "manager": "王经理"}])
    deck, _ = grid_deck(df, "households", "zh")
    assert _tooltip_lines(deck, deck.layers[0].data[0]) == [
        LINK, "建档户数: 120", "贷款余额: 350.00 万元 · 不良率: 1.23%", "授信覆盖率: 45.6%", "责任人: 王经理"]


def test_outlet_tooltip_has_no_blank_lines():
    """An outlet's tooltip is its name and its branch: the grids' further lines are empty for it and must take no
    room (three blank lines under the branch before)."""
    from components.map_layers import grid_deck
    square = json.dumps({"type": "Polygon", "coordinates": [[[117, 33], [117.1, 33], [117.1, 33.1], [117, 33]]]})
    df = pd.DataFrame([{"code": "V1", "name": "村", "geometry": square, "centroid_lon": 117.05, "centroid_lat": 33.05,
                        "households": 120, "balance": 3_500_000.0, "npl_ratio": 0.0123, "credit_coverage": 0.456,
                        "manager": "王经理"}])
    outlets = pd.DataFrame([{"name": "魏集网点", "branch": "魏集支行", "lon": 117.05, "lat": 33.05}])
    deck, _ = grid_deck(df, "households", "zh", outlets=outlets)
    layer = next(la for la in deck.layers if la.id == "outlets")
    assert _tooltip_lines(deck, layer.data[0]) == ["网点: 魏集网点", "魏集支行"]
    assert "<br" not in deck._tooltip["html"]


def test_trajectory_tooltip_has_real_line_breaks():
    """The trajectory map (plotly): each record's hover box is its lines, values from customdata shown as text."""
    import re
    from components.manager_charts import trajectory_figure
    ev = pd.DataFrame([{"id": 1, "event_at": pd.Timestamp("2026-10-09 09:30"), "event_type": "visit", "lon": 117.0,
                        "lat": 33.0, "customer_id": 7, "customer_no": "C0000007", "name": PLOTLY_LINK,
                        "home_lon": 117.001, "home_lat": 33.001, "flags": "离家过远", "worst": "high"}])
    fig = trajectory_figure(ev, "zh")
    tr = next(tr for tr in fig.data if tr.mode == "markers+text")
    template, data = tr.hovertemplate[0], list(tr.customdata[0])
    lines = re.sub(r"%\{customdata\[(\d)\]\}", lambda m: data[int(m.group(1))],
                   template.replace("<extra></extra>", "")).split("<br>")
    assert [re.sub(r"</?b>", "", x) for x in lines] == [
        "1. 走访", "10-09 09:30", "C0000007 &lt;a href=\"http://x.invalid/p\"&gt;核验&lt;/a&gt;", "⚠ 离家过远"]


def _chart_data_texts(spec: str) -> list[str]:
    """The strings a plotly figure takes from data (trace values, names, labels, custom data, tick texts); the
    templates are the cockpit's own and may hold tags."""
    fig = json.loads(spec)
    out = []

    def strings(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            for x in v:
                strings(x)
        elif isinstance(v, dict) and "text" in v:
            strings(v["text"])
    for trace in fig.get("data", []):
        for field in ("x", "y", "text", "hovertext", "labels", "parents", "ids", "name", "customdata",
                      "legendgroup", "legendgrouptitle"):
            strings(trace.get(field))
    for key, axis in fig.get("layout", {}).items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            strings(axis.get("ticktext"))
    return out


@pytest.mark.parametrize("user, page", [("hq_wang", "pages/overview.py"), ("hq_wang", "pages/portfolio_risk.py"),
                                        ("hq_wang", "pages/collections.py"), ("hq_wang", "pages/managers.py"),
                                        ("hq_wang", "pages/grid_map.py")])
def test_charts_draw_hostile_names_as_text(hostile_bank, user, page):
    """Plotly draws a subset of HTML in its text (a, b, i, span, br…): a branch or agency named as a link shows as
    the text it is, in every chart of the page."""
    import re
    at = logged_in(user, page)
    assert not at.exception
    texts = [x for e in at.get("plotly_chart") for x in _chart_data_texts(e.proto.spec)]
    assert texts, "the page draws charts"
    tags = [x for x in texts if re.search(r"<\s*/?\s*(a|b|i|em|span|br|sup|sub|img)\b", x, re.IGNORECASE)]
    assert tags == [], tags[:5]
    if page.endswith("collections.py"):  # the hostile agency is in its charts, as text
        assert any("核验" in x and "&lt;a" in x for x in texts)
