"""One way to format money, rates, counts and months (pure functions, unit-tested)."""
from __future__ import annotations

import math

from .i18n import translate

WAN = 10_000
YI = 100_000_000


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def money_unit(value: float) -> tuple[float, str]:
    """Pick 元, 万元 or 亿元 for a magnitude: (divisor, unit key)."""
    a = abs(value)
    if a >= YI:
        return YI, "unit.yi"
    if a >= WAN:
        return WAN, "unit.wan"
    return 1, "unit.yuan"


EN_UNITS = ((1e9, "bn"), (1e6, "M"), (1e3, "k"))


def money(value: float | None, lang: str = "zh", digits: int | None = None) -> str:
    """Chinese: 12345678 → '1,234.57 万元', 3.2e9 → '32.00 亿元', 850 → '850 元'.
    English: the same amounts as '¥12.35 M', '¥3.20 bn', '¥850'."""
    if _missing(value):
        return "—"
    if lang == "en":
        # the sign before the currency sign: '-¥6.00 M', so that a change reads (and st.metric draws) as a fall
        sign, value = ("-" if value < 0 else ""), abs(value)
        for div, unit in EN_UNITS:
            if value >= div:
                return f"{sign}¥{value / div:,.{2 if digits is None else digits}f} {unit}"
        return f"{sign}¥{value:,.0f}"
    div, unit = money_unit(value)
    if digits is None:
        digits = 0 if div == 1 else 2
    return f"{value / div:,.{digits}f} {translate(unit, lang)}"


def pct(value: float | None, digits: int = 2) -> str:
    """0.01234 → '1.23%'."""
    if _missing(value):
        return "—"
    return f"{value * 100:.{digits}f}%"


def count(value: float | None) -> str:
    if _missing(value):
        return "—"
    return f"{int(round(value)):,}"


def count_with_unit(value: float | None, unit: str) -> str:
    """'1,032 项'; a missing value is '—' without a unit."""
    if _missing(value):
        return "—"
    return f"{count(value)} {unit}".strip()


def signed_pct(value: float | None, digits: int = 1) -> str:
    """A relative change: +1.2% / −0.5%."""
    if _missing(value):
        return "—"
    return f"{value * 100:+.{digits}f}%".replace("-", "−")


def signed_pp(value: float | None, digits: int = 2, lang: str = "zh") -> str:
    """A change of a rate in percentage points: '+0.60 个百分点' / '−0.60 pp'."""
    if _missing(value):
        return "—"
    return f"{value:+.{digits}f} {translate('unit.pp', lang)}".replace("-", "−")


def delta_pp(value: float | None, digits: int = 2, lang: str = "zh") -> str | None:
    """A change in percentage points for ``st.metric``'s delta: ASCII sign first, which is how Streamlit tells a
    fall (red or green arrow down) from a rise; None (no delta) when missing."""
    if _missing(value):
        return None
    return f"{value:+.{digits}f} {translate('unit.pp', lang)}"


def delta_money(value: float | None, lang: str = "zh") -> str | None:
    """A change of an amount for ``st.metric``'s delta: '+1.20 万元', '-¥6.00 M' (sign first, see delta_pp)."""
    if _missing(value):
        return None
    text = money(value, lang)
    return text if text.startswith("-") else "+" + text


def month_label(month: str, lang: str = "zh") -> str:
    """'2026-10' → '2026年10月' or 'Oct 2026'."""
    y, m = month.split("-")
    if lang == "zh":
        return f"{y}年{int(m)}月"
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return f"{names[int(m) - 1]} {y}"


def month_span(span: str | None, lang: str = "zh") -> str:
    """A model window as stored ('2025-10..2025-12', or one month) → '2025年10月至2025年12月' / 'Oct 2025 – Dec 2025'."""
    if not span:
        return "—"
    first, _, last = str(span).partition("..")
    if not last or last == first:
        return month_label(first, lang)
    return f"{month_label(first, lang)}{'至' if lang == 'zh' else ' – '}{month_label(last, lang)}"


def validation_months(metrics: dict, lang: str = "zh") -> str:
    """A model's out-of-time validation months from its registered metrics (``valid_months``; models registered
    before the windows of migration 0020 carry one ``valid_month``)."""
    return month_span(metrics.get("valid_months") or metrics.get("valid_month"), lang)


def prev_month(month: str, n: int = 1) -> str:
    """The month ``n`` months before ``month``."""
    from data_access.queries import shift_month
    return shift_month(month, -n)

