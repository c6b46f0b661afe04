"""Check & repair from the app: verify that catalog, photo files, projection, index and thumbnails
agree (on a worker, with progress and cancel), show the report, and repair what can be rebuilt."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import CheckReport

from .messages import BUSY_MESSAGE, describe_error
from .workers import TaskRunner


def report_lines(report: CheckReport) -> list[str]:
    """The report as the CLI prints it: what was checked, problems, repairs, what cannot be fixed."""
    lines = []
    for label, entries in (("checked:", report.checked), ("problem:", report.problems),
                           ("repaired:", report.repaired), ("cannot fix:", report.unrepairable)):
        lines += [f"{label:12} {entry}" for entry in entries]
    if report.ok:
        lines.append("OK: catalog, photo files, projection, index and thumbnails agree.")
    elif report.problems:
        lines.append("Repair rebuilds what the catalog can rebuild; it does not touch your photos.")
    return lines


class CheckDialog(QDialog):
    """Runs ``archive.check`` at once; "Repair" runs ``check(repair=True)``. Closing never waits."""

    checked = Signal(object)  # the CheckReport of each run

    def __init__(self, archive: Any, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Check archive")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(760, 460)
        self._archive, self._runner, self._task = archive, runner, None
        self.report: CheckReport | None = None
        layout = QVBoxLayout(self)
        self.summary = QLabel("Checking…")
        self.summary.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Check report")
        self.text.setFont(QFont("monospace"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.repair_button = QPushButton("Repair")
        self.repair_button.setToolTip("Rebuild index, projection and thumbnails from the catalog where needed")
        self.repair_button.setEnabled(False)
        self.repair_button.clicked.connect(lambda: self.run(repair=True))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addButton(self.repair_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        for widget in (self.summary, self.progress, self.text):
            layout.addWidget(widget, 1 if widget is self.text else 0)
        layout.addWidget(buttons)
        self.run(repair=False)

    def run(self, repair: bool) -> None:
        """Check (or repair) on a worker; the report replaces the text when done."""
        archive = self._archive
        self.summary.setText("Repairing…" if repair else "Checking…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.repair_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._task = self._runner.submit(lambda progress: archive.check(repair=repair, progress=progress),
                                         self._done, self._failed, self._progressed, name="check", context=self)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _progressed(self, event: Any) -> None:
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))

    def _done(self, report: CheckReport) -> None:
        self.report = report
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.text.setPlainText("\n".join(report_lines(report)))
        if report.ok:
            self.summary.setText("The archive is sound.")
        else:
            found = len(report.problems) + len(report.unrepairable)
            self.summary.setText(f"{found} problem{'s' if found != 1 else ''} found."
                                 + (" Repair can fix them." if report.problems else ""))
        self.repair_button.setEnabled(bool(report.problems))
        self.checked.emit(report)

    def _failed(self, error: BaseException) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        text = describe_error(error)
        self.summary.setText(BUSY_MESSAGE if "busy" in type(error).__name__.lower() else text)
        self.repair_button.setEnabled(True)

    def done(self, result: int) -> None:
        if self._task is not None:
            self._task.cancel()
            self._runner.drop(self._task)
        super().done(result)
