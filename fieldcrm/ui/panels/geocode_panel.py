"""Place accounts on the map (gazetteer, then the online geocoder if enabled) and list the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.db.engine import Database
from fieldcrm.errors import Cancelled, InvalidInput
from fieldcrm.geo.geocode import OnlineSettings
from fieldcrm.services.geocoding import GeocodeSummary, geocode_accounts, unplaced_accounts
from fieldcrm.services.settings import Settings, load_settings
from fieldcrm.ui.errors import error_title
from fieldcrm.ui.tasks import ChangeSet, TaskRunner, TaskState
from fieldcrm.ui.widgets.form import if_alive

KEYRING_SERVICE = "fieldcrm-geocoder"
NO_KEYRING = ("No secure password store (OS keyring) is available on this computer, so fieldcrm "
              "cannot keep the geocoder's API key (it is never stored in plain text). Install or "
              "unlock one (GNOME Keyring / KWallet, Windows Credential Manager, macOS Keychain).")
ONLINE_MIN_DELAY = 1.0  # Nominatim's usage policy: at most one request per second


def _keyring() -> Any:
    """The usable keyring backend, or None when only the fail/null backend exists."""
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring) or getattr(backend, "priority", 1) <= 0:
        return None
    return backend


def read_api_key(provider: str) -> str:
    """Return the provider's API key from the OS keyring ("" if none or no keyring)."""
    backend = _keyring()
    try:
        return (backend.get_password(KEYRING_SERVICE, provider) or "") if backend else ""
    except Exception:  # a locked keyring: go without a key (Nominatim needs none)
        return ""


def save_api_key(provider: str, key: str) -> None:
    """Store (or, with an empty key, forget) the provider's API key in the OS keyring.

    Raises
    ------
    InvalidInput
        If no keyring backend is usable (``errors`` names ``geocoder_api_key``).
    """
    backend = _keyring()
    if backend is None:
        raise InvalidInput(NO_KEYRING, {"geocoder_api_key": NO_KEYRING})
    try:
        if key:
            backend.set_password(KEYRING_SERVICE, provider, key)
        elif backend.get_password(KEYRING_SERVICE, provider) is not None:
            backend.delete_password(KEYRING_SERVICE, provider)
    except Exception as exc:  # locked or broken keyrings raise backend-specific errors
        msg = f"{NO_KEYRING} ({type(exc).__name__})"
        raise InvalidInput(msg, {"geocoder_api_key": msg}) from None


def online_settings(settings: Settings, api_key: str = "") -> OnlineSettings | None:
    """Return how to reach the online geocoder, or None when it is not enabled."""
    if not settings.geocoder_online:
        return None
    return OnlineSettings(provider=settings.geocoder_provider, domain=settings.geocoder_domain,
                          scheme=settings.geocoder_scheme, user_agent=settings.geocoder_user_agent,
                          api_key=api_key, min_delay_seconds=ONLINE_MIN_DELAY)


@dataclass(frozen=True, slots=True)
class PlaceOutcome:
    """What a run did (summary None when cancelled) and whether it went online."""

    summary: GeocodeSummary | None
    online: bool


def place_accounts(db: Database, state: TaskState) -> PlaceOutcome:
    """Job for the io lane: geocode with its own session, off the single write lane.

    A cancel ends it with what was placed kept (the service commits as it goes).
    """
    with db.session() as s:
        settings = load_settings(session=s)
    online = online_settings(settings, read_api_key(settings.geocoder_provider)
                             if settings.geocoder_online else "")
    phase = {"last": -1, "label": "Placing accounts at their towns…"}

    def progress(done: int, total: int) -> None:
        if done < phase["last"] and online is not None:
            phase["label"] = f"Asking {settings.geocoder_provider} for street addresses…"
        phase["last"] = done
        state.set_progress(done, total, phase["label"])

    try:
        with db.session() as s:
            summary = geocode_accounts(session=s, default_country=settings.default_country,
                                       online=online, progress=progress,
                                       cancelled=state.is_cancelled)
    except Cancelled:
        return PlaceOutcome(None, online is not None)
    return PlaceOutcome(summary, online is not None)


