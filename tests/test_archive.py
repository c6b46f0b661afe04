"""The archive façade end to end on real photos, the real ONNX model and real SQLite files."""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import plant_folder

from inspector_search.core import ingest
from inspector_search.core.archive import Archive, preview_import
from inspector_search.core.errors import ArchiveBusyError, InspectorSearchError, MetadataError, QueryError
from inspector_search.core.locking import WriterLock
from inspector_search.core.progress import Progress
from inspector_search.core.records import SearchFilter, SearchRequest
from inspector_search.core.vector_store import INDEX_FILE, ProjectionPolicy

SMALL_PCA = ProjectionPolicy(dim=16, min_photos=12)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return plant_folder(tmp_path / "photos")


@pytest.fixture
def archive(archive_dir: Path):
    with Archive.open(archive_dir) as opened:
        yield opened


def ids_by_path(archive: Archive) -> dict[str, int]:
    rows = archive.catalog.conn.execute("SELECT path, image_id FROM files WHERE deleted = 0")
    return {Path(p).name: i for p, i in rows}


def test_add_then_search_finds_the_photo_itself_first(archive: Archive, photos: Path) -> None:
    report = archive.add([photos], layout="{site}/{equipment}/{date}")
    assert (report.scanned, report.added, len(report.skipped)) == (18, 18, 0)
    query = next(photos.rglob("*.jpg"))
    hits = archive.search(SearchRequest(image=query, top_k=5))
    assert hits[0].photo.path == query
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(-1.0 <= h.score <= hits[0].score + 1e-6 for h in hits)  # nothing beats the photo itself
    assert hits[0].photo.equipment_tag == query.parents[1].name
    assert hits[0].photo.site == query.parents[2].name
    assert hits[0].photo.inspected_on == date.fromisoformat(query.parent.name)


def test_same_class_ranks_above_other_classes(archive: Archive, photos: Path) -> None:
    archive.add([photos], layout="{site}/{equipment}/{date}")
    query = sorted((photos / "North" / "P-101").rglob("*.jpg"))[0]
    hits = archive.search(SearchRequest(image=query, top_k=6))
    same = [h for h in hits if h.photo.equipment_tag == "P-101"]
    assert len(same) >= 4, [h.photo.equipment_tag for h in hits]


def test_rerun_embeds_nothing_and_move_keeps_identity_and_metadata(archive: Archive, photos: Path) -> None:
    archive.add([photos], layout="{site}/{equipment}/{date}")
    before = ids_by_path(archive)
    again = archive.add([photos])
    assert (again.added, again.unchanged) == (0, 18)
    shutil.move(photos / "South", photos / "Moved")
    moved = archive.add([photos])
    assert (moved.added, moved.moved, moved.removed) == (0, 6, 0)
    after = ids_by_path(archive)
    assert after == before
    photo = archive.photo(after[next((photos / "Moved").rglob("*.jpg")).name])
    assert photo.site == "South" and photo.path.is_relative_to(photos / "Moved")
    assert archive.status().photos == 18


def test_copy_is_recorded_and_vanished_files_are_marked_deleted(archive: Archive, photos: Path) -> None:
    archive.add([photos])
    original = next(photos.rglob("*.jpg"))
    shutil.copy2(original, photos / "copy.jpg")
    report = archive.add([photos])
    assert (report.added, report.copies) == (0, 1)
    status = archive.status()
    assert (status.photos, status.files) == (18, 19)
    victim = sorted((photos / "South").rglob("*.jpg"))[-1]
    victim_id = ids_by_path(archive)[victim.name]
    victim.unlink()
    report = archive.add([photos])
    assert report.removed == 1
    assert archive.status().photos == 17
    hits = archive.search(SearchRequest(image=original, top_k=30))
    assert victim_id not in {h.photo.image_id for h in hits}


