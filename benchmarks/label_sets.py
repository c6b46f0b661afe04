"""Labelled archives for the label benchmarks (suggestions, learned ranking, feedback, clusters).

Each data set is added once, through the real ``Archive.add`` (the app's model, PCA and index), to
``benchmarks/results/cache/labels/<name>/`` and read back as stored features, searchable vectors
and class labels:

- ``neu_det``: 6 steel-surface defect classes x 300 (one of the byte-identical pair dropped);
- ``deeppcb``: the DeepPCB tested images (defective boards), labelled by board group (4 groups);
  the templates are left out (each is nearly its tested image: class retrieval would be trivial).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector_search.core.archive import Archive

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
CACHE = ROOT / "benchmarks" / "results" / "cache" / "labels"


@dataclass(frozen=True)
class LabelledSet:
    """One data set in an archive: ``ids`` photo ids, ``features`` stored raw features, ``vectors``
    the searchable (PCA) vectors, ``labels`` class numbers, ``names`` class names; rows aligned."""

    name: str
    archive: Path
    ids: np.ndarray
    features: np.ndarray
    vectors: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]


def _photos(name: str) -> dict[Path, str]:
    if name == "neu_det":
        root = DATASETS / "neu_det"
        dropped = {root.parent / line.split(" == ")[1].strip()
                   for line in (root / "exact_duplicates.txt").read_text().splitlines() if " == " in line}
        return {p: p.parent.name for p in sorted(root.glob("*/*.jpg")) if p not in dropped}
    if name == "deeppcb":
        root = DATASETS / "deeppcb_pairs"
        return {p: p.parent.name for p in sorted(root.glob("*/*_test.jpg"))}
    raise ValueError(f"unknown data set {name!r}")


def load(name: str) -> LabelledSet:
    """The data set's archive (built on first use, a few minutes) with its vectors and labels."""
    photos = _photos(name)
    if not photos:
        raise SystemExit(f"data set {name} is absent under {DATASETS}")
    folder = CACHE / name
    with Archive.open(folder) as archive:
        if archive.catalog.counts()["photos"] < len(photos):
            archive.add(sorted({p.parent for p in photos}))
        by_path = {Path(p): i for p, i in archive.catalog.conn.execute(
            "SELECT path, image_id FROM files WHERE deleted = 0")}
        ids, features = archive.vectors(raw=True)
        vector_ids, vectors = archive.vectors()
    assert np.array_equal(ids, vector_ids)
    names = tuple(sorted(set(photos.values())))
    label_of = {by_path[p]: names.index(c) for p, c in photos.items() if p in by_path}
    keep = np.array([i in label_of for i in ids.tolist()])
    ids, features, vectors = ids[keep], features[keep], vectors[keep]
    labels = np.array([label_of[i] for i in ids.tolist()], dtype=np.int64)
    return LabelledSet(name, folder, ids, features, vectors, labels, names)


if __name__ == "__main__":
    import sys
    import time

    for set_name in sys.argv[1:] or ["neu_det", "deeppcb"]:
        started = time.perf_counter()
        data = load(set_name)
        print(f"{set_name}: {len(data.ids)} photos, {len(data.names)} classes, {data.vectors.shape[1]}-d vectors "
              f"({time.perf_counter() - started:.0f} s)")
