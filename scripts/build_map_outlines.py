"""Build the map's country outlines (``consular/web/static/vendor/natural-earth-110m/``) from
world-atlas' ``countries-110m.json`` (TopoJSON of Natural Earth's 1:110m Admin 0 countries, public
domain): decoded to GeoJSON, coordinates rounded to 0.01° (about 1 km, far finer than the 1:110m
lines), each country keeping its name and ISO 3166 numeric code.

Run once when the outlines change (the output is committed; nothing reaches the network at run
time): ``npm pack world-atlas@2.0.2``, unpack it, then
``python scripts/build_map_outlines.py package/countries-110m.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "consular/web/static/vendor/natural-earth-110m/countries.geojson"


def decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((round(x * sx + tx, 2), round(y * sy + ty, 2)))
        arcs.append(points)
    return arcs


def ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    out: list[list[float]] = []
    for point in points:
        if not out or out[-1] != list(point):
            out.append(list(point))
    return out


def main(source: str) -> None:
    topology = json.loads(Path(source).read_text(encoding="utf-8"))
    arcs = decode_arcs(topology)
    features = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry["type"] == "Polygon":
            polygons = [geometry["arcs"]]
        elif geometry["type"] == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        coordinates = [[ring(r, arcs) for r in polygon] for polygon in polygons]
        coordinates = [p for p in coordinates if len(p[0]) >= 4]
        features.append({"type": "Feature", "id": geometry.get("id", ""),
                         "properties": {"name": geometry.get("properties", {}).get("name", "")},
                         "geometry": {"type": "MultiPolygon", "coordinates": coordinates}})
    collection = {"type": "FeatureCollection", "features": features}
    OUT.write_text(json.dumps(collection, separators=(",", ":"), ensure_ascii=False) + "\n",
                   encoding="utf-8")
    print(f"{OUT}: {len(features)} countries, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
