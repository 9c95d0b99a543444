/* fieldcrm map page tools: rectangle/lasso selection, polygon drawing, route, choropleth, heat map.
 *
 * Loaded after fieldcrm-map.js; adds its functions to window.fieldcrm and its toolbar through
 * fieldcrm._initHooks. MIT licence, as fieldcrm.
 */
(function () {
  "use strict";

  var fc = window.fieldcrm;
  var S = fc._state;
  var post = fc._internal.post, indexOfId = fc._internal.indexOfId, esc = fc._internal.esc;

  // ---- selection tools --------------------------------------------------------------------------
  function pointInRing(x, y, ring) {
    var inside = false;
    for (var a = 0, b = ring.length - 1; a < ring.length; b = a++) {
      var xa = ring[a][0], ya = ring[a][1], xb = ring[b][0], yb = ring[b][1];
      if ((ya > y) !== (yb > y) && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
    }
    return inside;
  }

  function idsWhere(test) {
    var d = S.data, out = [];
    for (var i = 0; i < S.n; i++) {
      if (S.visible && !S.visible[i]) continue;
      if (test(d.lon[i], d.lat[i])) out.push(d.ids[i]);
    }
    return out;
  }

  fc.selectInBounds = function (south, west, north, east) {
    var ids = idsWhere(function (x, y) { return y >= south && y <= north && x >= west && x <= east; });
    fc.highlight(ids);
    post({ type: "selection", ids: ids });
    return ids.length;
  };

  fc.selectInPolygon = function (lonLatRing) {
    var xs = lonLatRing.map(function (p) { return p[0]; }), ys = lonLatRing.map(function (p) { return p[1]; });
    var w = Math.min.apply(null, xs), e = Math.max.apply(null, xs);
    var s = Math.min.apply(null, ys), n = Math.max.apply(null, ys);
    var ids = idsWhere(function (x, y) {
      return x >= w && x <= e && y >= s && y <= n && pointInRing(x, y, lonLatRing);
    });
    fc.highlight(ids);
    post({ type: "selection", ids: ids });
    return ids.length;
  };

  function stopDrawing() {
    if (S.drawHandler) S.drawHandler.disable();
    S.drawHandler = null;
    if (S.lasso) S.lasso.stop();
    S.drawMode = null;
  }
  fc.cancelDraw = stopDrawing;

  function startDraw(mode, Handler, options) {
    stopDrawing();
    S.drawMode = mode;
    S.drawHandler = new Handler(S.map, options);
    S.drawHandler.enable();
  }

  fc.startRectangleSelect = function () {
    startDraw("select", L.Draw.Rectangle, { showArea: false, shapeOptions: { color: "#0078d4", weight: 1 } });
  };

  fc.startDrawPolygon = function () {
    startDraw("territory", L.Draw.Polygon, { allowIntersection: false, showArea: false,
      shapeOptions: { color: "#e4572e", weight: 2 } });
  };

  function onDrawCreated(e) {
    var mode = S.drawMode;
    S.drawMode = null;
    S.drawHandler = null;
    if (mode === "select") {
      var b = e.layer.getBounds();
      fc.selectInBounds(b.getSouth(), b.getWest(), b.getNorth(), b.getEast());
    } else if (mode === "territory") {
      if (S.drawnLayer) S.map.removeLayer(S.drawnLayer);
      S.drawnLayer = e.layer.addTo(S.map);
      post({ type: "polygon_drawn", geojson: e.layer.toGeoJSON().geometry });
    }
  }

  fc.startLasso = function () {
    stopDrawing();
    var map = S.map, pts = [], line = null;
    function down(ev) { pts = [ev.latlng]; line = L.polyline(pts, { color: "#0078d4", weight: 2, dashArray: "4 4" }).addTo(map); }
    function move(ev) { if (line) { pts.push(ev.latlng); line.addLatLng(ev.latlng); } }
    function up() {
      if (!line) return;
      map.removeLayer(line);
      line = null;
      var ring = pts.map(function (p) { return [p.lng, p.lat]; });
      S.lasso.stop();
      if (ring.length > 2) fc.selectInPolygon(ring);
    }
    map.dragging.disable();
    map.getContainer().style.cursor = "crosshair";
    map.on("mousedown", down).on("mousemove", move).on("mouseup", up);
    S.drawMode = "lasso";
    S.lasso = { stop: function () {
      map.off("mousedown", down).off("mousemove", move).off("mouseup", up);
      map.dragging.enable();
      map.getContainer().style.cursor = "";
      S.lasso = null;
      S.drawMode = null;
    } };
  };

  function addToolbar() {
    var Tools = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        var div = L.DomUtil.create("div", "fc-tools leaflet-bar");
        [["▭", "Select accounts in a rectangle", fc.startRectangleSelect],
         ["✎", "Select accounts with a lasso (drag)", fc.startLasso],
         ["✕", "Clear selection and drawings", fc.clearAll]].forEach(function (t) {
          var a = L.DomUtil.create("a", "", div);
          a.href = "#"; a.textContent = t[0]; a.title = t[1];
          L.DomEvent.on(a, "click", function (ev) { L.DomEvent.stop(ev); t[2](); });
        });
        L.DomEvent.disableClickPropagation(div);
        return div;
      },
    });
    new Tools().addTo(S.map);
  }

  fc.showRoute = function (geojsonLine, stops) {
    if (S.route) { S.map.removeLayer(S.route); S.route = null; }
    if (!geojsonLine && !(stops && stops.length)) return 0;
    S.route = L.featureGroup().addTo(S.map);
    if (geojsonLine) L.geoJSON(geojsonLine, { style: { color: "#e4572e", weight: 4, opacity: 0.85 } }).addTo(S.route);
    (stops || []).forEach(function (s, k) {
      var label = s.label !== undefined ? String(s.label) : String(k + 1);
      var m = L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "fc-stop", iconSize: [24, 24],
        html: "<span>" + esc(label) + "</span>" }) });
      if (s.name) m.bindTooltip(esc(s.name));
      if (s.id) m.on("click", function () { post({ type: "account_clicked", id: s.id }); });
      m.addTo(S.route);
    });
    S.map.fitBounds(S.route.getBounds(), { padding: [30, 30] });
    return (stops || []).length;
  };

  fc.setChoropleth = function (featureCollection, legend) {
    if (S.choropleth) { S.map.removeLayer(S.choropleth); S.choropleth = null; }
    if (S.choroplethLegend) { S.map.removeControl(S.choroplethLegend); S.choroplethLegend = null; }
    if (!featureCollection) return 0;
    S.choropleth = L.geoJSON(featureCollection, {
      renderer: S.pointRenderer,
      style: function (f) {
        var p = f.properties || {};
        return { color: "#555", weight: 1, fillColor: p.color || "#cccccc", fillOpacity: 0.6 };
      },
      onEachFeature: function (f, layer) {
        var p = f.properties || {};
        if (p.label || p.name) layer.bindTooltip(esc(p.label || p.name));
      },
    }).addTo(S.map);
    fc._internal.redraw(); // pins back on top of the new fills (they share one canvas)
    if (legend && legend.items) {
      var Ctl = L.Control.extend({ options: { position: "bottomleft" }, onAdd: function () {
        var div = L.DomUtil.create("div", "fc-legend leaflet-bar");
        div.appendChild(document.createElement("b")).textContent = legend.title || "";
        legend.items.forEach(function (it) {
          var row = div.appendChild(document.createElement("div"));
          row.className = "fc-legend-row";
          row.appendChild(document.createElement("i")).style.background = it.color;
          row.appendChild(document.createTextNode(String(it.label)));
        });
        return div;
      } });
      S.choroplethLegend = new Ctl().addTo(S.map);
    }
    return S.choropleth.getLayers().length;
  };

  fc.setHeatmap = function (on) {
    if (S.heat) { S.map.removeLayer(S.heat); S.heat = null; }
    if (!on || !L.heatLayer) return 0;
    var pts = [];
    for (var i = 0; i < S.n; i++) if (!S.visible || S.visible[i]) pts.push([S.data.lat[i], S.data.lon[i]]);
    S.heat = L.heatLayer(pts, { radius: 18, blur: 15, pane: "fc-heat" }).addTo(S.map);
    return pts.length;
  };

  fc.clearAll = function () {
    stopDrawing();
    fc.highlight([]);
    fc.showCircle(null);
    if (S.drawnLayer) { S.map.removeLayer(S.drawnLayer); S.drawnLayer = null; }
  };

  fc._initHooks = fc._initHooks || [];
  fc._initHooks.push(function (map) {
    map.on(L.Draw.Event.CREATED, onDrawCreated);
    addToolbar();
  });
})();
