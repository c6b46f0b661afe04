"""Plain records that the archive façade takes and returns; the CLI and GUI build on these alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class SearchFilter:
    """Which archive photos a search may return; ``None`` means "any"."""

    site: str | None = None
    equipment_tag: str | None = None
    equipment_type: str | None = None
    since: date | None = None
    until: date | None = None
    area: str | None = None  # the equipment's area (unit, building) within its site
    inspector: str | None = None  # who did the inspection

    def is_empty(self) -> bool:
        return all(v is None for v in (self.site, self.equipment_tag, self.equipment_type, self.since, self.until,
                                       self.area, self.inspector))


@dataclass(frozen=True)
class SearchRequest:
    """One query photo and how to search with it.

    ``image`` is a file path or the encoded bytes of an image (clipboard). ``crop`` is a region of
    the query photo as fractions ``(x0, y0, x1, y1)``. ``rotations`` searches with the query turned
    by 0/90/180/270 degrees and keeps each archive photo's best score. ``expansion`` is how many
    best matches re-rank the results by query expansion (``None``: the archive's default, 0: off;
    see ``core.query_expansion``): the best of the plain matches by full features comes first, then
    the others in the order of the expanded query. Every hit's score is its similarity to the query.
    ``text`` keeps only photos whose labels, notes, equipment, site or inspector hold every word
    (``core.text_search``); with ``image`` ``None`` the photos are ranked by text relevance alone
    (the score is then that relevance, 0 to 1). ``like`` and ``unlike`` are ids of results marked
    "more like this" / "less like this": the query moves towards and away from them
    (``core.feedback``); with ``image`` ``None`` and some ``like``, the liked photos are the query.
    ``verification`` False leaves out geometric verification (the global ranking alone; benchmarks).
    ``learned``: once photos carry defect labels, re-rank with the map learned from them
    (``core.learned_ranking``; ``False`` ranks as without labels).
    """

    image: Path | bytes | None
    top_k: int = 20
    filter: SearchFilter = field(default_factory=SearchFilter)
    min_score: float = 0.0
    crop: tuple[float, float, float, float] | None = None
    rotations: bool = False
    expansion: int | None = None
    text: str | None = None
    like: tuple[int, ...] = ()
    unlike: tuple[int, ...] = ()
    verification: bool = True
    learned: bool = True


@dataclass(frozen=True)
class PhotoRecord:
    """An archive photo with the metadata behind it (absent metadata is ``None``)."""

    image_id: int
    path: Path
    equipment_tag: str | None = None
    equipment_name: str | None = None
    equipment_type: str | None = None
    site: str | None = None
    area: str | None = None
    inspected_on: date | None = None
    inspector: str | None = None
    notes: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    extra: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    labels: tuple[Label, ...] = ()

    def label_values(self, kind: str) -> list[str]:
        """The values of one kind of label this photo carries (``defect``, ``severity``, ``tag``...)."""
        return [label.value for label in self.labels if label.kind == kind]


@dataclass(frozen=True)
class Label:
    """A label on a photo: ``kind`` is defect, severity, equipment_type or tag; who gave it and when."""

    kind: str
    value: str
    who: str | None = None
    labelled_at: str | None = None


@dataclass(frozen=True)
class Suggestion:
    """A label the nearest labelled photos suggest for a photo (``image_id`` ``None``: the query
    photo), with its calibrated confidence: the share of such suggestions that were right on the
    archive's own labels (only those reaching 0.9 are made)."""

    image_id: int | None
    kind: str
    value: str
    confidence: float


@dataclass(frozen=True)
class ClusterSummary:
    """One cluster of the archive: its number (1 = largest), live photo count, most typical photos
    (nearest its centre) and the labels its photos carry most, as ``(kind, value, photos)``."""

    cluster: int
    size: int
    typical: tuple[PhotoRecord, ...]
    labels: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True)
class ClusterReport:
    """The stored clustering: ``stale`` when the projection changed since (re-run to refresh);
    photos added since the run are in their nearest cluster."""

    k: int
    photos: int
    computed_at: str | None
    stale: bool
    clusters: tuple[ClusterSummary, ...]


@dataclass(frozen=True)
class LabelChange:
    """What one label command did: ``action_id`` is ``None`` when nothing changed (nothing to undo)."""

    action_id: int | None
    verb: str
    added: int
    removed: int
    photos: int


@dataclass(frozen=True)
class LabelAction:
    """One entry of the label log (newest first in listings); ``changes`` counts label rows touched."""

    action_id: int
    verb: str
    who: str | None
    at: str
    summary: str
    undone: bool
    changes: int


@dataclass(frozen=True)
class SearchHit:
    """One ranked match: rank starts at 1; ``score`` is the cosine similarity of the stored full
    features (before the PCA, so no refit changes it), in [-1, 1]. ``inliers`` counts the keypoints
    that geometric verification matched consistently (0: none, or not verified); ``same_object``
    is true from the calibrated threshold on (such hits rank before the others); ``is_query`` marks
    the query's own photo (byte-identical, or nearly identical features), shown first."""

    rank: int
    score: float
    photo: PhotoRecord
    inliers: int = 0
    same_object: bool = False
    is_query: bool = False


@dataclass(frozen=True)
class EquipmentHit:
    """An equipment ranked by its best-matching photo, with how many of its photos matched and
    those matches themselves (``hits``, best-ranked first; the first is ``best``)."""

    rank: int
    score: float
    best: PhotoRecord
    match_count: int
    hits: tuple[SearchHit, ...] = ()
    same_object: bool = False


