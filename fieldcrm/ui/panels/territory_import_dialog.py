"""Review of a territory file before import: each feature's problems, repairs, overlaps and gaps."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.geo.territory_check import FeatureReport
from fieldcrm.services.balance import ImportReview

ERROR_COLOUR = QColor("#b3261e")
WARN_COLOUR = QColor("#8a5a00")
OK_COLOUR = QColor("#1b7f3b")
MAX_NAMES = 12
WRAP = 72


def names_text(indices: Sequence[int], names: Sequence[str]) -> str:
    """Up to ``MAX_NAMES`` account names, then how many more."""
    shown = [names[i] for i in indices[:MAX_NAMES] if 0 <= i < len(names)]
    more = len(indices) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def feature_lines(report: FeatureReport) -> list[tuple[str, QColor | None]]:
    """What to say about one feature: each problem, coloured by how serious it is."""
    if not report.problems:
        return [(f"OK — {report.area_after_km2:,.1f} km²", OK_COLOUR)]
    return [(p.message, ERROR_COLOUR if p.fatal else WARN_COLOUR) for p in report.problems]


def feature_name(review: ImportReview, index: int) -> str:
    """How the review names feature ``index`` of the file."""
    report = review.preview.reports[index]
    return report.label[0].upper() + report.label[1:]


class ImportPreviewDialog(QDialog):
    """Lists what the import would do; Accept is only possible when nothing is fatal."""

    def __init__(self, review: ImportReview, file_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import territories from {file_name}")
        self.resize(860, 560)
        self.review = review
        p = review.preview
        self.headline = QLabel(self._headline())
        self.headline.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["What", "Details"])
        self.tree.setColumnWidth(0, 260)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self._fill()
        self.buttons = QDialogButtonBox()
        label = "Accept and repair" if p.repairs else "Accept"
        self.accept_button = self.buttons.addButton(label, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.accept_button.setEnabled(p.can_import)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addWidget(self.headline)
        box.addWidget(self.tree, 1)
        box.addWidget(self.buttons)

    def _headline(self) -> str:
        p, n = self.review.preview, len(self.review.preview.features)
        if not p.can_import:
            return ("<b style='color:#b3261e'>This file cannot be imported.</b> Fix the "
                    "problems marked in red and try again; your territories are unchanged.")
        text = f"The file holds {n} territor{'y' if n == 1 else 'ies'}."
        if self.review.updates:
            text += f" It replaces the shapes of: {', '.join(self.review.updates)}."
        if p.repairs:
            text += (f" {len(p.repairs)} need a repair (below, with the area before and after);"
                     " accepting applies it.")
        return text + " Nothing changes until you click Accept."

    def _fill(self) -> None:
        p = self.review.preview
        shown = {f"{r.label}: {x.message}" for r in p.reports for x in r.problems if x.fatal}
        unread: dict[int, tuple[str, str]] = {}
        for err in [e for e in p.errors if e not in shown]:
            m = re.match(r"feature #(\d+)[^:]*: (.*)", err, re.S)
            if m:  # a feature that could not even be read has no report
                unread[int(m.group(1)) - 1] = (err.split(": ", 1)[0], m.group(2))
            else:
                self._item(None, "File", err, ERROR_COLOUR)
        reports = {r.index: (k, r) for k, r in enumerate(p.reports)}
        for index in sorted(set(unread) | set(reports)):
            if index in unread:
                what, detail = unread[index]
                self._item(None, what[:1].upper() + what[1:], detail, ERROR_COLOUR)
            else:
                self._feature(*reports[index])
        for w in p.warnings:
            self._item(None, "Note", w, WARN_COLOUR)
        self._fill_coverage()

    def _feature(self, k: int, report: FeatureReport) -> None:
        lines = feature_lines(report)
        if not report.problems:
            self._item(None, feature_name(self.review, k), *lines[0])
            return
        summary = ("cannot be imported", ERROR_COLOUR) if report.fatal else (
            f"needs a repair: {report.area_before_km2:,.1f} km² before, "
            f"{report.area_after_km2:,.1f} km² after", WARN_COLOUR)  # fmt: skip
        top = self._item(None, feature_name(self.review, k), *summary)
        for text, colour in lines:
            if not text.startswith("area "):  # the summary already gives the areas
                self._item(top, "", text, colour)
        top.setExpanded(True)

    def _fill_coverage(self) -> None:
        cov, names = self.review.preview.coverage, self.review.account_names
        if cov is None:
            return
        for o in cov.overlaps:
            text = (f"{feature_name(self.review, o.first)} and "
                    f"{feature_name(self.review, o.second)}: {o.area_km2:,.2f} km², "
                    f"{len(o.accounts)} accounts (they go to the territory created first)")
            item = self._item(None, "Overlap", text, WARN_COLOUR)
            if o.accounts:
                self._item(item, "Accounts", names_text(o.accounts, names), None)
        for g in cov.gaps:
            item = self._item(None, "Gap between territories",
                              f"{g.area_km2:,.2f} km², {len(g.accounts)} accounts", WARN_COLOUR)
            self._item(item, "Accounts", names_text(g.accounts, names), None)
        if cov.outside:
            item = self._item(None, "Outside every territory",
                              f"{len(cov.outside)} accounts", WARN_COLOUR)
            self._item(item, "Accounts", names_text(cov.outside, names), None)

    def _item(self, parent: QTreeWidgetItem | None, what: str, text: str,
              colour: QColor | None) -> QTreeWidgetItem:  # fmt: skip
        # Explicit line breaks: QTreeWidget elides long cells instead of wrapping them.
        item = QTreeWidgetItem([what, textwrap.fill(text, WRAP) if len(text) > WRAP else text])
        item.setToolTip(1, text)
        if colour is not None:
            item.setForeground(1, colour)
        if parent is None:
            self.tree.addTopLevelItem(item)
        else:
            parent.addChild(item)
        return item

    def accepted_repairs(self) -> list[int]:
        """Indices whose repair the user accepted (all shown, by accepting the dialog)."""
        return [r.index for r in self.review.preview.repairs]
