"""Recording the result of a post-loan task: scoped in SQL, validated, audited, in one transaction."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select, update

from . import schema as s
from .scope import Scope
from .users import audit

RESULTS = ("经营正常", "已核实风险", "已发起催收", "建议压降额度", "客户失联")


class TaskError(ValueError):
    """The task cannot be completed as asked; the message is for the user."""


def complete_task(conn: Connection, scope: Scope, task_id: int, result: str, completed_on: dt.date,
                  note: str | None = None) -> None:
    """Mark a pending task in the caller's scope done with ``result``; anything else raises TaskError."""
    from .text import clean
    note = clean(note, 200) or None
    if result not in RESULTS:
        raise TaskError(f"result must be one of {RESULTS}; got {result!r}.")
    t = s.postloan_task
    row = conn.execute(select(t.c.id, t.c.created_on, t.c.status, t.c.customer_id)
                       .where(t.c.id == task_id, scope.row_clause(t.c.branch_id))).first()
    if row is None:
        raise TaskError("task not found or not permitted.")
    if row.status != "pending":
        raise TaskError("the task is already done.")
    if completed_on < row.created_on or completed_on > dt.date.today():
        raise TaskError(f"completed_on must be between {row.created_on} and today; got {completed_on}.")
    conn.execute(update(t).where(t.c.id == task_id, t.c.status == "pending")
                 .values(status="done", completed_on=completed_on, result=result))
    audit(conn, scope.username, "complete_task", customer_id=row.customer_id, target=f"task:{task_id}",
          detail={"result": result, "completed_on": completed_on.isoformat(), "note": note})
