"""Every piece of Markdown an AppTest run sent to the browser, parsed as CommonMark, to find links and images."""
from __future__ import annotations

import re

import commonmark

HOSTS = ("x.invalid", "127.0.0.1:8629")
LOADS = re.compile(r"<\s*(img|a|iframe|script|link|image|video|audio|source|object|embed)\b", re.IGNORECASE)


def sources(at) -> list[str]:
    """The Markdown of every element that Streamlit renders as Markdown: bodies (markdown, captions, titles,
    headers, alerts) and widget labels (buttons, breadcrumbs, expanders, tabs...)."""
    out = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            for field in ("body", "label"):
                if hasattr(proto, field) and getattr(proto, field):
                    out.append(getattr(proto, field))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return out


def links_and_images(md_text: str) -> list[tuple[str, str]]:
    """(kind, destination) of every link and image the text makes, plus raw HTML tags that load or link a host,
    and any bare
    address (GitHub-flavoured Markdown, which Streamlit uses, turns it into a link)."""
    found = []
    walker = commonmark.Parser().parse(md_text).walker()
    for node, entering in walker:
        if not entering:
            continue
        if node.t in ("link", "image"):
            found.append((node.t, node.destination))
        elif node.t in ("html_inline", "html_block") and LOADS.search(node.literal or "") \
                and any(h in node.literal for h in HOSTS):
            found.append((node.t, node.literal))
        elif node.t == "text" and any("://" + h in (node.literal or "") or "www." + h in (node.literal or "")
                                      for h in HOSTS):
            found.append(("autolink", node.literal))
    return found


def hostile_markup(at) -> list[tuple[str, str, str]]:
    """(source, kind, destination) for each link, image or autolink to a test host in the run's Markdown."""
    return [(src, kind, dest) for src in sources(at) for kind, dest in links_and_images(src)
            if any(h in (dest or "") for h in HOSTS)]
