"""Free text typed by users (search boxes, names, notes) before it reaches SQL parameters or the database.

Values are always bound parameters, never SQL; what this removes is what a database refuses or a screen hides:
control characters (PostgreSQL rejects NUL in text), and anything past the field's length.
"""
from __future__ import annotations

import unicodedata


def clean(value: str | None, max_len: int | None = None) -> str:
    """``value`` without control or unassigned characters (line breaks and tabs become spaces), trimmed, cut to
    ``max_len`` characters."""
    text = "".join(" " if ch in "\n\r\t" else ch for ch in (value or "")
                   if ch in "\n\r\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    return text[:max_len] if max_len else text
