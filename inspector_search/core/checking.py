"""``check``: do the catalog, the photo files, the PCA projection, the vector index and the thumbnail
cache agree? With ``repair``, rebuild what can be rebuilt and report what cannot.

The catalog is the source of truth, so everything derived from it can be repaired: the projection
and the index are rebuilt from the stored features, photos lacking features are embedded again from
their files (when the file still holds the same content), damaged thumbnails and leftovers of
interrupted writes are deleted, and photo rows are marked deleted or live to match their files. What
a check cannot repair is reported: a damaged catalog (restore a backup), photo files that vanished or
changed on disk (``add`` their folder again to record it).

Without ``repair`` nothing is written: the derived files are read with their strict loaders, never
through :class:`VectorStore` (which rebuilds damaged files as soon as it loads them).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import leftover_temporary_files
from .catalog import Catalog
from .errors import ArchiveBusyError, ImageError, IndexFileError, LockFileError
from .extractor import FeatureExtractor
from .imaging import PreprocessSpec, open_image, preprocess
from .local_feature_fill import damaged_local_features, fill_local_features
from .locking import WriterLock
from .progress import Progress
from .projection import Projection
from .records import CheckReport
from .vector_index import VectorIndex
from .vector_store import INDEX_FILE, INDEX_FORMAT_VERSION, INDEX_STATE_FILE, PROJECTION_FILE, VectorStore

SAMPLED_VECTORS = 200  # index vectors compared with the stored features (evenly spread over the ids)
MIN_SIMILARITY = 0.98  # an index vector must be this alike to its photo's projected stored features
EMBED_BATCH = 32
EXAMPLES = 3
_INDEX_ENTRY = re.compile(r"missing from index|wrong # of entries in index|non-unique entry in index")


@dataclass
class ArchiveParts:
    """What a check needs from an opened archive (the façade passes its own parts)."""

    folder: Path
    catalog: Catalog
    store: VectorStore
    extractor: FeatureExtractor
    thumbnails: Path
    writer: WriterLock


@dataclass
class _Findings:
    repair: bool
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepairable: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def fixable(self, problem: str, fix: Callable[[], str]) -> None:
        """A problem that ``repair`` fixes by calling ``fix`` (which says what it did)."""
        if self.repair:
            self.repaired.append(f"{problem}: {fix()}")
        else:
            self.problems.append(problem)

    def report(self) -> CheckReport:
        return CheckReport(tuple(self.problems), tuple(self.repaired), tuple(self.unrepairable), tuple(self.checked))


def check_archive(parts: ArchiveParts, repair: bool = False, progress: Progress | None = None) -> CheckReport:
    """Verify an archive part by part (see the module docstring); with ``repair`` fix what can be
    rebuilt. The caller holds the writer lock when repairing. A damaged catalog stops the check."""
    progress = progress or Progress()
    findings = _Findings(repair)
    writer = _writer_state(parts.writer) if not repair else "free"
    if writer == "busy":
        findings.checked.append("note: another process is adding photos right now; differences between the "
                                "catalog and the index may only be work in progress")
    elif writer != "free":
        findings.unrepairable.append(writer)
    progress.report(0, 5, "checking", "catalog")
    if not _check_catalog(parts.catalog, findings):
        return findings.report()
    _check_photo_rows(parts.catalog, findings)
    progress.report(1, 5, "checking", "features")
    _check_features(parts, findings, progress)
    _check_local_features(parts, findings, progress)
    progress.report(2, 5, "checking", "photo files")
    _check_files(parts.catalog, findings)
    progress.report(3, 5, "checking", "projection and index")
    _check_derived(parts, findings)
    progress.report(4, 5, "checking", "thumbnails")
    _check_leftovers(parts.folder, findings)
    _check_thumbnails(parts.thumbnails, findings)
    progress.report(5, 5, "checking")
    return findings.report()


def _writer_state(writer: WriterLock) -> str:
    """"busy" while a writer (another process, or another thread of this one) holds the lock, "free" when
    none does, else why the lock file cannot be used (a finding: no add or repair could run)."""
    if writer.held:
        return "busy"
    try:
        with WriterLock(writer.path):  # a lock of its own: never disturbs the archive's
            return "free"
    except ArchiveBusyError:
        return "busy"
    except LockFileError as exc:
        return f"{exc}; add and check --repair cannot run until it is fixed"


# -- the catalog -------------------------------------------------------------------------------------
def _check_catalog(catalog: Catalog, findings: _Findings) -> bool:
    """SQLite's own integrity and foreign-key checks; False (stop checking) when they fail. SQL
    indexes that disagree with their tables are rebuilt (``REINDEX``): tables are the truth."""
    name = catalog.path.name
    verdict, dangling = _integrity(catalog)
    if verdict != ["ok"] and all(_INDEX_ENTRY.search(line) for line in verdict):
        findings.fixable(f"{name}: its SQL indexes disagree with the tables ({verdict[0]})",
                         lambda: _reindex(catalog))
        if findings.repair:
            verdict, dangling = _integrity(catalog)
        else:
            verdict = ["ok"]
    if verdict != ["ok"]:
        findings.unrepairable.append(f"{name} is damaged ({'; '.join(verdict[:EXAMPLES])}); restore it from a "
                                     "backup copy, or add the photo folders to a new archive")
        return False
    if dangling:
        tables = ", ".join(sorted({str(row[0]) for row in dangling}))
        findings.unrepairable.append(f"{name}: {len(dangling)} row(s) in {tables} refer to rows that do not exist")
        return False
    counts = catalog.counts()
    findings.checked.append(f"catalog: intact (schema {catalog.schema_version}); {counts['photos']} photos, "
                            f"{counts['files']} files, {counts['deleted']} deleted photos")
    return True


def _integrity(catalog: Catalog) -> tuple[list[str], list[tuple]]:
    try:
        verdict = [row[0] for row in catalog.conn.execute("PRAGMA integrity_check(10)")]
        dangling = catalog.conn.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)], []
    return verdict, dangling


def _reindex(catalog: Catalog) -> str:
    with catalog.transaction() as conn:
        conn.execute("REINDEX")
    return "rebuilt them (REINDEX)"


def _check_photo_rows(catalog: Catalog, findings: _Findings) -> None:
    """A photo is live exactly when at least one of its files is."""
    live_file = "EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.deleted = 0)"
    orphaned = [r[0] for r in catalog.conn.execute(f"SELECT id FROM images i WHERE deleted = 0 AND NOT {live_file}")]
    revived = [r[0] for r in catalog.conn.execute(f"SELECT id FROM images i WHERE deleted = 1 AND {live_file}")]
    if orphaned:
        findings.fixable(f"{len(orphaned)} photo(s) have no file left but are not marked deleted "
                         f"(ids {_examples(orphaned)})", lambda: _set_deleted(catalog, orphaned, True))
    if revived:
        findings.fixable(f"{len(revived)} photo(s) are marked deleted although a file of theirs is recorded "
                         f"(ids {_examples(revived)})", lambda: _set_deleted(catalog, revived, False))


def _set_deleted(catalog: Catalog, image_ids: list[int], deleted: bool) -> str:
    with catalog.transaction() as conn:
        conn.executemany("UPDATE images SET deleted = ? WHERE id = ?", ((int(deleted), i) for i in image_ids))
        catalog.bump_generation(conn)
    return "marked deleted" if deleted else "marked live again"


def _check_files(catalog: Catalog, findings: _Findings) -> None:
    """Every live file row should name a file on disk with the recorded size and time."""
    missing: list[str] = []
    changed: list[str] = []
    rows = catalog.conn.execute("SELECT path, size, mtime_ns FROM files WHERE deleted = 0 ORDER BY path").fetchall()
    for path, size, mtime_ns in rows:
        try:
            st = os.stat(path)
        except OSError:
            missing.append(path)
            continue
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
            changed.append(path)
    if missing:
        findings.unrepairable.append(
            f"{len(missing)} photo file(s) recorded in the catalog are not on disk (moved, renamed, deleted, or on a "
            f"drive that is not connected), e.g. {_examples(missing)}; add their folder again to record moves "
            "and deletions (photos keep their metadata)")
    if changed:
        findings.unrepairable.append(
            f"{len(changed)} photo file(s) changed on disk since they were added, e.g. {_examples(changed)}; "
            "add their folder again to index the new content")
    findings.checked.append(f"photo files: {len(rows) - len(missing)} of {len(rows)} found, "
                            f"{len(rows) - len(missing) - len(changed)} unchanged")


# -- features ------------------------------------------------------------------------------------------
def _check_features(parts: ArchiveParts, findings: _Findings, progress: Progress) -> None:
    """Every live photo needs features for the archive's model (a different model needs new ones)."""
    missing = parts.catalog.photos_missing_features(parts.extractor.model_id)
    if missing:
        findings.fixable(f"{len(missing)} photo(s) have no features for the model {parts.extractor.model_id}",
                         lambda: _embed_again(parts, missing, findings, progress))


