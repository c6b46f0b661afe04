"""What labels and marked results do for search, on the labelled shared data sets.

Sections (numbers and what they mean: ``docs/quality.md``, "Labels"):

- ``feedback``: mAP after one round of "more / less like this": each neu_det photo is searched
  (leave-one-out, the app's ranking with query expansion), its 3 best results are marked like or
  unlike by their true class, and the refined query (``core.feedback.rocchio``) is ranked again.

Run from the project root (archives are built once and cached, see ``label_sets.py``)::

    python benchmarks/labels.py [--sections feedback] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

import numpy as np
from label_sets import LabelledSet, load

from inspector_search.core.clustering import cluster_vectors, default_k
from inspector_search.core.feedback import rocchio
from inspector_search.core.learned_ranking import fit_learned_map
from inspector_search.core.query_expansion import DEFAULT_NEIGHBOURS, expanded_queries, refined_first
from inspector_search.core.suggestions import SHOW_FROM, KindModel, calibrate, vote

CHUNK = 256


def app_similarities(data: LabelledSet, queries: np.ndarray, rows: np.ndarray,
                     expansion: int = DEFAULT_NEIGHBOURS) -> np.ndarray:
    """Scores ordering the archive for each query vector as the app's search does (exact instead of
    hnswlib): the query photo itself last (-inf), query expansion over the ``expansion`` best, the
    best raw-feature match among them pinned first (+inf)."""
    vectors = data.vectors
    sims = queries @ vectors.T
    sims[np.arange(rows.size), rows] = -np.inf
    if expansion <= 0:
        return sims
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :expansion]
    expanded = expanded_queries(queries, vectors[nearest], np.take_along_axis(sims, nearest, axis=1)) @ vectors.T
    first = np.array([near[refined_first(data.features[row:row + 1], data.features[near])]
                      for row, near in zip(rows, nearest, strict=True)])
    expanded[np.arange(rows.size), first] = np.inf
    expanded[np.arange(rows.size), rows] = -np.inf
    return expanded


def ranking_scores(sims: np.ndarray, labels: np.ndarray, rows: np.ndarray,
                   relevant_labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(average precision, precision@10) of each row's ranking (the query itself dropped)."""
    order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]
    wanted = labels[rows] if relevant_labels is None else relevant_labels
    relevant = labels[order] == wanted[:, None]
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    aps = np.where(relevant, hits / ranks, 0.0).sum(axis=1) / np.maximum(hits[:, -1], 1)
    return aps, relevant[:, :10].mean(axis=1)


def feedback(data: LabelledSet, marked: int = 3, errors_first: bool = False) -> dict[str, float]:
    """mAP and P@10 before and after one round of marking the ``marked`` best results, or with
    ``errors_first`` the first wrong results among the best 20 (then the best right ones)."""
    before, after, p10_before, p10_after = [], [], [], []
    for start in range(0, len(data.ids), CHUNK):
        rows = np.arange(start, min(start + CHUNK, len(data.ids)))
        sims = app_similarities(data, data.vectors[rows], rows)
        aps, p10 = ranking_scores(sims, data.labels, rows)
        before.append(aps)
        p10_before.append(p10)
        top = np.argsort(-sims, axis=1, kind="stable")[:, :20 if errors_first else marked]
        if errors_first:
            wrong = data.labels[top] != data.labels[rows][:, None]
            top = np.stack([np.concatenate([t[w], t[~w]])[:marked] for t, w in zip(top, wrong, strict=True)])
        refined = np.stack([
            rocchio(data.vectors[row:row + 1], data.vectors[t[data.labels[t] == data.labels[row]]],
                    data.vectors[t[data.labels[t] != data.labels[row]]])[0]
            for row, t in zip(rows, top, strict=True)])
        aps, p10 = ranking_scores(app_similarities(data, refined, rows), data.labels, rows)
        after.append(aps)
        p10_after.append(p10)
    return {"mAP before": float(np.concatenate(before).mean()), "mAP after": float(np.concatenate(after).mean()),
            "P@10 before": float(np.concatenate(p10_before).mean()),
            "P@10 after": float(np.concatenate(p10_after).mean())}


