"""Review of a territory file before import: each feature's problems, repairs, overlaps and gaps."""

from __future__ import annotations

from collections.abc import Sequence

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
        self.resize(760, 520)
        self.review = review
        p = review.preview
        self.headline = QLabel(self._headline())
        self.headline.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["What", "Details"])
        self.tree.setColumnWidth(0, 260)
        self.tree.setWordWrap(True)
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
        for err in [e for e in p.errors if e not in shown]:
            # Features that could not even be read have no report: name them from the text.
            what, _, detail = err.partition(": ") if err.startswith("feature #") else ("", "", err)
            self._item(None, what[:1].upper() + what[1:] if what else "File", detail, ERROR_COLOUR)
        for i, report in enumerate(p.reports):
            top = self._item(None, feature_name(self.review, i), "", None)
            for text, colour in feature_lines(report):
                self._item(top, "", text, colour)
            top.setExpanded(bool(report.problems))
        for w in p.warnings:
            self._item(None, "Note", w, WARN_COLOUR)
        self._fill_coverage()

    def _fill_coverage(self) -> None:
        cov, names = self.review.preview.coverage, self.review.account_names
        if cov is None:
            return
        for o in cov.overlaps:
            what = (f"Overlap: {feature_name(self.review, o.first)} and "
                    f"{feature_name(self.review, o.second)}")
            text = f"{o.area_km2:,.2f} km², {len(o.accounts)} accounts"
            item = self._item(None, what, text, WARN_COLOUR)
            if o.accounts:
                self._item(item, "Accounts", names_text(o.accounts, names), None)
                item.setToolTip(1, "Accounts in an overlap go to the older territory.")
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
        item = QTreeWidgetItem([what, text])
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
