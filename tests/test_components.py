"""Pure UI helpers: formatting, translation catalogues, KPI card colours, chart builders."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from components import charts, formatting as fmt
from components.i18n import catalogue, translate
from components.kpi_cards import Kpi, delta_class, kpi_card_html


@pytest.mark.parametrize("value,lang,expected", [
    (850, "zh", "850 元"), (12_345_678, "zh", "1,234.57 万元"), (3.2e9, "zh", "32.00 亿元"),
    (850, "en", "¥850"), (12_345_678, "en", "¥12.35 M"), (3.2e9, "en", "¥3.20 bn"), (None, "zh", "—"),
    (math.nan, "en", "—")])
def test_money(value, lang, expected):
    assert fmt.money(value, lang) == expected


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_metric_deltas_start_with_their_sign_in_both_languages(lang):
    """st.metric draws a delta as a fall (arrow down, inverse colours) only when its text starts with '-': the
    English money format put '¥' first ('¥-6.00 M' drawn as a rise in red for a falling loss)."""
    from streamlit.elements.metric import _is_negative_delta
    for value in (-6e6, -16e6, -1234.5, -12.0):
        assert _is_negative_delta(fmt.delta_money(value, lang)), fmt.delta_money(value, lang)
        assert not _is_negative_delta(fmt.delta_money(-value, lang))
        assert fmt.delta_money(-value, lang).startswith("+")
    assert fmt.money(-6e6, "en") == "-¥6.00 M" and fmt.money(-6e6, "zh") == "-600.00 万元"
    assert _is_negative_delta(fmt.delta_pp(-0.4, 1, lang)) and not _is_negative_delta(fmt.delta_pp(0.4, 1, lang))
    assert fmt.delta_pp(-0.4, 1, "zh") == "-0.4 个百分点" and fmt.delta_pp(None) is None


def test_english_counts_carry_no_chinese_unit():
    """'41,842 户' and '406 项' showed in English: an empty English entry fell back to the Chinese one."""
    assert translate("unit.households", "en") == "" and translate("unit.households", "zh") == "户"
    assert fmt.count_with_unit(41842, translate("unit.households", "en")) == "41,842"


def test_rates_and_months():
    assert fmt.pct(0.01234) == "1.23%"
    assert fmt.pct(0.5, 1) == "50.0%"
    assert fmt.signed_pct(-0.012) == "−1.2%"
    assert fmt.signed_pp(0.25) == "+0.25 个百分点" and fmt.signed_pp(-0.25, lang="en") == "−0.25 pp"
    assert fmt.month_label("2026-03", "zh") == "2026年3月"
    assert fmt.month_label("2026-03", "en") == "Mar 2026"
    assert fmt.prev_month("2026-01") == "2025-12"
    assert fmt.prev_month("2026-10", 12) == "2025-10"


def test_catalogues_have_the_same_keys_and_placeholders():
    zh, en = catalogue("zh"), catalogue("en")
    assert set(zh) == set(en)
    import string
    for k in zh:
        names = lambda s: {f[1] for f in string.Formatter().parse(s) if f[1]}
        assert names(zh[k]) == names(en[k]), k
    assert translate("no.such.key", "en") == "no.such.key"


def test_domain_catalogue_files_merge_and_refuse_a_key_defined_twice(tmp_path, monkeypatch):
    import components.i18n as i18n
    (tmp_path / "zh.json").write_text('{"a": "甲"}', encoding="utf-8")
    (tmp_path / "zh.extra.json").write_text('{"b": "乙"}', encoding="utf-8")
    monkeypatch.setattr(i18n, "_DIR", tmp_path)
    i18n.catalogue.cache_clear()
    try:
        assert i18n.catalogue("zh") == {"a": "甲", "b": "乙"}
        (tmp_path / "zh.more.json").write_text('{"a": "丙"}', encoding="utf-8")
        i18n.catalogue.cache_clear()
        with pytest.raises(ValueError, match="zh.more.json"):
            i18n.catalogue("zh")
    finally:
        i18n.catalogue.cache_clear()


@pytest.mark.parametrize("change,good_up,kind,expected", [
    (0.01, True, "rel", "kpi-good"), (-0.01, True, "rel", "kpi-bad"), (0.3, False, "pp", "kpi-bad"),
    (-0.3, False, "pp", "kpi-good"), (0.001, False, "pp", "kpi-flat"), (None, True, "rel", "kpi-flat"),
    (0.5, None, "rel", "kpi-flat")])
def test_delta_colour_follows_what_is_good_for_a_bank(change, good_up, kind, expected):
    assert delta_class(change, good_up, kind) == expected


def test_kpi_card_shows_both_deltas():
    html = kpi_card_html(Kpi("不良率", "1.35%", 0.12, -0.3, "pp", False), "环比", "同比")
    assert "环比 ▲ +0.12 个百分点" in html and "同比 ▼ −0.30 个百分点" in html
    assert html.count("kpi-bad") == 1 and html.count("kpi-good") == 1


@pytest.fixture
def trend():
    months = [f"2026-{m:02d}" for m in range(1, 7)]
    return pd.DataFrame({"month": months, "balance": [4e9, 4.1e9, 4.2e9, 4.3e9, 4.4e9, 4.5e9],
                         "npl_ratio": [0.012, 0.013, 0.014, 0.013, 0.012, 0.012], "m1_ratio": [0.01] * 6,
                         "m2_ratio": [0.003] * 6, "m3p_ratio": [0.015] * 6, "credit_coverage": [0.55] * 6,
                         "usage_rate": [0.78] * 6})


@pytest.mark.parametrize("builder", [charts.balance_npl_chart, charts.overdue_chart, charts.coverage_chart])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_chart_has_title_axis_units_and_named_series(builder, lang, trend):
    fig = builder(trend, lang)
    assert fig.layout.title.text
    assert fig.layout.yaxis.title.text and ("%" in fig.layout.yaxis.title.text or "亿" in fig.layout.yaxis.title.text
                                            or "100M" in fig.layout.yaxis.title.text)
    assert all(tr.name for tr in fig.data) and len(fig.data) >= 2
    assert fig.layout.legend.orientation == "h"


def test_balance_chart_values_in_yi_and_percent(trend):
    fig = charts.balance_npl_chart(trend, "zh")
    assert list(fig.data[0].y) == pytest.approx([40, 41, 42, 43, 44, 45])
    assert list(fig.data[1].y) == pytest.approx([1.2, 1.3, 1.4, 1.3, 1.2, 1.2])


def test_table_helper_formats_each_column_one_way():
    """One format per kind in every table (#18): money with two decimals and thousands separators (the same column
    showed '142.2', '120.33', '142,487', '24833.33'), a small sum in 元 rather than '0.06' 万元, a missing value as
    '—' (not 'None' or blank), a yes/no in words (not a checkbox), rates with their percent sign."""
    from components.tables import Col, display_frame
    df = pd.DataFrame({"name": ["甲", None, "丙", ""], "bal": [1_422_000.0, 1_203_300.0, 1_424_870_000.0, None],
                       "fee": [600.0, 75.5, None, 0.0], "n": [1200, None, 3, 0], "ok": [True, False, None, True],
                       "r": [0.01234, None, 0.5, 0.0], "full": [3.0, 1.0, 20.0, 4.0]})
    shown, config, formats = display_frame(df, {"name": Col("col.manager"), "bal": Col("col.balance", "money_wan"),
                                                "fee": Col("col.amount", "money_wan"), "n": Col("mgr.customers", "count"),
                                                "ok": Col("c360.field.ebank"), "r": Col("league.npl_ratio", "rate"),
                                                "full": Col("league.balance", "money_wan")})
    text = {c: [formats[c](v) for v in shown[c]] if c in formats else list(shown[c]) for c in shown.columns}
    assert text["客户经理"] == ["甲", "—", "丙", "—"]
    assert text["余额(万元)"] == ["142.20", "120.33", "142,487.00", "—"]
    assert "金额(元)" in text and text["金额(元)"] == ["600.00", "75.50", "—", "0.00"]  # under 1 万元: in 元
    assert text[next(c for c in shown.columns if c.startswith("管户"))] == ["1,200", "—", "3", "0"]
    assert list(shown.iloc[:, 4]) == ["是", "否", "—", "是"]
    assert text[next(c for c in shown.columns if "不良率" in c)] == ["1.23%", "—", "50.00%", "0.00%"]
    # a column without gaps stays numbers (the table sorts it as numbers); one with gaps is its text, right-aligned
    # (the grid draws an empty number cell as 'None' whatever the Styler says)
    assert pd.api.types.is_float_dtype(shown[next(c for c in shown.columns if c.startswith("余额(元)"))])
    assert config["余额(万元)"]["alignment"] == "right" and shown["余额(万元)"].isna().sum() == 0
    assert config["客户经理"]["pinned"] is True  # the row's name stays in view when a wide table scrolls


def test_fitted_widths_by_hand():
    """Worked by hand: columns need (label+values, values, least) = (200, 100, 100), (150, 150, 120), (100, 60, 60):
    450 in all. In 300 px, 150 too wide; the headers add 100 + 0 + 40 = 140 < 150, so every header gives way
    entirely, and the values (310) are 10 over: b's text, the only one that may be cut, gives 10."""
    from components.tables import fitted_widths
    needs = {"a": (200, 100, 100), "b": (150, 150, 120), "c": (100, 60, 60)}
    assert fitted_widths(needs, room=450) == {"a": 200, "b": 150, "c": 100}  # fits: untouched
    assert fitted_widths(needs, room=300) == {"a": 100, "b": 140, "c": 60}
    # 70 too wide of the headers' 140: each header gives up half of what it adds
    assert fitted_widths(needs, room=380) == {"a": 150, "b": 150, "c": 80}
    # the values alone (310) do not fit 290 either: b's text gives up 20 of the 30 it may
    assert fitted_widths(needs, room=290) == {"a": 100, "b": 130, "c": 60}
    assert fitted_widths(needs, room=200) == {"a": 100, "b": 120, "c": 60}  # least widths: it scrolls

