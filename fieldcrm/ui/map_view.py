"""QWebEngineView showing the offline account map, with a JSON bridge and a local-only guard.

``MapView.load_map(path)`` loads a page written by :func:`fieldcrm.geo.maps.build_account_map`
with ``setUrl`` (never ``setHtml``: it fails above 2 MB). The page talks back through one
QWebChannel object (``fieldcrmBridge``) whose single slot ``cmd(str) -> str`` carries JSON;
Python talks to the page through ``window.fieldcrm`` with ``runJavaScript``. Calls made before
the page is ready are queued and sent once it posts ``{"type": "ready"}``.

Two guards keep the page offline. Chromium's ``LocalContentCanAccessRemoteUrls`` stays off
(a ``file:`` page cannot reach the network); and every request passes
:class:`LocalOnlyInterceptor`, which blocks (and records) anything that is not local: only
``file:``, ``qrc:``, ``data:``, ``blob:``, ``about:`` and ``http(s)`` to 127.0.0.1/localhost/::1
pass, plus hosts allowed explicitly for an opted-in tile server. With such a host, remote
access is switched on only once the page is ready: in Qt 6.12 a ``file:`` page with it on
cannot load its own local scripts, so the page loads offline first and then fetches tiles.
Navigation away from the map is refused; JavaScript console output goes to logging.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QFile, QIODevice, QObject, QUrl, Signal, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineScript,
    QWebEngineSettings,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
)
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)
js_log = logging.getLogger("fieldcrm.map.js")

LOCAL_SCHEMES = frozenset({"file", "qrc", "data", "blob", "about"})
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_BRIDGE_NAME = "fieldcrmBridge"
TILE_CACHE_BYTES = 512 * 1024 * 1024
_profiles: dict[str, QWebEngineProfile] = {}
_BOOTSTRAP_JS = """
;(function () {
  function go() { if (window.fieldcrm && window.fieldcrm.connectBridge) window.fieldcrm.connectBridge(); }
  document.addEventListener("DOMContentLoaded", go);
  window.addEventListener("load", go);
})();
"""


_READY_CHECK_JS = """(function () {
  if (!document.querySelector('script[src*="fieldcrm-map.js"]')) return null;
  return !!(window.fieldcrm && window.fieldcrm.ready);
})()"""


def is_local_url(url: QUrl, extra_hosts: Iterable[str] = ()) -> bool:
    """True if a request to ``url`` stays on this machine (or goes to an allowed host)."""
    scheme = url.scheme().lower()
    if scheme in LOCAL_SCHEMES:
        return True
    if scheme in ("http", "https", "ws", "wss"):
        host = url.host().lower()
        return host in LOCAL_HOSTS or host in set(extra_hosts)
    return False


def tile_cache_profile(cache_dir: Path) -> QWebEngineProfile:
    """A persistent profile whose disk HTTP cache keeps map tiles as the user views them.

    One per folder for the whole process, owned by the application (a profile must outlive
    every page that uses it).
    """
    key = str(cache_dir.resolve())
    profile = _profiles.get(key)
    if profile is None:
        name = f"fieldcrm-map-{zlib.crc32(key.encode()):08x}"
        profile = QWebEngineProfile(name, QCoreApplication.instance())
        profile.setCachePath(str(cache_dir / "http-cache"))
        profile.setPersistentStoragePath(str(cache_dir / "storage"))
        profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.DiskHttpCache)
        profile.setHttpCacheMaximumSize(TILE_CACHE_BYTES)
        _profiles[key] = profile
    return profile


class LocalOnlyInterceptor(QWebEngineUrlRequestInterceptor):
    """Blocks every non-local request of the page it is installed on and records it."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.blocked: list[str] = []
        self.allowed_hosts: set[str] = set()

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 (Qt)
        url = info.requestUrl()
        if is_local_url(url, self.allowed_hosts):
            return
        info.block(True)
        text = url.toString()
        self.blocked.append(text)
        log.warning("Map page: blocked non-local request to %s", text)


