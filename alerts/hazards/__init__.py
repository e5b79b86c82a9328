"""Hazard watch: the worker reads hazard feeds and turns an event near registrants into a draft alert.

- ``fetch``: one careful HTTP GET of a feed (conditional, with timeouts, a size cap and a
  content-type check).
- ``parse``: what a feed document says, as events: CAP 1.2 alerts in Atom or RSS (embedded or
  linked), USGS earthquake GeoJSON summaries; XML read with entities and DTDs refused.
- ``watch``: the poll of every configured feed (each on its own, so one failing feed never stops
  the others), events stored once however many feeds and updates name them, their exposure counted
  with the alerts' own aim query, and the thresholds that make a draft.
- ``drafts``: the draft alert from the hazard's template, kept in step with updates of its event,
  and the one announcement that a draft was made.
- ``views``: the coordinators' page of recent events and the feeds' health.
"""