def _embed_again(parts: ArchiveParts, missing: list[tuple[int, str]], findings: _Findings,
                 progress: Progress) -> str:
    """Embed photos again from their files, in batches, each batch committed on its own."""
    catalog, extractor = parts.catalog, parts.extractor
    extractor.load()
    failed: list[str] = []
    done = 0
    for start in range(0, len(missing), EMBED_BATCH):
        ids: list[int] = []
        pixels: list[np.ndarray] = []
        for image_id, path in missing[start:start + EMBED_BATCH]:
            result = _decode_same_content(catalog, image_id, Path(path), extractor.spec)
            if isinstance(result, str):
                failed.append(f"{path} ({result})")
            else:
                ids.append(image_id)
                pixels.append(result)
        if ids:
            vectors = extractor.embed(np.stack(pixels))
            with catalog.transaction() as conn:
                catalog.put_features(conn, ids, extractor.model_id, vectors)
                catalog.bump_generation(conn)
            done += len(ids)
        progress.report(start + len(missing[start:start + EMBED_BATCH]), len(missing), "embedding")
        progress.check()
    if failed:
        findings.unrepairable.append(f"{len(failed)} photo(s) without features could not be embedded again, e.g. "
                                     f"{_examples(failed)}; add their folder again")
    return f"embedded {done} again from their files"