class MapPage(QWebEnginePage):
    """Page that refuses navigation away from local files and logs the JS console."""

    _LEVELS = {
        QWebEnginePage.JavaScriptConsoleMessageLevel.InfoMessageLevel: logging.INFO,
        QWebEnginePage.JavaScriptConsoleMessageLevel.WarningMessageLevel: logging.WARNING,
        QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel: logging.ERROR,
    }

    def __init__(self, profile: QWebEngineProfile | None = None,
                 parent: QObject | None = None) -> None:
        if profile is None:
            super().__init__(parent)
        else:
            super().__init__(profile, parent)
        self.js_errors: list[str] = []
        self.page_dir: Path | None = None
        """Folder of the map page: the only files the page may navigate to."""
        self.refused_navigations: list[str] = []

    def acceptNavigationRequest(  # noqa: N802 (Qt override)
        self, url: QUrl, nav_type: QWebEnginePage.NavigationType, is_main_frame: bool
    ) -> bool:
        scheme = url.scheme().lower()
        if scheme in ("data", "about"):
            return True
        if scheme == "file" and self.page_dir is not None:
            target = Path(url.toLocalFile()).resolve()
            if target.is_relative_to(self.page_dir):
                return True
        self.refused_navigations.append(url.toString())
        log.warning("Map page: refused navigation to %s", url.toString())
        return False

    def javaScriptConsoleMessage(  # noqa: N802 (Qt override)
        self, level: QWebEnginePage.JavaScriptConsoleMessageLevel, message: str, line: int,
        source: str,
    ) -> None:
        py_level = self._LEVELS.get(level, logging.INFO)
        if py_level >= logging.ERROR:
            self.js_errors.append(f"{source}:{line}: {message}")
        js_log.log(py_level, "%s:%s: %s", source.rsplit("/", 1)[-1], line, message)


class MapBridge(QObject):
    """The one object the page sees; ``cmd`` receives every message as JSON text."""

    sig_message = Signal(dict)
    """A well-formed message object from the page."""

    @Slot(str, result=str)
    def cmd(self, text: str) -> str:
        try:
            msg = json.loads(text)
        except ValueError:
            log.warning("Map bridge: not JSON: %.200s", text)
            return "error: not JSON"
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            log.warning("Map bridge: message without a type: %.200s", text)
            return "error: no type"
        self.sig_message.emit(msg)
        return "ok"


def _qwebchannel_js() -> str:
    f = QFile(":/qtwebchannel/qwebchannel.js")
    if not f.open(QIODevice.OpenModeFlag.ReadOnly):
        raise RuntimeError("qwebchannel.js is missing from the Qt WebEngine resources")
    try:
        return bytes(f.readAll().data()).decode("utf-8")
    finally:
        f.close()