def test_a_wide_table_fits_at_1600_px_with_its_headers_cut_first():
    """Eleven columns whose long English headers took 1,852 px (Collections' bucket table: the right-hand ones
    scrolled out of sight) fit the main area once the headers give way; a cut header keeps its text on hover."""
    from components.tables import MAIN_PX, Col, display_frame
    labels = ["Entry bucket", "Assigned", "Overdue at entry (¥10k)", "Recovered (¥10k)", "Recovery rate", "Cure rate",
              "Roll-forward rate", "Contact rate", "Promise-to-pay rate", "Promise kept rate",
              "Cost per ¥100 recovered (¥)"]
    df = pd.DataFrame({f"c{i}": [0.25, 0.5] if i > 1 else (["M1", "M2"] if i == 0 else [12, 340])
                       for i in range(len(labels))})
    cols = {f"c{i}": Col(label, "text" if i == 0 else "count" if i == 1 else "rate", raw=True)
            for i, label in enumerate(labels)}
    _, config, _ = display_frame(df, cols)
    assert sum(c["width"] for c in config.values()) <= MAIN_PX
    cut = [c for c in config.values() if "help" in c]
    assert cut and all(c["help"] == c["label"] for c in cut)
    assert all(c["width"] >= 64 for c in config.values())


def test_model_windows_read_as_months():
    from components.formatting import month_span, validation_months
    assert month_span("2025-10..2025-12") == "2025年10月至2025年12月"
    assert month_span("2025-10..2025-12", "en") == "Oct 2025 – Dec 2025"
    assert month_span("2025-10..2025-10") == "2025年10月" and month_span(None) == "—"
    assert validation_months({"valid_month": "2024-03"}, "en") == "Mar 2024"  # a model registered before 0020
    assert validation_months({"valid_months": "2024-01..2024-03", "valid_month": "x"}) == "2024年1月至2024年3月"
