"""One translation mechanism: a JSON catalogue per language, looked up by key.

Pages never branch on the language; they call ``t("kpi.balance")``. The
current language lives in the URL (``?lang=en``) so a refresh keeps it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANG = "zh"
_DIR = Path(__file__).resolve().parent / "locales"


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    """The language's whole catalogue: ``locales/<lang>.json`` plus one file per domain, ``locales/<lang>.<domain>.json``
    (so that work on one domain never edits another's strings). A key defined twice is an error, not an override."""
    merged: dict[str, str] = {}
    for path in [_DIR / f"{lang}.json", *sorted(_DIR.glob(f"{lang}.*.json"))]:
        with path.open(encoding="utf-8") as fh:
            part = json.load(fh)
        twice = sorted(set(part) & set(merged))
        if twice:
            raise ValueError(f"{path.name} defines keys already defined elsewhere: {', '.join(twice[:5])}")
        merged.update(part)
    return merged


def translate(key: str, lang: str, **kwargs) -> str:
    """The text of ``key`` in ``lang`` (falling back to Chinese, then to the key itself)."""
    # an entry may be empty on purpose (English counts have no unit word where Chinese says 户 / 项): only a missing
    # entry falls back to Chinese
    own = catalogue(lang)
    text = own[key] if key in own else (catalogue(DEFAULT_LANG).get(key) or key)
    return text.format(**kwargs) if kwargs else text


def current_lang() -> str:
    import streamlit as st
    lang = st.session_state.get("lang") or st.query_params.get("lang") or DEFAULT_LANG
    return lang if lang in LANGUAGES else DEFAULT_LANG


def t(key: str, **kwargs) -> str:
    """Translate ``key`` into the current user's language."""
    return translate(key, current_lang(), **kwargs)


def code_label(code, lang: str) -> str:
    """The display name of a stored code (signal type, status, channel …); unknown codes show as they are."""
    if code is None:
        return ""
    text = catalogue(lang).get(f"code.{code}") or catalogue(DEFAULT_LANG).get(f"code.{code}")
    return text or str(code)


def value_label(text, lang: str) -> str:
    """A value stored in Chinese (an occupation, a tag, an industry, a product, a rule's note) in ``lang``: the
    catalogue's ``value.<text>`` entry, or the text itself where it has none (names of people and places)."""
    if text is None or (isinstance(text, float) and text != text):
        return text
    if lang == DEFAULT_LANG:
        return str(text)
    return catalogue(lang).get(f"value.{text}") or str(text)