def suggestions(data: LabelledSet, visible_share: float = 0.5, seed: int = 0) -> dict[str, object]:
    """Suggested labels for the photos whose labels are hidden: calibrated on the visible ones
    (leave-one-out, as the app does), then accuracy and coverage on the hidden ones, at the app's
    threshold and at other confidence thresholds."""
    rng = np.random.default_rng(seed)
    visible = np.zeros(len(data.ids), dtype=bool)
    for label in np.unique(data.labels):  # the same share of every class
        rows = np.flatnonzero(data.labels == label)
        visible[rng.choice(rows, max(1, round(visible_share * rows.size)), replace=False)] = True
    started = time.perf_counter()
    model = KindModel("defect", data.ids[visible], data.vectors[visible], data.labels[visible],
                      tuple(data.names), calibrate(data.vectors[visible], data.labels[visible], len(data.names)))
    fitted = time.perf_counter() - started
    hidden = ~visible
    votes = vote(data.vectors[hidden], model.vectors, model.values, len(data.names))
    started = time.perf_counter()
    model.suggest(data.vectors[hidden][:200])
    per_query_ms = (time.perf_counter() - started) / 200 * 1000
    right = votes.winner == data.labels[hidden]
    table = []
    if model.calibration is not None:
        confidence = model.calibration.confidence(votes.raw)
        for threshold in (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98):
            shown = confidence >= threshold
            table.append({"threshold": threshold, "coverage": float(shown.mean()),
                          "accuracy": float(right[shown].mean()) if shown.any() else None})
    return {"visible": int(visible.sum()), "hidden": int(hidden.sum()), "calibrated": model.calibration is not None,
            "nearest-vote accuracy": float(right.mean()), "table": table, "fit seconds": fitted,
            "ms per suggestion": per_query_ms}


def print_suggestions(name: str, figures: dict[str, object]) -> None:
    print(f"\n{name}: labels of {figures['visible']} photos visible, {figures['hidden']} hidden; "
          f"calibration {figures['fit seconds']:.2f} s, {figures['ms per suggestion']:.2f} ms per photo")
    if not figures["calibrated"]:
        print("  too few labels: no suggestions shown")
    print(f"  {'confidence >=':>14} {'coverage':>9} {'accuracy':>9}")
    for row in figures["table"]:
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        marker = "  <- shown in the app" if row["threshold"] == SHOW_FROM else ""
        print(f"  {row['threshold']:>14.2f} {row['coverage']:>9.3f} {accuracy:>9}{marker}")


def clusters_quality(data: LabelledSet) -> dict[str, float]:
    """How well clusters follow the classes: purity and NMI at k = classes and at the default k."""
    from sklearn.metrics import normalized_mutual_info_score

    figures = {}
    for k in (len(data.names), default_k(len(data.ids))):
        result = cluster_vectors(data.vectors, k)
        purity = sum(np.bincount(data.labels[result.assignment == c]).max()
                     for c in np.unique(result.assignment)) / len(data.ids)
        figures[f"k={k} purity"] = float(purity)
        figures[f"k={k} NMI"] = float(normalized_mutual_info_score(data.labels, result.assignment))
    return figures


def clusters_speed(size: int, dim: int = 128, seed: int = 0) -> dict[str, float]:
    """Seconds to cluster ``size`` synthetic unit vectors (1,000 Gaussian blobs) at the default k."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    vectors = np.empty((size, dim), dtype=np.float32)
    for start in range(0, size, 100_000):
        part = centres[rng.integers(0, 1000, min(100_000, size - start))]
        vectors[start:start + len(part)] = part + rng.normal(scale=0.6, size=part.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    cpu = time.process_time()
    cluster_vectors(vectors, default_k(size))
    return {"photos": size, "k": default_k(size), "seconds": time.perf_counter() - started,
            "cpu seconds": time.process_time() - cpu}


def _mean_ap(data: LabelledSet, vectors: np.ndarray, rows: np.ndarray) -> float:
    mapped = replace(data, vectors=vectors.astype(np.float32))
    aps = [ranking_scores(app_similarities(mapped, mapped.vectors[rows[s:s + CHUNK]], rows[s:s + CHUNK]),
                          data.labels, rows[s:s + CHUNK])[0] for s in range(0, len(rows), CHUNK)]
    return float(np.concatenate(aps).mean())


def _labelled_rows(data: LabelledSet, per_class: int, seed: int, skip_class: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(data.ids), dtype=bool)
    for label in np.unique(data.labels):
        rows = np.flatnonzero(data.labels == label)
        if label != skip_class:
            chosen[rng.choice(rows, per_class, replace=False)] = True
    return chosen


def learned(data: LabelledSet, seeds: tuple[int, ...] = (0, 1, 2)) -> list[dict[str, object]]:
    """mAP of the photos never labelled, today's ranking against the learned map, with 5, 10, 20
    labelled photos per class (random, per seed); the app's ranking (expansion) in both."""
    rows_out = []
    smallest = int(np.bincount(data.labels).min())
    for per_class in [n for n in (5, 10, 20) if 2 * n <= smallest]:
        for seed in seeds:
            chosen = _labelled_rows(data, per_class, seed)
            started = time.perf_counter()
            fitted = fit_learned_map(data.vectors[chosen], data.labels[chosen], seed)
            seconds = time.perf_counter() - started
            queries = np.flatnonzero(~chosen)
            base = _mean_ap(data, data.vectors, queries)
            after = base if fitted is None else _mean_ap(data, fitted.apply(data.vectors), queries)
            rows_out.append({"per class": per_class, "seed": seed, "mAP today": base, "mAP learned": after,
                             "weight": 0.0 if fitted is None else fitted.weight, "fit seconds": seconds})
    return rows_out


