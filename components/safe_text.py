"""Data text placed in Markdown or HTML shows as the text it is: one helper for every name, village, note,
breadcrumb, header and label that comes from the database or from a user.

Streamlit renders Markdown in st.markdown, captions, titles, headers, alerts and every widget label (a button's
label may hold a link or an image). A customer or village named ``![](http://host/p.png)`` would make each
viewer's browser fetch that address, ``[核验](http://host/a)`` would become a link, ``<img …>`` inside an HTML
block would load. ``md`` escapes every ASCII punctuation character with a backslash (CommonMark lets any of them
be escaped, and an escaped one is never syntax: no link, image, emphasis, code, math, colour or icon directive,
no autolink, no raw HTML); ``html_text`` escapes HTML's characters and writes the ones Markdown acts on inside a
line as character references, for text inside the cockpit's own HTML. Line breaks become spaces in both: a new
line could start a heading or end an HTML block.

Text that is not Markdown (dataframe cells, select options, chart labels) needs none of this and gets none: there
the backslashes would show.
"""
from __future__ import annotations

import html
import re
import string

from .i18n import t

_PUNCT = frozenset(string.punctuation)
_MD_INLINE = frozenset("\\`*_[]()!~$:|{}@")  # after html.escape: & < > " ' are entities already
_WWW = re.compile(r"(www)\.", re.IGNORECASE)
_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\t": " ", "\u2028": " ", "\u2029": " ", "\x0b": " ", "\x0c": " "})


def _text(value) -> str:
    return "" if value is None else str(value).translate(_BREAKS)


def md(value) -> str:
    """``value`` as literal text inside Markdown (None gives '')."""
    return "".join("\\" + ch if ch in _PUNCT else ch for ch in _text(value))


def html_text(value) -> str:
    """``value`` as literal text inside HTML that Streamlit also reads as Markdown (None gives ''): HTML's own
    characters escaped, and the ones Markdown would act on inside a line written as character references."""
    out = html.escape(_text(value), quote=True)
    out = "".join(f"&#{ord(ch)};" if ch in _MD_INLINE else ch for ch in out)
    return _WWW.sub(lambda m: m.group(1) + "&#46;", out)  # 'www.' would be a bare link


def t_md(key: str, **params) -> str:
    """The catalogue text ``key`` with each parameter escaped for Markdown (the template's own Markdown stays)."""
    return t(key, **{k: md(v) for k, v in params.items()})
