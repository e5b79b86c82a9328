/* The alert maps: the target area and people counted by place (never names), over the bundled
   country outlines (a tile server only when one is configured). On the compose page the map
   follows the estimate as the coordinator types, and a click sets the circle's centre fields or,
   for a polygon, adds a corner to the typed corners (the same text the coordinator may type, so
   the server reads and checks it one way); the typed fields stay the way to aim (the map is an
   aid, not the only input). */
(function () {
  "use strict";
  if (typeof L === "undefined") return;

  function radiusFor(count, max) {
    return 4 + 16 * Math.sqrt(count / Math.max(1, max));
  }

  function makeMap(el) {
    var config = JSON.parse(el.dataset.map || "{}");
    var map = L.map(el, { worldCopyJump: true, zoomSnap: 0.5, attributionControl: true }).setView([30, 20], 1.5);
    map.attributionControl.setPrefix("Leaflet");
    if (config.tiles) {
      L.tileLayer(config.tiles, { maxZoom: 12 }).addTo(map);
    }
    fetch(config.outlines, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (outlines) {
      if (!outlines) return;
      L.geoJSON(outlines, {
        style: { color: "#7b8a97", weight: 0.8, fillColor: "#f4f1ea", fillOpacity: config.tiles ? 0 : 1 },
        interactive: false
      }).addTo(map).bringToBack();
      map.attributionControl.addAttribution("Natural Earth");
    }).catch(function () { /* outlines unavailable: the counts still show */ });

    var layer = L.layerGroup().addTo(map);
    var state = { map: map, layer: layer, config: config };
    draw(state, config.areas || [], config.places || []);
    el._alertMap = state;
    return state;
  }

  function draw(state, areas, places) {
    var config = state.config, labels = config.labels || {};
    state.layer.clearLayers();
    var bounds = L.latLngBounds([]);
    areas.forEach(function (a) {
      var shape;
      if (a.shape === "circle") {
        shape = L.circle([a.lat, a.lon], { radius: a.radius_km * 1000, color: "#0d6efd", weight: 2, fillOpacity: 0.08 });
      } else if (a.shape === "polygon") {
        shape = L.polygon(a.points, { color: "#0d6efd", weight: 2, fillOpacity: 0.08 });
      }
      if (shape) {
        shape.addTo(state.layer);
        // A circle's own bounds need the map's projection: take them from its centre and radius.
        bounds.extend(a.shape === "circle" ? L.latLng(a.lat, a.lon).toBounds(a.radius_km * 2000)
                                           : shape.getBounds());
      }
    });
    var max = 1;
    places.forEach(function (p) { max = Math.max(max, p.count); });
    places.forEach(function (p) {
      var colour = "#0d6efd", text;
      if (config.answers) {
        colour = p.need_help ? "#dc3545" : (p.no_answer ? "#6c757d" : "#198754");
        text = (p.place ? p.place + ": " : "") + p.safe + " " + labels.safe + " · " + p.need_help + " " +
          labels.need_help + " · " + p.no_answer + " " + labels.no_answer;
      } else {
        text = (p.place ? p.place + ": " : "") + p.count + " " + labels.recipients;
      }
      L.circleMarker([p.lat, p.lon], { radius: radiusFor(p.count, max), color: colour, weight: 1,
        fillColor: colour, fillOpacity: 0.55 }).bindTooltip(text).addTo(state.layer);
      bounds.extend([p.lat, p.lon]);
    });
    if (state.holdView) {
      // A polygon being drawn by clicks: the view stays where the coordinator is clicking.
    } else if (bounds.isValid()) {
      state.map.fitBounds(bounds.pad(0.15), { maxZoom: 9 });
    } else {
      state.map.setView([30, 20], 1.5);
    }
  }

  // A polygon's corners as typed: "lat,lon lat,lon …" (spaces, semicolons or new lines between the
  // pairs), as alerts/geo.py reads them.
  var PAIR = /([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)/g;

  function corners(text) {
    var out = [], match;
    PAIR.lastIndex = 0;
    while ((match = PAIR.exec(text)) !== null) {
      out.push({ lat: Number(match[1]), lon: Number(match[2]), start: match.index });
    }
    return out;
  }

  function withoutLastCorner(text) {
    var found = corners(text);
    if (!found.length) return "";
    return text.slice(0, found[found.length - 1].start).replace(/[\s;]+$/, "");
  }

  function showShapeFields(form) {
    var shape = form.querySelector('[name="geo_shape"]');
    if (!shape) return;
    form.querySelectorAll("[data-geo-for]").forEach(function (el) {
      el.hidden = el.dataset.geoFor !== shape.value;
    });
  }

  // The corners so far, drawn at once (the estimate's polygon follows once the server has read
  // and checked three or more).
  function drawCorners(state, form) {
    state.draft.clearLayers();
    var shape = form.querySelector('[name="geo_shape"]');
    var field = form.querySelector('[name="geo_polygon"]');
    if (!shape || !field || shape.value !== "polygon") return;
    var points = corners(field.value).map(function (c) { return [c.lat, c.lon]; });
    var style = { color: "#d63384", weight: 2, dashArray: "6 4", fillOpacity: 0.05, interactive: false,
                  className: "alert-map-draft" };
    if (points.length >= 3) {
      L.polygon(points, style).addTo(state.draft);
    } else if (points.length === 2) {
      L.polyline(points, style).addTo(state.draft);
    }
    points.forEach(function (p) {
      L.circleMarker(p, { radius: 4, color: "#d63384", weight: 2, fillColor: "#fff", fillOpacity: 1,
                          interactive: false, className: "alert-map-corner" }).addTo(state.draft);
    });
  }

  // In polygon mode a click is a corner: a quick second click adds one too, it does not zoom in.
  function clickMode(state, form) {
    var shape = form.querySelector('[name="geo_shape"]');
    if (shape && shape.value === "polygon") {
      state.map.doubleClickZoom.disable();
    } else {
      state.map.doubleClickZoom.enable();
    }
  }

  function changed(field) {
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.querySelectorAll("[data-map]").forEach(function (el) {
    var state = makeMap(el);
    var form = el.closest("form");
    if (!form) return;
    state.draft = L.layerGroup().addTo(state.map);
    showShapeFields(form);
    clickMode(state, form);
    drawCorners(state, form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "geo_shape" && event.target.value !== "polygon") state.holdView = false;
      showShapeFields(form);
      clickMode(state, form);
      drawCorners(state, form);
    });
    form.addEventListener("input", function (event) {
      if (event.target.name !== "geo_polygon") return;
      // Corners typed by hand: the map may move to show them again.
      if (event.isTrusted) state.holdView = false;
      drawCorners(state, form);
    });
    document.addEventListener("alert-estimate", function (event) {
      var m = event.detail && event.detail.map;
      if (m) draw(state, m.areas || [], m.places || []);
    });
    state.map.on("click", function (event) {
      var shape = form.querySelector('[name="geo_shape"]');
      if (!shape) return;
      var lat = event.latlng.lat.toFixed(4);
      var lon = L.Util.wrapNum(event.latlng.lng, [-180, 180], true).toFixed(4);
      var polygon = form.querySelector('[name="geo_polygon"]');
      if (shape.value === "polygon" && polygon) {
        var kept = polygon.value.replace(/[\s;]+$/, "");
        polygon.value = (kept ? kept + " " : "") + lat + "," + lon;
        state.holdView = true;
        changed(polygon);
        return;
      }
      var latField = form.querySelector('[name="geo_latitude"]');
      var lonField = form.querySelector('[name="geo_longitude"]');
      if (!latField || !lonField) return;
      state.holdView = false;
      shape.value = "circle";
      latField.value = lat;
      lonField.value = lon;
      var city = form.querySelector('[name="geo_city"]');
      if (city) city.value = "";
      latField.dispatchEvent(new Event("input", { bubbles: true }));
      shape.dispatchEvent(new Event("change", { bubbles: true }));
    });
    // The polygon's buttons beside the map: take back the last corner, or start again.
    form.addEventListener("click", function (event) {
      var button = event.target.closest("[data-polygon-action]");
      var polygon = form.querySelector('[name="geo_polygon"]');
      if (!button || !polygon) return;
      polygon.value = button.dataset.polygonAction === "clear" ? "" : withoutLastCorner(polygon.value);
      changed(polygon);
    });
  });
}());