@dataclass(frozen=True)
class PointMatches:
    """The keypoints geometric verification matched between a query and one archive photo, in pairs:
    ``query_points[n]`` (a fraction (x, y) of the query photo, or of its region when a region was
    searched) matches ``photo_points[n]`` (a fraction of the archive photo, upright). Empty when
    nothing matched consistently or a photo has no keypoints."""

    query_points: tuple[tuple[float, float], ...]
    photo_points: tuple[tuple[float, float], ...]
    same_object: bool = False
    inliers: int = 0  # as ``SearchHit.inliers``: fewer than the pairs when they lie along one line


@dataclass(frozen=True)
class InspectionRecord:
    """One inspection of an equipment: its date, inspector, notes and photos."""

    inspection_id: int | None
    inspected_on: date | None
    inspector: str | None
    notes: str | None
    photos: tuple[PhotoRecord, ...]


@dataclass(frozen=True)
class EquipmentRecord:
    """An equipment item with its photo count (for browsers and pickers)."""

    tag: str
    name: str | None
    type: str | None
    site: str | None
    area: str | None
    photo_count: int


@dataclass(frozen=True)
class EquipmentHistory:
    """An equipment's inspections in date order (undated last)."""

    equipment: EquipmentRecord
    inspections: tuple[InspectionRecord, ...]


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not indexed, and why."""

    path: Path
    reason: str
    seen_at: str


@dataclass(frozen=True)
class AddReport:
    """What one ``add`` run did."""

    scanned: int = 0
    added: int = 0
    unchanged: int = 0
    moved: int = 0
    copies: int = 0
    updated_metadata: int = 0
    removed: int = 0
    skipped: tuple[SkippedFile, ...] = ()
    metadata_errors: tuple[str, ...] = ()
    cancelled: bool = False
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    """What the run found and did about the archive itself (e.g. photos the catalog had lost, restored)."""


@dataclass(frozen=True)
class ArchiveStatus:
    """Counts and state of an archive, for ``status`` and the GUI status bar."""

    folder: Path
    photos: int
    files: int
    deleted: int
    equipment: int
    sites: int
    inspections: int
    model_id: str
    feature_dim: int
    projection: str
    vector_dim: int
    index_state: str
    indexed: int
    skipped: tuple[SkippedFile, ...]
    schema_version: int
    messages: tuple[str, ...] = ()  # derived files found damaged or missing and rebuilt, and the like


@dataclass(frozen=True)
class PreviewRow:
    """One photo an import would add, with the metadata it would get (``None`` if none)."""

    path: Path
    metadata: Mapping[str, str | None]


@dataclass(frozen=True)
class ImportPreview:
    """What an ``add`` would import, computed without writing: for the GUI's import dialog."""

    photo_count: int
    rows: tuple[PreviewRow, ...]
    csv_rows: int
    errors: tuple[str, ...]
    matched_metadata: int


@dataclass(frozen=True)
class CheckReport:
    """Result of ``check``: ``problems`` found that ``check --repair`` would fix, what was
    ``repaired``, what is ``unrepairable`` by a check (restore a backup, re-add photos...), and
    ``checked``: one line per part that was verified (counts, notes)."""

    problems: tuple[str, ...]
    repaired: tuple[str, ...]
    unrepairable: tuple[str, ...]
    checked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unrepairable


@dataclass(frozen=True)
class ClassQuality:
    """Retrieval figures of one class (or group) in an evaluation; ``None`` when none of its
    photos could be scored (a class of one photo has no relevant answer)."""

    name: str
    photos: int
    mean_average_precision: float | None
    precision_at_1: float | None
    precision_at_10: float | None


@dataclass(frozen=True)
class EvaluationReport:
    """Result of ``evaluate``: leave-one-out mAP and precision@1/@10 over ``queries`` labelled photos
    (``photos`` ranked in all, ``distractors`` of them unlabelled), per class, and what was left out."""

    folder: Path
    photos: int
    queries: int
    distractors: int
    mean_average_precision: float
    precision_at_1: float
    precision_at_10: float
    per_class: tuple[ClassQuality, ...]
    dropped_duplicates: tuple[Path, ...]
    skipped: tuple[SkippedFile, ...]
    model_id: str
    projection: str
    seconds: float = 0.0


@dataclass(frozen=True)
class DuplicateGroup:
    """Archive photos that are the same picture (re-saved, resized, re-shot a moment later):
    ``photos`` in id order; ``similarity`` is the weakest link that joined the group."""

    photos: tuple[PhotoRecord, ...]
    similarity: float


@dataclass(frozen=True)
class FilterChoices:
    """What a search filter can choose from within one site (or the whole archive): equipment tags,
    types, areas and inspectors in use, and the span of inspection dates (``None`` with no dated photo)."""

    tags: tuple[str, ...]
    types: tuple[str, ...]
    areas: tuple[str, ...]
    inspectors: tuple[str, ...]
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True)
class ReviewGroup:
    """A duplicate group with the reviewer's decision: ``None`` (undecided), "kept" (``keep_id`` is the
    photo kept, the others are its copies) or "dismissed" (not duplicates)."""

    group: DuplicateGroup
    decision: str | None = None
    keep_id: int | None = None
