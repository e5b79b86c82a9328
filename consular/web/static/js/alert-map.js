/* The alert maps: the target area and people counted by place (never names), over the bundled
   country outlines (a tile server only when one is configured). On the compose page the map
   follows the estimate as the coordinator types, and a click sets the circle's centre fields;
   the typed fields stay the way to aim (the map is an aid, not the only input). */
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
    if (bounds.isValid()) {
      state.map.fitBounds(bounds.pad(0.15), { maxZoom: 9 });
    } else {
      state.map.setView([30, 20], 1.5);
    }
  }

  function showShapeFields(form) {
    var shape = form.querySelector('[name="geo_shape"]');
    if (!shape) return;
    form.querySelectorAll("[data-geo-for]").forEach(function (el) {
      el.hidden = el.dataset.geoFor !== shape.value;
    });
  }

  document.querySelectorAll("[data-map]").forEach(function (el) {
    var state = makeMap(el);
    var form = el.closest("form");
    if (!form) return;
    showShapeFields(form);
    form.addEventListener("change", function () { showShapeFields(form); });
    document.addEventListener("alert-estimate", function (event) {
      var m = event.detail && event.detail.map;
      if (m) draw(state, m.areas || [], m.places || []);
    });
    state.map.on("click", function (event) {
      var shape = form.querySelector('[name="geo_shape"]');
      var lat = form.querySelector('[name="geo_latitude"]');
      var lon = form.querySelector('[name="geo_longitude"]');
      if (!shape || !lat || !lon) return;
      shape.value = "circle";
      lat.value = event.latlng.lat.toFixed(4);
      lon.value = L.Util.wrapNum(event.latlng.lng, [-180, 180], true).toFixed(4);
      var city = form.querySelector('[name="geo_city"]');
      if (city) city.value = "";
      lat.dispatchEvent(new Event("input", { bubbles: true }));
      shape.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
}());
