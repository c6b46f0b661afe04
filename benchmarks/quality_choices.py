"""Every retrieval choice tried to raise quality (issue 3), measured on the same two tests: neu_det
leave-one-out mAP/P@1/P@10 and near-duplicate P@1 per re-shoot transformation (insulators among the
originals plus the neu_det photos as distractors). The numbers behind ``docs/quality.md``.

Choices: pooling (average, GeM p = 2, 3, 4: exported with torch into a temporary folder), multi-scale
features (the L2-normalised features at scales 1 and 1/sqrt(2), or 1 and sqrt(2), averaged), power
normalisation of the features, PCA dimension, PCA whitening with shrinkage, database-side
augmentation (DBA), alpha-query expansion (with and without keeping the plain nearest photo first),
and re-ranking of the top 100 by mutual neighbours. Each row changes one thing from the row it names.

Features are stored as float16 first, as the catalog does, and the projection is fitted as the
archive fits it (neu_det alone for the neu_det test; originals + neu_det for the near-duplicate test).

Run from the project root (about 10 minutes on 2 cores; ``--no-export`` skips the pooling variants)::

    python benchmarks/quality_choices.py [--threads 2] [--repeats 3] [--no-export] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from quality_sets import NEU_DET, ROOT, class_folder_photos, embed_sources, insulator_photos, reshot_queries
from reshoot import TRANSFORMATIONS

from inspector_search.core.evaluation import leave_one_out
from inspector_search.core.extractor import FeatureExtractor, default_model_manifest, l2_normalise
from inspector_search.core.imaging import PreprocessSpec
from inspector_search.core.projection import Projection
from inspector_search.core.query_expansion import DEFAULT_ALPHA, DEFAULT_NEIGHBOURS, refined_first
from inspector_search.core.vector_store import ProjectionPolicy

SEED = 0


@dataclass(frozen=True)
class Features:
    """Raw features (float16-rounded) of the neu_det photos, the insulator originals and the queries."""

    neu: np.ndarray
    originals: np.ndarray
    queries: dict[str, np.ndarray]
    seconds: float = 0.0


APP = ProjectionPolicy()


@dataclass(frozen=True)
class Choice:
    """One way of turning raw features into rankings; the defaults are the app's settings."""

    power: float = APP.power
    dim: int = APP.dim
    whiten: float | None = None
    expansion: int = DEFAULT_NEIGHBOURS
    alpha: float = DEFAULT_ALPHA
    pinned: bool = True
    refined: bool = False  # the pinned first re-picked by full features (query_expansion.refined_first)
    dba: tuple[int, float] | None = None
    mutual: tuple[int, float] | None = None
    extra: dict = field(default_factory=dict)


# -- features --------------------------------------------------------------------------------------------
class ScaledExtractor(FeatureExtractor):
    """The extractor fed at ``scale`` times its nominal input size (the graph takes any H and W)."""

    def __init__(self, manifest: Path, scale: float, threads: int) -> None:
        super().__init__(manifest, threads=threads)
        self._scale = scale

    @property
    def spec(self) -> PreprocessSpec:
        base = super().spec
        return replace(base, input_size=tuple(round(s * self._scale) for s in base.input_size))


def compute_features(manifest: Path, scale: float, threads: int, neu: list[Path], originals: list[Path],
                     queries: dict[str, list[tuple[bytes, int]]]) -> Features:
    """Embed everything once with one model at one scale."""
    extractor = ScaledExtractor(manifest, scale, threads)
    start = time.perf_counter()
    stored = lambda sources: embed_sources(extractor, sources).astype(np.float16).astype(np.float32)  # noqa: E731
    neu_features = stored(neu)
    took = (time.perf_counter() - start) / len(neu)
    return Features(neu_features, stored(originals),
                    {name: stored([data for data, _ in items]) for name, items in queries.items()}, took)


def averaged(sets: list[Features]) -> Features:
    """Multi-scale: the L2-normalised features of several scales averaged (and normalised again)."""
    mix = lambda arrays: l2_normalise(sum(l2_normalise(a) for a in arrays))  # noqa: E731
    return Features(mix([s.neu for s in sets]), mix([s.originals for s in sets]),
                    {n: mix([s.queries[n] for s in sets]) for n in sets[0].queries}, sum(s.seconds for s in sets))


