"""One gate for personal data: a list or view shows names, ID numbers, phones and addresses unmasked only when the
user's role allows it AND a purpose was chosen for that list, and every unmasked showing is audited with the
customers it named.

Every row-level read already masks unless its ``Scope`` says PII (``scope.mask_frame``); this module decides that
scope per list: ``purpose_scope`` gives the read a scope with PII only for a real purpose, ``audit_shown`` writes
the row ("view_pii": which list, purpose, the customers by number). The components' ``pii`` module draws the
purpose choice and calls both, so that no page decides this on its own.
"""
from __future__ import annotations

import dataclasses
import hashlib

from sqlalchemy import Connection

from . import users
from .scope import Scope

# why an employee may look at a customer's personal data (Personal Information Protection Law, art. 6: a clear and
# reasonable purpose, no more than it needs); "none" keeps the list masked
PURPOSES = ("none", "inspection", "collection", "complaint", "service")
MAX_LISTED = 2000  # customers named in one audit row (the largest list shows 2,000 rows)


def purpose_scope(scope: Scope, purpose: str | None) -> Scope:
    """``scope`` itself when it may see PII and ``purpose`` is one of PURPOSES other than "none"; otherwise the
    same scope without the PII right (so every read under it masks)."""
    if scope.pii and purpose in PURPOSES and purpose != "none":
        return scope
    return dataclasses.replace(scope, can_see_pii=False)


def shown_key(view: str, purpose: str, customers: list[str]) -> str:
    """A short fingerprint of one unmasked showing (list, purpose, customers), to audit it once, not per rerun."""
    h = hashlib.sha256("\x1f".join([view, purpose, *map(str, customers)]).encode()).hexdigest()
    return h[:16]


def audit_shown(conn: Connection, scope: Scope, view: str, purpose: str, customers: list[str]) -> None:
    """Record that ``view`` showed ``customers`` (customer numbers) unmasked to the user for ``purpose``."""
    if not purpose_scope(scope, purpose).pii:
        raise PermissionError("no personal data without the right and a purpose")
    listed = [str(c) for c in dict.fromkeys(customers)][:MAX_LISTED]
    users.audit(conn, scope.username, "view_pii", target=view,
                detail={"purpose": purpose, "rows": len(customers), "customers": listed})
