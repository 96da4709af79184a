"""Real administrative codes and county outlines; schematic township and village shapes.

No public data set has township or village boundaries, so the demo draws
them: Lloyd-relaxed Voronoi cells around generated centres, clipped to the
real county outline; villages tile their township, townships tile the county.
Every region drawn here is stored with ``schematic = True``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPoint, mapping, shape
from shapely.geometry.base import BaseGeometry

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@lru_cache(maxsize=1)
def _outlines() -> dict[str, dict]:
    with (REFERENCE_DIR / "jiangsu_county_outlines.geojson").open(encoding="utf-8") as fh:
        fc = json.load(fh)
    return {f["properties"]["gb"][3:]: f for f in fc["features"]}


@lru_cache(maxsize=1)
def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / name, dtype=str)


def counties() -> pd.DataFrame:
    """Jiangsu county-level units: code, name, cityCode, has_outline."""
    df = _csv("jiangsu_counties.csv").copy()
    df["has_outline"] = df["code"].isin(_outlines().keys())
    return df


def county_outline(county_code: str) -> BaseGeometry:
    """The real WGS-84 outline of a county (coarse), as a shapely geometry."""
    try:
        feature = _outlines()[county_code]
    except KeyError as exc:
        raise ValueError(f"county_code has no outline in the reference data; got {county_code!r}.") from exc
    return shapely.make_valid(shape(feature["geometry"]))


def townships(county_code: str) -> pd.DataFrame:
    df = _csv("jiangsu_townships.csv")
    return df[df["areaCode"] == county_code][["code", "name"]].reset_index(drop=True)


def villages(county_code: str) -> pd.DataFrame:
    df = _csv("jiangsu_villages.csv")
    return df[df["areaCode"] == county_code][["code", "name", "streetCode"]].rename(
        columns={"streetCode": "township_code"}).reset_index(drop=True)


def _random_points_in(poly: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = poly.bounds
    pts: list[np.ndarray] = []
    shapely.prepare(poly)
    need = n
    while need > 0:
        cand = np.column_stack([rng.uniform(minx, maxx, need * 3 + 10), rng.uniform(miny, maxy, need * 3 + 10)])
        inside = shapely.contains_xy(poly, cand[:, 0], cand[:, 1])
        pts.append(cand[inside][:need])
        need -= len(pts[-1])
    return np.vstack(pts)[:n]


def voronoi_tiles(poly: BaseGeometry, n: int, rng: np.random.Generator, lloyd_iterations: int = 3) -> list[BaseGeometry]:
    """``n`` cells that tile ``poly``: Voronoi around random centres, relaxed towards even sizes."""
    if n == 1:
        return [poly]
    pts = _random_points_in(poly, n, rng)
    cells: list[BaseGeometry] = []
    for it in range(lloyd_iterations + 1):
        diagram = shapely.voronoi_polygons(MultiPoint(pts), extend_to=poly.envelope.buffer(0.5), ordered=True)
        cells = [shapely.make_valid(c.intersection(poly)) for c in diagram.geoms]
        if it < lloyd_iterations:
            new = []
            for c, p in zip(cells, pts):
                new.append([c.centroid.x, c.centroid.y] if not c.is_empty else p)
            pts = np.asarray(new)
    # Voronoi gives one cell per input point, so cells and points stay aligned.
    return cells


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Drop slivers of lower dimension that clipping may leave behind."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom


def geojson(geom: BaseGeometry, precision: int = 5) -> str:
    """Compact GeoJSON text of a geometry, coordinates rounded to about a metre."""
    geom = shapely.set_precision(_polygonal(geom), 10 ** -precision)
    return json.dumps(mapping(geom), separators=(",", ":"))


@dataclass(frozen=True)
class Grid:
    """The drawn grid of one county: a frame with one row per region."""
    regions: pd.DataFrame  # code, name, level, parent_code, county_code, geometry, centroid_lon, centroid_lat
    polygons: dict[str, BaseGeometry]


def draw_county_grid(county_code: str, rng: np.random.Generator) -> Grid:
    """Draw schematic township and village cells for a real county, with their real names and codes."""
    outline = county_outline(county_code)
    name = counties().set_index("code").loc[county_code, "name"]
    tws = townships(county_code)
    vls = villages(county_code)
    if tws.empty:
        raise ValueError(f"county_code has no townships in the reference data; got {county_code!r}.")
    # Townships get area in proportion to their number of villages.
    weights = vls.groupby("township_code").size().reindex(tws["code"]).fillna(1).to_numpy()
    tw_cells = _weighted_tiles(outline, weights, rng)
    rows = [dict(code=county_code, name=name, level="county", parent_code=None, county_code=county_code,
                 geom=outline)]
    polys = {county_code: outline}
    for (tw_code, tw_name), cell in zip(tws[["code", "name"]].itertuples(index=False), tw_cells):
        rows.append(dict(code=tw_code, name=tw_name, level="township", parent_code=county_code,
                         county_code=county_code, geom=cell))
        polys[tw_code] = cell
        vs = vls[vls["township_code"] == tw_code]
        if vs.empty:
            continue
        for (v_code, v_name), vcell in zip(vs[["code", "name"]].itertuples(index=False),
                                           voronoi_tiles(cell, len(vs), rng, lloyd_iterations=2)):
            rows.append(dict(code=v_code, name=v_name, level="village", parent_code=tw_code,
                             county_code=county_code, geom=vcell))
            polys[v_code] = vcell
    df = pd.DataFrame(rows)
    reps = [g.representative_point() if not g.is_empty else outline.representative_point() for g in df["geom"]]
    df["centroid_lon"] = [round(p.x, 6) for p in reps]
    df["centroid_lat"] = [round(p.y, 6) for p in reps]
    df["geometry"] = [geojson(g) for g in df["geom"]]
    return Grid(regions=df.drop(columns="geom"), polygons=polys)


def _weighted_tiles(poly: BaseGeometry, weights: np.ndarray, rng: np.random.Generator) -> list[BaseGeometry]:
    """Tiles of ``poly`` whose areas roughly follow ``weights`` (power-diagram-free: Lloyd on a weighted sample)."""
    n = len(weights)
    if n == 1:
        return [poly]
    # Sample many points, cluster them with weighted k-means-like steps, then Voronoi the cluster centres.
    sample = _random_points_in(poly, 4000, rng)
    centres = sample[rng.choice(len(sample), n, replace=False)]
    share = weights / weights.sum()
    bias = np.zeros(n)
    for _ in range(30):
        d = ((sample[:, None, :] - centres[None, :, :]) ** 2).sum(-1) - bias[None, :]
        lab = d.argmin(1)
        counts = np.bincount(lab, minlength=n) / len(sample)
        for k in range(n):
            if (lab == k).any():
                centres[k] = sample[lab == k].mean(0)
        bias += 0.002 * (share - counts) / max(share.mean(), 1e-9)
    diagram = shapely.voronoi_polygons(MultiPoint(centres), extend_to=poly.envelope.buffer(0.5), ordered=True)
    return [shapely.make_valid(c.intersection(poly)) for c in diagram.geoms]


def jitter_in(poly: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random points inside a polygon (homes of a village's households)."""
    return _random_points_in(poly, n, rng)


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres, vectorised."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
