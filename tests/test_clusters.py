"""Clusters: MiniBatchKMeans on the stored vectors, stored in the catalog, extended by add, whole
clusters labelled; on synthetic vectors and a real archive."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import NEU_CLASSES, neu_sample, plant_folder

from inspector_search.core.archive import Archive
from inspector_search.core.clustering import cluster_vectors, default_k
from inspector_search.core.errors import Cancelled, QueryError
from inspector_search.core.progress import Progress


def test_separated_groups_are_found_and_progress_is_reported() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16))
    truth = np.repeat(np.arange(5), 900)
    vectors = centres[truth] + 0.1 * rng.normal(size=(truth.size, 16))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    events = []
    result = cluster_vectors(vectors, 5, Progress(events.append))
    pairs = {(t, a) for t, a in zip(truth.tolist(), result.assignment.tolist(), strict=True)}
    assert len(pairs) == 5 and len({a for _t, a in pairs}) == 5  # each group is exactly one cluster
    assert np.all(result.similarity > 0.9)
    assert events[-1].done == events[-1].total and len(events) > 3
    assert default_k(1800) == 30 and default_k(10) == 2 and default_k(10**6) == 100


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("clusters")
    photos = plant_folder(root / "photos", per_class=10, classes=(NEU_CLASSES[0], NEU_CLASSES[3], NEU_CLASSES[5]))
    with Archive.open(root / "archive") as archive:
        archive.add([photos], layout="{site}/{equipment}/{date}")
    return root / "archive", photos


def test_clusters_are_stored_extended_by_add_and_kept_when_a_run_is_cancelled(built, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    shutil.copytree(built[0], folder)
    with Archive.open(folder) as archive:
        assert archive.clusters().clusters == ()
        report = archive.compute_clusters(3)
        assert report.k == 3 and report.photos == 30 and not report.stale
        assert [s.size for s in report.clusters] == sorted((s.size for s in report.clusters), reverse=True)
        purity = sum(max(np.unique([p.equipment_tag for p in archive.photos(archive.cluster_photos(s.cluster))],
                                   return_counts=True)[1]) for s in report.clusters) / 30
        assert purity >= 0.8
        first = report.clusters[0]
        assert len(first.typical) == 6 and {p.image_id for p in first.typical} <= set(archive.cluster_photos(1))
        before = dict(archive.catalog.conn.execute("SELECT image_id, cluster FROM cluster_members").fetchall())

        progress = Progress()
        progress.cancel()
        with pytest.raises(Cancelled):
            archive.compute_clusters(5, progress)
        assert dict(archive.catalog.conn.execute("SELECT image_id, cluster FROM cluster_members").fetchall()) == before

        extra = tmp_path / "more"
        extra.mkdir()
        for src in neu_sample(12, (NEU_CLASSES[5],))[10:]:
            shutil.copy2(src, extra / src.name)
        archive.add([extra])
        members = dict(archive.catalog.conn.execute("SELECT image_id, cluster FROM cluster_members").fetchall())
        assert len(members) == 32
        new = sorted(set(members) - set(before))
        scratches = [i for i, c in before.items() if archive.photo(i).equipment_tag == "P-103"]
        usual = np.bincount([before[i] for i in scratches]).argmax()
        assert [members[i] for i in new] == [usual, usual]  # the new scratches joined the scratches' cluster
        with pytest.raises(QueryError, match="no cluster 99"):
            archive.cluster_photos(99)


def test_clusters_command_and_labelling_a_whole_cluster(built, tmp_path: Path) -> None:
    from test_cli import run

    folder = tmp_path / "archive"
    shutil.copytree(built[0], folder)
    out = json.loads(run("clusters", "--k", "3", "--typical", "2", "--json", archive=folder).stdout)
    assert out["k"] == 3 and sum(c["size"] for c in out["clusters"]) == 30
    assert all(len(c["typical"]) == 2 for c in out["clusters"])
    size = out["clusters"][0]["size"]
    labelled = run("label", "assign", "--cluster", "1", "--defect", "scratch", archive=folder).stdout
    assert f"{size} label(s) added" in labelled
    again = json.loads(run("clusters", "--json", archive=folder).stdout)  # stored: not recomputed
    assert again["computed_at"] == out["computed_at"]
    assert again["clusters"][0]["labels"] == [{"kind": "defect", "value": "scratch", "photos": size}]
    assert "cluster   1:" in run("clusters", archive=folder).stdout
