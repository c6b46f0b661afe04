"""Compare's "Matched points": the keypoints geometric verification matched, drawn on both photos.

Each matched pair gets its own colour and number on the query and on the archive photo, so the
inspector sees which detail of one photo was found where in the other: the reason a match is
called the same object. Kept apart from the Compare dialog, which only creates the toggle button
(:class:`MatchedPointsToggle`); the marks are painted through its views' ``overlays`` and follow
the photos when they are swapped (none are drawn on a photo of another inspection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QSizeF
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QPushButton, QWidget

from inspector_search.core.records import PointMatches

from .workers import TaskRunner

if TYPE_CHECKING:
    from .compare import CompareDialog

__all__ = ["MAX_DRAWN", "MatchedPointsToggle", "caption", "pair_colour"]

MAX_DRAWN = 60  # more pairs only clutter the photos
MARK_RADIUS = 0.008  # of the photo's longer side


def pair_colour(number: int, count: int) -> QColor:
    """A distinct, bright colour for pair ``number`` of ``count``."""
    return QColor.fromHsv(int(360 * number / max(count, 1)) % 360, 230, 255)


def caption(matches: PointMatches | None) -> str:
    """The toggle's text: how many points matched, or that none did."""
    if matches is None:
        return "Matched points"
    if not matches.query_points:
        return "No matched points"
    return f"Matched points ({matches.inliers})" + (" — same object" if matches.same_object else "")


def paint_points(points: list[tuple[float, float]]) -> Callable[[QPainter, QSizeF], None]:
    """An overlay painter marking ``points`` (fractions of the photo), pair n in colour n."""

    def paint(painter: QPainter, size: QSizeF) -> None:
        radius = MARK_RADIUS * max(size.width(), size.height())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for number, (x, y) in enumerate(points):
            colour = pair_colour(number, len(points))
            pen = QPen(colour, 2.5)
            pen.setCosmetic(True)
            fill = QColor(colour)
            fill.setAlpha(70)
            painter.setPen(pen)
            painter.setBrush(QBrush(fill))
            painter.drawEllipse(QPointF(x * size.width(), y * size.height()), radius, radius)

    return paint


class MatchedPointsToggle(QPushButton):
    """A checkable "Matched points" button of a Compare dialog: the pairs are computed on ``runner``
    when first asked for (``load`` runs on a worker) and painted on the query and on the photo
    ``image_id`` while the button is down. ``region`` is the searched region of the query photo
    (the query's points are fractions of it)."""

    def __init__(self, dialog: CompareDialog, load: Callable[[], PointMatches], runner: TaskRunner,
                 image_id: int, region: tuple[float, float, float, float] | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(caption(None), parent)
        self.setCheckable(True)
        self.setToolTip("Mark the keypoints that match between the two photos (same colour, same spot):\n"
                        "what tells a re-shot of the same object from a look-alike")
        self.dialog, self.image_id = dialog, image_id
        self._load, self._runner, self._region = load, runner, region
        self.matches: PointMatches | None = None
        self._requested = False
        self._painters: dict[int, Callable[[QPainter, QSizeF], None]] = {}  # id(view) -> installed painter
        self._counts: dict[int, int] = {}
        self.toggled.connect(self._toggled)
        dialog.photosShown.connect(self.refresh)

    def marked_points(self) -> dict[str, int]:
        """How many points each side shows now: ``{"left": n, "right": m}`` (for tests and screen readers)."""
        return {name: self._counts.get(id(view), 0)
                for name, view in (("left", self.dialog.left_view), ("right", self.dialog.right_view))}

    def _toggled(self, checked: bool) -> None:
        if checked and not self._requested:
            self._requested = True
            self._runner.submit(lambda _p: self._load(), self._loaded, self._failed, name="matched points",
                                context=self)
        self.refresh()

    def _loaded(self, matches: PointMatches) -> None:
        self.matches = matches
        self.setText(caption(matches))
        self.refresh()

    def _failed(self, error: BaseException) -> None:
        self.setText("Matched points: not available")
        self.setToolTip(str(error))

    def refresh(self) -> None:
        """Paint (or take away) the marks on each side according to what it shows now."""
        self._counts = {}
        for side, view in zip(self.dialog.sides, (self.dialog.left_view, self.dialog.right_view), strict=True):
            old = self._painters.pop(id(view), None)
            if old is not None and old in view.overlays:
                view.overlays.remove(old)
            points = self._points_for(side.photo) if self.isChecked() and self.matches is not None else []
            if points:
                painter = paint_points(points)
                view.overlays.append(painter)
                self._painters[id(view)] = painter
            self._counts[id(view)] = len(points)
            view.viewport().update()

    def _points_for(self, photo: object) -> list[tuple[float, float]]:
        assert self.matches is not None
        count = min(len(self.matches.query_points), MAX_DRAWN)
        if photo is None:  # the query
            points = self.matches.query_points[:count]
            if self._region is None:
                return list(points)
            x0, y0, x1, y1 = self._region
            return [(x0 + x * (x1 - x0), y0 + y * (y1 - y0)) for x, y in points]
        if getattr(photo, "image_id", None) == self.image_id:
            return list(self.matches.photo_points[:count])
        return []  # another photo (a previous inspection): its points were not matched
