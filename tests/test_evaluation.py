"""Retrieval metrics on hand-made rankings, leave-one-out evaluation of real photo folders, the
``evaluate`` and ``duplicates`` commands, and duplicate finding on planted copies."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import INSULATORS, NEU_CLASSES, neu_sample, require
from PIL import Image

from inspector_search.core.archive import Archive, evaluate_folder
from inspector_search.core.duplicates import CALIBRATED_FOR_DIM, UnionFind, duplicate_groups
from inspector_search.core.errors import Cancelled, MetadataError, QueryError
from inspector_search.core.evaluation import (
    average_precision,
    folder_labels,
    leave_one_out,
    precision_at_k,
    read_groups,
)
from inspector_search.core.extractor import FeatureExtractor, default_model_manifest
from inspector_search.core.imaging import open_image, preprocess
from inspector_search.core.progress import Progress
from inspector_search.core.query_expansion import DEFAULT_NEIGHBOURS, refined_first
from inspector_search.core.vector_index import VectorIndex
from inspector_search.core.vector_store import ProjectionPolicy


# -- metrics on hand-made rankings ----------------------------------------------------------------------
@pytest.mark.parametrize(("ranking", "total", "expected"), [
    ([1, 0, 1, 0], None, (1 / 1 + 2 / 3) / 2),
    ([0, 1], None, 1 / 2),
    ([1, 1, 1], None, 1.0),
    ([0, 0, 1], None, 1 / 3),
    ([1, 0], 2, 1 / 2),  # the second relevant item was never ranked: it contributes 0
    ([0, 0], None, 0.0),
])
def test_average_precision_of_hand_made_rankings(ranking: list[int], total: int | None, expected: float) -> None:
    assert average_precision(ranking, total) == pytest.approx(expected)


def test_precision_at_k_counts_missing_places_as_misses() -> None:
    ranking = [True, False, True]
    assert [precision_at_k(ranking, k) for k in (1, 2, 3, 10)] == pytest.approx([1.0, 0.5, 2 / 3, 0.2])
    with pytest.raises(ValueError):
        precision_at_k(ranking, 0)


def unit(degrees: list[float]) -> np.ndarray:
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_leave_one_out_on_vectors_with_known_map() -> None:
    # a1 0 deg, a2 10 deg, b1 80 deg, b2 30 deg: b2's nearest are a2, a1, then b1 -> AP 1/3; all others AP 1.
    scores = leave_one_out(unit([0, 10, 80, 30]), np.array([0, 0, 1, 1]))
    assert scores.average_precision.tolist() == pytest.approx([1, 1, 1, 1 / 3])
    assert scores.mean_average_precision == pytest.approx((3 + 1 / 3) / 4)
    assert scores.mean_precision(1) == pytest.approx(3 / 4)
    assert scores.mean_precision(10) == pytest.approx(0.1)


def test_distractors_and_singletons_are_ranked_but_not_scored() -> None:
    # a distractor (-1) at 5 deg sits between a1 and a2; the singleton c (label 2) has nothing relevant.
    scores = leave_one_out(unit([0, 10, 5, 90]), np.array([0, 0, -1, 2]))
    assert scores.queries.tolist() == [0, 1]
    assert scores.average_precision.tolist() == pytest.approx([1 / 2, 1 / 2])


def test_query_expansion_keeps_the_nearest_first_and_can_only_reorder_the_rest() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((4, 16))
    labels = np.repeat(np.arange(4), 25)
    vectors = centres[labels] + 0.9 * rng.standard_normal((100, 16))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    plain = leave_one_out(vectors, labels)
    expanded = leave_one_out(vectors, labels, expansion=10)
    np.testing.assert_array_equal(expanded.precision[1], plain.precision[1])
    assert expanded.mean_average_precision > plain.mean_average_precision  # clusters: expansion helps


def test_the_first_place_goes_to_the_match_whose_full_features_are_nearest() -> None:
    # Projected, the look-alike A (5 deg) is nearest to both q (0) and B (10); the full features
    # (q 0, A 50, B 3 deg) say q and B are the same picture, so each is put first for the other.
    vectors, features, labels = unit([0, 5, 10]), unit([0, 50, 3]), np.array([0, -1, 0])
    assert leave_one_out(vectors, labels, expansion=2).mean_precision(1) == 0.0
    assert leave_one_out(vectors, labels, expansion=2, features=features).mean_precision(1) == 1.0


def test_refined_first_takes_the_best_turn_of_the_query() -> None:
    candidates = unit([40, 95, 180])
    assert refined_first(unit([0]), candidates) == 0
    assert refined_first(unit([0, 90, 180, 270]), candidates) == 2  # the 180-degree turn matches exactly


# -- labels ------------------------------------------------------------------------------------------------
def test_labels_from_class_subfolders_and_groups_file(tmp_path: Path) -> None:
    files = [tmp_path / "a" / "1.jpg", tmp_path / "a" / "deeper" / "2.jpg", tmp_path / "loose.jpg"]
    assert folder_labels(tmp_path, files) == {files[0]: "a", files[1]: "a"}
    groups = tmp_path / "groups.csv"
    groups.write_text("path;group\na/1.jpg;P-101\n\n" + f"{files[2]};P-101\n", encoding="utf-8")
    assert read_groups(groups, tmp_path) == {files[0]: "P-101", files[2]: "P-101"}
    groups.write_text("path,group\na/1.jpg\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="line 2"):
        read_groups(groups, tmp_path)


# -- evaluation of real photos -------------------------------------------------------------------------
def labelled_folder(target: Path, per_class: int = 6, classes: tuple[str, ...] = NEU_CLASSES[:3]) -> Path:
    """neu_det photos in class subfolders, plus a byte-identical copy of the first one."""
    for source in neu_sample(per_class, classes):
        (target / source.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.parent.name / source.name)
    first = sorted((target / classes[0]).iterdir())[0]
    shutil.copy2(first, target / classes[0] / "zz_copy.jpg")
    return target


def independent_map(folder: Path, expansion: int) -> float:
    """The evaluation recomputed without the archive: embed, round to float16 as the catalog stores,
    L2-normalise (fewer than 200 photos: no PCA), rank with the metric code."""
    paths = sorted(p for p in folder.rglob("*.jpg") if p.name != "zz_copy.jpg")
    extractor = FeatureExtractor(default_model_manifest())
    pixels = np.stack([preprocess(open_image(p, min_side=224)[0], extractor.spec) for p in paths])
    features = extractor.embed(pixels).astype(np.float16).astype(np.float32)
    vectors = features / np.linalg.norm(features, axis=1, keepdims=True)
    names = sorted({p.parent.name for p in paths})
    labels = np.array([names.index(p.parent.name) for p in paths])
    return leave_one_out(vectors, labels, expansion=expansion).mean_average_precision


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return labelled_folder(tmp_path_factory.mktemp("labelled"))


def test_evaluate_folder_scores_each_photo_once_and_matches_a_recomputation(small_set: Path) -> None:
    report = evaluate_folder(small_set)
    assert (report.photos, report.queries, report.distractors) == (18, 18, 0)
    assert [p.name for p in report.dropped_duplicates] == ["zz_copy.jpg"]
    assert [c.name for c in report.per_class] == list(NEU_CLASSES[:3])
    assert all(c.photos == 6 for c in report.per_class)
    assert report.mean_average_precision == pytest.approx(independent_map(small_set, DEFAULT_NEIGHBOURS), abs=1e-6)
    assert 0.0 < report.mean_average_precision <= 1.0 and report.precision_at_1 >= 0.5
    plain = evaluate_folder(small_set, expansion=0)
    assert plain.mean_average_precision == pytest.approx(independent_map(small_set, 0), abs=1e-6)
    assert plain.precision_at_1 == report.precision_at_1  # no PCA under 200 photos: the nearest stays first
    kept = evaluate_folder(small_set, keep_duplicates=True)
    assert (kept.photos, kept.dropped_duplicates) == (19, ())


def test_evaluate_with_groups_treats_other_photos_as_distractors(small_set: Path, tmp_path: Path) -> None:
    crazing = sorted((small_set / "crazing").glob("crazing_*.jpg"))
    groups = tmp_path / "groups.csv"
    groups.write_text("path,group\n" + "".join(f"{p.relative_to(small_set)},G\n" for p in crazing[:4]),
                      encoding="utf-8")
    report = evaluate_folder(small_set, groups=groups, expansion=0)
    assert (report.queries, report.distractors, [c.name for c in report.per_class]) == (4, 14, ["G"])


def test_evaluate_refuses_a_folder_without_shared_labels(tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="not a folder"):
        evaluate_folder(tmp_path / "missing")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not a photo")
    with pytest.raises(QueryError, match="no photo in it could be read"):
        evaluate_folder(tmp_path)
    shutil.copy2(neu_sample(1)[0], tmp_path / "one.jpg")
    with pytest.raises(QueryError, match="no two photos share a label"):
        evaluate_folder(tmp_path)


def test_a_cancelled_evaluation_reports_nothing(small_set: Path) -> None:
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        evaluate_folder(small_set, progress=progress)


def run_cli(*args: str, archive: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_SEARCH_ARCHIVE"}
    return subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(archive), *args],
                          capture_output=True, text=True, env=env, timeout=600, check=True)


def test_cli_evaluate_prints_what_the_benchmark_computes(small_set: Path, tmp_path: Path) -> None:
    user_archive = tmp_path / "never-created"
    out = json.loads(run_cli("evaluate", str(small_set), "--json", archive=user_archive).stdout)
    assert {"mAP", "P@1", "P@10", "per_class"} <= set(out)
    report = evaluate_folder(small_set)  # what benchmarks/quality.py prints as "ours"
    assert out["mAP"] == report.mean_average_precision and out["P@10"] == report.precision_at_10
    assert out["per_class"]["crazing"]["photos"] == 6 and len(out["per_class"]) == 3
    assert not user_archive.exists()  # evaluate builds a temporary archive only
    text = run_cli("evaluate", str(small_set), archive=user_archive).stdout
    assert f"mAP {report.mean_average_precision:.3f}" in text and "zz_copy.jpg" in text


# -- duplicates ------------------------------------------------------------------------------------------
def test_union_find_merges_chains_and_keeps_the_weakest_link() -> None:
    sets = UnionFind()
    sets.union(1, 2, 0.99)
    sets.union(3, 2, 0.95)
    sets.union(7, 8, 0.97)
    sets.union(1, 3, 0.98)  # already together: the group's weakest pair stays 0.95
    assert sets.groups() == [([1, 2, 3], 0.95), ([7, 8], 0.97)]
    assert sets.find(42) == 42


def test_duplicate_groups_use_radius_queries_on_an_index() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    near = vectors[[10, 20]] + 0.05 * rng.standard_normal((2, 32)).astype(np.float32)
    vectors = np.concatenate([vectors, near / np.linalg.norm(near, axis=1, keepdims=True)])
    ids = np.arange(1000, 1000 + len(vectors))
    index = VectorIndex(32)
    index.add(ids, vectors)
    groups = duplicate_groups(ids, vectors, index.radius_query, 0.95)
    assert [g for g, _ in groups] == [[1010, 1500], [1020, 1501]]
    assert all(0.95 <= s <= 1.0 for _, s in groups)
    with pytest.raises(ValueError):
        duplicate_groups(ids, vectors, index.radius_query, 1.5)


def resaved(path: Path, quality: int, scale: float = 1.0) -> bytes:
    image = Image.open(path).convert("RGB")
    if scale != 1.0:
        image = image.resize((math.floor(image.width * scale), math.floor(image.height * scale)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_duplicates_finds_planted_resaved_and_resized_copies(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in neu_sample(4):  # 24 steel photos: four of each class look very much alike
        shutil.copy2(source, photos / source.name)
    originals = sorted(require(INSULATORS).glob("*.jpg"))[:3]
    for source in originals:
        shutil.copy2(source, photos / source.name)
    (photos / "resaved.jpg").write_bytes(resaved(originals[0], 70))
    (photos / "resized.jpg").write_bytes(resaved(originals[0], 90, scale=0.5))
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([photos])
        groups = archive.duplicates()
        assert [sorted(p.path.name for p in g.photos) for g in groups] == [
            sorted([originals[0].name, "resaved.jpg", "resized.jpg"])]
        assert groups[0].similarity >= archive.default_duplicate_threshold()
        with pytest.raises(QueryError):
            archive.duplicates(0.0)
    out = json.loads(run_cli("duplicates", "--json", archive=tmp_path / "archive").stdout)
    assert [len(g["photos"]) for g in out["groups"]] == [3]


def test_duplicate_threshold_was_calibrated_for_the_projection_in_use() -> None:
    # Fewer PCA dimensions make different photos look more alike: re-run benchmarks/quality.py and
    # recalibrate duplicates.DEFAULT_THRESHOLD (docs/quality.md) when ProjectionPolicy.dim changes.
    assert ProjectionPolicy().dim == CALIBRATED_FOR_DIM
