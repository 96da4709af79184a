"""What an AppTest run puts in front of a user, as text, and the rules that text must keep (issue #18).

Collected from every element a page renders: headings, markdown (HTML markdown with its tags stripped, since
the browser draws them), alerts, metrics, widget labels, options and placeholders, every table's shown values
(a Styler's display values where the table has them), every plotly figure's titles, legends, tick texts, hover
templates and text labels, and every map's tooltip. bench/screenshots.py applies the same patterns to the text
Chromium shows.
"""
from __future__ import annotations

import json
import re

import pandas as pd
from streamlit import dataframe_util

# whole tokens that mean a raw value, a code or an internal name reached the screen
FORBIDDEN = [r"\bNone\b", r"\bnan\b", r"\bNaN\b", r"\bNaT\b", r"\bTrue\b", r"\bFalse\b", r"\bundefined\b",
             r"\bnull\b", r"COCKPIT_[A-Z_]+", r"\bbootstrap\b", r"python -m", r"\./cockpit", r"Traceback",
             r"\bdata_access\b", r"\bmodels\.[a-z_]+", r"\bcomponents\.[a-z_]+", r"\.py\b"]
TAGS = r"</?(br|div|span|b|i|p|table|tr|td)\b[^>]*>"
# in the Chinese UI: percentage points are 个百分点, and snake_case codes are names of fields or codes
ZH_ONLY = [r"\dpp\b", r"\bpp\b", r"\b[a-z]+_[a-z_]+\b"]


def _strip_html(text: str) -> str:
    text = re.sub(r"<style.*?</style>", " ", text, flags=re.S)
    return re.sub(r"<[^>]+>", " ", text)


def _hover(text: str) -> str:
    """A plotly hover template as the user reads it: placeholders and the tags plotly draws removed."""
    text = re.sub(r"%\{[^}]*\}", "1", text)
    text = re.sub(r"<extra>.*?</extra>", "", text)
    return re.sub(r"</?(br|b|i|sup|sub|span)[^>]*>", " ", text)


def _table_texts(proto) -> list[str]:
    data = proto.arrow_data
    out = []
    raw_bytes = data.data or (proto.lazy_data.initial_chunk.data if proto.HasField("lazy_data") else b"")
    raw = dataframe_util.convert_arrow_bytes_to_pandas_df(raw_bytes) if raw_bytes else pd.DataFrame()
    for col in raw.columns:
        if pd.api.types.is_bool_dtype(raw[col]):
            out.append(f"column {col}: True/False drawn as checkboxes")
        if raw[col].isna().any():  # the grid draws an empty cell as 'None', whatever a Styler says for it
            out.append(f"None (an empty cell in {col})")
    if data.styler.display_values:
        shown = dataframe_util.convert_arrow_bytes_to_pandas_df(data.styler.display_values)
    else:
        shown = raw
    out += [str(c) for c in shown.columns]
    for col in shown.columns:
        for v in shown[col].tolist():
            if v is None or (isinstance(v, float) and pd.isna(v)):
                out.append(f"None (an empty cell in {col})")  # the grid draws a missing value as 'None'
            else:
                out.append(str(v))
    if proto.columns:
        for name, cfg in json.loads(proto.columns).items():
            out += [str(cfg.get("label") or ""), str(cfg.get("help") or "")]
    return out


def _figure_texts(spec: str) -> tuple[list[str], list[str]]:
    """(texts, problems) of one plotly figure: a log or secondary axis without its own tick format shows raw floats."""
    fig = json.loads(spec)
    texts, problems = [], []
    layout = fig.get("layout", {})

    def title(obj):
        t = obj.get("title")
        return t.get("text", "") if isinstance(t, dict) else (t or "")

    texts.append(title(layout))
    for key, axis in layout.items():
        if not re.fullmatch(r"[xy]axis\d*", key) or not isinstance(axis, dict):
            continue
        texts.append(_hover(title(axis)))
        texts += [str(v) for v in axis.get("ticktext", []) or []]
        if (axis.get("type") == "log" or axis.get("overlaying")) and not (axis.get("tickformat") or axis.get("ticktext")):
            problems.append(f"{key} ({axis.get('type') or 'secondary'}) has no tick format: raw floats on its ticks")
    for ann in layout.get("annotations", []) or []:
        texts.append(_hover(str(ann.get("text", ""))))
    for trace in fig.get("data", []):
        texts.append(str(trace.get("name", "")))
        texts.append(_hover(str(trace.get("hovertemplate", ""))))
        for k in ("text", "labels"):
            v = trace.get(k)
            texts += [str(x) for x in v] if isinstance(v, list) else ([str(v)] if isinstance(v, str) else [])
    return texts, problems


