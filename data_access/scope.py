"""Who may see which rows: the caller's ``Scope``, applied in SQL, denying by default.

Every function in :mod:`data_access.queries` that returns customer-, loan-,
case- or manager-level rows takes a ``Scope`` and adds its clause to the
``WHERE``. An empty or unknown scope sees nothing. Masking of personal data
(names, ID numbers, phones, addresses) also happens here, not in pages.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, ColumnElement, false, select, true

from . import schema as s

ROLES = ("head_office", "branch_leader", "strategy", "agency", "admin")
# roles that may read customer-, loan- and manager-level rows (within their branches)
ROW_ROLES = ("head_office", "branch_leader")
# roles that may read aggregates of the loan book
AGGREGATE_ROLES = ("head_office", "branch_leader", "strategy")


@dataclass(frozen=True)
class Scope:
    """The logged-in user's reach.

    ``branch_ids`` matters for branch leaders only; head office and strategy
    see every branch. ``agency_id`` matters for agencies only.
    """
    username: str
    role: str
    branch_ids: frozenset[int] = field(default_factory=frozenset)
    agency_id: int | None = None
    can_see_pii: bool = False

    @property
    def all_branches(self) -> bool:
        return self.role in ("head_office", "strategy")

    @property
    def pii(self) -> bool:
        """Whether unmasked personal data may be shown: never to strategy or agency users."""
        return self.can_see_pii and self.role in ROW_ROLES

    def branch_clause(self, column) -> ColumnElement[bool]:
        """Aggregate reads: which branches' figures this user may see."""
        if self.role not in AGGREGATE_ROLES:
            return false()
        if self.all_branches:
            return true()
        return column.in_(sorted(self.branch_ids)) if self.branch_ids else false()

    def row_clause(self, branch_column) -> ColumnElement[bool]:
        """Row-level reads of customers, loans, managers: head office and own-branch leaders only."""
        if self.role not in ROW_ROLES:
            return false()
        if self.role == "head_office":
            return true()
        return branch_column.in_(sorted(self.branch_ids)) if self.branch_ids else false()

    def case_clause(self, case_table=s.collection_case) -> ColumnElement[bool]:
        """Collection cases: agencies see only cases assigned to them; others as for rows."""
        if self.role == "agency":
            return case_table.c.agency_id == self.agency_id if self.agency_id is not None else false()
        return self.row_clause(case_table.c.branch_id)

    def allows_branch(self, branch_id: int | None) -> bool:
        if branch_id is None:
            return True
        if self.role not in AGGREGATE_ROLES:
            return False
        return self.all_branches or branch_id in self.branch_ids


NOBODY = Scope(username="", role="none")


def scope_for_user(conn: Connection, username: str) -> Scope:
    """Build the scope of an active user from the users table (NOBODY if unknown or disabled)."""
    u = conn.execute(select(s.app_user).where(s.app_user.c.username == username)).mappings().first()
    if u is None or not u["active"] or u["role"] not in ROLES:
        return NOBODY
    branches = conn.execute(select(s.user_branch.c.branch_id).where(s.user_branch.c.user_id == u["id"])).scalars().all()
    return Scope(username=username, role=u["role"], branch_ids=frozenset(branches), agency_id=u["agency_id"],
                 can_see_pii=bool(u["can_see_pii"]))


# ---------------------------------------------------------------- masking
def mask_name(name: str | None) -> str | None:
    """张三丰 → 张**: keep the surname only."""
    if not isinstance(name, str) or not name:  # None, or NaN from an outer join
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_id_number(idn: str | None) -> str | None:
    """Keep the last four characters: ID-number tail, the way call centres confirm identity."""
    if not isinstance(idn, str) or not idn:  # None, or NaN from an outer join
        return idn
    return "*" * (len(idn) - 4) + idn[-4:]


def mask_phone(phone: str | None) -> str | None:
    """138****5678: keep prefix and last four digits."""
    if not isinstance(phone, str) or len(phone) < 7:
        return phone
    return phone[:3] + "****" + phone[-4:]


def mask_address(address: str | None) -> str | None:
    """Keep up to the village (…村 / …居委会 / …社区), drop the group and house number."""
    if not isinstance(address, str) or not address:  # None, or NaN from an outer join
        return address
    for marker in ("村委会", "居委会", "村", "社区"):
        i = address.find(marker)
        if i >= 0:
            return address[: i + len(marker)] + "****"
    return address[: max(0, len(address) - 6)] + "****"


MASKERS = {"name": mask_name, "id_number": mask_id_number, "phone": mask_phone, "address": mask_address}


def mask_frame(df: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """Mask the personal columns of ``df`` unless the scope may see PII."""
    if scope.pii or df.empty:
        return df
    df = df.copy()
    for col, fn in MASKERS.items():
        # staff contact details (manager_phone, manager name) are not the customer's personal data
        for c in [c for c in df.columns if (c == col or c.endswith("_" + col)) and not c.startswith("manager")]:
            df[c] = df[c].map(fn)
    # a home's GPS point is as identifying as its address: coarsen it to about a kilometre
    for c in ("lon", "lat"):
        if c in df.columns:
            df[c] = df[c].astype(float).round(2)
    return df
