"""Labels improve search: the map learned from defect labels re-ranks searches; unlabelled archives
and labels that do not help rank as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import NEU_CLASSES, plant_folder

from inspector_search.core import archive_learning
from inspector_search.core.archive import Archive
from inspector_search.core.learned_ranking import fit_learned_map
from inspector_search.core.records import SearchRequest

CLASSES = (NEU_CLASSES[1], NEU_CLASSES[3], NEU_CLASSES[4], NEU_CLASSES[5])  # inclusion and pits: the hard ones


def test_labels_the_vectors_do_not_follow_are_left_alone() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(240, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for _ in range(3):  # shuffled labels do not beat what chance gives shuffled labels
        assert fit_learned_map(vectors, rng.integers(0, 3, 240)) is None
    assert fit_learned_map(vectors[:4], np.array([0, 0, 1, 1])) is None  # too few per class
    labels = np.repeat(np.arange(3), 20)
    offsets = np.zeros((3, 24), np.float32)
    offsets[:, :2] = [[1.0, 0.0], [-0.5, 0.87], [-0.5, -0.87]]  # the classes differ in 2 of 24 directions only
    informative = rng.normal(size=(60, 24)).astype(np.float32) + 1.5 * offsets[labels]
    informative /= np.linalg.norm(informative, axis=1, keepdims=True)
    fitted = fit_learned_map(informative, labels)
    assert fitted is not None and fitted.weight > 0 and fitted.matrix.shape == (24, 24)


def mean_ap(archive: Archive, classes: dict[int, str], queries: list[int], learned: bool) -> float:
    aps = []
    for query in queries:
        hits = archive.search(SearchRequest(image=archive.photo(query).path, top_k=len(classes), learned=learned))
        relevant = np.array([classes[h.photo.image_id] == classes[query] for h in hits if h.photo.image_id != query])
        aps.append((np.cumsum(relevant) / np.arange(1, relevant.size + 1))[relevant].mean())
    return float(np.mean(aps))


def test_defect_labels_teach_the_ranking_and_undo_takes_it_back(tmp_path: Path, monkeypatch) -> None:
    photos = plant_folder(tmp_path / "photos", per_class=15, classes=CLASSES)
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([photos])
        ids = {Path(p).name: i for p, i in archive.catalog.conn.execute("SELECT path, image_id FROM files")}
        classes = {i: name.rsplit("_", 1)[0] for name, i in ids.items()}
        query = archive.photo(min(classes)).path
        assert archive.learned_map() is None and "off" in archive.learned_ranking_status()
        plain = archive.search(SearchRequest(image=query, top_k=20))
        assert plain == archive.search(SearchRequest(image=query, top_k=20, learned=False))

        labelled = [i for c in CLASSES for i in sorted(i for i in classes if classes[i] == c)[:6]]
        for image_id in labelled:
            archive.assign_labels([image_id], [("defect", classes[image_id])])
        fitted = archive.learned_map()
        assert fitted is not None and fitted.classes == 4 and fitted.photos == 24
        assert archive.learned_ranking_status().startswith("on: learned from 24 photos")
        queries = sorted(set(classes) - set(labelled))  # never among the labelled photos
        before, after = mean_ap(archive, classes, queries, False), mean_ap(archive, classes, queries, True)
        assert after > before + 0.05, (before, after)
        hits = archive.search(SearchRequest(image=query, top_k=20))
        assert hits[0].photo.path == query and hits[0].score == pytest.approx(1.0, abs=1e-3)
        with Archive.open(tmp_path / "archive") as again:  # another process: the stored map, not a new fit
            monkeypatch.setattr(archive_learning, "fit_learned_map", lambda *a, **k: pytest.fail("fitted again"))
            reloaded = again.learned_map()
            assert reloaded is not None and np.allclose(reloaded.matrix, fitted.matrix)
            assert again.search(SearchRequest(image=query, top_k=20)) == hits
        monkeypatch.undo()

        for _ in labelled:
            archive.undo_labels()
        assert archive.learned_map() is None
        assert archive.search(SearchRequest(image=query, top_k=20)) == plain
