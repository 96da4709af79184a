"""Check-in authenticity (签到真实性): rules over managers' activity events, each flag with its evidence.

Rules (thresholds in :class:`Thresholds`, the distance one set by ``COCKPIT_CHECKIN_MAX_DISTANCE_M``):

* ``far_from_home`` — a visit recorded farther than ``max_distance_m`` from the visited household's home
  (high beyond three times the threshold, else medium); evidence: the distance.
* ``impossible_speed`` — two consecutive events of one manager on one day farther apart than a motorbike on
  country roads could go in the time between them (over ``max_speed_kmh`` and over 2 km); evidence: km, minutes,
  km/h. High.
* ``same_spot`` — ``min_households`` or more different households "visited" within ``spot_radius_m`` of each other
  within ``spot_minutes``: visits logged from one place. Medium; flagged on the first event of the burst.
* ``off_hours`` — activity before ``day_start`` or after ``day_end`` o'clock. Low.
* ``no_gps`` — a visit without a GPS point. Low.

The rules are pure functions of an event frame (tested on hand-made events); ``refresh_flags`` runs them over the
whole ``activity_event`` table as part of the nightly mart refresh.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, text

from . import schema as s
from .bulk import bulk_insert
from .geo import haversine_m

RULES = ("far_from_home", "impossible_speed", "same_spot", "off_hours", "no_gps")
SEVERITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Thresholds:
    max_distance_m: float = 1000.0
    max_speed_kmh: float = 80.0
    min_jump_m: float = 2000.0
    spot_radius_m: float = 50.0
    spot_minutes: float = 30.0
    min_households: int = 3
    day_start: int = 7
    day_end: int = 20

    @classmethod
    def from_env(cls) -> "Thresholds":
        v = os.environ.get("COCKPIT_CHECKIN_MAX_DISTANCE_M")
        return cls(max_distance_m=float(v)) if v else cls()


FLAG_COLUMNS = ["event_id", "manager_id", "event_at", "rule", "severity", "value", "detail"]


def _flags(ev: pd.DataFrame, mask, rule: str, severity, value, detail) -> pd.DataFrame:
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    sev = severity[mask] if isinstance(severity, np.ndarray) else np.full(n, severity)
    val = value[mask] if isinstance(value, np.ndarray) else np.full(n, value, dtype=float)
    det = detail[mask] if isinstance(detail, np.ndarray) else np.full(n, detail, dtype=object)
    return pd.DataFrame({"event_id": ev["id"].to_numpy()[mask], "manager_id": ev["manager_id"].to_numpy()[mask],
                         "event_at": ev["event_at"].to_numpy()[mask], "rule": rule, "severity": sev,
                         "value": val.astype(float), "detail": det})


def evaluate(events: pd.DataFrame, th: Thresholds = Thresholds()) -> pd.DataFrame:
    """Flags for ``events`` (id, manager_id, event_at, event_type, lon, lat, customer_id, home_lon, home_lat).

    Returns one row per (event, rule) that fired: FLAG_COLUMNS; ``value`` is the rule's measure (metres, km/h,
    households, hour), ``detail`` a short readable evidence line.
    """
    if events.empty:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    ev = events.sort_values(["manager_id", "event_at", "id"]).reset_index(drop=True)
    ev["event_at"] = pd.to_datetime(ev["event_at"])
    lon, lat = ev["lon"].astype(float).to_numpy(), ev["lat"].astype(float).to_numpy()
    has_gps = ~(np.isnan(lon) | np.isnan(lat))
    visit = (ev["event_type"] == "visit").to_numpy()
    out = []

    hl, ht = ev["home_lon"].astype(float).to_numpy(), ev["home_lat"].astype(float).to_numpy()
    d_home = haversine_m(lon, lat, hl, ht)
    far = visit & has_gps & ~np.isnan(d_home) & (d_home > th.max_distance_m)
    out.append(_flags(ev, far, "far_from_home", np.where(d_home > 3 * th.max_distance_m, "high", "medium"),
                      np.round(d_home, 0), np.array([f"距客户住址 {d / 1000:.2f} 公里" for d in np.nan_to_num(d_home)],
                                                    dtype=object)))

    same_mgr = np.r_[False, ev["manager_id"].to_numpy()[1:] == ev["manager_id"].to_numpy()[:-1]]
    day = ev["event_at"].dt.floor("D").to_numpy()
    same_day = np.r_[False, day[1:] == day[:-1]]
    minutes = np.r_[np.nan, np.diff(ev["event_at"].to_numpy()).astype("timedelta64[s]").astype(float) / 60]
    prev_lon, prev_lat = np.r_[np.nan, lon[:-1]], np.r_[np.nan, lat[:-1]]
    d_prev = haversine_m(prev_lon, prev_lat, lon, lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        kmh = np.where(minutes > 0, d_prev / 1000 / (minutes / 60), np.inf)
    jump = same_mgr & same_day & has_gps & np.r_[False, has_gps[:-1]] & (d_prev > th.min_jump_m) & (kmh > th.max_speed_kmh)
    out.append(_flags(ev, jump, "impossible_speed", "high", np.round(np.where(np.isinf(kmh), 9999, kmh), 1),
                      np.array([f"与上一条相距 {d / 1000:.1f} 公里，间隔 {m:.0f} 分钟（{min(k, 9999):.0f} 公里/小时）"
                                for d, m, k in zip(np.nan_to_num(d_prev), np.nan_to_num(minutes), np.nan_to_num(kmh))],
                               dtype=object)))

    spot = np.zeros(len(ev), dtype=bool)
    spot_n = np.zeros(len(ev))
    t_min = ev["event_at"].to_numpy().astype("datetime64[s]").astype(np.int64) / 60
    cust = ev["customer_id"].to_numpy()
    mgr = ev["manager_id"].to_numpy()
    cand = np.flatnonzero(visit & has_gps)
    covered = np.zeros(len(ev), dtype=bool)
    for i in cand:
        if covered[i]:
            continue
        j_end = np.searchsorted(t_min, t_min[i] + th.spot_minutes, side="right")
        w = np.arange(i, j_end)
        w = w[(mgr[w] == mgr[i]) & visit[w] & has_gps[w]]
        near = w[haversine_m(lon[i], lat[i], lon[w], lat[w]) <= th.spot_radius_m]
        households = len({c for c in cust[near] if c is not None and not (isinstance(c, float) and np.isnan(c))})
        if households >= th.min_households:
            spot[i] = True
            spot_n[i] = households
            covered[near] = True
    out.append(_flags(ev, spot, "same_spot", "medium", spot_n,
                      np.array([f"{int(n)} 户在 {th.spot_minutes:.0f} 分钟内、{th.spot_radius_m:.0f} 米内登记走访" for n in spot_n],
                               dtype=object)))

    hour = ev["event_at"].dt.hour.to_numpy() + ev["event_at"].dt.minute.to_numpy() / 60
    off = (hour < th.day_start) | (hour >= th.day_end)
    out.append(_flags(ev, off, "off_hours", "low", np.round(hour, 2),
                      np.array([f"{ts:%H:%M} 记录" for ts in ev["event_at"]], dtype=object)))

    out.append(_flags(ev, visit & ~has_gps, "no_gps", "low", np.nan, "走访未带定位"))
    flags = pd.concat([f for f in out if len(f)], ignore_index=True) if any(len(f) for f in out) else \
        pd.DataFrame(columns=FLAG_COLUMNS)
    return flags[FLAG_COLUMNS]


_EVENTS_SQL = """
SELECT e.id, e.manager_id, e.event_at, e.event_type, e.lon, e.lat, e.customer_id, c.lon AS home_lon, c.lat AS home_lat
FROM activity_event e LEFT JOIN customer c ON c.id = e.customer_id
{where}
"""


def events_frame(conn: Connection, where: str = "", params: dict | None = None) -> pd.DataFrame:
    res = conn.execute(text(_EVENTS_SQL.format(where=where)), params or {})
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def refresh_flags(conn: Connection, th: Thresholds | None = None) -> int:
    """Re-evaluate every event and rewrite ``activity_flag`` (inside the caller's transaction); returns the count.
    Managers are evaluated in batches so that memory stays bounded on a province-sized bank."""
    th = th or Thresholds.from_env()
    conn.execute(delete(s.activity_flag))
    managers = [r[0] for r in conn.execute(text("SELECT DISTINCT manager_id FROM activity_event ORDER BY 1"))]
    branch = dict(conn.execute(text("SELECT id, branch_id FROM manager")).all())
    total = 0
    for k in range(0, len(managers), 200):
        ids = managers[k:k + 200]
        ev = events_frame(conn, f"WHERE e.manager_id IN ({', '.join(str(int(i)) for i in ids)})")
        flags = evaluate(ev, th)
        if flags.empty:
            continue
        flags["branch_id"] = flags["manager_id"].map(branch)
        flags["event_at"] = pd.to_datetime(flags["event_at"])
        flags["month"] = flags["event_at"].dt.strftime("%Y-%m")
        flags["value"] = flags["value"].where(flags["value"].notna(), None)
        total += bulk_insert(conn, s.activity_flag, flags)
    return total
