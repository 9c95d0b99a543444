"""The map page in a real QtWebEngineView offscreen: pins, territories, bridge, filters, guard."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from PySide6.QtWebEngineCore import QWebEngineProfile, QWebEngineSettings

from tests.webengine.conftest import READY_TIMEOUT_MS, sample_points

pytestmark = pytest.mark.webengine

N = 300


@pytest.fixture
def view(loaded_map: Any, qtbot: Any) -> Any:
    qtbot.waitUntil(lambda: loaded_map.is_ready, timeout=READY_TIMEOUT_MS)
    return loaded_map


def test_page_is_ready_with_pins_territories_and_basemap(view: Any, run_js: Any) -> None:
    assert run_js(view, "window.fieldcrm.ready") is True
    stats = run_js(view, "window.fieldcrm.stats()")
    assert stats["total"] == N
    assert stats["visible"] == N
    assert stats["territories"] == 2
    assert stats["drawn"] > 0  # clusters and/or single pins on screen
    assert "countries" in stats["basemaps"]
    labels = run_js(view, "Array.from(document.querySelectorAll('.fc-territory-label'))"
                          ".map(e => e.textContent).sort()")
    assert labels == ["North Uppland", "South Uppland"]
    legend = run_js(view, "document.getElementById('fc-legend').textContent")
    assert "Account status" in legend and "Customer" in legend
    assert view.page().js_errors == []


def test_page_made_no_remote_request(view: Any) -> None:
    assert view.blocked_requests == []
    attr = QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls
    assert view.page().settings().testAttribute(attr) is False


def test_navigation_away_from_the_map_is_refused(view: Any, run_js: Any, qtbot: Any) -> None:
    url = view.url().toString()
    for target in ("file:///etc/hostname", "https://example.com/"):
        run_js(view, f"(location.href = {json.dumps(target)}, 1)")
    refused = view.page().refused_navigations
    qtbot.waitUntil(lambda: {"file:///etc/hostname", "https://example.com/"} <= set(refused))
    assert view.url().toString() == url
    assert run_js(view, "window.fieldcrm.ready") is True


def _click_at_js(lat_lng_js: str) -> str:
    """JS that sends a DOM click to whatever element is on top at a map position."""
    return f"""(() => {{
        const S = window.fieldcrm._state, ll = {lat_lng_js};
        const p = S.map.latLngToContainerPoint(ll), r = S.map.getContainer().getBoundingClientRect();
        const x = r.left + p.x, y = r.top + p.y, el = document.elementFromPoint(x, y);
        for (const type of ['mousedown', 'mouseup', 'click'])
            el.dispatchEvent(new MouseEvent(type, {{clientX: x, clientY: y, bubbles: true}}));
        return el.tagName;
    }})()"""


def test_clicking_a_pin_reaches_python(view: Any, run_js: Any, qtbot: Any) -> None:
    # Zoom right in on one account so it is drawn as its own pin; with rings and a selection
    # drawn too, a DOM click on the pin's pixel must still reach the pin's handler.
    run_js(view, """(() => {
        const S = window.fieldcrm._state, i = 42;
        window.fieldcrm.highlight(['acc-00042', 'acc-00043']);
        window.fieldcrm.selectAccount('acc-00001');
        S.map.setView([S.data.lat[i], S.data.lon[i]], 18, {animate: false});
        return 1;
    })()""")
    with qtbot.waitSignal(view.sig_account_clicked, timeout=5000) as blocker:
        tag = run_js(view, _click_at_js("[S.data.lat[42], S.data.lon[42]]"))
    assert tag == "CANVAS"
    assert blocker.args == ["acc-00042"]


def test_clicking_a_territory_reaches_python(view: Any, run_js: Any, qtbot: Any) -> None:
    # A spot in North Uppland far from every pin at street zoom.
    run_js(view, "(window.fieldcrm._state.map.setView([60.5, 17.001], 17, {animate: false}), 1)")
    spot = "L.latLng(60.5, 17.001)"
    with qtbot.waitSignal(view.sig_territory_clicked, timeout=5000) as blocker:
        run_js(view, _click_at_js(spot))
    assert blocker.args == ["ter-north"]


def test_set_visible_hides_the_others_without_reload(view: Any, run_js: Any, qtbot: Any) -> None:
    run_js(view, "window.fieldcrm._reloadMarker = 1")
    keep = [f"acc-{i:05d}" for i in range(0, N, 30)]  # 10 accounts
    view.set_visible_ids(keep + ["no-such-id"])
    qtbot.waitUntil(lambda: run_js(view, "window.fieldcrm.stats().visible") == len(keep))
    assert run_js(view, "window.fieldcrm.stats().total") == N
    view.set_visible_ids(None)
    qtbot.waitUntil(lambda: run_js(view, "window.fieldcrm.stats().visible") == N)
    assert run_js(view, "window.fieldcrm._reloadMarker") == 1  # same page, not rebuilt


def test_lasso_selection_matches_shapely(view: Any, run_js: Any, qtbot: Any) -> None:
    ring = [[17.2, 59.2], [18.8, 59.5], [18.0, 60.9], [17.2, 59.2]]
    pts = sample_points(N)
    inside = shapely.contains_xy(shapely.Polygon(ring), list(pts.lons), list(pts.lats))
    expected = sorted(pid for pid, ok in zip(pts.ids, inside, strict=True) if ok)
    with qtbot.waitSignal(view.sig_selection, timeout=5000) as blocker:
        view.call("selectInPolygon", ring)
    assert sorted(blocker.args[0]) == expected
    assert 0 < len(expected) < N
    assert run_js(view, "window.fieldcrm.stats().highlighted") == len(expected)


def test_drawn_polygon_reaches_python(view: Any, run_js: Any, qtbot: Any) -> None:
    view.start_draw_polygon()
    js = """(() => {
        const S = window.fieldcrm._state;
        const layer = L.polygon([[59.5, 17.5], [59.5, 18.5], [60.5, 18.0]]);
        S.map.fire(L.Draw.Event.CREATED, {layer: layer, layerType: 'polygon'});
        return S.drawMode;
    })()"""
    with qtbot.waitSignal(view.sig_polygon_drawn, timeout=5000) as blocker:
        assert run_js(view, js) is None
    geom = json.loads(blocker.args[0])
    assert geom["type"] == "Polygon"
    assert [17.5, 59.5] in geom["coordinates"][0]


def test_hooks_for_colour_route_choropleth_and_circle(view: Any, run_js: Any, qtbot: Any) -> None:
    assert run_js(view, "window.fieldcrm.setColorMode('overdue')") is True
    assert "Days since last visit" in run_js(
        view, "document.getElementById('fc-legend').textContent")
    assert run_js(view, "window.fieldcrm.setColorMode('nonsense')") is False
    line = {"type": "LineString", "coordinates": [[17.5, 59.5], [18.0, 60.0], [18.5, 60.5]]}
    stops = [{"lat": 59.5, "lon": 17.5}, {"lat": 60.0, "lon": 18.0, "name": "B"},
             {"lat": 60.5, "lon": 18.5, "label": "E"}]
    assert run_js(view, f"window.fieldcrm.showRoute({json.dumps(line)}, {json.dumps(stops)})") == 3
    assert run_js(view, "document.querySelectorAll('.fc-stop').length") == 3
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"color": "#ff0000", "label": "X: 3"},
         "geometry": {"type": "Polygon", "coordinates": [[[17, 59], [18, 59], [18, 60], [17, 59]]]}},
    ]}
    legend = {"title": "Sales", "items": [{"color": "#ff0000", "label": "> 100k"}]}
    assert run_js(view, f"window.fieldcrm.setChoropleth({json.dumps(fc)}, {json.dumps(legend)})") == 1
    assert run_js(view, "window.fieldcrm.showCircle(60.0, 18.0, 10, ['acc-00001'])") is True
    assert run_js(view, "window.fieldcrm.selectAccount('acc-00007')") is True
    assert run_js(view, "window.fieldcrm.stats().selectedId") == "acc-00007"
    # Names are shown as text, never as HTML.
    # One label (Leaflet fades the old one out), the name shown as text, never as HTML.
    labels = ("Array.from(document.querySelectorAll('.fc-selected-label'))"
              ".map(e => e.textContent)")
    qtbot.waitUntil(lambda: run_js(view, labels) == ["Account 7 <&>"])
    assert run_js(view, "window.fieldcrm.setHeatmap(true)") == N
    assert run_js(view, "document.querySelectorAll('.leaflet-heatmap-layer').length") == 1
    assert run_js(view, "window.fieldcrm.setHeatmap(false)") == 0
    assert run_js(view, "window.fieldcrm.setColorMode('status')") is True
    assert view.page().js_errors == []


def test_calls_before_ready_are_queued(qtbot: Any, tmp_path: Path, run_js: Any) -> None:
    from fieldcrm.geo.maps import build_account_map
    from fieldcrm.ui.map_view import MapView

    html = build_account_map(points=sample_points(20), out_dir=tmp_path)
    view = MapView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.sig_ready, timeout=READY_TIMEOUT_MS):
        view.load_map(html)
        view.set_color_mode("overdue")
    qtbot.waitUntil(lambda: run_js(view, "window.fieldcrm.stats().colorMode") == "overdue")


def test_interceptor_blocks_and_records_remote_requests(qtbot: Any, tmp_path: Path) -> None:
    from fieldcrm.ui.map_view import MapView

    page = tmp_path / "remote.html"
    page.write_text("<!DOCTYPE html><html><body>remote</body></html>", encoding="utf-8")
    view = MapView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.page().loadFinished, timeout=READY_TIMEOUT_MS):
        view.load_map(page)
    # Open Chromium's own gate (as an allowed tile host does) so the interceptor is the guard;
    # the setting reaches the page asynchronously, so the page keeps trying.
    view.set_remote_access(True)
    view.page().runJavaScript(
        "setInterval(() => { new Image().src = 'http://example.com/x.png';"
        " fetch('https://example.org/y.json').catch(() => {}); }, 200)", 0)

    def both_blocked() -> bool:
        hosts = " ".join(view.blocked_requests)
        return "http://example.com/x.png" in hosts and "example.org" in hosts

    qtbot.waitUntil(both_blocked, timeout=10_000)
    view.page().runJavaScript("location.href = 'about:blank'", 0)


class _TileHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []
    png = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Cache-Control", "max-age=86400")
        self.send_header("Content-Length", str(len(self.png)))
        self.end_headers()
        self.wfile.write(self.png)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tile_server() -> Iterator[str]:
    """A raster tile server on 127.0.0.1 answering every tile with one PNG."""
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QColor, QImage

    image = QImage(256, 256, QImage.Format.Format_RGB32)
    image.fill(QColor("#88aa88"))
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    _TileHandler.png = bytes(buf.data().data())
    _TileHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TileHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png"
    server.shutdown()
    server.server_close()


def test_opted_in_tiles_load_from_a_local_server_into_the_disk_cache(
        qtbot: Any, tmp_path: Path, tile_server: str) -> None:
    from fieldcrm.geo.maps import build_account_map
    from fieldcrm.ui.map_view import MapView

    html = build_account_map(points=sample_points(20), out_dir=tmp_path / "page",
                             tile_url=tile_server)
    view = MapView(tile_cache_dir=tmp_path / "tiles")
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    view.allow_remote_host("127.0.0.1")
    with qtbot.waitSignal(view.sig_ready, timeout=READY_TIMEOUT_MS):
        view.load_map(html)
    # The page loaded offline (its local scripts ran), then fetched tiles from the server.
    qtbot.waitUntil(lambda: len(_TileHandler.requests) >= 4, timeout=15_000)
    assert all(p.endswith(".png") for p in _TileHandler.requests)
    assert view.blocked_requests == []
    profile = view.page().profile()
    assert profile.httpCacheType() == QWebEngineProfile.HttpCacheType.DiskHttpCache
    assert Path(profile.cachePath()).is_relative_to(tmp_path / "tiles")


def test_accounts_at_the_same_place_are_offered_as_a_list(qtbot: Any, tmp_path: Path,
                                                         run_js: Any) -> None:
    from fieldcrm.geo.maps import MapPoints, build_account_map
    from fieldcrm.ui.map_view import MapView

    # Five accounts geocoded to the same town centre, one elsewhere.
    n = 6
    points = MapPoints(
        ids=[f"same-{i}" for i in range(n)], names=[f"Shop <{i}>" for i in range(n)],
        lats=[59.5] * 5 + [61.0], lons=[17.5] * 5 + [19.0], statuses=["lead"] * n,
        tiers=["C"] * n, days_overdue=[None] * n, precise=[False] * n)
    view = MapView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    with qtbot.waitSignal(view.sig_ready, timeout=READY_TIMEOUT_MS):
        view.load_map(build_account_map(points=points, out_dir=tmp_path))
    names = ("Array.from(document.querySelectorAll('.fc-picker a'))"
             ".map(a => a.textContent).sort()")
    expected = [f"Shop <{i}>" for i in range(5)]

    # A cluster that zooming cannot split opens the list ...
    run_js(view, "(window.fieldcrm._state.map.setView([59.5, 17.5], 9, {animate: false}), 1)")
    run_js(view, "(window.fieldcrm._state.clusterLayer.getLayers()[0].getElement().click(), 1)")
    qtbot.waitUntil(lambda: run_js(view, names) == expected)
    run_js(view, "(window.fieldcrm._state.map.closePopup(), 1)")

    # ... and so does a click on pins drawn on top of each other at street level.
    run_js(view, "(window.fieldcrm._state.map.setView([59.5, 17.5], 16, {animate: false}), 1)")
    run_js(view, _click_at_js("L.latLng(59.5, 17.5)"))
    qtbot.waitUntil(lambda: run_js(view, names) == expected)
    with qtbot.waitSignal(view.sig_account_clicked, timeout=5000) as blocker:
        run_js(view, "(document.querySelector('.fc-picker a[data-id=\"same-3\"]').click(), 1)")
    assert blocker.args == ["same-3"]


def test_a_page_whose_map_does_not_start_reports_why(qtbot: Any, tmp_path: Path) -> None:
    from fieldcrm.ui.map_view import MapView

    page = tmp_path / "broken.html"
    page.write_text('<html><head><script src="fieldcrm-map.js"></script></head><body>'
                    "<script>throw new Error('boom');</script></body></html>", encoding="utf-8")
    view = MapView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.sig_load_failed, timeout=READY_TIMEOUT_MS) as blocker:
        view.load_map(page)
    assert "did not start" in blocker.args[0] and "boom" in blocker.args[0]
    assert not view.is_ready


@pytest.mark.parametrize(("url", "local"), [
    ("file:///work/map.html", True), ("qrc:///qtwebchannel/qwebchannel.js", True),
    ("data:image/png;base64,AAAA", True), ("blob:file:///1234", True), ("about:blank", True),
    ("http://127.0.0.1:8123/t/1/2/3.png", True), ("http://localhost/x", True),
    ("https://[::1]:9/x", True), ("http://example.com/x.png", False),
    ("https://127.0.0.1.example.com/x", False), ("ftp://localhost/x", False),
    ("https://tile.openstreetmap.org/1/1/1.png", False),
])
def test_only_local_urls_pass(url: str, local: bool) -> None:
    from PySide6.QtCore import QUrl

    from fieldcrm.ui.map_view import is_local_url

    assert is_local_url(QUrl(url)) is local


def test_allowed_tile_host_passes() -> None:
    from PySide6.QtCore import QUrl

    from fieldcrm.ui.map_view import is_local_url

    url = QUrl("https://tiles.example.test/1/2/3.png")
    assert is_local_url(url, {"tiles.example.test"}) is True
    assert is_local_url(QUrl("https://other.example.test/1.png"), {"tiles.example.test"}) is False


def test_bridge_rejects_malformed_messages(qtbot: Any) -> None:
    from fieldcrm.ui.map_view import MapBridge

    bridge = MapBridge()
    got: list[dict] = []
    bridge.sig_message.connect(got.append)
    assert bridge.cmd("not json").startswith("error")
    assert bridge.cmd('["no", "type"]').startswith("error")
    assert bridge.cmd('{"id": "x"}').startswith("error")
    assert got == []
    assert bridge.cmd('{"type": "account_clicked", "id": "a1"}') == "ok"
    assert got == [{"type": "account_clicked", "id": "a1"}]
