"""Adding photos to an archive: scan, hash, decode, embed, store, index — incremental and resumable.

Decoding runs on a thread pool with bounded look-ahead while the model runs on batches in the
consumer; each batch is committed in one transaction, so a run that is killed or cancelled keeps
every batch it finished and the next run picks up the rest. The content hash is a photo's
identity: a moved, renamed or copied file is linked to the photo it already is, never re-embedded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .catalog import Catalog, now_iso
from .errors import Cancelled, ImageError, InspectorSearchError
from .extractor import FeatureExtractor
from .folder_layout import Layout
from .image_files import iter_image_files
from .imaging import ImageInfo, open_image, preprocess
from .labels import add_imported_tags, split_tags
from .local_features import extract as extract_local_features
from .metadata import MetadataTable, PhotoMetadata, read_metadata_csv, tags_cell
from .progress import Progress
from .records import AddReport, SkippedFile
from .vector_store import VectorStore

log = logging.getLogger(__name__)

BATCH_SIZE = 32
MAX_READ_BYTES = 512 * 1024 * 1024


@dataclass
class _Known:
    """A file whose content is already in the archive."""

    path: str
    size: int
    mtime_ns: int
    image_id: int


@dataclass
class _Decoded:
    """A new photo, decoded and preprocessed, waiting for the model."""

    path: str
    size: int
    mtime_ns: int
    content_hash: str
    info: ImageInfo
    pixels: np.ndarray
    local_features: bytes  # keypoints for geometric verification (core.local_features)


@dataclass
class _Failed:
    path: str
    reason: str


@dataclass
class _Counts:
    added: int = 0
    unchanged: int = 0
    moved: int = 0
    copies: int = 0
    updated_metadata: int = 0
    removed: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)


class PhotoSource:
    """Where photos come from in one ``add``: the roots, and the metadata that applies to each file."""

    def __init__(self, paths: Sequence[Path], metadata: Path | None, layout: str | None) -> None:
        self.roots = [Path(os.path.abspath(p)) for p in paths]
        for root in self.roots:
            if not root.exists():
                raise InspectorSearchError(f"{root}: no such file or folder")
        self.table: MetadataTable | None = read_metadata_csv(Path(metadata)) if metadata else None
        self.layout = Layout(layout) if layout else None
        self.matched_rows: dict[str, str] = {}  # CSV row key -> the file it applies to
        self.ambiguous_rows: dict[str, list[str]] = {}  # rows matched by file name by several files
        self._row_of: dict[str, str] = {}  # file -> the key of the CSV row applied to it
        self._claims: dict[int, tuple[tuple[int, int | str], str, PhotoMetadata]] = {}  # photo -> its winner
        self.conflicts: dict[tuple[str, str], str] = {}  # (winner, loser) file -> message

    def metadata_for(self, path: Path) -> PhotoMetadata | None:
        """Layout metadata overridden by the CSV row of this file, or ``None`` if neither applies."""
        found: PhotoMetadata | None = None
        if self.layout is not None:
            root = self._root_of(path)
            if root is not None:
                found = self.layout.match(path.relative_to(root))
        if self.table is not None and (match := self.table.lookup_match(path, self.roots)) is not None:
            key, by_name = match
            first = self.matched_rows.setdefault(key, str(path))
            if by_name and first != str(path):  # one row, several photos of that name: apply it to none but the first
                self.ambiguous_rows.setdefault(key, [first]).append(str(path))
            else:
                row = self.table.rows[key]
                found = row if found is None else found.merged(row)
                self._row_of[str(path)] = key
        return None if found is None or found.is_empty() else found

    def rank(self, path: Path) -> tuple[int, int | str]:
        """Which file's metadata a photo keeps when byte-identical files get different metadata: the
        lowest CSV line, then (folder layout only) the first path. Call after :meth:`metadata_for`."""
        key = self._row_of.get(str(path))
        if key is not None and self.table is not None:
            return 0, self.table.lines.get(key, 0)
        return 1, str(path)

    def settle(self, image_id: int, path: Path, meta: PhotoMetadata | None) -> PhotoMetadata | None:
        """``meta`` if this file's metadata is the one its photo keeps in this add, else ``None`` (and the
        conflict is reported): a photo and its copy must not overwrite each other's metadata on every run."""
        if meta is None:
            return None
        rank = self.rank(path)
        claim = self._claims.get(image_id)
        if claim is not None and claim[2] != meta:
            (won, winner), (_, loser) = sorted([(claim[0], claim[1]), (rank, str(path))])
            self.conflicts[(winner, loser)] = self._conflict(winner, loser, won)
            if claim[0] <= rank:
                return None
        if claim is None or rank < claim[0]:
            self._claims[image_id] = (rank, str(path), meta)
        return meta

    def _conflict(self, winner: str, loser: str, won: tuple[int, int | str]) -> str:
        if won[0] == 0 and self.table is not None:
            lines = [self.table.lines.get(self._row_of.get(p, ""), 0) for p in (winner, loser)]
            where = (f"lines {lines[0]} and {lines[1]}" if lines[1] else f"line {lines[0]} and the folder layout")
            return (f"{self.table.source.name} {where} give different metadata to one photo ({winner} and {loser} "
                    f"are byte-identical files); line {lines[0]} is kept")
        return (f"the folder layout gives different metadata to one photo ({winner} and {loser} are byte-identical "
                f"files); {winner}'s is kept")

    def _root_of(self, path: Path) -> Path | None:
        for root in self.roots:
            if root.is_dir() and path.is_relative_to(root):
                return root
        return None

    def metadata_problems(self) -> list[str]:
        """Row errors of the CSV, and how many of its rows matched no photo."""
        if self.table is None:
            return list(self.conflicts.values())
        name = self.table.source.name
        problems = [str(e) for e in self.table.errors] + list(self.conflicts.values())
        for key, paths in self.ambiguous_rows.items():
            problems.append(f"{name}: the row for {key!r} matches {len(paths)} photos by file name; applied only "
                            f"to {paths[0]} (give the row its folder)")
        unmatched = [key for key in self.table.rows if key not in self.matched_rows]
        if unmatched:
            shown = ", ".join(repr(k) for k in unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
            problems.append(f"{name}: {len(unmatched)} row(s) matched no photo in the folders added: {shown}")
        return problems


def add_photos(catalog: Catalog, store: VectorStore, extractor: FeatureExtractor, source: PhotoSource,
               progress: Progress | None = None, workers: int | None = None) -> AddReport:
    """Bring the archive up to date with the given folders/files; see the module docstring."""
    progress = progress or Progress()
    started = time.perf_counter()
    counts = _Counts()
    skipped_now: dict[str, str] = {}

    def on_error(path: Path, reason: str) -> None:
        skipped_now[str(path)] = reason

    progress.report(0, 0, "scanning")
    found = list(iter_image_files(source.roots, on_error=on_error))
    known = catalog.files_under(source.roots)
    todo = _unchanged_or_todo(catalog, source, found, known, counts, on_error)
    # When this add will end in a PCA refit (which rebuilds the index), indexing each batch is wasted work.
    target = _SKIP_INDEXING if store.refit_due(len(catalog.live_image_ids(extractor.model_id)) + len(todo)) else store
    cancelled = False
    try:
        with _single_threaded_blas():
            _process(catalog, target, extractor, source, todo, counts, on_error, progress, workers)
        if not progress.cancelled:
            seen = {str(p) for p in found}
            vanished = [p for p, row in known.items() if not row[3] and p not in seen and not os.path.exists(p)]
            _remove_vanished(catalog, target, vanished, counts)
    except Cancelled:
        cancelled = True
    except BaseException:  # disk full, Ctrl-C...: keep what can be kept, then report the first error
        _save_after_failure(catalog, store, skipped_now, counts)
        raise
    _record_skipped(catalog, skipped_now, counts, source.roots)
    progress.report(len(todo), len(todo), "saving")
    if not cancelled:
        store.maybe_refit()
    store.sync()  # whatever was committed but not indexed (skipped batches, a refit that did not happen)
    store.save()
    return AddReport(
        scanned=len(found), added=counts.added, unchanged=counts.unchanged, moved=counts.moved,
        copies=counts.copies, updated_metadata=counts.updated_metadata, removed=counts.removed,
        skipped=tuple(counts.skipped), metadata_errors=tuple(source.metadata_problems()),
        cancelled=cancelled or progress.cancelled, seconds=time.perf_counter() - started)


def _unchanged_or_todo(catalog: Catalog, source: PhotoSource, found: list[Path],
                       known: dict[str, tuple[int, int, int, int]], counts: _Counts, on_error) -> list[tuple]:
    """Files whose size and mtime match the catalog are unchanged (metadata still applied); the rest
    are returned as (path, size, mtime_ns) to hash and maybe embed."""
    todo: list[tuple[Path, int, int]] = []
    candidates: list[tuple[int, Path, PhotoMetadata]] = []
    for path in found:
        try:
            st = path.stat()
        except OSError as exc:
            on_error(path, _os_reason(exc))
            continue
        row = known.get(str(path))
        if row is not None and not row[3] and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            counts.unchanged += 1
            meta = source.metadata_for(path)
            if meta is not None:
                candidates.append((row[2], path, meta))
        else:
            todo.append((path, st.st_size, st.st_mtime_ns))
    candidates.sort(key=lambda c: source.rank(c[1]))  # the winner of each photo first: losers change nothing
    updates = [(i, m) for i, p, meta in candidates if (m := source.settle(i, p, meta)) is not None]
    if updates:
        with catalog.transaction() as conn:
            changed = sum(apply_metadata(catalog, conn, i, m) for i, m in updates)
            if changed:  # readers resync on a new generation: only when something did change
                counts.updated_metadata += changed
                catalog.bump_generation(conn)
    return todo


def _process(catalog: Catalog, store: VectorStore, extractor: FeatureExtractor, source: PhotoSource,
             todo: list[tuple], counts: _Counts, on_error, progress: Progress, workers: int | None) -> None:
    """Hash/decode on a pool, embed and commit in batches, reporting progress and honouring cancel."""
    spec = extractor.spec
    min_side = min(spec.input_size)
    pending: list[_Decoded] = []
    linked: list[_Known] = []
    done = 0
    for result in _prepared(catalog, extractor.model_id, todo, spec, min_side, workers):
        done += 1
        if isinstance(result, _Failed):
            on_error(Path(result.path), result.reason)
            source.metadata_for(Path(result.path))  # its CSV row is not "unmatched": the photo is skipped
        elif isinstance(result, _Known):
            linked.append(result)
        else:
            pending.append(result)
        if len(pending) >= BATCH_SIZE or len(linked) >= 4 * BATCH_SIZE:
            _commit(catalog, store, extractor, source, pending, linked, counts)
            pending, linked = [], []
            progress.report(done, len(todo), "indexing")
        progress.check()
    _commit(catalog, store, extractor, source, pending, linked, counts)
    progress.report(done, len(todo), "indexing")


class _SkipIndexing:
    """Stands in for the vector store during an add that ends in a PCA refit: the refit rebuilds the
    index from the catalog, so the batches are only committed. New photos become searchable when the
    add ends instead of batch by batch; building a 1280-d index of an archive's first photos only to
    throw it away cost more than embedding them."""

    def add(self, ids: np.ndarray, features: np.ndarray) -> None:
        """Nothing: the refit indexes these photos."""

    def remove(self, ids: np.ndarray) -> None:
        """Nothing: the refit leaves removed photos out."""

    def mark_synced(self) -> None:
        """Nothing: the store must stay out of date until the refit."""


_SKIP_INDEXING = _SkipIndexing()


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Keep numpy's BLAS on one thread while batches are embedded and indexed.

    The only BLAS work per batch is a small matrix product (the PCA projection), and OpenBLAS's idle
    threads spin after it: measured here, 19 ms of CPU per 32x1280x128 product instead of 0.2 ms,
    CPU that the decoding threads and ONNX Runtime need.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings threadpoolctl; without it, just run
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def default_workers() -> int:
    """Decoding threads when the caller does not say: one per CPU, at most 4."""
    return min(4, os.cpu_count() or 2)


def _prepared(catalog: Catalog, model_id: str, todo: list[tuple], spec, min_side: int,
              workers: int | None) -> Iterator[_Known | _Decoded | _Failed]:
    """Results of ``_prepare`` in input order, with at most a few batches decoded ahead."""
    workers = workers or default_workers()
    window = 2 * BATCH_SIZE
    queue: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        try:
            for item in todo:
                queue.append(pool.submit(_prepare, catalog, model_id, item, spec, min_side))
                if len(queue) >= window:
                    yield queue.popleft().result()
            while queue:
                yield queue.popleft().result()
        finally:
            for future in queue:
                future.cancel()


def _prepare(catalog: Catalog, model_id: str, item: tuple[Path, int, int], spec,
             min_side: int) -> _Known | _Decoded | _Failed:
    """Read a file once: hash it; if its content is new, decode and preprocess it (runs on the pool)."""
    path, size, mtime_ns = item
    try:
        if size > MAX_READ_BYTES:
            return _Failed(str(path), f"file too large ({size // (1024 * 1024)} MB)")
        data = path.read_bytes()
    except OSError as exc:
        return _Failed(str(path), _os_reason(exc))
    if not data:
        return _Failed(str(path), "empty file")
    content_hash = hashlib.sha256(data).hexdigest()
    existing = catalog.image_by_hash(content_hash, model_id)
    if existing is not None and existing[1]:
        return _Known(str(path), size, mtime_ns, existing[0])
    try:
        image, info = open_image(io.BytesIO(data), min_side=min_side)
        pixels = preprocess(image, spec)
    except ImageError as exc:
        return _Failed(str(path), exc.reason)
    local = extract_local_features(image).to_bytes()  # from the same decoded image: no second decode
    return _Decoded(str(path), size, mtime_ns, content_hash, info, pixels, local)


def _commit(catalog: Catalog, store: VectorStore, extractor: FeatureExtractor, source: PhotoSource,
            decoded: list[_Decoded], linked: list[_Known], counts: _Counts) -> None:
    """Embed one batch and store it with its files and metadata in a single transaction."""
    if not decoded and not linked:
        return
    vectors = extractor.embed(np.stack([d.pixels for d in decoded])) if decoded else None
    new_ids: list[int] = []
    new_rows: list[int] = []  # the row of ``vectors`` of each new id
    revived: list[int] = []
    replaced: list[int] = []
    linked = list(linked)
    with catalog.transaction() as conn:
        for row, item in enumerate(decoded):
            known = _photo_with_features(conn, item.content_hash, extractor.model_id)
            if known is not None:  # content met earlier in this add (hashed before it was stored): a copy
                linked.append(_Known(item.path, item.size, item.mtime_ns, known))
                continue
            previous = _photo_at(conn, item.path)
            image_id = _insert_photo(catalog, conn, item, extractor.model_id, vectors[row])
            counts.added += 1
            new_ids.append(image_id)
            new_rows.append(row)
            if previous is not None and previous != image_id:  # the file's content was replaced
                replaced.extend(_orphan_if_unused(conn, previous))
            apply_metadata(catalog, conn, image_id, source.settle(image_id, Path(item.path),
                                                                  source.metadata_for(Path(item.path))))
        for item in linked:
            previous = _photo_at(conn, item.path)
            revived.extend(_link_known(catalog, conn, item, counts))
            if previous is not None and previous != item.image_id:  # overwritten with a known photo's bytes
                replaced.extend(_orphan_if_unused(conn, previous))
            meta = source.settle(item.image_id, Path(item.path), source.metadata_for(Path(item.path)))
            if apply_metadata(catalog, conn, item.image_id, meta):
                counts.updated_metadata += 1
        catalog.bump_generation(conn)
    if new_ids:
        store.add(np.asarray(new_ids), vectors[new_rows])
    if replaced:
        store.remove(np.asarray(replaced))
    if revived:
        for ids, features in catalog.features(extractor.model_id, revived):
            store.add(ids, features)
    store.mark_synced()


def _insert_photo(catalog: Catalog, conn: sqlite3.Connection, item: _Decoded, model_id: str,
                  vector: np.ndarray) -> int:
    existing = conn.execute("SELECT id FROM images WHERE content_hash = ?", (item.content_hash,)).fetchone()
    if existing is not None:  # known content that lacked features for this model
        image_id = int(existing[0])
    else:
        taken = item.info.exif_datetime.isoformat() if item.info.exif_datetime else None
        image_id = catalog.insert_image(conn, item.content_hash, item.size, item.info.width, item.info.height,
                                        item.info.format, taken)
    catalog.put_features(conn, [image_id], model_id, vector[None, :])
    catalog.put_local_features(conn, image_id, item.local_features)  # same transaction: never one without the other
    catalog.put_file(conn, item.path, image_id, item.size, item.mtime_ns)
    return image_id


def _link_known(catalog: Catalog, conn: sqlite3.Connection, item: _Known, counts: _Counts) -> list[int]:
    """Point a file at the photo it already is: a move (its old file is gone) or a copy."""
    old = conn.execute("SELECT path FROM files WHERE image_id = ? AND deleted = 0 AND path != ?",
                       (item.image_id, item.path)).fetchall()
    gone = [p for (p,) in old if not os.path.exists(p)]
    was_deleted = conn.execute("SELECT deleted FROM images WHERE id = ?", (item.image_id,)).fetchone()[0]
    if gone:
        conn.executemany("UPDATE files SET deleted = 1 WHERE path = ?", ((p,) for p in gone))
    if gone or (was_deleted and not old):
        counts.moved += 1
    elif len(old) > len(gone):
        counts.copies += 1
    else:  # same path and content, only the file's timestamp changed
        counts.unchanged += 1
    catalog.put_file(conn, item.path, item.image_id, item.size, item.mtime_ns)
    return [item.image_id] if was_deleted else []


def _photo_with_features(conn: sqlite3.Connection, content_hash: str, model_id: str) -> int | None:
    """The photo with this content and features for this model, if any (``_link_known`` revives a deleted one)."""
    row = conn.execute("SELECT i.id FROM images i JOIN features f ON f.image_id = i.id AND f.model_id = ? "
                       "WHERE i.content_hash = ?", (model_id, content_hash)).fetchone()
    return None if row is None else int(row[0])


def _photo_at(conn: sqlite3.Connection, path: str) -> int | None:
    """The photo a live file at ``path`` held before this batch."""
    row = conn.execute("SELECT image_id FROM files WHERE path = ? AND deleted = 0", (path,)).fetchone()
    return None if row is None else int(row[0])


def _orphan_if_unused(conn: sqlite3.Connection, image_id: int) -> list[int]:
    left = conn.execute("SELECT COUNT(*) FROM files WHERE image_id = ? AND deleted = 0", (image_id,)).fetchone()
    if left[0]:
        return []
    conn.execute("UPDATE images SET deleted = 1 WHERE id = ?", (image_id,))
    return [image_id]


def _remove_vanished(catalog: Catalog, store: VectorStore, vanished: list[str], counts: _Counts) -> None:
    if not vanished:
        return
    with catalog.transaction() as conn:
        orphaned = catalog.mark_files_deleted(conn, vanished)
        catalog.bump_generation(conn)
    counts.removed += len(orphaned)
    store.remove(np.asarray(orphaned, dtype=np.int64))
    store.mark_synced()


def _save_after_failure(catalog: Catalog, store: VectorStore, skipped: dict[str, str], counts: _Counts) -> None:
    """Record skipped files and save the index after a failed run, never hiding the original error."""
    for step in (lambda: _record_skipped(catalog, skipped, counts), store.save):
        try:
            step()
        except (InspectorSearchError, OSError, sqlite3.Error) as exc:
            log.warning("could not finish saving after an error: %s", exc)


def _record_skipped(catalog: Catalog, skipped: dict[str, str], counts: _Counts, roots: Sequence[Path] = ()) -> None:
    """Record this add's skipped files, and forget earlier ones under ``roots`` that no longer exist."""
    gone = [p for p, _reason, _seen in catalog.skipped()
            if p not in skipped and any(Path(p).is_relative_to(r) for r in roots) and not os.path.exists(p)]
    if not skipped and not gone:
        return
    with catalog.transaction() as conn:
        catalog.forget_skipped(conn, gone)
        for path, reason in skipped.items():
            catalog.record_skipped(conn, path, reason)
    seen_at = {p: s for p, _r, s in catalog.skipped()}
    counts.skipped = [SkippedFile(Path(p), r, seen_at.get(p, "")) for p, r in sorted(skipped.items())]


def apply_metadata(catalog: Catalog, conn: sqlite3.Connection, image_id: int, meta: PhotoMetadata | None) -> bool:
    """Attach a photo to its site, equipment and inspection; True if its metadata changed (its own
    links, or the details of its site, equipment or inspection: what filters and history show)."""
    if meta is None:
        return False
    before = conn.total_changes
    site_id = catalog.site_id(conn, meta.site) if meta.site else None
    equipment_id = inspection_id = None
    if meta.equipment_tag:
        equipment_id = catalog.equipment_id(conn, meta.equipment_tag, name=meta.equipment_name,
                                            type=meta.equipment_type, site_id=site_id, area=meta.area)
        if meta.inspected_on or meta.inspector or meta.notes:
            inspection_id = catalog.inspection_id(conn, equipment_id, meta.inspected_on, meta.inspector,
                                                  meta.notes)
    catalog.set_photo_metadata(conn, image_id, site_id=site_id, equipment_id=equipment_id,
                               inspection_id=inspection_id, notes=meta.notes,
                               extra=dict(meta.extra) if meta.extra else None)
    if (tags := tags_cell(meta.extra)) is not None:  # checked when the CSV was read
        add_imported_tags(conn, image_id, split_tags(tags), now_iso())
    return conn.total_changes > before


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file not found (broken link?)"
    return exc.strerror or str(exc)


def read_source(paths: Sequence[Path], metadata: Path | None, layout: str | None) -> PhotoSource:
    """Validate the roots, the metadata CSV and the layout before anything is written."""
    return PhotoSource(paths, metadata, layout)
