"""VectorCopy: the quantised second copy of the index's vectors used by exact filtered scans."""

from __future__ import annotations

import numpy as np
import pytest

from inspector_search.core.vector_copy import VectorCopy, quantise

DIM = 24


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_quantised_scores_stay_within_each_rows_error_bound() -> None:
    rng = np.random.default_rng(6)
    data = unit(rng, 2000) * np.linspace(1.0, 0.05, DIM, dtype=np.float32)  # a PCA-like decaying spectrum
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    rows = quantise(data)
    assert rows.codes.dtype == np.int8 and np.abs(rows.codes).max(axis=1).min() == 127  # each row's peak -> 127
    back = rows.codes * rows.scale[:, np.newaxis]
    np.testing.assert_allclose(np.linalg.norm(data - back, axis=1), rows.error, atol=2e-5)
    queries = unit(rng, 50)
    deviation = np.abs(queries @ back.T - queries @ data.T)
    assert np.all(deviation <= rows.error) and np.all(rows.error < 0.03)
    assert deviation.max() > rows.error.min() / 10  # the bound is not vacuous either
    zero = quantise(np.zeros((1, DIM), dtype=np.float32))
    assert zero.scale[0] == 1.0 and not zero.codes.any()


def test_scores_follow_puts_replacements_and_drops() -> None:
    rng = np.random.default_rng(7)
    data = unit(rng, 500)
    copy = VectorCopy(DIM)
    copy.put(np.arange(100, 600), data)  # ids only growing
    copy.put(np.array([50, 7]), data[:2])  # ids below the others: merged in order
    copy.put(np.array([300]), data[3:4])  # replacement keeps its row
    query = unit(rng, 1)
    ids = np.array([7, 50, 100, 300, 599])
    expected = query @ np.stack([data[1], data[0], data[0], data[3], data[499]]).T
    np.testing.assert_allclose(copy.scores(query, ids), expected, atol=0.03)
    assert len(copy) == 502 and copy.dead_rows == 0
    copy.drop(np.arange(100, 600, 2))
    assert len(copy) == 252 and copy.dead_rows == 250
    np.testing.assert_allclose(copy.scores(query, np.array([7, 101, 599])),
                               query @ data[[1, 1, 499]].T, atol=0.03)


def test_dropping_most_rows_compacts_the_buffer() -> None:
    rng = np.random.default_rng(8)
    data = unit(rng, 5000)
    copy = VectorCopy(DIM)
    copy.put(np.arange(5000), data)
    copy.drop(np.arange(0, 4000))
    assert len(copy) == 1000 and copy.dead_rows == 0
    assert copy.nbytes < 5000 * DIM
    np.testing.assert_allclose(copy.scores(data[:1], np.array([4500])), data[:1] @ data[4500:4501].T, atol=0.03)


def test_from_rows_checks_labels_against_the_live_ids() -> None:
    rows = quantise(unit(np.random.default_rng(9), 4))
    copy = VectorCopy.from_rows(DIM, np.array([30, 10, 20, 40]), rows, np.array([10, 30]))
    assert len(copy) == 2 and copy.dead_rows == 2
    with pytest.raises(ValueError, match="no stored vector"):
        VectorCopy.from_rows(DIM, np.array([30, 10, 20, 40]), rows, np.array([10, 35]))
    with pytest.raises(ValueError, match="twice"):
        VectorCopy.from_rows(DIM, np.array([30, 10, 30, 40]), rows, np.array([10]))


def test_sparse_ids_are_found_without_the_dense_table() -> None:
    """Ids far apart (not SQLite row ids) give up the id -> row table; lookups stay right."""
    rng = np.random.default_rng(10)
    data = unit(rng, 6)
    copy = VectorCopy(DIM)
    copy.put(np.array([1, 2, 3]), data[:3])
    assert copy.rows_of(np.array([3, 2, 4, -1])).tolist()[:2] == [2, 1]
    copy.put(np.array([2**40, 7, 2**41]), data[3:])
    assert (copy.rows_of(np.array([2**41, 7, 5, 2**40])) >= 0).tolist() == [True, True, False, True]
    np.testing.assert_allclose(copy.scores(data[:1], np.array([7, 2**41])), data[:1] @ data[[4, 5]].T, atol=0.03)
    copy.drop(np.array([7, 2**40]))
    assert (copy.rows_of(np.array([1, 7, 2**40, 2**41])) >= 0).tolist() == [True, False, False, True]
