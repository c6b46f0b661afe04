"""Search options under the query photo: archive-side filters, result count, rotation, minimum similarity."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QSlider,
    QSpinBox,
    QWidget,
)

from inspector_search.core.records import SearchFilter

ANY = "Any"
#: Filters typed into (dates, counts) settle for this long before the search re-runs.
DEBOUNCE_MS = 250


def _to_date(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


class FilterPanel(QGroupBox):
    """Emits ``filtersChanged`` when anything that needs a new search changes (debounced), and
    ``minScoreChanged`` for the minimum similarity, which only hides rows already found."""

    filtersChanged = Signal()
    minScoreChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Search options", parent)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.filtersChanged)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.site = self._combo("Only photos from this site")
        self.equipment_type = self._combo("Only photos of this kind of equipment")
        form.addRow("Site", self.site)
        form.addRow("Equipment", self.equipment_type)
        self._build_dates(form)
        self._build_counts(form)
        self.rotations = QCheckBox("Rotation-robust search")
        self.rotations.setToolTip("Also match photos taken turned by 90°, 180° or 270° (slower)")
        self.rotations.toggled.connect(self._changed)
        form.addRow(self.rotations)

    def _combo(self, tooltip: str) -> QComboBox:
        combo = QComboBox()
        combo.addItem(ANY)
        combo.setToolTip(tooltip)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(8)
        combo.currentIndexChanged.connect(self._changed)
        return combo

    def _build_dates(self, form: QFormLayout) -> None:
        self.use_dates = QCheckBox("Inspected between")
        today = QDate.currentDate()
        self.since = QDateEdit(today.addYears(-1))
        self.until = QDateEdit(today)
        row = QHBoxLayout()
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            edit.dateChanged.connect(self._changed)
            row.addWidget(edit)
        self.use_dates.toggled.connect(self.since.setEnabled)
        self.use_dates.toggled.connect(self.until.setEnabled)
        self.use_dates.toggled.connect(self._changed)
        form.addRow(self.use_dates)
        form.addRow(row)

    def _build_counts(self, form: QFormLayout) -> None:
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 500)
        self.top_k.setValue(24)
        self.top_k.setToolTip("How many matching photos to fetch")
        self.top_k.valueChanged.connect(self._changed)
        form.addRow("Matches", self.top_k)
        self.min_score_slider = QSlider(Qt.Orientation.Horizontal)
        self.min_score_slider.setRange(0, 100)
        self.min_score = QDoubleSpinBox()
        self.min_score.setRange(0.0, 1.0)
        self.min_score.setSingleStep(0.05)
        self.min_score.setDecimals(2)
        self.min_score.setToolTip("Hide matches less similar than this (1.00 = identical)")
        self.min_score_slider.valueChanged.connect(lambda v: self.min_score.setValue(v / 100))
        self.min_score.valueChanged.connect(self._min_score_changed)
        row = QHBoxLayout()
        row.addWidget(self.min_score_slider, 1)
        row.addWidget(self.min_score)
        form.addRow("Min. similarity", row)

    def _min_score_changed(self, value: float) -> None:
        with QSignalBlocker(self.min_score_slider):
            self.min_score_slider.setValue(round(value * 100))
        self.minScoreChanged.emit(value)

    def _changed(self, *_args: object) -> None:
        self._debounce.start()

    # -- public API ----------------------------------------------------------------------------
    def set_choices(self, sites: list[str], types: list[str]) -> None:
        """Fill the site and equipment-type lists, keeping the current choices when still present."""
        for combo, values in ((self.site, sites), (self.equipment_type, types)):
            current = combo.currentText()
            with QSignalBlocker(combo):
                combo.clear()
                combo.addItem(ANY)
                combo.addItems(values)
                index = combo.findText(current)
                combo.setCurrentIndex(max(index, 0))

    def set_site(self, site: str | None) -> None:
        index = self.site.findText(site) if site else 0
        if index >= 0:
            self.site.setCurrentIndex(index)

    def search_filter(self) -> SearchFilter:
        site = self.site.currentText() if self.site.currentIndex() > 0 else None
        kind = self.equipment_type.currentText() if self.equipment_type.currentIndex() > 0 else None
        since = until = None
        if self.use_dates.isChecked():
            since, until = _to_date(self.since.date()), _to_date(self.until.date())
            if since > until:
                since, until = until, since
        return SearchFilter(site=site, equipment_type=kind, since=since, until=until)

    def discard_pending(self) -> None:
        """Forget a pending debounced change (after setting values programmatically)."""
        self._debounce.stop()