def page_texts(at) -> tuple[list[str], list[str]]:
    """(texts, structural problems) of everything the page shows."""
    texts, problems = [], []
    for kind in ("title", "header", "subheader", "caption", "text", "info", "warning", "error", "success",
                 "exception"):
        texts += [str(e.value) for e in at.get(kind)]
    for e in at.get("markdown"):
        texts.append(_strip_html(e.value) if e.proto.allow_html else e.value)
    for e in at.get("metric"):
        texts += [e.proto.label, e.proto.body, e.proto.delta, e.proto.help]
    for kind in ("selectbox", "multiselect", "radio", "text_input", "number_input", "date_input", "slider",
                 "select_slider", "checkbox", "toggle", "button", "download_button", "text_area", "tabs",
                 "expander", "file_uploader"):
        for e in at.get(kind):
            p = getattr(e, "proto", None)
            if p is None:
                continue
            for field in ("label", "help", "placeholder"):
                if hasattr(p, field):
                    texts.append(str(getattr(p, field)))
            if hasattr(p, "options"):
                texts += [str(o) for o in p.options]
            if kind == "multiselect" and not p.placeholder:
                problems.append(f"multiselect '{p.label}' without a placeholder: Streamlit's 'Choose options' shows")
    for e in at.get("tab"):
        texts.append(str(e.label))
    for e in at.get("expandable"):
        texts.append(str(getattr(e, "label", "")))
    for e in at.get("dataframe"):
        texts += _table_texts(e.proto)
    for e in at.get("plotly_chart"):
        tx, pr = _figure_texts(e.proto.spec)
        texts += tx
        problems += pr
    for e in at.get("deck_gl_json_chart"):
        tip = json.loads(e.proto.tooltip) if e.proto.tooltip else {}
        if isinstance(tip, dict) and "text" in tip:
            texts.append(str(tip["text"]))
            if re.search(TAGS, str(tip["text"])):
                problems.append("map tooltip: HTML tags in a plain-text tooltip are printed as they are")
        # the values a tooltip substitutes are shown as text: markup in them is printed (the grid map's '<br/>')
        deck = json.loads(e.proto.json) if e.proto.json else {}
        for layer in deck.get("layers", []):
            data = layer.get("data")
            for row in data if isinstance(data, list) else []:
                for key, value in (row.items() if isinstance(row, dict) else []):
                    if isinstance(value, str):
                        texts.append(value)
                        if re.search(TAGS, value):
                            problems.append(f"map layer {layer.get('id')}: markup in the value {key!r}: {value[:60]!r}")
    return [x for x in texts if x], problems


def findings(at, lang: str, allowed: set[str] = frozenset(), codes: bool = True) -> list[str]:
    """What breaks the rules on the page. ``allowed``: tokens that are data, not codes (login names such as
    hq_wang); ``codes=False`` where table and column names are the content (the Data admin page's import format,
    which tells an administrator how to name a file's columns)."""
    texts, problems = page_texts(at)
    found = list(problems)
    patterns = FORBIDDEN + [TAGS] + ([p for p in ZH_ONLY if codes or "_" not in p] if lang == "zh" else [])
    for text in texts:
        for pattern in patterns:
            for m in re.finditer(pattern, text):
                if m.group(0) not in allowed:
                    found.append(f"{m.group(0)!r} in {text[:120]!r}")
                    break
    return sorted(set(found))
