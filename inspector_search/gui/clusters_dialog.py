"""Clusters view: the archive grouped into clusters of look-alike photos, largest first, each shown with
its most typical photos; a whole cluster can be labelled at once. Clustering runs on a worker with
progress and Cancel; a cancelled run keeps the previous clusters."""

from __future__ import annotations

import getpass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import ClusterReport, ClusterSummary

from .messages import describe_error, plural
from .results import PhotoGridView, ResultItem, ResultsModel, ThumbnailDelegate
from .thumbnails import ThumbnailLoader
from .workers import TaskRunner

AnyIndex = QModelIndex | QPersistentModelIndex
TYPICAL_SHOWN = 12
LABEL_KINDS = (("Defect", "defect"), ("Severity", "severity"), ("Equipment type", "equipment_type"), ("Tag", "tag"))


class ClusterListModel(QAbstractListModel):
    """One row per cluster: number, size and its most frequent labels."""

    CLUSTER = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.clusters: list[ClusterSummary] = []

    def set_clusters(self, clusters: list[ClusterSummary]) -> None:
        self.beginResetModel()
        self.clusters = list(clusters)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.clusters)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        summary = self.clusters[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            labels = ", ".join(f"{value} ×{count}" for _kind, value, count in summary.labels[:3])
            return f"Cluster {summary.cluster} · {plural(summary.size, 'photo')}" + (f" · {labels}" if labels else "")
        if role == self.CLUSTER:
            return summary
        return None


class ClustersDialog(QDialog):
    """Loads ``archive.clusters()`` on the runner (clustering first when there are none)."""

    loaded = Signal()
    labelled = Signal(object)  # the LabelChange

    def __init__(self, archive: Any, thumbnails: ThumbnailLoader, runner: TaskRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Clusters")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1100, 620)
        self._archive, self._runner = archive, runner
        self._task = None
        layout = QVBoxLayout(self)
        self.summary = QLabel("Reading the clusters…")
        layout.addWidget(self.summary)
        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.clusters = ClusterListModel(self)
        self.cluster_list = QListView()
        self.cluster_list.setModel(self.clusters)
        self.cluster_list.setAccessibleName("Clusters, largest first")
        self.cluster_list.selectionModel().currentChanged.connect(lambda current, _p: self._show(current.row()))
        self.photos = ResultsModel(thumbnails, self)
        self.photo_view = PhotoGridView()
        self.photo_view.setAccessibleName("The cluster's most typical photos")
        self.photo_view.setItemDelegate(ThumbnailDelegate(160, self.photo_view))
        self.photo_view.setModel(self.photos)
        self.photos.set_thumbnail_pixels(160 * self.devicePixelRatioF())
        splitter.addWidget(self.cluster_list)
        splitter.addWidget(self.photo_view)
        splitter.setSizes([330, 770])
        layout.addWidget(splitter, 1)
        layout.addLayout(self._build_button_row())
        self.reload()

    def _build_button_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Label the whole cluster:"))
        self.kind = QComboBox()
        for text, kind in LABEL_KINDS:
            self.kind.addItem(text, kind)
        self.value = QLineEdit()
        self.value.setPlaceholderText("e.g. corrosion")
        self.value.returnPressed.connect(self.label_cluster)
        self.label_button = QPushButton("Assign")
        self.label_button.setToolTip("Give every photo of the selected cluster this label (undoable: label undo)")
        self.label_button.clicked.connect(self.label_cluster)
        row.addWidget(self.kind)
        row.addWidget(self.value, 1)
        row.addWidget(self.label_button)
        row.addSpacing(24)
        row.addWidget(QLabel("Clusters:"))
        self.k = QSpinBox()
        self.k.setRange(0, 500)
        self.k.setSpecialValueText("auto")
        self.k.setToolTip("How many clusters (auto: about the square root of half the photos, at most 100)")
        self.recompute_button = QPushButton("Recompute")
        self.recompute_button.clicked.connect(lambda: self.compute(self.k.value() or None))
        row.addWidget(self.k)
        row.addWidget(self.recompute_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row.addWidget(buttons)
        return row

    # -- loading and computing -----------------------------------------------------------------
    def reload(self) -> None:
        """Read the stored clusters (on the runner); compute them when there are none or they are stale."""
        archive = self._archive
        self._task = self._runner.submit(lambda _p: archive.clusters(typical=TYPICAL_SHOWN), self._loaded,
                                         self._failed, name="clusters", context=self)

    def compute(self, k: int | None = None) -> None:
        """Cluster the archive again on the runner, with progress and Cancel."""
        archive = self._archive
        self._busy(True)
        self.summary.setText("Clustering the archive…")
        self._task = self._runner.submit(lambda p: archive.compute_clusters(k, p), lambda _r: self.reload(),
                                         self._failed, self._progressed, name="clustering", context=self)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _progressed(self, event: Any) -> None:
        self.progress.setMaximum(max(event.total, 1))
        self.progress.setValue(event.done)

    def _busy(self, on: bool) -> None:
        for widget in (self.progress, self.cancel_button):
            widget.setVisible(on)
        for widget in (self.recompute_button, self.label_button):
            widget.setEnabled(not on)

    def _loaded(self, report: ClusterReport) -> None:
        self._busy(False)
        if not report.clusters or report.stale:
            self.compute(None)
            return
        self.clusters.set_clusters(list(report.clusters))
        self.summary.setText(f"{plural(len(report.clusters), 'cluster')} of {plural(report.photos, 'photo')}, "
                             f"largest first (computed {report.computed_at}). Select one to see its most typical "
                             "photos; label it whole below.")
        self.cluster_list.setCurrentIndex(self.clusters.index(0))
        self.loaded.emit()

    def _failed(self, error: BaseException) -> None:
        self._busy(False)
        self.summary.setText(describe_error(error) + (" The previous clusters are kept." if self.clusters.clusters
                                                      else ""))
        self.loaded.emit()

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.clusters.clusters):
            self.photos.set_items(ResultItem(photo) for photo in self.clusters.clusters[row].typical)

    # -- labelling ---------------------------------------------------------------------------------
    def current(self) -> ClusterSummary | None:
        row = self.cluster_list.currentIndex().row()
        return self.clusters.clusters[row] if 0 <= row < len(self.clusters.clusters) else None

    def label_cluster(self) -> None:
        """Give every photo of the selected cluster the typed label (on the runner)."""
        summary, value = self.current(), self.value.text().strip()
        if summary is None or not value:
            return
        archive, kind = self._archive, self.kind.currentData()
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = None

        def assign(_progress: Any) -> Any:
            return archive.assign_labels(archive.cluster_photos(summary.cluster), [(kind, value)], who=who)

        def done(change: Any) -> None:
            self.value.clear()
            self.labelled.emit(change)
            self.reload()

        self.label_button.setEnabled(False)
        self._runner.submit(assign, done, self._failed, name="label-cluster", context=self)

    def done(self, result: int) -> None:
        if self._task is not None:
            self._task.cancel()
            self._runner.drop(self._task)
        self.photos.drop_pending_thumbnails()
        super().done(result)
