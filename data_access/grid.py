"""Grid management reads: regions with their drawn shapes, village-mart figures per grid, responsible managers.

Levels: ``county`` (the counties the user may see), ``township`` (a county's townships) and ``village`` (a
township's villages). Every read is limited to the townships of the user's branches.
"""
from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Connection, func, select

from . import kpi, schema as s
from .scope import Scope

LEVELS = ("county", "township", "village")
METRICS = ("households", "credit_coverage", "usage_rate", "balance", "balance_per_household", "npl_ratio",
           "overdue_ratio", "deposits", "ebank_rate", "third_pay_rate", "ss_card_rate", "credit_grade",
           "whole_village_credit", "open_warnings")


def _df(conn, stmt) -> pd.DataFrame:
    res = conn.execute(stmt)
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def _allowed_townships(scope: Scope):
    bt = s.branch_township
    return select(bt.c.township_code).where(scope.branch_clause(bt.c.branch_id))


def child_level(level: str) -> str | None:
    return {"county": "township", "township": "village"}.get(level)


def grid(conn: Connection, scope: Scope, month: str, level: str, parent_code: str | None = None,
         county_code: str | None = None) -> pd.DataFrame:
    """The grids of one level (under ``parent_code``) with shapes and figures for ``month``.

    Columns: code, name, level, parent_code, geometry (GeoJSON text), centroid_lon, centroid_lat, schematic,
    credit_village_grade, whole_village_credit, manager, branch, households, households_with_line,
    households_with_loan, line_amount, loans, balance, npl_balance, overdue_balance, deposits, ebank_households,
    third_pay_households, ss_card_households, open_warnings, new_overdue_loans, and the ratios credit_coverage,
    usage_rate, balance_per_household, npl_ratio, overdue_ratio, ebank_rate, third_pay_rate, ss_card_rate.
    Grids outside the user's townships are not returned. ``county_code`` limits any level to one county
    (all of a county's villages: level "village", no parent, the county's code).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}; got {level!r}.")
    r, mv = s.region, s.mart_village
    allowed = _allowed_townships(scope)
    measures = list(s.AREA_MEASURES)  # the figures a grid shows, whichever mart they come from
    if level != "village" and scope.all_branches:
        # whole-bank users: the pre-summed rows, one per grid, whatever the number of villages underneath
        ma = s.mart_area
        figures = (select(ma.c.code, *[ma.c[m] for m in measures])
                   .where(ma.c.month == month, ma.c.level == level).subquery())
    else:
        group_col = {"county": mv.c.county_code, "township": mv.c.township_code, "village": mv.c.village_code}[level]
        figures = (select(group_col.label("code"), *[func.sum(mv.c[m]).label(m) for m in measures])
                   .where(mv.c.month == month, mv.c.township_code.in_(allowed)).group_by(group_col).subquery())
    conds = [r.c.level == level]
    if parent_code is not None:
        conds.append(r.c.parent_code == parent_code)
    if county_code is not None:  # e.g. every village of one county at once
        conds.append(r.c.county_code == county_code)
    if level == "county":
        conds.append(r.c.code.in_(select(s.region.c.parent_code).where(s.region.c.code.in_(allowed))))
    elif level == "township":
        conds.append(r.c.code.in_(allowed))
    else:
        conds.append(r.c.parent_code.in_(allowed))
    stmt = (select(r.c.code, r.c.name, r.c.level, r.c.parent_code, r.c.geometry, r.c.centroid_lon, r.c.centroid_lat,
                   r.c.schematic, r.c.credit_village_grade, r.c.whole_village_credit,
                   *[figures.c[m] for m in measures])
            .outerjoin(figures, figures.c.code == r.c.code).where(*conds).order_by(r.c.code))
    df = _df(conn, stmt)
    df[measures] = df[measures].astype(float).fillna(0.0)
    df["credit_coverage"] = [kpi.credit_coverage(a, b) for a, b in zip(df["households_with_line"], df["households"])]
    df["usage_rate"] = [kpi.usage_rate(a, b) for a, b in zip(df["households_line_loan"], df["households_with_line"])]
    df["balance_per_household"] = [kpi.ratio(a, b) for a, b in zip(df["balance"], df["households_with_loan"])]
    df["npl_ratio"] = [kpi.npl_ratio(a, b) for a, b in zip(df["npl_balance"], df["balance"])]
    df["overdue_ratio"] = [kpi.ratio(a, b) for a, b in zip(df["overdue_balance"], df["balance"])]
    for col, src in (("ebank_rate", "ebank_households"), ("third_pay_rate", "third_pay_households"),
                     ("ss_card_rate", "ss_card_households")):
        df[col] = [kpi.ratio(a, b) for a, b in zip(df[src], df["households"])]
    df = df.merge(_responsible(conn, scope, level, df["code"].tolist()), on="code", how="left")
    return df


def _responsible(conn: Connection, scope: Scope, level: str, codes: list[str]) -> pd.DataFrame:
    """Who answers for each grid: a village's grid manager(s); a township's branch; a county's branches."""
    if not codes:
        return pd.DataFrame(columns=["code", "manager", "branch"])
    ga, m, bt, o, r = s.grid_assignment, s.manager, s.branch_township, s.org_unit, s.region
    if level == "village":
        df = _df(conn, select(ga.c.village_code.label("code"), m.c.name.label("manager"), m.c.phone, o.c.name.label("branch"))
                 .join(m, m.c.id == ga.c.manager_id).join(o, o.c.id == m.c.branch_id)
                 .where(ga.c.village_code.in_(codes), ga.c.until.is_(None)))
        df = df.groupby("code", as_index=False).agg(manager=("manager", "、".join), branch=("branch", "first"))
        return df
    if level == "township":
        df = _df(conn, select(bt.c.township_code.label("code"), o.c.name.label("branch"))
                 .join(o, o.c.id == bt.c.branch_id).where(bt.c.township_code.in_(codes)))
        return df.assign(manager=None)
    df = _df(conn, select(r.c.parent_code.label("code"), o.c.name.label("branch"))
             .join(bt, bt.c.township_code == r.c.code).join(o, o.c.id == bt.c.branch_id)
             .where(r.c.parent_code.in_(codes), scope.branch_clause(bt.c.branch_id)).distinct())
    return df.groupby("code", as_index=False).agg(branch=("branch", "、".join)).assign(manager=None)


