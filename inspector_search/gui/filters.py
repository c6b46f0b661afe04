"""Search options under the query photo: archive-side filters, result count, rotation, minimum similarity.

The site narrows the other lists: equipment, type, area and inspector offer only what the chosen site
holds (the main window reads them from the archive when the site changes). The dates default to the
archive's own span, so ticking "Inspected between" never hides everything; "Reset filters" puts every
filter back to "Any" and the dates back to that span.
"""

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
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from inspector_search.core.records import FilterChoices, SearchFilter

ANY = "Any"
#: Filters typed into (dates, counts) settle for this long before the search re-runs.
DEBOUNCE_MS = 250
#: The filters that narrow the archive by name (site first: it narrows the others), with their tooltips.
NAME_FILTERS = (
    ("site", "Site", "Only photos from this site"),
    ("equipment_tag", "Equipment", "Only photos of this equipment (of the chosen site)"),
    ("equipment_type", "Type", "Only photos of this kind of equipment (of the chosen site)"),
    ("area", "Area", "Only photos of equipment in this area (of the chosen site)"),
    ("inspector", "Inspector", "Only photos from this inspector's inspections (of the chosen site)"),
)


def _to_date(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


class FilterPanel(QGroupBox):
    """Emits ``filtersChanged`` when anything that needs a new search changes (debounced),
    ``minScoreChanged`` for the minimum similarity, which only hides rows already found, and
    ``siteChanged`` so that the window can narrow the other lists to the site."""

    filtersChanged = Signal()
    minScoreChanged = Signal(float)
    siteChanged = Signal(object)  # str | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Search options", parent)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.filtersChanged)
        self._span: tuple[date, date] | None = None
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.text = QLineEdit()
        self.text.setPlaceholderText("e.g. flange leak")
        self.text.setClearButtonEnabled(True)
        self.text.setAccessibleName("Words filter")
        self.text.setToolTip("Only photos whose labels, notes, equipment, site or inspector hold every word "
                             "(Enter searches; without a query photo, the photos holding the words)")
        self.text.editingFinished.connect(self._text_changed)
        self._last_text = ""
        form.addRow("Words", self.text)
        self.combos: dict[str, QComboBox] = {}
        for key, caption, tooltip in NAME_FILTERS:
            combo = self._combo(tooltip)
            combo.setAccessibleName(f"{caption} filter")
            self.combos[key] = combo
            form.addRow(caption, combo)
        self.site = self.combos["site"]
        self.equipment_tag = self.combos["equipment_tag"]
        self.equipment_type = self.combos["equipment_type"]
        self.area = self.combos["area"]
        self.inspector = self.combos["inspector"]
        self.site.currentIndexChanged.connect(lambda _i: self.siteChanged.emit(self._value(self.site)))
        self._build_dates(form)
        self.reset_button = QPushButton("Reset filters")
        self.reset_button.setToolTip("Every filter back to Any, the dates back to the archive's span")
        self.reset_button.clicked.connect(self.reset)
        form.addRow(self.reset_button)
        self._build_counts(form)
        self.rotations = QCheckBox("Rotation-robust search")
        self.rotations.setToolTip("Also match photos taken turned by 90°, 180° or 270° (slower)")
        self.rotations.toggled.connect(self._changed)
        form.addRow(self.rotations)
        self._update_reset()

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
        self.use_dates.setToolTip("Only photos inspected (or taken) on these days; starts at the archive's span")
        today = QDate.currentDate()
        self.since = QDateEdit(today.addYears(-1))
        self.until = QDateEdit(today)
        row = QHBoxLayout()
        for edit, name in ((self.since, "Inspected from"), (self.until, "Inspected until")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("d MMM yyyy")
            edit.setEnabled(False)
            edit.setAccessibleName(name)
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
        self.top_k.setToolTip("How many matching photos to fetch first (more load as you scroll down)")
        self.top_k.setAccessibleName("Number of matches")
        self.top_k.valueChanged.connect(self._changed)
        form.addRow("Matches", self.top_k)
        self.min_score_slider = QSlider(Qt.Orientation.Horizontal)
        self.min_score_slider.setRange(0, 100)
        self.min_score_slider.setAccessibleName("Minimum similarity slider")
        self.min_score = QDoubleSpinBox()
        self.min_score.setRange(0.0, 1.0)
        self.min_score.setSingleStep(0.05)
        self.min_score.setDecimals(2)
        self.min_score.setToolTip("Hide matches less similar than this (1.00 = identical)")
        self.min_score.setAccessibleName("Minimum similarity")
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
        self._update_reset()
        self._debounce.start()

    def _update_reset(self) -> None:
        self.reset_button.setEnabled(not self.search_filter().is_empty())

    @staticmethod
    def _value(combo: QComboBox) -> str | None:
        return combo.currentText() if combo.currentIndex() > 0 else None

    @staticmethod
    def _fill(combo: QComboBox, values: list[str] | tuple[str, ...]) -> bool:
        """Offer ``values`` (after "Any"), keeping the current choice when still offered; True if it was not."""
        current = combo.currentText() if combo.currentIndex() > 0 else None
        with QSignalBlocker(combo):
            combo.clear()
            combo.addItem(ANY)
            combo.addItems(list(values))
            index = combo.findText(current) if current is not None else 0
            combo.setCurrentIndex(max(index, 0))
        return current is not None and index < 0

    # -- public API ----------------------------------------------------------------------------
    def set_choices(self, sites: list[str], types: list[str]) -> None:
        """Fill the site and equipment-type lists, keeping the current choices when still present."""
        dropped = self._fill(self.site, sites)
        dropped |= self._fill(self.equipment_type, types)
        if dropped:
            self._changed()

    def set_site_choices(self, choices: FilterChoices) -> None:
        """Offer the tags, types, areas and inspectors of the chosen site (``choices`` from the archive);
        a choice the site does not hold goes back to "Any" (and the search re-runs)."""
        dropped = False
        for combo, values in ((self.equipment_tag, choices.tags), (self.equipment_type, choices.types),
                              (self.area, choices.areas), (self.inspector, choices.inspectors)):
            dropped |= self._fill(combo, values)
        if dropped:
            self._changed()

    def set_date_span(self, first: date | None, last: date | None) -> None:
        """The archive's first and last inspection day: the dates show them until the user picks others."""
        if first is None or last is None:
            return
        untouched = self._span is None or (self._edit_dates() == self._span)
        self._span = (first, last)
        if untouched:
            self._set_dates(first, last)

    def date_span(self) -> tuple[date, date] | None:
        return self._span

    def _edit_dates(self) -> tuple[date, date]:
        return _to_date(self.since.date()), _to_date(self.until.date())

    def _set_dates(self, first: date, last: date) -> None:
        for edit, day in ((self.since, first), (self.until, last)):
            with QSignalBlocker(edit):
                edit.setDate(QDate(day.year, day.month, day.day))

    def set_site(self, site: str | None) -> None:
        index = self.site.findText(site) if site else 0
        if index >= 0:
            self.site.setCurrentIndex(index)

    def reset(self) -> None:
        """Every name filter back to "Any", dates off and back to the archive's span; one new search."""
        changed = not self.search_filter().is_empty()
        for combo in self.combos.values():
            with QSignalBlocker(combo):
                combo.setCurrentIndex(0)
        with QSignalBlocker(self.use_dates):
            self.use_dates.setChecked(False)
        self.since.setEnabled(False)
        self.until.setEnabled(False)
        if self._span is not None:
            self._set_dates(*self._span)
        self.siteChanged.emit(None)
        self._update_reset()
        if changed:
            self._debounce.start()

    def words(self) -> str | None:
        """The typed words, or ``None``."""
        return self.text.text().strip() or None

    def _text_changed(self) -> None:
        if self.text.text().strip() != self._last_text:
            self._last_text = self.text.text().strip()
            self.filtersChanged.emit()

    def search_filter(self) -> SearchFilter:
        since = until = None
        if self.use_dates.isChecked():
            since, until = self._edit_dates()
            if since > until:
                since, until = until, since
        return SearchFilter(site=self._value(self.site), equipment_tag=self._value(self.equipment_tag),
                            equipment_type=self._value(self.equipment_type), area=self._value(self.area),
                            inspector=self._value(self.inspector), since=since, until=until)

    def discard_pending(self) -> None:
        """Forget a pending debounced change (after setting values programmatically)."""
        self._debounce.stop()