def learned_unseen_class(data: LabelledSet, per_class: int = 20, seed: int = 0) -> list[dict[str, object]]:
    """Generalisation: labels on every class but one; mAP of the left-out class's photos (relevant:
    the same class), today against the map learned without that class."""
    out = []
    for held in range(len(data.names)):
        chosen = _labelled_rows(data, per_class, seed, skip_class=held)
        fitted = fit_learned_map(data.vectors[chosen], data.labels[chosen], seed)
        queries = np.flatnonzero(data.labels == held)
        base = _mean_ap(data, data.vectors, queries)
        after = base if fitted is None else _mean_ap(data, fitted.apply(data.vectors), queries)
        out.append({"class": data.names[held], "mAP today": base, "mAP learned": after,
                    "weight": 0.0 if fitted is None else fitted.weight})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="feedback,suggestions,clusters,learned",
                        help="comma-separated: feedback, suggestions, clusters, learned")
    parser.add_argument("--cluster-sizes", type=lambda t: [int(float(x)) for x in t.split(",")],
                        default=[100_000, 1_000_000], help="synthetic archive sizes timed for clustering")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    sections = args.sections.split(",")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results: dict[str, object] = {}
    neu = load("neu_det")
    if "feedback" in sections:
        started = time.perf_counter()
        for data in (neu, load("deeppcb")):
            for errors_first in (False, True):
                figures = feedback(data, errors_first=errors_first)
                how = "the first wrong ones among the best 20" if errors_first else "the 3 best results"
                results[f"feedback {data.name} {'errors' if errors_first else 'top'}"] = figures
                print(f"\n{data.name}, one round of feedback, 3 marked: {how} ({time.perf_counter() - started:.0f} s)")
                print("  " + "   ".join(f"{key} {value:.3f}" for key, value in figures.items()))
    if "suggestions" in sections:
        for data in (neu, load("deeppcb")):
            for share in (0.5, 0.1):
                figures = suggestions(data, share)
                results[f"suggestions {data.name} {share}"] = figures
                print_suggestions(f"{data.name}, {share:.0%} of labels visible", figures)
    if "clusters" in sections:
        for data in (neu, load("deeppcb")):
            figures = clusters_quality(data)
            results[f"clusters {data.name}"] = figures
            print(f"\n{data.name} clusters against classes: " + "   ".join(f"{k} {v:.3f}" for k, v in figures.items()))
        for size in args.cluster_sizes:
            figures = clusters_speed(size)
            results[f"clusters speed {size}"] = figures
            print(f"clustering {size:,} vectors (k={figures['k']}): {figures['seconds']:.1f} s wall, "
                  f"{figures['cpu seconds']:.1f} s CPU")
    if "learned" in sections:
        for data in (neu, load("deeppcb")):
            rows = learned(data)
            results[f"learned {data.name}"] = rows
            print(f"\n{data.name}: learned map, photos never labelled as queries (seeds 0-2)")
            for row in rows:
                print(f"  {row['per class']:3} per class, seed {row['seed']}: today {row['mAP today']:.3f}  learned "
                      f"{row['mAP learned']:.3f}  (w = {row['weight']:g}, fit {row['fit seconds']:.2f} s)")
        for per_class in (5, 20):
            rows = learned_unseen_class(neu, per_class)
            results[f"learned unseen class neu_det {per_class}"] = rows
            print(f"\nneu_det, one class left out of the labels ({per_class} per labelled class): its mAP")
            for row in rows:
                print(f"  {row['class']:16} today {row['mAP today']:.3f}  learned {row['mAP learned']:.3f}  "
                      f"(w = {row['weight']:g})")
            print(f"  {'mean':16} today {np.mean([r['mAP today'] for r in rows]):.3f}  learned "
                  f"{np.mean([r['mAP learned'] for r in rows]):.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
