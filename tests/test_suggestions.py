"""Suggested labels: nearest labelled neighbours' votes with a calibrated confidence, on synthetic
vectors (where the truth is known exactly) and on a real archive of neu_det photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import NEU_CLASSES, plant_folder

from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchRequest
from inspector_search.core.suggestions import SHOW_FROM, KindModel, calibrate, vote


def clusters(n_per: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 32))
    labels = np.repeat(np.arange(4), n_per)
    vectors = centres[labels] + spread * rng.normal(size=(labels.size, 32))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def test_shown_suggestions_are_right_at_least_as_often_as_promised() -> None:
    vectors, labels = clusters(150, spread=2.0)  # overlapping clusters: some votes go wrong
    train, test = np.arange(0, 600, 2), np.arange(1, 600, 2)
    calibration = calibrate(vectors[train], labels[train], 4)
    assert calibration is not None
    votes = vote(vectors[test], vectors[train], labels[train], 4)
    confidence = calibration.confidence(votes.raw)
    shown = confidence >= SHOW_FROM
    right = votes.winner == labels[test]
    assert 0.2 < shown.mean() < 0.95 and right.mean() < 0.9  # a real trade-off, not a trivial case
    assert right[shown].mean() >= 0.9 > right.mean()


def test_labels_that_do_not_follow_the_pictures_give_no_suggestions() -> None:
    vectors, _labels = clusters(100, spread=0.2)
    random_labels = np.random.default_rng(1).integers(0, 4, size=len(vectors))
    assert calibrate(vectors, random_labels, 4) is None
    model = KindModel.fit("defect", dict(enumerate(random_labels.astype(str).tolist())), dict(enumerate(vectors)))
    assert model.suggest(vectors[:5]) == [None] * 5


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("suggestions")
    photos = plant_folder(root / "photos", per_class=20, classes=NEU_CLASSES[:3])
    with Archive.open(root / "archive") as archive:
        archive.add([photos], layout="{site}/{equipment}/{date}")
    return root / "archive", photos


def truth(archive: Archive) -> dict[int, str]:
    return {i: Path(p).name.rsplit("_", 1)[0] for p, i in
            archive.catalog.conn.execute("SELECT path, image_id FROM files")}


def test_suggestions_for_unlabelled_photos_and_a_query(built: tuple[Path, Path], tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    shutil.copytree(built[0], folder)
    with Archive.open(folder) as archive:
        classes = truth(archive)
        assert archive.suggest_for_photos(sorted(classes)) == {}  # nothing labelled yet
        assert "needs" in archive.suggestion_status()["defect"]
        labelled = [i for c in NEU_CLASSES[:3] for i in sorted(i for i in classes if classes[i] == c)[:12]]
        for image_id in labelled:
            archive.assign_labels([image_id], [("defect", classes[image_id])])
        assert archive.suggestion_status()["defect"].startswith("suggested")
        others = sorted(set(classes) - set(labelled))
        found = archive.suggest_for_photos(sorted(classes))
        assert set(found) <= set(others)  # a photo that has a defect label gets no defect suggestion
        shown = [s for group in found.values() for s in group]
        assert len(shown) >= len(others) // 2 and all(s.confidence >= SHOW_FROM for s in shown)
        assert np.mean([s.value == classes[s.image_id] for s in shown]) >= 0.9
        best = archive.unlabelled_suggestions("defect", limit=5)
        assert len(best) == 5 and [s.confidence for s in best] == sorted((s.confidence for s in best), reverse=True)
        query = archive.photo(others[0]).path
        for_query = archive.suggest_for_query(SearchRequest(image=query))
        assert [(s.kind, s.value) for s in for_query] in ([("defect", classes[others[0]])], [])


def test_label_suggest_command_accepts_and_undo_takes_back(built: tuple[Path, Path], tmp_path: Path) -> None:
    from test_cli import run

    folder = tmp_path / "archive"
    shutil.copytree(built[0], folder)
    with Archive.open(folder) as archive:
        classes = truth(archive)
        for c in NEU_CLASSES[:3]:
            archive.assign_labels(sorted(i for i in classes if classes[i] == c)[:12], [("defect", c)])
    out = json.loads(run("label", "suggest", "--unlabelled", "defect", "--limit", "4", "--json",
                         archive=folder).stdout)
    assert len(out["suggestions"]) == 4 and out["status"]["defect"].startswith("suggested")
    ids = [s["image_id"] for s in out["suggestions"]]
    accepted = run("label", "suggest", *map(str, ids), "--accept", "--who", "me", archive=folder).stdout
    assert "4 label(s) added" in accepted
    with Archive.open(folder) as archive:
        assert all(archive.photo(i).label_values("defect") for i in ids)
        assert archive.label_actions(1)[0].summary == "accept 4 suggested label(s)"
        archive.undo_labels()
        assert not any(archive.photo(i).label_values("defect") for i in ids)