def outlets(conn: Connection, scope: Scope) -> pd.DataFrame:
    """Outlets (网点) of the user's branches: id, name, branch, lon, lat."""
    o, b = s.org_unit, s.org_unit.alias("b")
    return _df(conn, select(o.c.id, o.c.name, b.c.name.label("branch"), o.c.lon, o.c.lat)
               .join(b, b.c.id == o.c.parent_id).where(o.c.level == "outlet", scope.branch_clause(o.c.parent_id)))


def region_path(conn: Connection, scope: Scope, code: str) -> list[dict]:
    """The breadcrumb from the county down to ``code``: [{code, name, level}], or [] if not in scope."""
    r = s.region
    out = []
    cur = code
    while cur:
        row = conn.execute(select(r.c.code, r.c.name, r.c.level, r.c.parent_code).where(r.c.code == cur)).first()
        if row is None:
            return []
        out.append({"code": row.code, "name": row.name, "level": row.level})
        cur = row.parent_code
    out.reverse()
    allowed = set(conn.execute(_allowed_townships(scope)).scalars())
    townships = [p["code"] for p in out if p["level"] == "township"]
    if townships and townships[0] not in allowed:
        return []
    if out and out[-1]["level"] == "county":
        counties = set(conn.execute(select(r.c.parent_code).where(r.c.code.in_(allowed))).scalars())
        if out[-1]["code"] not in counties:
            return []
    return out


def bounds(geometries: list[str]) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of GeoJSON geometry texts."""
    xs, ys = [], []
    for g in geometries:
        if not g:
            continue
        geom = json.loads(g)
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        for poly in polys:
            for ring in poly[:1]:
                for x, y in ring:
                    xs.append(x)
                    ys.append(y)
    if not xs:
        return (117.5, 33.7, 118.2, 34.2)
    return min(xs), min(ys), max(xs), max(ys)
