"""Places: the world's cities of 15,000 people or more, for time zones and geographic targeting.

- ``names.py``: how place names compare (case, accents, spaces and punctuation ignored).
- ``cities.py``: the city index (name, Chinese names, country, time zone, coordinates, population,
  other names) and its lookups: by id, by name in any language within a country, nearest cities
  and cities within a distance of a point.
- ``cities.tsv.gz``: the index's data, derived once from GeoNames by ``scripts/build_places.py``
  (``make places``); nothing here reaches the network or needs GeoNames' own package.
"""
