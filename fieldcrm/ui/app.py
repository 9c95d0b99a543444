"""Composition root of the desktop app: Qt application, database, task runner, main window."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from fieldcrm.config import APP_NAME, ORG_NAME, default_db_path, env_setting, log_path

log = logging.getLogger(__name__)
SCREENSHOT_SIZE = (1400, 900)


def pin_refcounts() -> None:
    """Work around PySide6 6.12.0 on Python < 3.12 losing references to True and None.

    See :mod:`fieldcrm.ui.widgets.qtfix`, which holds both workarounds.
    """
    from fieldcrm.ui.widgets import qtfix

    qtfix.install()


def _prepare_environment(headless: bool) -> None:
    """Set what Qt and Chromium read at start-up (before QApplication exists)."""
    if headless:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium refuses root with its sandbox
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --no-sandbox").strip()


def _setup_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_fieldcrm", False) for h in root.handlers):
        return
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler(sys.stderr)
    handler._fieldcrm = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def _make_app() -> Any:
    # QtWebEngine must be loaded, and GL contexts shared, before the QApplication is created.
    from PySide6 import QtWebEngineWidgets  # noqa: F401
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
        app = QApplication(sys.argv[:1])
        from fieldcrm.ui.widgets.qtfix import MainThreadGC

        app.main_thread_gc = MainThreadGC(parent=app)  # Qt objects are never freed on workers
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationDisplayName("fieldcrm")
    return app


def _startup_error(message: str, headless: bool) -> None:
    log.error("Start-up failed: %s", message)
    print(f"fieldcrm: {message}", file=sys.stderr)
    if not headless:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.critical(None, "fieldcrm cannot open the database", message)


def _db_path(args: argparse.Namespace) -> Path:
    if getattr(args, "db", None):
        return Path(args.db).expanduser()
    path = default_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _install_excepthook(window: Any, headless: bool) -> Callable[..., Any]:
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("Uncaught error", exc_info=(kind, exc, tb))
        if headless:
            print(f"fieldcrm: unexpected error: {exc!r}", file=sys.stderr)
            return
        from fieldcrm.ui.errors import show_error

        show_error(window, exc)

    sys.excepthook = hook
    return previous


def run_app(args: argparse.Namespace) -> int:
    """Run the desktop app (or render a screenshot with ``--screenshot``); return the exit code."""
    started = time.perf_counter()
    headless = bool(getattr(args, "screenshot", None))
    pin_refcounts()
    _prepare_environment(headless)
    _setup_logging(env_setting("log_level", "INFO"))
    app = _make_app()
    qt_ready = time.perf_counter()
    from fieldcrm.db.engine import open_database
    from fieldcrm.errors import DatabaseError

    path = _db_path(args)
    try:
        db = open_database(path)
    except DatabaseError as exc:
        _startup_error(str(exc), headless)
        return 2
    log.info("Qt started in %.3f s; opened %s in %.3f s", qt_ready - started, path,
             time.perf_counter() - qt_ready)
    from fieldcrm.ui.main_window import MainWindow
    from fieldcrm.ui.tasks import TaskRunner

    runner = TaskRunner(db)
    window = MainWindow(runner, restore_state=not headless)
    _log_when_usable(window, started)
    previous_hook = _install_excepthook(window, headless)
    try:
        if headless:
            return _screenshot(app, window, getattr(args, "view", "list") or "list",
                               Path(args.screenshot),
                               float(env_setting("screenshot_timeout_s", "30")))
        window.show()
        window.start()
        _preload_tabs_when_usable(window)
        window.start_sync()
        return int(app.exec())
    finally:
        sys.excepthook = previous_hook
        _tear_down(window, runner)
        db.close()


def _log_when_usable(window: Any, started: float) -> None:
    """Log when the first page of the list is on screen (bench/cold_start.py reads this line)."""
    from PySide6.QtCore import Qt

    def usable(total: int) -> None:
        log.info("Window usable: first page of %d accounts shown %.3f s after start "
                 "(epoch %.3f)", total, time.perf_counter() - started, time.time())

    window.accounts.model.sig_loaded.connect(usable, Qt.ConnectionType.SingleShotConnection)


def _preload_tabs_when_usable(window: Any) -> None:
    """Once the list shows, import the other tabs' modules in the background (not headless)."""
    from PySide6.QtCore import Qt

    from fieldcrm.ui.shell_tabs import warm_imports

    def preload(_total: int) -> None:
        window.runner.call(warm_imports, lambda _none: None,
                           on_error=lambda exc: log.warning("Pre-loading tabs failed: %s", exc))

    window.accounts.model.sig_loaded.connect(preload, Qt.ConnectionType.SingleShotConnection)


def stop_runner(runner: Any) -> None:
    """Stop the runner's workers and drop results still queued for the GUI thread.

    Deliveries queued before the stop would reach widgets that are about to go (and futures
    cancelled by the stop raise CancelledError when read), so the relay that carries them goes.
    """
    import shiboken6

    runner.shutdown()
    relay = getattr(runner, "_relay", None)
    if relay is not None and shiboken6.isValid(relay):
        shiboken6.delete(relay)


def _tear_down(window: Any, runner: Any) -> None:
    """Stop the workers, then delete the window before the app (QtWebEngine needs that order)."""
    import shiboken6

    window.close()
    stop_runner(runner)
    if shiboken6.isValid(window):
        shiboken6.delete(window)  # QtWebEngine pages must go before their profile does


# -- headless screenshot ------------------------------------------------------------------------
def _wait(app: Any, done: Callable[[], bool], timeout_s: float) -> bool:
    """Run the event loop until ``done()`` or the timeout; return whether it became true."""
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            return False
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        app.sendPostedEvents()
        time.sleep(0.005)  # not a wait for a result: keeps this loop from spinning a core
    return True


class _Busy:
    """Tracks the runner's busy flag (the screenshot waits until all ops have landed)."""

    def __init__(self, runner: Any) -> None:
        self.busy = False
        runner.sig_busy.connect(self._on_busy)

    def _on_busy(self, busy: bool) -> None:
        self.busy = busy


def _screenshot(app: Any, window: Any, view: str, out: Path, timeout_s: float) -> int:
    busy = _Busy(window.runner)
    window.resize(*SCREENSHOT_SIZE)
    window.show_view("list" if view == "account" else view)
    window.show()
    window.start()
    if not _wait(app, lambda: window.accounts.model.is_loaded, timeout_s):
        print(f"fieldcrm: the accounts list did not load within {timeout_s:.0f} s", file=sys.stderr)
        return 1
    if view == "account":
        if window.accounts.select_row(0):
            window.show_view("account")
        else:
            print("fieldcrm: there are no accounts to open; showing the empty Account tab",
                  file=sys.stderr)
            window.show_view("account")
    if view == "map":
        from fieldcrm.ui.shell_tabs import Tab

        ready = _wait(app, lambda: window.tabs.panel(Tab.MAP).is_ready(), timeout_s)
        if not ready:
            print(f"fieldcrm: the map did not finish drawing within {timeout_s:.0f} s",
                  file=sys.stderr)
            return 1
    _wait(app, lambda: not busy.busy, timeout_s)
    _wait(app, lambda: False, 0.3)  # let the last layouts and paints happen
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        print(f"fieldcrm: could not write the screenshot {out}", file=sys.stderr)
        return 1
    log.info("Screenshot of the %s view saved to %s", view, out)
    return 0