# -- rankings ----------------------------------------------------------------------------------------------
class Neighbourhood:
    """Each database row's nearest other rows (computed once), for DBA and mutual-neighbour re-ranking."""

    def __init__(self, database: np.ndarray, k: int = 32) -> None:
        sims = database @ database.T
        np.fill_diagonal(sims, -np.inf)
        self.database = database
        self.nearest = np.argsort(-sims, axis=1)[:, :k]
        self.similarities = np.take_along_axis(sims, self.nearest, axis=1)

    def augmented(self, k: int, alpha: float, skip: int | None = None) -> np.ndarray:
        """DBA: each row plus its k-1 nearest rows weighted by similarity ** alpha (``skip``: a row that
        must not be used -- the held-out query)."""
        keep = self.nearest != skip if skip is not None else np.ones_like(self.nearest, dtype=bool)
        first = np.argsort(~keep, axis=1, kind="stable")[:, : k - 1]
        chosen = np.take_along_axis(self.nearest, first, axis=1)
        weights = np.maximum(np.take_along_axis(self.similarities, first, axis=1), 0) ** alpha
        return l2_normalise(self.database + np.einsum("nk,nkd->nd", weights, self.database[chosen]))

    def mutual_boost(self, query_sims: np.ndarray, k: int, weight: float, top: int = 100) -> np.ndarray:
        """Re-rank the top candidates: + ``weight`` for each candidate that has the query among its k
        nearest rows (the query competing with the other rows)."""
        kth = self.similarities[:, k - 1]
        boosted = query_sims.copy()
        candidates = np.argsort(-query_sims, axis=1)[:, :top]
        rows = np.arange(len(query_sims))[:, None]
        boosted[rows, candidates] += weight * (query_sims[rows, candidates] > kth[candidates])
        return boosted


def neu_scores(vectors: np.ndarray, labels: np.ndarray, choice: Choice, raw: np.ndarray) -> dict[str, float]:
    """Leave-one-out figures on neu_det for one choice."""
    if choice.dba is None and choice.mutual is None and (choice.pinned or not choice.expansion):
        scores = leave_one_out(vectors, labels, expansion=choice.expansion, alpha=choice.alpha,
                               features=raw if choice.refined else None)
        return {"mAP": scores.mean_average_precision, "P@1": scores.mean_precision(1),
                "P@10": scores.mean_precision(10)}
    graph = Neighbourhood(vectors)
    aps, p1, p10 = [], [], []
    for row in range(len(vectors)):
        sims = ranked_similarities(vectors[row : row + 1], graph, choice, held_out=row)[0]
        order = np.argsort(-sims, kind="stable")[:-1]
        relevant = labels[order] == labels[row]
        hits = np.cumsum(relevant)
        aps.append(float(np.sum(hits[relevant] / (np.flatnonzero(relevant) + 1)) / hits[-1]))
        p1.append(float(relevant[0]))
        p10.append(float(relevant[:10].mean()))
    return {"mAP": float(np.mean(aps)), "P@1": float(np.mean(p1)), "P@10": float(np.mean(p10))}