def test_edited_file_is_re_embedded_and_old_content_leaves_the_index(archive: Archive, photos: Path) -> None:
    archive.add([photos])
    a, b = sorted(photos.rglob("*.jpg"))[:2]
    old_id = ids_by_path(archive)[a.name]
    shutil.copyfile(sorted((photos / "South").rglob("*.jpg"))[0], a)
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))
    report = archive.add([photos])
    assert report.added == 0 or report.copies == 1
    new_id = ids_by_path(archive)[a.name]
    assert new_id != old_id
    hits = archive.search(SearchRequest(image=b, top_k=30))
    assert old_id not in {h.photo.image_id for h in hits}
    status = archive.status()  # the overwritten photo is gone: 17 distinct photos remain, all indexed
    assert status.photos == status.indexed == 17
    assert old_id not in archive.vectors()[0]


def test_the_same_content_in_two_batches_of_one_add_is_a_copy(archive: Archive, photos: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Files are hashed ahead of the batches being committed: make every lookup miss, as it does for a
    # copy hashed while the batch holding its twin is still being embedded.
    monkeypatch.setattr(ingest, "BATCH_SIZE", 4)
    monkeypatch.setattr(type(archive.catalog), "image_by_hash", lambda *_args: None)
    first = sorted(photos.rglob("*.jpg"))[0]
    (photos / "zz").mkdir()
    shutil.copyfile(first, photos / "zz" / "copy.jpg")
    report = archive.add([photos])
    assert (report.added, report.copies) == (18, 1)
    assert archive.status().photos == 18


def test_bad_files_are_skipped_with_reasons_and_the_rest_indexed(archive: Archive, photos: Path) -> None:
    bad = photos / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "notes.jpg").write_text("not a photo")
    good = next(photos.rglob("*.jpg")).read_bytes()
    (bad / "truncated.jpg").write_bytes(good[: len(good) // 3])
    report = archive.add([photos])
    assert report.added == 18
    reasons = {s.path.name: s.reason for s in archive.status().skipped}
    assert set(reasons) == {"empty.jpg", "notes.jpg", "truncated.jpg"}
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    (bad / "notes.jpg").unlink()  # deleted by the user: no longer listed after the next scan
    archive.add([photos])
    assert {s.path.name for s in archive.status().skipped} == {"empty.jpg", "truncated.jpg"}


def test_filters_apply_during_search(archive: Archive, photos: Path) -> None:
    archive.add([photos], layout="{site}/{equipment}/{date}")
    query = next((photos / "North").rglob("*.jpg"))

    def search(**kw) -> list:
        return archive.search(SearchRequest(image=query, top_k=50, filter=SearchFilter(**kw)))

    assert {h.photo.site for h in search(site="South")} == {"South"}
    assert len(search(site="South")) == 6
    assert {h.photo.equipment_tag for h in search(equipment_tag="P-102")} == {"P-102"}
    recent = search(since=date(2024, 1, 1))
    assert recent and all(h.photo.inspected_on >= date(2024, 1, 1) for h in recent)
    assert len(recent) + len(search(until=date(2023, 12, 31))) == 18
    assert search(site="Nowhere") == []


def test_group_by_equipment_gives_one_row_per_equipment(archive: Archive, photos: Path) -> None:
    archive.add([photos], layout="{site}/{equipment}/{date}")
    query = next((photos / "South").rglob("*.jpg"))
    groups = archive.search_by_equipment(SearchRequest(image=query, top_k=10))
    assert len(groups) == 3
    assert groups[0].best.equipment_tag == "P-102" and groups[0].match_count == 6
    assert sum(g.match_count for g in groups) == 18


def test_history_lists_inspections_in_date_order(archive: Archive, photos: Path) -> None:
    archive.add([photos], layout="{site}/{equipment}/{date}")
    history = archive.history("P-101")
    assert history.equipment.photo_count == 6
    assert [i.inspected_on for i in history.inspections] == [date(2023, 5, 14), date(2024, 6, 1)]
    assert sum(len(i.photos) for i in history.inspections) == 6
    with pytest.raises(QueryError, match="P-999"):
        archive.history("P-999")


def test_metadata_csv_attaches_equipment_inspector_and_notes(archive: Archive, photos: Path,
                                                            tmp_path: Path) -> None:
    files = sorted(photos.rglob("*.jpg"))
    csv = tmp_path / "export.csv"
    lines = ["path,equipment_tag,equipment_type,site,inspected_on,inspector,notes,work_order"]
    lines += [f"{f.relative_to(photos)},V-{n % 2},valve,Refinery,2022-03-0{1 + n % 2},Ann,\"seal leak, minor\",WO-{n}"
              for n, f in enumerate(files[:4])]
    lines.append("missing/file.jpg,V-9,valve,Refinery,2022-13-45,Bob,,WO-x")
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = archive.add([photos], metadata=csv)
    assert any("line 6" in e for e in report.metadata_errors), report.metadata_errors
    photo = archive.photo(ids_by_path(archive)[files[0].name])
    facts = (photo.equipment_tag, photo.equipment_type, photo.site, photo.inspector)
    assert facts == ("V-0", "valve", "Refinery", "Ann")
    assert photo.notes == "seal leak, minor" and photo.extra["work_order"] == "WO-0"
    assert archive.history("V-1").equipment.photo_count == 2


def test_a_changed_equipment_type_reaches_filters_without_new_photos(archive: Archive, photos: Path,
                                                                   tmp_path: Path) -> None:
    """Re-adding with a CSV that changes only an equipment's details (no photo's own links) is a change:
    the report counts it, readers see a new generation, and a type filter follows at once."""
    files = sorted(photos.rglob("*.jpg"))[:3]
    csv = tmp_path / "export.csv"

    def add_as(kind: str):
        rows = [f"{f.relative_to(photos)},V-1,{kind}" for f in files]
        csv.write_text("path,equipment_tag,equipment_type\n" + "\n".join(rows) + "\n", encoding="utf-8")
        return archive.add([photos], metadata=csv)

    add_as("valve")
    query = files[0]

    def of_type(kind: str) -> set[int]:
        hits = archive.search(SearchRequest(image=query, top_k=50, filter=SearchFilter(equipment_type=kind)))
        return {h.photo.image_id for h in hits}

    valves = of_type("valve")
    assert len(valves) == 3 and not of_type("pump")
    generation = archive.catalog.generation
    assert add_as("valve").updated_metadata == 0 and archive.catalog.generation == generation  # nothing new
    report = add_as("pump")
    assert report.updated_metadata >= 1 and archive.catalog.generation > generation
    assert of_type("pump") == valves and not of_type("valve")


def test_bad_csv_or_layout_is_refused_before_anything_is_written(archive: Archive, photos: Path,
                                                                 tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("file_name_typo,tag\nx.jpg,A\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="bad.csv"):
        archive.add([photos], metadata=csv)
    with pytest.raises(MetadataError):
        archive.add([photos], layout="{site}/{nonsense}")
    with pytest.raises(InspectorSearchError, match="no such file"):
        archive.add([tmp_path / "nowhere"])
    assert archive.status().photos == 0


def test_cancel_keeps_finished_batches_and_resume_completes(archive_dir: Path, neu_det: Path) -> None:
    progress = Progress()
    events = []

    def on_event(event) -> None:
        events.append(event)
        if event.phase == "indexing" and event.done >= 64:
            progress.cancel()

    progress = Progress(on_event)
    folder = neu_det / "crazing"
    with Archive.open(archive_dir) as archive:
        report = archive.add([folder], progress=progress)
        assert report.cancelled
        kept = archive.status().photos
        assert 64 <= kept < 300
        report = archive.add([folder])
        assert report.added == 300 - kept
        count = archive.catalog.conn.execute("SELECT COUNT(*), COUNT(DISTINCT content_hash) FROM images").fetchone()
        assert tuple(count) == (300, 300)
        assert archive.status().indexed == 300


def test_pca_is_fitted_once_enough_photos_and_index_rebuilt_when_damaged(archive_dir: Path, photos: Path) -> None:
    with Archive.open(archive_dir, policy=SMALL_PCA) as archive:
        archive.add([photos])
        status = archive.status()
        assert status.projection.startswith("PCA") and status.vector_dim == 16
        query = next(photos.rglob("*.jpg"))
        expected = [h.photo.image_id for h in archive.search(SearchRequest(image=query, top_k=5))]
    (archive_dir / INDEX_FILE).write_bytes(b"garbage" * 100)
    with Archive.open(archive_dir, policy=SMALL_PCA) as archive:
        got = [h.photo.image_id for h in archive.search(SearchRequest(image=query, top_k=5))]
        assert got == expected
        assert any("damaged" in m for m in archive.store.messages)
        assert archive.status().indexed == 18


def test_a_reindex_dimension_is_kept_by_later_refits(archive_dir: Path, photos: Path) -> None:
    with Archive.open(archive_dir, policy=SMALL_PCA) as archive:
        archive.add([photos])
        archive.reindex(dim=8)
        assert archive.status().vector_dim == 8
        (archive_dir / "projection.npz").write_bytes(b"damaged")  # forces a refit at the next open
    with Archive.open(archive_dir, policy=SMALL_PCA) as archive:
        archive.warm_up()
        assert archive.status().vector_dim == 8


def test_second_writer_is_refused_with_a_clear_message(archive: Archive, photos: Path) -> None:
    with WriterLock(archive.folder / "lock"), pytest.raises(ArchiveBusyError, match="another Inspector Search"):
        archive.add([photos])


def test_rotation_and_crop_options(archive: Archive, photos: Path, tmp_path: Path) -> None:
    from PIL import Image

    archive.add([photos])
    source = sorted(photos.rglob("*.jpg"))[3]
    turned = tmp_path / "turned.png"
    Image.open(source).rotate(90, expand=True).save(turned)
    plain = archive.search(SearchRequest(image=turned, top_k=1))
    robust = archive.search(SearchRequest(image=turned, top_k=1, rotations=True))
    assert robust[0].photo.path == source
    assert robust[0].score >= plain[0].score
    cropped = archive.search(SearchRequest(image=source, top_k=3, crop=(0.0, 0.0, 0.5, 0.5)))
    assert cropped[0].score < 0.999
    with pytest.raises(QueryError):
        archive.search(SearchRequest(image=source, crop=(0.5, 0.5, 0.2, 0.9)))


def test_search_with_encoded_bytes_and_thumbnail_cache(archive: Archive, photos: Path) -> None:
    archive.add([photos])
    query = next(photos.rglob("*.jpg"))
    hits = archive.search(SearchRequest(image=query.read_bytes(), top_k=1))
    assert hits[0].photo.path == query
    thumb = archive.thumbnail(hits[0].photo.image_id, 128)
    assert thumb.is_file() and thumb.is_relative_to(archive.folder)
    from PIL import Image

    with Image.open(thumb) as image:
        assert max(image.size) == 128


def test_preview_import_writes_nothing(archive_dir: Path, photos: Path) -> None:
    preview = preview_import([photos], layout="{site}/{equipment}/{date}", limit=5)
    assert preview.photo_count == 18 and len(preview.rows) == 5 and preview.matched_metadata == 18
    assert preview.rows[0].metadata["site"] in {"North", "South"}
    assert not archive_dir.exists()


def test_refresh_sees_photos_added_by_another_archive_object(archive_dir: Path, photos: Path) -> None:
    with Archive.open(archive_dir) as reader, Archive.open(archive_dir) as writer:
        reader.warm_up()
        assert reader.status().indexed == 0
        writer.add([photos])
        assert reader.refresh()
        assert reader.status().indexed == 18


def test_database_not_ours_is_refused_and_left_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir()
    conn = sqlite3.connect(folder / "catalog.sqlite")
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    before = (folder / "catalog.sqlite").read_bytes()
    with pytest.raises(InspectorSearchError, match="another program"):
        Archive.open(folder)
    assert (folder / "catalog.sqlite").read_bytes() == before


def test_vectors_stored_in_catalog_are_unit_length(archive: Archive, photos: Path) -> None:
    archive.add([photos])
    ids, vectors = next(archive.catalog.features(archive.extractor.model_id))
    assert len(ids) == 18 and vectors.shape == (18, archive.extractor.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-2)
