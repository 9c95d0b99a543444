"""Log in to the sync server: URL, user, password; the login runs on the io lane."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.errors import SyncError
from fieldcrm.services.sync_status import SyncInfo, read_sync_info
from fieldcrm.ui.sync_controller import TOO_OLD, SyncController
from fieldcrm.ui.widgets.form import FormFields, if_alive

INTRO = ("Log in to your company's fieldcrm server to send your changes and receive your "
         "territories. You can keep working without it; changes wait on this computer.")
WRONG_PASSWORD = "Wrong user name or password. Check both and try again."
REFUSED = "The server refused this login: {detail}"


def login_message(exc: BaseException, server_url: str) -> tuple[str, str]:
    """(field key or "", message) for a failed login, in plain words."""
    if not isinstance(exc, SyncError):
        return "", f"Login failed because of an unexpected problem: {exc}"
    if exc.kind == "auth":
        return "password", WRONG_PASSWORD
    if exc.kind == "offline":
        return "server", (f"Cannot reach {server_url}. Check the address and that you are "
                          "online; meanwhile fieldcrm keeps working offline.")
    if exc.kind == "protocol":
        return "", TOO_OLD
    if exc.kind == "keyring":
        return "", str(exc)
    if exc.kind == "busy":
        return "", ("The server is busy or has had too many failed logins; wait a minute "
                    "and try again.")
    return "", REFUSED.format(detail=exc)


def check_url(text: str) -> str:
    """'' when ``text`` looks like a server address, else the message to show."""
    url = text.strip()
    if not url:
        return "Give the server address, e.g. https://crm.example.com"
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) < 1:
        return "The address starts with https:// (or http:// on a local network)."
    return ""


class LoginDialog(QDialog):
    """Asks for the server, user and password; explains every failure under the form."""

    sig_logged_in = Signal(str)
    """Login succeeded; carries the user name."""
    sig_failed = Signal(str)
    """Login failed; carries the message shown."""

    def __init__(self, controller: SyncController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Log in to sync")
        self.setMinimumWidth(460)
        self.controller = controller
        self.form = FormFields(self)
        self.server = QLineEdit(self)
        self.server.setPlaceholderText("https://crm.example.com")
        self.user = QLineEdit(self)
        self.user.setPlaceholderText("your user name")
        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.add("server", "Server", self.server)
        self.form.add("user", "User name", self.user)
        self.form.add("password", "Password", self.password)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.ok = self.buttons.addButton("Log in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok.setDefault(True)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")
        self.note.setText("Your password is not stored; fieldcrm keeps a login token in the "
                          "system's password store (keyring).")
        intro = QLabel(INTRO, self)
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        for w in (intro, self.form, self.note, self.buttons):
            layout.addWidget(w)
        controller.runner.query(lambda s: read_sync_info(session=s),
                                if_alive(self, self._on_info_loaded), parent=self)

    def message(self) -> str:
        """Every error shown now (summary and under the fields), for tests."""
        return "\n".join(m for m in (self.form.summary(), *self.form.errors().values()) if m)

    # -- slots ----------------------------------------------------------------------------
    def _on_info_loaded(self, info: SyncInfo) -> None:
        if not self.server.text():
            self.server.setText(info.server_url)
        if not self.user.text():
            self.user.setText(info.user)
        (self.password if info.user else self.server).setFocus()

    @Slot()
    def _on_buttons_accepted(self) -> None:
        server, user, password = self.server.text().strip(), self.user.text().strip(), \
            self.password.text()
        errors = {k: m for k, m in (("server", check_url(server)),
                                    ("user", "" if user else "Give your user name."),
                                    ("password", "" if password else "Give your password."))
                  if m}
        if errors:
            self.form.set_errors(errors)
            return
        self.form.clear_errors()
        self._busy(True)
        self.controller.login(server.rstrip("/"), user, password,
                              on_done=if_alive(self, self._on_login_done),
                              on_error=if_alive(self, self._on_login_failed))

    def _busy(self, busy: bool) -> None:
        self.ok.setEnabled(not busy)
        self.ok.setText("Logging in…" if busy else "Log in")
        self.setCursor(Qt.CursorShape.BusyCursor if busy else Qt.CursorShape.ArrowCursor)

    def _on_login_done(self, _pair: Any) -> None:
        self._busy(False)
        self.password.clear()
        self.sig_logged_in.emit(self.user.text().strip())
        self.accept()

    def _on_login_failed(self, exc: BaseException) -> None:
        self._busy(False)
        key, text = login_message(exc, self.server.text().strip())
        if key:
            self.form.set_errors({key: text})
        else:
            self.form.set_errors({}, summary=text)
        if key == "password":
            self.password.selectAll()
        self.sig_failed.emit(text)