def _decode_same_content(catalog: Catalog, image_id: int, path: Path, spec: PreprocessSpec) -> np.ndarray | str:
    """The model input of a photo's file, or why it cannot be used (gone, changed, unreadable)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return exc.strerror or str(exc)
    row = catalog.conn.execute("SELECT content_hash FROM images WHERE id = ?", (image_id,)).fetchone()
    if row is None or hashlib.sha256(data).hexdigest() != row[0]:
        return "the file's content changed since it was added"
    try:
        image, _info = open_image(io.BytesIO(data), min_side=min(spec.input_size))
    except ImageError as exc:
        return exc.reason
    return preprocess(image, spec)


def _check_local_features(parts: ArchiveParts, findings: _Findings, progress: Progress) -> None:
    """Every live photo should have a readable keypoint record (geometric verification); repair
    drops damaged ones and makes the missing ones again from the files (``fill_local_features``)."""
    catalog, min_side = parts.catalog, min(parts.extractor.spec.input_size)
    damaged = damaged_local_features(catalog)
    missing = len(catalog.photos_missing_local_features())
    if damaged:
        findings.fixable(f"{len(damaged)} photo(s) have a damaged keypoint record (ids {_examples(damaged)})",
                         lambda: _drop_local_features(catalog, damaged))
    if missing:
        findings.fixable(f"{missing} photo(s) have no keypoints for geometric verification (added before it "
                         "existed; search does not verify them)", lambda: _fill(catalog, findings, progress, min_side))
    elif damaged and findings.repair:
        findings.repaired.append(f"keypoints: {_fill(catalog, findings, progress, min_side)}")
    if not damaged and not missing:
        findings.checked.append("keypoints: every photo has an intact record")


def _drop_local_features(catalog: Catalog, image_ids: list[int]) -> str:
    with catalog.transaction() as conn:
        catalog.delete_local_features(conn, image_ids)
    return "dropped, to be made again"


def _fill(catalog: Catalog, findings: _Findings, progress: Progress, min_side: int) -> str:
    report = fill_local_features(catalog, progress, min_side=min_side)
    if report.failed:
        examples = [f"{path} ({reason})" for path, reason in report.failed]
        findings.unrepairable.append(f"{len(report.failed)} photo(s) could not be given keypoints, e.g. "
                                     f"{_examples(examples)}; add their folder again")
    return f"found the keypoints of {report.filled} photo(s) again from their files"


# -- projection and index ------------------------------------------------------------------------------
def _check_derived(parts: ArchiveParts, findings: _Findings) -> None:
    """Projection and index files against the catalog; with repair, rebuild both and verify again. An index
    that shows the catalog lost its last commits is kept as it is: it is the record of what ``add`` must restore."""
    parts.store.load()
    if parts.store.catalog_behind:
        lost = parts.store.lost_photos
        what = f"{lost} photos that {INDEX_FILE} holds" if lost else f"changes that {INDEX_FILE} reflects"
        findings.unrepairable.append(
            f"the catalog lacks {what}: its last saved changes were lost (a damaged or deleted write-ahead log?); "
            f"run `inspector-search add` on the same folders again to add them back with their recorded metadata "
            f"({INDEX_FILE} is kept as it is until then)")
        return
    problems, summary = _derived_problems(parts)
    if not problems:
        findings.checked.append(summary)
        return
    if not findings.repair:
        findings.problems.extend(problems)
        return
    store = parts.store
    before = len(store.messages)
    store.reload()
    store.rebuild_index()
    try:
        store.save()
    except IndexFileError as exc:  # disk full or read-only: rebuilt in memory, not saved
        findings.unrepairable.append(str(exc))
    del store.messages[before:]  # the rebuild's own notes repeat the problems reported here
    left, summary = _derived_problems(parts)
    findings.repaired.extend(f"{p}: rebuilt from the catalog" for p in problems)
    findings.unrepairable.extend(f"{p} (still so after rebuilding)" for p in left)
    findings.checked.append(summary)


def _derived_problems(parts: ArchiveParts) -> tuple[list[str], str]:
    """What is wrong with the projection and index files (read only), and a one-line summary."""
    store, catalog = parts.store, parts.catalog
    live = catalog.live_image_ids(parts.extractor.model_id)
    projection, problems = _stored_projection(parts.folder, store, len(live))
    if problems:
        return problems + [f"{INDEX_FILE} must be rebuilt for a new projection"], "projection: needs refitting"
    index, problems = _stored_index(parts.folder, store, projection, len(live))
    if index is not None:
        problems += _index_content_problems(index, live, projection, catalog, parts.extractor.model_id)
    kind = "identity (too few photos for PCA)" if projection.kind == "identity" else (
        f"PCA {projection.in_dim}->{projection.out_dim} fitted on {projection.n_fit} photos")
    count = len(index) if index is not None else 0
    return problems, f"projection: {kind}; index: {count} vectors for {len(live)} live photos with features"


def _stored_projection(folder: Path, store: VectorStore, live: int) -> tuple[Projection, list[str]]:
    path = folder / PROJECTION_FILE
    identity = Projection.identity(store.feature_dim)
    if not path.exists():
        if live >= store.policy.min_photos:
            return identity, [f"{PROJECTION_FILE} is missing although {live} photos have features"]
        return identity, []
    try:
        projection = Projection.load(path)
    except IndexFileError as exc:
        return identity, [f"{PROJECTION_FILE} is damaged ({exc.reason})"]
    if projection.in_dim != store.feature_dim:
        return identity, [f"{PROJECTION_FILE} was fitted for {projection.in_dim}-d features, the model gives "
                          f"{store.feature_dim}-d"]
    return projection, []


def _stored_index(folder: Path, store: VectorStore, projection: Projection,
                  live: int) -> tuple[VectorIndex | None, list[str]]:
    path = folder / INDEX_FILE
    if not path.exists():
        return None, [f"{INDEX_FILE} is missing although {live} photos have features"] if live else []
    problems = []
    state = _read_state(folder / INDEX_STATE_FILE)
    if isinstance(state, str):
        problems.append(f"{INDEX_STATE_FILE} {state}")
    elif state.get("model_id") != store.model_id:
        problems.append(f"{INDEX_FILE} was built for another model ({state.get('model_id')})")
    elif state.get("projection_id") != projection.projection_id:
        problems.append(f"{INDEX_FILE} was built with another projection than the one in {PROJECTION_FILE}")
    try:
        return VectorIndex.load(path, projection.out_dim), problems
    except IndexFileError as exc:
        return None, [*problems, f"{INDEX_FILE} is damaged ({exc.reason})"]


def _read_state(path: Path) -> dict | str:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "is missing"
    except (OSError, ValueError):
        return "is damaged (not readable JSON)"
    if not isinstance(state, dict) or state.get("format_version") != INDEX_FORMAT_VERSION:
        return "has an unknown format"
    return state


def _index_content_problems(index: VectorIndex, live: np.ndarray, projection: Projection, catalog: Catalog,
                            model_id: str) -> list[str]:
    """The index must hold exactly the live photos, each as its projected stored features."""
    have = index.ids()
    missing, extra = np.setdiff1d(live, have), np.setdiff1d(have, live)
    problems = []
    if len(missing):
        problems.append(f"{INDEX_FILE} lacks {len(missing)} photo(s) of the catalog (an add that was interrupted; "
                        "the app catches up when it opens the archive)")
    if len(extra):
        problems.append(f"{INDEX_FILE} holds {len(extra)} photo(s) that are deleted or unknown in the catalog")
    sample = np.intersect1d(live, have)
    if len(sample) > SAMPLED_VECTORS:
        sample = sample[np.linspace(0, len(sample) - 1, SAMPLED_VECTORS).astype(np.int64)]
    wrong = 0
    for ids, features in catalog.features(model_id, sample.tolist()):
        for image_id, vector in zip(ids.tolist(), projection.transform(features), strict=True):
            found = index.query(vector[None, :], 1, allowed=np.array([image_id]))[0]
            wrong += not found or found[0][1] < MIN_SIMILARITY
    if wrong:
        problems.append(f"{wrong} of {len(sample)} sampled index vectors do not match their stored features")
    return problems


# -- leftovers and thumbnails ------------------------------------------------------------------------
def _check_leftovers(folder: Path, findings: _Findings) -> None:
    leftovers = leftover_temporary_files(folder)
    if leftovers:
        size = sum(p.stat().st_size for p in leftovers if p.exists()) // 1024
        findings.fixable(f"{len(leftovers)} temporary file(s) left by interrupted writes ({size} KB; never "
                         "loaded)", lambda: _delete(leftovers))
    empty_backups = [p for p in folder.glob("*.v0.bak") if _holds_no_tables(p)]
    if empty_backups:
        names = _examples([p.name for p in empty_backups])
        findings.fixable(f"{names}: a backup of a catalog whose creation was cut short (it holds no tables, "
                         "nothing to restore)", lambda: _delete(empty_backups))


def _holds_no_tables(path: Path) -> bool:
    """Whether an SQLite file is empty of tables (read-only; a file that cannot be read is kept: not ours to judge)."""
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def _check_thumbnails(thumbnails: Path, findings: _Findings) -> None:
    """Cached thumbnails must be complete JPEGs; damaged ones are deleted (made again on demand)."""
    damaged: list[Path] = []
    leftovers: list[Path] = []
    total = 0
    for folder, _dirs, files in os.walk(thumbnails):
        leftovers += leftover_temporary_files(Path(folder))
        for name in files:
            if name.endswith(".jpg") and not name.startswith("."):
                total += 1
                if not thumbnail_is_intact(Path(folder) / name):
                    damaged.append(Path(folder) / name)
    if damaged:
        findings.fixable(f"{len(damaged)} cached thumbnail(s) are damaged, e.g. {_examples(damaged)}",
                         lambda: _delete(damaged) + " (made again when shown)")
    if leftovers:
        findings.fixable(f"{len(leftovers)} temporary thumbnail file(s) left by interrupted writes",
                         lambda: _delete(leftovers))
    findings.checked.append(f"thumbnails: {total - len(damaged)} of {total} intact" if total else
                            "thumbnails: none cached")


def thumbnail_is_intact(path: Path) -> bool:
    """True if ``path`` is a complete JPEG (starts with SOI, ends with EOI): cheap enough to run
    before every use of a cached thumbnail, and catches truncated, empty and garbage files."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(3)
            handle.seek(-2, os.SEEK_END)
            tail = handle.read(2)
    except OSError:
        return False
    return head == b"\xff\xd8\xff" and tail == b"\xff\xd9"


def _delete(paths: list[Path]) -> str:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return "deleted"


def _examples(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:EXAMPLES])
    return shown + (f" and {len(items) - EXAMPLES} more" if len(items) > EXAMPLES else "")
