"""The rep's settings form: home and office, country, currency, units, cadence, outcomes, geocoding."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from zoneinfo import available_timezones

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.domain.enums import Tier
from fieldcrm.errors import InvalidInput
from fieldcrm.services.settings import Place, Settings, load_settings, save_settings
from fieldcrm.ui.errors import show_error
from fieldcrm.ui.panels.geocode_panel import save_api_key
from fieldcrm.ui.tasks import ChangeSet, TaskRunner

_ERROR_STYLE = "color: #c62828;"
GEOCODER_PROVIDERS = ("nominatim", "photon", "opencage", "geocodio", "googlev3", "bing",
                      "arcgis", "herev7", "mapbox", "tomtom")


def _parse_float(text: str, what: str) -> tuple[float | None, str]:
    text = text.strip().replace(",", ".")
    if not text:
        return None, ""
    try:
        return float(text), ""
    except ValueError:
        return None, f"{what} “{text}” is not a number."


class SettingsDialog(QDialog):
    """Edit and save the settings; each validation message appears under its field."""

    sig_saved = Signal(object)
    """The settings were saved: the stored Settings."""
    sig_loaded = Signal()
    """The current settings were loaded into the form."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._runner = runner
        self._settings: Settings | None = None
        self.errors: dict[str, QLabel] = {}
        self.inputs: dict[str, QWidget] = {}
        self._build()
        self._runner.query(lambda s: load_settings(session=s), self._on_settings_loaded,
                           parent=self)

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        form = QFormLayout()
        for key, title in (("home", "Home"), ("office", "Office")):
            form.addRow(title, self._place_row(key))
        self._line("default_country", "e.g. SE", 2)
        form.addRow("Default country for phones", self._with_errors(["default_country"]))
        self._line("currency", "e.g. SEK", 3)
        form.addRow("Currency", self._with_errors(["currency"]))
        units = QComboBox()
        units.addItem("Kilometres", "km")
        units.addItem("Miles", "mi")
        self.inputs["units"] = units
        form.addRow("Distances in", self._with_errors(["units"]))
        tz = QComboBox()
        tz.setEditable(True)
        tz.addItems(sorted(available_timezones()))
        self.inputs["timezone"] = tz
        form.addRow("Time zone", self._with_errors(["timezone"]))
        form.addRow("Visit every (days)", self._cadence_row())
        outcomes = QPlainTextEdit()
        outcomes.setPlaceholderText("One outcome per line")
        outcomes.setFixedHeight(110)
        self.inputs["outcomes"] = outcomes
        form.addRow("Visit outcomes", self._with_errors(["outcomes"]))
        geocoding = self._geocoding_group()
        self.summary = QLabel("")
        self.summary.setStyleSheet(_ERROR_STYLE)
        self.summary.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
        self.buttons.accepted.connect(self._on_save_clicked)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(geocoding)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)

    def _geocoding_group(self) -> QGroupBox:
        box = QGroupBox("Geocoding (placing accounts on the map)")
        form = QFormLayout(box)
        online = QCheckBox("Also ask an online geocoder for street addresses")
        online.setToolTip("Off: only the offline town list is used and nothing leaves the laptop")
        self.inputs["geocoder_online"] = online
        form.addRow("", online)
        provider = QComboBox()
        provider.setEditable(True)
        provider.addItems(GEOCODER_PROVIDERS)
        self.inputs["geocoder_provider"] = provider
        form.addRow("Provider (geopy)", self._with_errors(["geocoder_provider"]))
        self._line("geocoder_domain", "nominatim.openstreetmap.org")
        form.addRow("Server", self._with_errors(["geocoder_domain"]))
        scheme = QComboBox()
        scheme.addItems(["https", "http"])
        self.inputs["geocoder_scheme"] = scheme
        form.addRow("Scheme", self._with_errors(["geocoder_scheme"]))
        self._line("geocoder_user_agent", "who you are, e.g. acme-crm (it@acme.example)")
        form.addRow("User agent", self._with_errors(["geocoder_user_agent"]))
        key = self._line("geocoder_api_key", "kept in the system keyring, never in the database")
        key.setEchoMode(QLineEdit.EchoMode.Password)
        self._key_edited = False
        key.textEdited.connect(lambda _t: setattr(self, "_key_edited", True))
        form.addRow("API key", self._with_errors(["geocoder_api_key"]))
        form.addRow("", QLabel("Nominatim's usage policy: at most one request per second; "
                               "every answer is cached, so no address is asked twice."))
        return box

    def _line(self, key: str, placeholder: str, max_length: int = 0) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        if max_length:
            edit.setMaxLength(max_length)
            edit.setMaximumWidth(80)
        edit.textEdited.connect(lambda _t, k=key: self._clear_error(k))
        self.inputs[key] = edit
        return edit

    def _with_errors(self, keys: list[str], row: QWidget | None = None) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(row if row is not None else self.inputs[keys[0]])
        for key in keys:
            label = QLabel("")
            label.setObjectName(f"error_{key}")
            label.setStyleSheet(_ERROR_STYLE)
            label.setWordWrap(True)
            label.hide()
            self.errors[key] = label
            layout.addWidget(label)
        return box

    def _place_row(self, key: str) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._line(f"{key}_label", "Label, e.g. Uppsala"), 2)
        layout.addWidget(self._line(f"{key}_lat", "Latitude"), 1)
        layout.addWidget(self._line(f"{key}_lon", "Longitude"), 1)
        return self._with_errors([f"{key}_lat", f"{key}_lon"], row)

    def _cadence_row(self) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for tier in Tier:
            spin = QSpinBox()
            spin.setRange(1, 3650)
            spin.setSuffix(" d")
            self.inputs[f"cadence_{tier.value}"] = spin
            layout.addWidget(QLabel(f"Tier {tier.value}"))
            layout.addWidget(spin)
        layout.addStretch(1)
        return self._with_errors([f"cadence_{t.value}" for t in Tier], row)

    # -- filling and reading ------------------------------------------------------------------
    def _text(self, key: str) -> str:
        widget = self.inputs[key]
        if isinstance(widget, QLineEdit):
            return widget.text()
        if isinstance(widget, QPlainTextEdit):
            return widget.toPlainText()
        if isinstance(widget, QComboBox):
            return widget.currentText()
        raise TypeError(key)

    def _set_text(self, key: str, value: Any) -> None:
        widget = self.inputs[key]
        text = "" if value is None else str(value)
        if isinstance(widget, QLineEdit):
            widget.setText(text)
        elif isinstance(widget, QComboBox):
            widget.setCurrentText(text)

    def _on_settings_loaded(self, settings: Settings) -> None:
        self._settings = settings
        for key in ("home", "office"):
            place: Place = getattr(settings, key)
            self._set_text(f"{key}_label", place.label)
            self._set_text(f"{key}_lat", place.lat)
            self._set_text(f"{key}_lon", place.lon)
        self._set_text("default_country", settings.default_country)
        self._set_text("currency", settings.currency)
        self._set_text("timezone", settings.timezone)
        units = self.inputs["units"]
        assert isinstance(units, QComboBox)
        units.setCurrentIndex(max(0, units.findData(settings.units)))
        for tier in Tier:
            spin = self.inputs[f"cadence_{tier.value}"]
            assert isinstance(spin, QSpinBox)
            spin.setValue(int(settings.cadence.get(tier.value, 30)))
        outcomes = self.inputs["outcomes"]
        assert isinstance(outcomes, QPlainTextEdit)
        outcomes.setPlainText("\n".join(settings.outcomes))
        online = self.inputs["geocoder_online"]
        assert isinstance(online, QCheckBox)
        online.setChecked(settings.geocoder_online)
        for key in ("geocoder_provider", "geocoder_domain", "geocoder_scheme",
                    "geocoder_user_agent"):
            self._set_text(key, getattr(settings, key))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        self.sig_loaded.emit()

    def read_form(self) -> tuple[Settings, dict[str, str]]:
        """Return the settings the form describes and the errors found before saving."""
        base = self._settings or Settings()
        errors: dict[str, str] = {}
        places: dict[str, Place] = {}
        for key, title in (("home", "Home"), ("office", "Office")):
            lat, lat_err = _parse_float(self._text(f"{key}_lat"), f"{title} latitude")
            lon, lon_err = _parse_float(self._text(f"{key}_lon"), f"{title} longitude")
            errors.update({k: v for k, v in ((f"{key}_lat", lat_err), (f"{key}_lon", lon_err)) if v})
            places[key] = Place(self._text(f"{key}_label").strip(), lat, lon)
        timezone = self._text("timezone").strip()
        if timezone not in available_timezones():
            errors["timezone"] = f"“{timezone}” is not a time zone name, e.g. Europe/Stockholm."
        units = self.inputs["units"]
        assert isinstance(units, QComboBox)
        cadence = {}
        for tier in Tier:
            spin = self.inputs[f"cadence_{tier.value}"]
            assert isinstance(spin, QSpinBox)
            cadence[tier.value] = spin.value()
        outcomes = tuple(line.strip() for line in self._text("outcomes").splitlines() if line.strip())
        settings = replace(base, home=places["home"], office=places["office"],
                           default_country=self._text("default_country").strip(),
                           currency=self._text("currency").strip(), units=units.currentData(),
                           timezone=timezone, cadence=cadence, outcomes=outcomes,
                           **self._read_geocoding())
        return settings, errors

    def _read_geocoding(self) -> dict[str, Any]:
        online = self.inputs["geocoder_online"]
        assert isinstance(online, QCheckBox)
        return {"geocoder_online": online.isChecked(),
                **{k: self._text(k).strip() for k in ("geocoder_provider", "geocoder_domain",
                                                       "geocoder_scheme", "geocoder_user_agent")}}

    def api_key_change(self) -> tuple[str, str] | None:
        """Return (provider, key) when the user typed in the API key field, else None."""
        if not self._key_edited:
            return None
        return self._text("geocoder_provider").strip(), self._text("geocoder_api_key").strip()

    # -- saving -------------------------------------------------------------------------------
    def show_errors(self, errors: dict[str, str]) -> None:
        """Show each message under its field (unknown keys go to the summary)."""
        for key, label in self.errors.items():
            label.setText(errors.get(key, ""))
            label.setVisible(key in errors)
        stray = [msg for key, msg in errors.items() if key not in self.errors]
        count = len(errors)
        head = "" if not count else ("Please fix the field marked above." if count == 1 else
                                     f"Please fix the {count} fields marked above.")
        self.summary.setText(" ".join([head, *stray]).strip())

    def _clear_error(self, key: str) -> None:
        label = self.errors.get(key)
        if label is not None:
            label.hide()

    @Slot()
    def _on_save_clicked(self) -> None:
        settings, errors = self.read_form()
        if errors:
            self.show_errors(errors)
            return
        self.show_errors({})
        self.buttons.setEnabled(False)
        key = self.api_key_change()

        def save(session: Any) -> Settings:
            if key is not None:
                save_api_key(*key)  # the OS keyring, never the database
            return save_settings(session=session, settings=settings)

        self._runner.write(save, ChangeSet(settings=True), on_done=self._on_saved,
                           on_error=self._on_save_failed, parent=self)

    def _on_saved(self, settings: Settings) -> None:
        self.buttons.setEnabled(True)
        self.sig_saved.emit(settings)
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        if isinstance(exc, InvalidInput) and exc.errors:
            self.show_errors(exc.errors)
        else:
            show_error(self, exc)
