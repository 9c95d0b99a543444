/* fieldcrm map page: clustered account pins, territories, selection tools and the bridge to Python.
 *
 * Loaded after leaflet, leaflet.draw, supercluster and leaflet-heat, before fieldcrm-tools.js
 * (selection, drawing, route, choropleth, heat map). The page's data file calls
 * fieldcrmMapData({...}) and the folium script calls fieldcrm.init(map, config). Python drives the
 * page through window.fieldcrm (setVisible, selectAccount, showCircle, setColorMode, showRoute,
 * setChoropleth, startDrawPolygon, ...) and hears back through one QWebChannel object
 * ("fieldcrmBridge", method cmd(json)) with JSON messages {"type": ...}.
 * MIT licence, as fieldcrm.
 */
(function () {
  "use strict";

  var STATUS = ["lead", "prospect", "customer", "former"];
  var STATUS_STYLE = [
    { label: "Lead", color: "#1f77b4" },
    { label: "Prospect", color: "#9467bd" },
    { label: "Customer", color: "#2ca02c" },
    { label: "Former", color: "#8c8c8c" },
  ];
  // Severity order (used for cluster rings): on time < never visited < due < late.
  var OVERDUE_STYLE = [
    { label: "Visit on time (≤ 0 days)", color: "#2ca02c" },
    { label: "Never visited / unknown", color: "#9e9e9e" },
    { label: "Overdue 1–14 days", color: "#ff9f1a" },
    { label: "Overdue > 14 days", color: "#d62728" },
  ];

  var fc = (window.fieldcrm = window.fieldcrm || {});
  fc.ready = false;
  fc.messages = [];
  fc.version = 1;

  var S = {
    map: null, data: null, n: 0, index: null, visible: null, visibleCount: 0, idIndex: null,
    colorMode: "status", overdueRank: null, pointsLayer: null, clusterLayer: null,
    pointRenderer: null, highlightLayer: null, selectedId: null, selectedSet: null,
    territoriesLayer: null, territoryCount: 0, basemaps: {}, basemapLayers: {}, config: {},
    legend: null, choropleth: null, choroplethLegend: null, route: null, circle: null,
    heat: null, drawMode: null, drawHandler: null, drawnLayer: null, lasso: null,
    moveMarker: null, moveId: null,
  };
  var bridge = null;
  var queue = [];

  // ---- bridge -------------------------------------------------------------------------------
  function post(msg) {
    fc.messages.push(msg);
    if (fc.messages.length > 200) fc.messages.shift();
    var text = JSON.stringify(msg);
    if (bridge) bridge.cmd(text, function () {});
    else queue.push(text);
  }
  fc.post = post;

  var connecting = false;

  function connectBridge() {
    // Once only: two QWebChannels on one transport steal each other's replies.
    if (connecting || typeof QWebChannel === "undefined" || !window.qt || !qt.webChannelTransport) return;
    connecting = true;
    new QWebChannel(qt.webChannelTransport, function (channel) {
      bridge = channel.objects.fieldcrmBridge || null;
      if (!bridge) return;
      while (queue.length) bridge.cmd(queue.shift(), function () {});
    });
  }
  fc.connectBridge = connectBridge;

  // ---- data intake (called by map-data.js and the basemap files) ----------------------------
  window.fieldcrmMapData = function (data) {
    S.data = data;
  };
  window.fieldcrmBasemap = function (name, geojson) {
    S.basemaps[name] = geojson;
    if (S.map) addBasemap(name);
  };

  // Leaflet tooltips take HTML: every name from the data is escaped.
  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  }
  fc.esc = esc;

  function overdueRank(d) {
    if (d === null || d === undefined) return 1;
    if (d <= 0) return 0;
    return d <= 14 ? 2 : 3;
  }

  function pointColor(i) {
    if (S.colorMode === "overdue") return OVERDUE_STYLE[S.overdueRank[i]].color;
    return STATUS_STYLE[S.data.status[i]].color;
  }

  // ---- clustering -----------------------------------------------------------------------------
  function buildIndex() {
    var d = S.data, feats = [], i;
    for (i = 0; i < S.n; i++) {
      if (S.visible && !S.visible[i]) continue;
      feats.push({ type: "Feature", properties: { i: i },
        geometry: { type: "Point", coordinates: [d.lon[i], d.lat[i]] } });
    }
    S.visibleCount = feats.length;
    // Clusters up to zoom 13, single pins from 14 on. The worst overdue class per cluster
    // (its ring colour) costs ~40 % more to index, so it is only kept in "overdue" mode.
    var options = { radius: 60, maxZoom: 13, minPoints: 3 };
    if (S.colorMode === "overdue") {
      options.map = function (p) { return { o: S.overdueRank[p.i] }; };
      options.reduce = function (acc, p) { if (p.o > acc.o) acc.o = p.o; };
    }
    S.index = new Supercluster(options);
    S.indexMode = S.colorMode;
    S.index.load(feats);
  }

  function clusterIcon(c) {
    var count = c.properties.point_count;
    var size = count < 100 ? 30 : count < 1000 ? 38 : count < 10000 ? 46 : 54;
    var o = c.properties.o;
    var ring = S.colorMode === "overdue" && o !== undefined ? OVERDUE_STYLE[o].color : "#3a6ea5";
    return L.divIcon({
      className: "fc-cluster",
      iconSize: [size, size],
      html: '<div style="border-color:' + ring + '"><span>' +
        c.properties.point_count_abbreviated + "</span></div>",
    });
  }

  function redraw() {
    if (!S.index) return;
    var b = S.map.getBounds(), z = Math.floor(S.map.getZoom());
    var w = b.getWest(), e = b.getEast();
    if (e - w >= 360) { w = -180; e = 180; }
    var items = S.index.getClusters([w, Math.max(b.getSouth(), -85), e,
      Math.min(b.getNorth(), 85)], z);
    S.pointsLayer.clearLayers();
    S.clusterLayer.clearLayers();
    for (var k = 0; k < items.length; k++) {
      var it = items[k], ll = [it.geometry.coordinates[1], it.geometry.coordinates[0]];
      if (it.properties.cluster) {
        var m = L.marker(ll, { icon: clusterIcon(it), keyboard: false });
        m.fcCluster = it.properties.cluster_id;
        m.fcCount = it.properties.point_count;
        S.clusterLayer.addLayer(m);
      } else {
        S.pointsLayer.addLayer(pointMarker(it.properties.i, ll));
      }
    }
    S.drawnCount = items.length;
  }

  function pointMarker(i, ll) {
    var precise = S.data.precise[i] === 1, color = pointColor(i);
    var m = L.circleMarker(ll, {
      renderer: S.pointRenderer, radius: 6, color: precise ? "#ffffff" : color,
      weight: precise ? 1 : 2.5, fillColor: color, fillOpacity: precise ? 0.95 : 0.15,
    });
    m.fcIndex = i;
    return m;
  }

  // ---- pins at the same place ----------------------------------------------------------------
  var PICK_LIMIT = 100, PICK_PX = 4;

  function onPinClick(marker) {
    // Pins drawn on top of each other (same address or town centre): let the user choose.
    var p0 = S.map.latLngToLayerPoint(marker.getLatLng()), here = [];
    S.pointsLayer.eachLayer(function (m) {
      if (S.map.latLngToLayerPoint(m.getLatLng()).distanceTo(p0) <= PICK_PX) here.push(m.fcIndex);
    });
    if (here.length <= 1) fc.clickAccount(S.data.ids[marker.fcIndex]);
    else showPicker(marker.getLatLng(), here.slice(0, PICK_LIMIT), here.length);
  }

  function showPicker(latlng, indices, total) {
    var div = document.createElement("div");
    div.className = "fc-picker";
    div.appendChild(document.createElement("b")).textContent = total + " accounts here";
    indices.forEach(function (i) {
      var a = div.appendChild(document.createElement("a"));
      a.href = "#";
      a.textContent = S.data.names[i];
      a.setAttribute("data-id", S.data.ids[i]);
      a.onclick = function (ev) { ev.preventDefault(); S.map.closePopup(); fc.clickAccount(S.data.ids[i]); };
    });
    if (total > indices.length) {
      div.appendChild(document.createElement("i")).textContent = "and " + (total - indices.length) + " more";
    }
    L.popup({ maxHeight: 260 }).setLatLng(latlng).setContent(div).openOn(S.map);
    return indices.length;
  }

  // ---- legend -----------------------------------------------------------------------------
  function legendHtml() {
    var style = S.colorMode === "overdue" ? OVERDUE_STYLE : STATUS_STYLE;
    var counts = style.map(function () { return 0; });
    for (var i = 0; i < S.n; i++) {
      if (S.visible && !S.visible[i]) continue;
      counts[S.colorMode === "overdue" ? S.overdueRank[i] : S.data.status[i]]++;
    }
    var titles = S.config.legendTitles || {};
    var title = S.colorMode === "overdue" ? titles.overdue || "Days since last visit"
      : titles.status || "Account status";
    var rows = style.map(function (s, k) {
      return '<div class="fc-legend-row"><i style="background:' + esc(s.color) + '"></i>' +
        esc(s.label) + ' <span class="fc-legend-count">' + counts[k] + "</span></div>";
    });
    rows.push('<div class="fc-legend-row"><i class="fc-hollow"></i>Approximate location</div>');
    return "<b>" + esc(title) + "</b>" + rows.join("");
  }

  function updateLegend() {
    if (S.legend) S.legend.getContainer().innerHTML = legendHtml();
  }

  function addLegend() {
    var Legend = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        var div = L.DomUtil.create("div", "fc-legend leaflet-bar");
        div.id = "fc-legend";
        return div;
      },
    });
    S.legend = new Legend().addTo(S.map);
    updateLegend();
  }

  // ---- basemap and territories -----------------------------------------------------------------
  function addBasemap(name) {
    if (S.basemapLayers[name] || !S.basemaps[name]) return;
    var countries = name === "countries";
    S.basemapLayers[name] = L.geoJSON(S.basemaps[name], {
      pane: "fc-basemap", renderer: S.basemapRenderer, interactive: false,
      style: countries
        ? { color: "#7d7d7d", weight: 1, fillColor: "#f4f1ea", fillOpacity: S.config.tiles ? 0 : 1 }
        : { color: "#a9a9a9", weight: 0.6, dashArray: "3 3", fill: false },
    }).addTo(S.map);
  }

  var ADMIN1_MIN_ZOOM = 5;

  function maybeLoadAdmin1() {
    var layer = S.basemapLayers.admin1, show = S.map.getZoom() >= ADMIN1_MIN_ZOOM;
    if (layer && show !== S.map.hasLayer(layer)) {
      if (show) layer.addTo(S.map); else S.map.removeLayer(layer);
    }
    if (!S.config.admin1Url || S.admin1Requested || !show) return;
    S.admin1Requested = true;
    var s = document.createElement("script");
    s.src = S.config.admin1Url;
    document.head.appendChild(s);
  }

  function addTerritories(list) {
    S.territoriesLayer = L.featureGroup().addTo(S.map);
    (list || []).forEach(function (t) {
      var layer = L.geoJSON(t.geojson, {
        renderer: S.pointRenderer,
        style: { color: t.color, weight: 2, fillColor: t.color, fillOpacity: 0.12 },
      });
      layer.fcTerritory = t.id;
      layer.bindTooltip(esc(t.name), { permanent: true, direction: "center", className: "fc-territory-label" });
      layer.on("click", function () { post({ type: "territory_clicked", id: t.id }); });
      S.territoriesLayer.addLayer(layer);
    });
    S.territoryCount = (list || []).length;
  }

  // ---- public API ---------------------------------------------------------------------------------
  function indexOfId(id) {
    if (!S.idIndex) {
      S.idIndex = new Map();
      for (var i = 0; i < S.n; i++) S.idIndex.set(S.data.ids[i], i);
    }
    var k = S.idIndex.get(id);
    return k === undefined ? -1 : k;
  }

  fc.setVisible = function (ids) {
    if (ids === null || ids === undefined) {
      S.visible = null;
    } else {
      S.visible = new Uint8Array(S.n);
      for (var k = 0; k < ids.length; k++) {
        var i = indexOfId(ids[k]);
        if (i >= 0) S.visible[i] = 1;
      }
    }
    buildIndex();
    redraw();
    updateLegend();
    return S.visibleCount;
  };

  fc.highlight = function (ids) {
    S.highlightLayer.clearLayers();
    S.selectedSet = ids;
    (ids || []).forEach(function (id) {
      var i = indexOfId(id);
      if (i < 0) return;
      L.circleMarker([S.data.lat[i], S.data.lon[i]], { radius: 9, color: "#0078d4", weight: 3, renderer: S.pointRenderer,
        fill: false, interactive: false }).addTo(S.highlightLayer);
    });
    return S.highlightLayer.getLayers().length;
  };

  fc.selectAccount = function (id, zoom) {
    var i = indexOfId(id);
    S.selectedId = i >= 0 ? id : null;
    if (S.selectedMarker) { S.map.removeLayer(S.selectedMarker); S.selectedMarker = null; }
    if (S.selectedLabel) { S.map.removeLayer(S.selectedLabel); S.selectedLabel = null; }
    if (i < 0) return false;
    var ll = [S.data.lat[i], S.data.lon[i]];
    S.selectedMarker = L.circleMarker(ll, { radius: 13, color: "#000", weight: 3, fill: false,
      interactive: false, renderer: S.pointRenderer }).addTo(S.map);
    S.selectedLabel = L.tooltip({ permanent: true, direction: "top", offset: [0, -12],
      className: "fc-selected-label" }).setLatLng(ll).setContent(esc(S.data.names[i])).addTo(S.map);
    // Zoom in to street level only from far out; otherwise keep the user's zoom.
    S.map.setView(ll, Math.max(S.map.getZoom(), zoom || 12));
    return true;
  };

  // ---- move one pin (correct a position by hand) ------------------------------------------
  // A draggable marker over the account's pin (or, for an account not on the map yet, at the
  // centre of the view); each drop posts {"type": "pin_moved", "id", "lat", "lon"}.
  fc.startMovePin = function (id, name) {
    fc.stopMovePin();
    var i = indexOfId(id);
    if (i < 0 && !name) return false;
    var c = S.map.getCenter();
    var ll = i >= 0 ? [S.data.lat[i], S.data.lon[i]] : [c.lat, c.lng];
    var icon = L.divIcon({ className: "fc-move-pin", iconSize: [28, 40], iconAnchor: [14, 40],
      html: '<svg width="28" height="40" viewBox="0 0 28 40" style="cursor:move">' +
        '<path d="M14 39C14 39 2 22 2 14a12 12 0 0 1 24 0c0 8-12 25-12 25z" fill="#d62728" ' +
        'stroke="#fff" stroke-width="2"/><circle cx="14" cy="14" r="4.5" fill="#fff"/></svg>' });
    var label = esc(i >= 0 ? S.data.names[i] : name);
    if (S.selectedLabel && S.selectedId === id) {  // the move pin's own label says it
      S.map.removeLayer(S.selectedLabel);
      S.selectedLabel = null;
    }
    var m = L.marker(ll, { draggable: true, autoPan: true, keyboard: false, icon: icon,
      zIndexOffset: 1000, title: "Drag to the right place" }).addTo(S.map);
    m.bindTooltip(label + ": drag the pin to the right place",
      { permanent: true, direction: "right", offset: [12, -26], className: "fc-selected-label" });
    m.on("dragend", function () {
      var p = m.getLatLng();
      if (i >= 0) {
        S.data.lat[i] = p.lat;
        S.data.lon[i] = p.lng;
        buildIndex();
        redraw();
      }
      post({ type: "pin_moved", id: id, lat: p.lat, lon: p.lng });
    });
    S.moveMarker = m;
    S.moveId = id;
    S.map.setView(ll, Math.max(S.map.getZoom(), 15), { animate: false });
    return true;
  };

  fc.stopMovePin = function () {
    if (S.moveMarker) S.map.removeLayer(S.moveMarker);
    S.moveMarker = null;
    S.moveId = null;
    return true;
  };

  fc.setView = function (lat, lon, zoom) {
    S.map.setView([lat, lon], zoom, { animate: false });
    return true;
  };

  fc.clickAccount = function (id) {
    // The same path as a real click on a pin; also used by tests and automation.
    var i = indexOfId(id);
    if (i < 0) return false;
    post({ type: "account_clicked", id: id });
    return true;
  };

  fc.setColorMode = function (mode) {
    if (mode !== "status" && mode !== "overdue") return false;
    S.colorMode = mode;
    if (mode === "overdue" && S.indexMode !== "overdue") buildIndex();
    redraw();
    updateLegend();
    return true;
  };

  fc.showCircle = function (lat, lon, km, ids) {
    if (S.circle) { S.map.removeLayer(S.circle); S.circle = null; }
    if (lat === null || lat === undefined) return false;
    S.circle = L.circle([lat, lon], { radius: km * 1000, color: "#0078d4", weight: 2,
      fillOpacity: 0.05, interactive: false, renderer: S.pointRenderer }).addTo(S.map);
    S.map.fitBounds(S.circle.getBounds(), { padding: [20, 20] });
    if (ids) fc.highlight(ids);
    return true;
  };

  fc.showCircleAround = function (id, km, ids) {
    var i = indexOfId(id);
    if (i < 0) return false;
    return fc.showCircle(S.data.lat[i], S.data.lon[i], km, ids);
  };

  function tileLayers() {
    var out = [];
    S.map.eachLayer(function (l) { if (l instanceof L.TileLayer) out.push(l); });
    return out;
  }

  fc.reloadTiles = function () {
    // Python turns remote access on only after the page's local files have loaded (Qt blocks
    // file: subresources while it is on), so the first tiles may have failed: fetch them again.
    var layers = tileLayers();
    layers.forEach(function (l) { l.redraw(); });
    return layers.length;
  };

  function retryFailedTiles(layer) {
    layer.on("tileerror", function (e) {
      var img = e.tile, n = (img.fcRetries || 0) + 1;
      if (n > 4) return;
      img.fcRetries = n;
      setTimeout(function () { img.src = layer.getTileUrl(e.coords); }, 400 * n);
    });
  }

  fc.stats = function () {
    return {
      total: S.n, visible: S.visibleCount, drawn: S.drawnCount || 0,
      territories: S.territoryCount, colorMode: S.colorMode, selectedId: S.selectedId,
      highlighted: S.highlightLayer ? S.highlightLayer.getLayers().length : 0,
      basemaps: Object.keys(S.basemapLayers), ready: fc.ready, tiles: tileLayers().length,
    };
  };

  // ---- init -------------------------------------------------------------------------------------
  function makePanes(map) {
    // Every vector overlay (territories, pins, rings, circle, route, choropleth) shares ONE
    // canvas: stacked full-size canvases would swallow the clicks meant for the ones below.
    [["fc-basemap", 250], ["fc-points", 450], ["fc-heat", 350]].forEach(function (p) {
      map.createPane(p[0]).style.zIndex = p[1];
    });
    map.getPane("fc-heat").style.pointerEvents = "none";
    map.getPane("fc-basemap").style.pointerEvents = "none";
  }

  function fitView(map) {
    var d = S.data, s = 90, n = -90, w = 180, e = -180;
    for (var i = 0; i < S.n; i++) {
      var y = d.lat[i], x = d.lon[i];
      if (y < s) s = y; if (y > n) n = y; if (x < w) w = x; if (x > e) e = x;
    }
    if (S.n) map.fitBounds([[s, w], [n, e]], { padding: [20, 20], maxZoom: 12, animate: false });
    else if (S.territoryCount) map.fitBounds(S.territoriesLayer.getBounds(), { animate: false });
    else map.setView([55, 15], 4, { animate: false });
  }

  function decodeCoords(d) {
    // Python sends coordinates as integers (degrees * scale): short to write, fast to parse.
    if (!d.scale) return;
    var lat = new Float64Array(d.lat.length), lon = new Float64Array(d.lon.length);
    for (var i = 0; i < lat.length; i++) { lat[i] = d.lat[i] / d.scale; lon[i] = d.lon[i] / d.scale; }
    d.lat = lat;
    d.lon = lon;
    d.scale = 0;
  }

  fc.init = function (map, config) {
    var t0 = performance.now();
    S.map = map;
    S.config = config || {};
    S.data = S.data || { ids: [], names: [], lat: [], lon: [], status: [], tier: [], overdue: [], precise: [] };
    S.n = S.data.ids.length;
    decodeCoords(S.data);
    var marks = { decode: performance.now() - t0 };
    S.colorMode = S.config.colorBy === "overdue" ? "overdue" : "status";
    if (S.config.legend && S.config.legend.status) STATUS_STYLE = S.config.legend.status;
    if (S.config.legend && S.config.legend.overdue) OVERDUE_STYLE = S.config.legend.overdue;
    S.overdueRank = new Uint8Array(S.n);
    for (var i = 0; i < S.n; i++) S.overdueRank[i] = overdueRank(S.data.overdue[i]);
    marks.ranks = performance.now() - t0;
    makePanes(map);
    S.basemapRenderer = L.canvas({ pane: "fc-basemap", padding: 0.3 });
    S.pointRenderer = L.canvas({ pane: "fc-points", padding: 0.2 });
    S.pointsLayer = L.featureGroup().addTo(map);
    S.clusterLayer = L.featureGroup().addTo(map);
    S.highlightLayer = L.featureGroup().addTo(map);
    S.pointsLayer.on("click", function (e) { onPinClick(e.layer); });
    S.pointsLayer.on("mouseover", function (e) {
      var m = e.layer;
      if (!m.getTooltip()) m.bindTooltip(esc(S.data.names[m.fcIndex])).openTooltip();
    });
    S.clusterLayer.on("click", function (e) {
      var z = S.index.getClusterExpansionZoom(e.layer.fcCluster);
      if (z > S.index.options.maxZoom) {
        // Every account of this cluster is at the same place (e.g. geocoded to the town
        // centre): zooming cannot split it, so offer the list.
        var leaves = S.index.getLeaves(e.layer.fcCluster, PICK_LIMIT);
        showPicker(e.layer.getLatLng(), leaves.map(function (f) { return f.properties.i; }),
          e.layer.fcCount);
      } else {
        map.setView(e.layer.getLatLng(), Math.min(z, 18));
      }
    });
    Object.keys(S.basemaps).forEach(addBasemap);
    marks.basemap = performance.now() - t0;
    tileLayers().forEach(retryFailedTiles);
    addTerritories(S.config.territories);
    marks.layers = performance.now() - t0;
    buildIndex();
    marks.index = performance.now() - t0;
    fitView(map);
    map.on("moveend", redraw);
    map.on("moveend", function () {
      // Python keeps the last view so that a rebuilt page can open where the user was.
      var c = map.getCenter();
      post({ type: "view", lat: c.lat, lon: c.lng, zoom: map.getZoom() });
    });
    map.on("zoomend", maybeLoadAdmin1);
    if (window.ResizeObserver) {
      // Qt resizes the view after load (layouts, splitters): redraw at once at the new size
      // rather than after Leaflet's debounced window-resize handler.
      new ResizeObserver(function () { map.invalidateSize({ animate: false }); })
        .observe(map.getContainer());
    }
    redraw();
    marks.draw = performance.now() - t0;
    maybeLoadAdmin1();
    addLegend();
    (fc._initHooks || []).forEach(function (hook) { hook(map); });
    connectBridge();
    fc.ready = true;
    fc.initMs = performance.now() - t0;
    marks.total = fc.initMs;
    fc.timings = marks;
    post({ type: "ready", points: S.n, territories: S.territoryCount, ms: Math.round(fc.initMs) });
    document.dispatchEvent(new Event("fieldcrm-ready"));
  };

  fc.STATUS = STATUS;
  fc._state = S; // for fieldcrm-tools.js, tests and debugging
  fc._internal = { post: post, indexOfId: indexOfId, esc: esc, redraw: redraw };
})();