def ranked_similarities(queries: np.ndarray, graph: Neighbourhood, choice: Choice,
                        held_out: int | None = None, raw: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Scores that order the database for each query under ``choice`` (``held_out``: the query's own
    row in the database, left out everywhere; ``raw``: the raw features of the queries and the
    database, for ``choice.refined``)."""
    base = graph.augmented(*choice.dba, skip=held_out) if choice.dba else graph.database
    sims = queries @ base.T
    if held_out is not None:
        sims[:, held_out] = -np.inf
    if choice.expansion:
        nearest = np.argsort(-sims, axis=1)[:, : choice.expansion]
        weights = np.maximum(np.take_along_axis(sims, nearest, axis=1), 0) ** choice.alpha
        expanded = l2_normalise(queries + np.einsum("nk,nkd->nd", weights, base[nearest]))
        plain_first = nearest[:, 0]
        if choice.refined and raw is not None:
            plain_first = np.array([near[refined_first(raw[0][n : n + 1], raw[1][near])]
                                    for n, near in enumerate(nearest)])
        sims = expanded @ base.T
        if held_out is not None:
            sims[:, held_out] = -np.inf
        if choice.pinned:
            sims[np.arange(len(sims)), plain_first] = np.inf
    if choice.mutual:
        sims = graph.mutual_boost(sims, *choice.mutual)
    return sims


def near_duplicate_scores(features: Features, choice: Choice, targets: dict[str, np.ndarray]) -> dict[str, float]:
    """P@1 per transformation, the projection fitted on neu_det + originals (the archive's photos)."""
    database_raw = np.concatenate([features.neu, features.originals])
    projection = Projection.fit(database_raw, dim=choice.dim, whiten_shrinkage=choice.whiten, power=choice.power)
    graph = Neighbourhood(projection.transform(database_raw))
    result = {}
    for name, raw in features.queries.items():
        sims = ranked_similarities(projection.transform(raw), graph, choice, raw=(raw, database_raw))
        result[name] = float(np.mean(np.argmax(sims, axis=1) == len(features.neu) + targets[name]))
    return result


def evaluate_choice(features: Features, labels: np.ndarray, choice: Choice, targets: dict) -> dict[str, float]:
    """neu_det and near-duplicate figures of one choice."""
    projection = Projection.fit(features.neu, dim=choice.dim, whiten_shrinkage=choice.whiten, power=choice.power)
    row = neu_scores(projection.transform(features.neu), labels, choice, features.neu)
    row.update(near_duplicate_scores(features, choice, targets))
    row["ms/photo"] = 1000 * features.seconds
    return row


# -- the table ----------------------------------------------------------------------------------------------
CHOICES: dict[str, tuple[str, Choice]] = {
    "before: GeM p=3, PCA-256, cosine": ("gem3", Choice(power=1.0, dim=256, expansion=0)),
    "+ power 0.5 (sqrt)": ("gem3", Choice(power=0.5, dim=256, expansion=0)),
    "+ power 0.3": ("gem3", Choice(power=0.3, dim=256, expansion=0)),
    "+ power 0.7": ("gem3", Choice(power=0.7, dim=256, expansion=0)),
    "+ sqrt, PCA-64": ("gem3", Choice(power=0.5, dim=64, expansion=0)),
    "+ sqrt, PCA-128": ("gem3", Choice(power=0.5, dim=128, expansion=0)),
    "+ sqrt, PCA-192": ("gem3", Choice(power=0.5, dim=192, expansion=0)),
    "+ sqrt, PCA-512": ("gem3", Choice(power=0.5, dim=512, expansion=0)),
    "+ sqrt, whitening shrinkage 0": ("gem3", Choice(power=0.5, dim=256, whiten=0.0, expansion=0)),
    "+ sqrt, whitening shrinkage 1": ("gem3", Choice(power=0.5, dim=256, whiten=1.0, expansion=0)),
    "+ sqrt, whitening shrinkage 10": ("gem3", Choice(power=0.5, dim=256, whiten=10.0, expansion=0)),
    "+ sqrt, whitening shrinkage 100": ("gem3", Choice(power=0.5, dim=256, whiten=100.0, expansion=0)),
    "+ sqrt, average pooling": ("avg", Choice(power=0.5, dim=256, expansion=0)),
    "+ sqrt, GeM p=2": ("gem2", Choice(power=0.5, dim=256, expansion=0)),
    "+ sqrt, GeM p=4": ("gem4", Choice(power=0.5, dim=256, expansion=0)),
    "+ sqrt, scales 1 + 1/sqrt(2)": ("gem3 ms0.707", Choice(power=0.5, dim=256, expansion=0)),
    "+ sqrt, scales 1 + sqrt(2)": ("gem3 ms1.414", Choice(power=0.5, dim=256, expansion=0)),
    "+ sqrt, DBA k=5 alpha=3": ("gem3", Choice(power=0.5, dim=256, expansion=0, dba=(5, 3.0))),
    "+ sqrt, DBA k=10 alpha=10": ("gem3", Choice(power=0.5, dim=256, expansion=0, dba=(10, 10.0))),
    "+ sqrt, mutual-neighbour re-ranking k=20": ("gem3", Choice(power=0.5, dim=256, expansion=0, mutual=(20, 0.1))),
    "+ sqrt, alpha-QE k=20 (nearest not kept first)": ("gem3", Choice(power=0.5, dim=256, pinned=False)),
    "+ sqrt, QE k=5, nearest first": ("gem3", Choice(power=0.5, dim=256, expansion=5)),
    "+ sqrt, QE k=10, nearest first": ("gem3", Choice(power=0.5, dim=256, expansion=10)),
    "+ sqrt, QE k=20 alpha=0, nearest first": ("gem3", Choice(power=0.5, dim=256, expansion=20, alpha=0.0)),
    "+ sqrt, QE k=20 alpha=1, nearest first": ("gem3", Choice(power=0.5, dim=256, expansion=20, alpha=1.0)),
    "+ sqrt, QE k=20 alpha=3, nearest first": ("gem3", Choice(power=0.5, dim=256, expansion=20, alpha=3.0)),
    "+ sqrt, QE k=30, nearest first": ("gem3", Choice(power=0.5, dim=256, expansion=30)),
    "+ sqrt, PCA-512, QE k=20, nearest first": ("gem3", Choice(power=0.5, dim=512, expansion=20)),
    "+ sqrt, scales 1 + 1/sqrt(2), QE k=20": ("gem3 ms0.707", Choice(power=0.5, dim=256, expansion=20)),
    "+ sqrt, GeM p=2, QE k=20 (re-exported model)": ("gem2", Choice(power=0.5, dim=256, expansion=20)),
    "+ sqrt, average pooling, QE k=20": ("avg", Choice(power=0.5, dim=256, expansion=20)),
    "+ sqrt, PCA-128, QE k=20, nearest first": ("gem3", Choice()),
    f"the app now: power {APP.power:g}, PCA-{APP.dim}, QE k={DEFAULT_NEIGHBOURS} alpha={DEFAULT_ALPHA:g}, re-picked": (
        "gem3", Choice(refined=True)),
    "the app now, with a GeM p=2 model": ("gem2", Choice(refined=True)),
}


def export_variant(folder: Path, name: str, *options: str) -> Path:
    """Export the shipped backbone with another pooling head into ``folder`` (needs torch)."""
    command = [sys.executable, str(ROOT / "models" / "export.py"), "mobilenetv2", *options, "--name", name,
               "--out", str(folder)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder / f"{name}.json"


def feature_sets(args: argparse.Namespace, tmp: Path, neu: list[Path], originals: list[Path],
                 queries: dict) -> dict[str, Features]:
    """Features of every model/scale variant the table needs."""
    embed = lambda manifest, scale=1.0: compute_features(  # noqa: E731
        manifest, scale, args.threads, neu, originals, queries)
    shipped = embed(default_model_manifest())
    sets = {"gem3": shipped,
            "gem3 ms0.707": averaged([shipped, embed(default_model_manifest(), 2 ** -0.5)]),
            "gem3 ms1.414": averaged([shipped, embed(default_model_manifest(), 2 ** 0.5)])}
    if not args.no_export:
        sets["avg"] = embed(export_variant(tmp, "mnv2_avg", "--pooling", "avg"))
        sets["gem2"] = embed(export_variant(tmp, "mnv2_gem2", "--gem-p", "2"))
        sets["gem4"] = embed(export_variant(tmp, "mnv2_gem4", "--gem-p", "4"))
    return sets


def main() -> int:
    """Print the table of choices."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    parser.add_argument("--no-export", action="store_true", help="skip the pooling variants (they need torch)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="re-shots per photo and transformation (default 3: 300 queries each)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the table as JSON")
    args = parser.parse_args()
    photos = class_folder_photos(NEU_DET)
    originals = insulator_photos()
    queries = reshot_queries(originals, SEED, args.repeats)
    targets = {name: np.array([i for _, i in items]) for name, items in queries.items()}
    with tempfile.TemporaryDirectory(prefix="quality-choices-") as tmp:
        sets = feature_sets(args, Path(tmp), photos.paths, originals, queries)
    short = ["crop", "rot10", "light", "scale", "jpeg", "comb."]
    print(f"{'choice':<58} {'mAP':>6} {'P@1':>6} {'P@10':>6}  " + " ".join(f"{s:>6}" for s in short)
          + f" {'ms/photo':>8}")
    table = {}
    for label, (variant, choice) in CHOICES.items():
        if variant not in sets:
            continue
        row = table[label] = evaluate_choice(sets[variant], photos.labels, choice, targets)
        print(f"{label:<58} {row['mAP']:>6.3f} {row['P@1']:>6.3f} {row['P@10']:>6.3f}  "
              + " ".join(f"{row[n]:>6.3f}" for n in TRANSFORMATIONS) + f" {row['ms/photo']:>8.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(table, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