class MapView(QWebEngineView):
    """Shows a fieldcrm map page and turns its messages into signals."""

    sig_ready = Signal()
    """The page has drawn its pins and territories (``window.fieldcrm.ready``)."""
    sig_account_clicked = Signal(str)
    """A pin was clicked: the account id."""
    sig_selection = Signal(list)
    """Accounts selected with the rectangle or lasso tool: a list of ids."""
    sig_polygon_drawn = Signal(str)
    """A polygon was drawn in draw mode: its GeoJSON geometry as JSON text."""
    sig_territory_clicked = Signal(str)
    """A territory polygon was clicked: the territory id."""
    sig_pin_moved = Signal(str, float, float)
    """In move-pin mode the pin was dropped: account id, latitude, longitude."""
    sig_load_failed = Signal(str)
    """The page could not be loaded or its map did not start: a message naming the page."""

    def __init__(self, parent: QWidget | None = None, *, tile_cache_dir: Path | None = None) -> None:
        """With ``tile_cache_dir``, online tiles are kept in a disk cache there."""
        super().__init__(parent)
        self._ready = False
        self._pending: list[str] = []
        self.last_view: tuple[float, float, int] | None = None
        """(lat, lon, zoom) the page last showed."""
        self.interceptor = LocalOnlyInterceptor(self)
        profile = tile_cache_profile(tile_cache_dir) if tile_cache_dir is not None else None
        page = MapPage(profile, self)
        page.setUrlRequestInterceptor(self.interceptor)
        self._bridge = MapBridge(self)
        self._bridge.sig_message.connect(self._on_bridge_message)
        self._channel = QWebChannel(page)
        self._channel.registerObject(_BRIDGE_NAME, self._bridge)
        page.setWebChannel(self._channel)
        script = QWebEngineScript()
        script.setName("fieldcrm-qwebchannel")
        script.setSourceCode(_qwebchannel_js() + _BOOTSTRAP_JS)
        script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
        script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
        script.setRunsOnSubFrames(False)
        page.scripts().insert(script)
        self.setPage(page)
        self.set_remote_access(False)
        page.loadFinished.connect(self._on_page_load_finished)

    # ---- state -------------------------------------------------------------------------------
    @property
    def is_ready(self) -> bool:
        return self._ready

    @property
    def blocked_requests(self) -> list[str]:
        """Every non-local URL the page tried to load since this view was made."""
        return list(self.interceptor.blocked)

    def allow_remote_host(self, host: str) -> None:
        """Let the page load tiles from ``host`` (only a tile server the user configured)."""
        self.interceptor.allowed_hosts.add(host.lower())

    def set_remote_access(self, enabled: bool) -> None:
        """Let a ``file:`` page try remote URLs at all; the interceptor still filters them."""
        self.page().settings().setAttribute(
            QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, enabled)

    # ---- loading -------------------------------------------------------------------------------
    def load_map(self, path: Path, *, keep_view: bool = False) -> None:
        """Load ``map.html`` written by ``build_account_map``; ``sig_ready`` follows.

        With ``keep_view`` the new page opens where the previous one was (a rebuild after
        an edit should not throw the user back to the whole country).
        """
        self._ready = False
        self._pending.clear()
        if keep_view and self.last_view is not None:
            self.call("setView", *self.last_view)
        self.set_remote_access(False)  # see the module docstring
        path = Path(path).resolve()
        page = self.page()
        if isinstance(page, MapPage):
            page.page_dir = path.parent
        self.setUrl(QUrl.fromLocalFile(str(path)))

    @Slot(bool)
    def _on_page_load_finished(self, ok: bool) -> None:
        url = self.url().toString()
        if not ok:
            log.error("Map page failed to load: %s", url)
            self.sig_load_failed.emit(f"The map page {url} could not be loaded.")
            return
        # The page's scripts have run by now: if it is a map page whose map did not start,
        # say why (other pages answer null).
        self.page().runJavaScript(_READY_CHECK_JS, 0,
                                  lambda ready: self._on_ready_checked(url, ready))

    def _on_ready_checked(self, url: str, ready: object) -> None:
        if ready is not False or self._ready or self.url().toString() != url:
            return
        page = self.page()
        errors = page.js_errors if isinstance(page, MapPage) else []
        why = errors[-1] if errors else "its map script did not start"
        log.error("Map page %s did not start: %s", url, why)
        self.sig_load_failed.emit(f"The map page {url} did not start: {why}")

    @Slot(dict)
    def _on_bridge_message(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "ready":
            self._ready = True
            if self.interceptor.allowed_hosts:
                self.set_remote_access(True)
                self.page().runJavaScript("window.fieldcrm.reloadTiles()", 0)
            pending, self._pending = self._pending, []
            for js in pending:
                self.page().runJavaScript(js, 0)
            self.sig_ready.emit()
        elif kind == "account_clicked":
            self.sig_account_clicked.emit(str(msg.get("id", "")))
        elif kind == "selection":
            self.sig_selection.emit([str(i) for i in msg.get("ids", [])])
        elif kind == "polygon_drawn":
            self.sig_polygon_drawn.emit(json.dumps(msg.get("geojson")))
        elif kind == "view":
            try:
                self.last_view = (float(msg["lat"]), float(msg["lon"]), int(msg["zoom"]))
            except (KeyError, TypeError, ValueError):
                log.warning("Map bridge: bad view message %s", msg)
        elif kind == "pin_moved":
            try:
                self.sig_pin_moved.emit(str(msg["id"]), float(msg["lat"]), float(msg["lon"]))
            except (KeyError, TypeError, ValueError):
                log.warning("Map bridge: bad pin_moved message %s", msg)
        elif kind == "territory_clicked":
            self.sig_territory_clicked.emit(str(msg.get("id", "")))
        else:
            log.info("Map bridge: unhandled message %s", kind)

    # ---- calls into the page -------------------------------------------------------------------
    def call(self, function: str, *args: Any, callback: Callable[[Any], None] | None = None) -> None:
        """Call ``window.fieldcrm.<function>(*args)``; queued until the page is ready."""
        js = f"window.fieldcrm.{function}({', '.join(json.dumps(a) for a in args)})"
        if not self._ready:
            self._pending.append(js)
        elif callback is None:
            self.page().runJavaScript(js, 0)
        else:
            self.page().runJavaScript(js, 0, callback)

    def set_visible_ids(self, ids: Iterable[str] | None) -> None:
        """Show only these accounts (``None`` shows all) without reloading the page."""
        self.call("setVisible", None if ids is None else list(ids))

    def select_account(self, account_id: str) -> None:
        """Centre the map on an account and mark it."""
        self.call("selectAccount", account_id)

    def highlight(self, ids: Sequence[str]) -> None:
        self.call("highlight", list(ids))

    def show_circle(self, lat: float | None, lon: float | None, km: float,
                    ids: Sequence[str] | None = None) -> None:
        """Draw a radius of ``km`` around a point (None clears it), highlighting ``ids``."""
        self.call("showCircle", lat, lon, km, None if ids is None else list(ids))

    def show_circle_around(self, account_id: str, km: float, ids: Sequence[str] | None = None) -> None:
        """Draw a radius of ``km`` around an account on the map, highlighting ``ids``."""
        self.call("showCircleAround", account_id, km, None if ids is None else list(ids))

    def set_color_mode(self, mode: str) -> None:
        """``"status"`` or ``"overdue"``."""
        self.call("setColorMode", mode)

    def show_route(self, geojson_line: dict[str, Any] | None,
                   stops: Sequence[dict[str, Any]] = ()) -> None:
        """Draw a route line and numbered stops (``{"lat", "lon", "label", "id", "name"}``)."""
        self.call("showRoute", geojson_line, list(stops))

    def set_choropleth(self, feature_collection: dict[str, Any] | None,
                       legend: dict[str, Any] | None = None) -> None:
        """Fill regions by ``properties.color``; legend ``{"title", "items": [{color, label}]}``."""
        self.call("setChoropleth", feature_collection, legend)

    def set_heatmap(self, on: bool) -> None:
        self.call("setHeatmap", on)

    def start_draw_polygon(self) -> None:
        """Let the user draw a polygon; ``sig_polygon_drawn`` follows."""
        self.call("startDrawPolygon")

    def start_move_pin(self, account_id: str, name: str = "") -> None:
        """Make one account's pin draggable (with ``name``, an account not on the map gets a pin
        at the centre of the view); each drop emits ``sig_pin_moved``."""
        self.call("startMovePin", account_id, name)

    def stop_move_pin(self) -> None:
        self.call("stopMovePin")

    def start_rectangle_select(self) -> None:
        self.call("startRectangleSelect")

    def start_lasso(self) -> None:
        self.call("startLasso")

    def clear_overlays(self) -> None:
        """Clear the selection, the circle and any drawing in progress."""
        self.call("clearAll")