def summary_text(outcome: PlaceOutcome) -> str:
    """Return the one-line report of a run."""
    if outcome.summary is None:
        return "Stopped; the accounts placed so far keep their positions."
    s = outcome.summary
    text = f"{s.placed_at_town} placed at their town"
    if outcome.online:
        text += f", {s.refined_online} refined online"
    else:
        text += " (online geocoder off: Settings › Geocoding)"
    return f"{text}; {s.not_found} could not be placed."


class GeocodePanel(QWidget):
    """A "Place accounts on the map" button with progress and cancel, and the unplaced list."""

    sig_account_activated = Signal(str)
    """The user double-clicked an account that could not be placed."""
    sig_status = Signal(str)
    """A one-line message for the status bar."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._state: TaskState | None = None
        self.place_button = QPushButton("&Place accounts on the map")
        self.place_button.setToolTip("Accounts without coordinates: first the offline town "
                                     "list, then the online geocoder if it is on in Settings")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.list_title = QLabel("Accounts that could not be placed")
        self.unplaced = QListWidget()
        self.unplaced.setToolTip("Double-click to open the account and fix its address")
        bar = QHBoxLayout()
        for w in (self.place_button, self.cancel_button, self.progress):
            bar.addWidget(w)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.list_title)
        layout.addWidget(self.unplaced, 1)
        self.place_button.clicked.connect(self.place)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.unplaced.itemDoubleClicked.connect(self._on_unplaced_activated)
        runner.sig_progress.connect(self._on_runner_progress)
        runner.sig_changes_applied.connect(self._on_runner_changes_applied)
        app = QCoreApplication.instance()
        if app is not None:  # a run at 1 request/s must not hold up quitting
            app.aboutToQuit.connect(self._on_cancel_clicked)
        self.refresh()

    # -- public API --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the list of accounts without a position."""
        self.runner.query(unplaced_accounts, if_alive(self, self._on_unplaced_loaded),
                          parent=self, key=f"unplaced:{id(self)}")

    @Slot()
    def place(self) -> None:
        """Geocode the accounts without a position on the io lane, with progress and cancel."""
        if self._state is not None:
            return
        db = self.runner.db
        self.place_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Placing accounts…")
        self._state = self.runner.call(lambda state: place_accounts(db, state),
                                       if_alive(self, self._on_placed), parent=self,
                                       on_error=if_alive(self, self._on_place_failed),
                                       with_state=True)

    # -- results -----------------------------------------------------------------------------
    def _finish(self) -> None:
        self._state = None
        self.place_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()
        # Tell the map, list and panels that positions changed (the run wrote on its own).
        self.runner.write(lambda s: None, ChangeSet(accounts=True))

    def _on_placed(self, outcome: PlaceOutcome) -> None:
        self._finish()
        text = summary_text(outcome)
        self.status.setText(text)
        self.sig_status.emit(text)

    def _on_place_failed(self, exc: BaseException) -> None:
        self._finish()
        self.status.setText(f"{error_title(exc)}: {exc} The accounts placed so far keep their "
                            "positions; try again later to continue.")

    def _on_unplaced_loaded(self, rows: list[tuple[str, str, str]]) -> None:
        self.unplaced.clear()
        for account_id, name, address in rows:
            item = QListWidgetItem(f"{name} — {address}")
            item.setData(Qt.ItemDataRole.UserRole, account_id)
            self.unplaced.addItem(item)
        self.list_title.setText(f"Accounts that could not be placed ({len(rows)}): double-click "
                                "one to open it and fix its address" if rows else
                                "Every account has a position.")

    # -- slots -------------------------------------------------------------------------------
    @Slot(object, int, int, str)
    def _on_runner_progress(self, state: object, done: int, total: int, label: str) -> None:
        if state is self._state and total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.status.setText(f"{label} {done:,} of {total:,}")

    @Slot()
    def _on_cancel_clicked(self) -> None:
        if self._state is not None:
            self._state.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Stopping after the current address…")

    @Slot(QListWidgetItem)
    def _on_unplaced_activated(self, item: QListWidgetItem) -> None:
        self.sig_account_activated.emit(item.data(Qt.ItemDataRole.UserRole))

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.accounts:
            self.refresh()
