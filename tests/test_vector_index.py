"""VectorIndex against real hnswlib and real files: ids, replacement, filters, radius, persistence."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

from inspector_search.core import atomic, vector_index
from inspector_search.core.errors import IndexFileError
from inspector_search.core.vector_index import MAGIC, VectorIndex

DIM = 32


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng: np.random.Generator, centres: int, per: int, noise: float, dim: int = DIM) -> np.ndarray:
    """``centres * per`` unit vectors, row i belonging to cluster i // per."""
    c = unit(rng, centres, dim)
    x = np.repeat(c, per, axis=0) + noise * rng.standard_normal((centres * per, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(data: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    sims = data[ids] @ (query / np.linalg.norm(query))
    order = np.argsort(-sims, kind="stable")[:k]
    return [(int(ids[i]), float(sims[i])) for i in order]


def only_ids(rows: list[list[tuple[int, float]]]) -> list[list[int]]:
    return [[i for i, _ in row] for row in rows]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def filled(rng: np.random.Generator) -> tuple[VectorIndex, np.ndarray]:
    data = clustered(rng, centres=250, per=20, noise=0.3)
    index = VectorIndex(DIM)
    index.add(np.arange(len(data), dtype=np.int64), data)
    return index, data


# ---------------------------------------------------------------------- add / query / remove


def test_query_returns_self_first_with_similarity_one(rng: np.random.Generator) -> None:
    data = unit(rng, 500)
    index = VectorIndex(DIM)
    index.add(np.arange(1000, 1500), data)
    results = index.query(data[:20], k=5)
    assert len(results) == 20
    for row, pairs in enumerate(results):
        assert len(pairs) == 5
        assert pairs[0][0] == 1000 + row
        assert pairs[0][1] == pytest.approx(1.0, abs=1e-5)
        sims = [s for _, s in pairs]
        assert sims == sorted(sims, reverse=True)
        assert all(isinstance(i, int) and isinstance(s, float) for i, s in pairs)
    assert index.query(data[3], k=1) == [[(1003, pytest.approx(1.0, abs=1e-5))]]


def test_readding_an_id_replaces_its_vector(rng: np.random.Generator) -> None:
    data = unit(rng, 50)
    index = VectorIndex(DIM)
    index.add(np.arange(50), data)
    new = unit(rng, 1)[0]
    index.add(np.array([7]), new)
    assert len(index) == 50
    top = index.query(new, k=1)[0][0]
    assert top == (7, pytest.approx(1.0, abs=1e-5))
    old_hits = dict(index.query(data[7], k=50)[0])
    assert old_hits[7] == pytest.approx(float(data[7] @ new), abs=1e-5)


def test_last_vector_wins_for_an_id_repeated_in_one_batch(rng: np.random.Generator) -> None:
    a, b = unit(rng, 2)
    index = VectorIndex(DIM)
    index.add(np.array([5, 5]), np.stack([a, b]))
    assert len(index) == 1
    assert index.query(b, k=1) == [[(5, pytest.approx(1.0, abs=1e-5))]]


def test_remove_excludes_id_and_ignores_unknown_ids(rng: np.random.Generator) -> None:
    data = unit(rng, 100)
    index = VectorIndex(DIM)
    index.add(np.arange(100), data)
    index.remove(np.array([10, 11, 12345, -3]))
    assert len(index) == 98
    assert 10 not in index and 11 not in index and 12 in index
    assert "x" not in index and 2**70 not in index
    assert 10 not in index.ids() and index.ids().tolist() == sorted(set(range(100)) - {10, 11})
    for pairs in index.query(data[10:12], k=98):
        assert len(pairs) == 98
        assert {10, 11}.isdisjoint(i for i, _ in pairs)
    assert index.deleted_count == 2
    index.remove([10])  # removing twice is harmless
    index.add(np.array([10]), data[10])  # and a removed id can come back
    assert 10 in index and index.query(data[10], k=1)[0][0][0] == 10


def test_capacity_grows_past_initial_capacity(rng: np.random.Generator) -> None:
    data = unit(rng, 300)
    index = VectorIndex(DIM, capacity=8)
    for start in range(0, 300, 7):
        index.add(np.arange(start, min(start + 7, 300)), data[start : start + 7])
    assert len(index) == 300
    assert index.capacity >= 300
    assert [row[0][0] for row in index.query(data, k=1)] == list(range(300))


def test_k_larger_than_count_is_clamped(rng: np.random.Generator) -> None:
    data = unit(rng, 5)
    index = VectorIndex(DIM)
    index.add(np.arange(5), data)
    pairs = index.query(data[0], k=50)[0]
    assert sorted(i for i, _ in pairs) == [0, 1, 2, 3, 4]
    assert [s for _, s in pairs] == sorted((s for _, s in pairs), reverse=True)
    index.remove([0, 1])
    assert sorted(i for i, _ in index.query(data[0], k=50)[0]) == [2, 3, 4]


def test_empty_index_returns_empty_lists(rng: np.random.Generator) -> None:
    index = VectorIndex(DIM)
    queries = unit(rng, 3)
    assert len(index) == 0 and index.ids().size == 0
    assert index.query(queries, k=10) == [[], [], []]
    assert index.query(queries[0], k=10, allowed=np.array([1, 2])) == [[]]
    assert index.radius_query(queries, 0.5) == [[], [], []]
    index.add(np.arange(3), queries)
    index.remove(np.arange(3))
    assert index.query(queries, k=10) == [[], [], []]


def test_invalid_arguments_raise_value_error(rng: np.random.Generator) -> None:
    index = VectorIndex(DIM)
    with pytest.raises(ValueError, match="shape"):
        index.add(np.arange(2), unit(rng, 2, DIM + 1))
    with pytest.raises(ValueError, match="2 ids but 3 vectors"):
        index.add(np.arange(2), unit(rng, 3))
    with pytest.raises(ValueError, match=">= 0"):
        index.add(np.array([-1]), unit(rng, 1))
    with pytest.raises(ValueError, match="NaN"):
        index.add(np.array([1]), np.full((1, DIM), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="integers"):
        index.add(np.array([1.5]), unit(rng, 1))
    index.add(np.arange(3), unit(rng, 3))
    with pytest.raises(ValueError, match="shape"):
        index.query(np.zeros(DIM + 1, dtype=np.float32), k=1)
    with pytest.raises(ValueError, match="k must be"):
        index.query(unit(rng, 1), k=0)
    with pytest.raises(ValueError):
        index.set_ef(0)
    with pytest.raises(ValueError):
        VectorIndex(0)


# ---------------------------------------------------------------------- filtered queries


def _forbid(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(f"{method} must not be used on this path")

    monkeypatch.setattr(VectorIndex, method, fail)


@pytest.mark.parametrize("path", ["exact", "hnswlib_filter"])
def test_filtered_query_matches_brute_force(
    filled: tuple[VectorIndex, np.ndarray], rng: np.random.Generator, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, data = filled
    n = len(data)
    allowed = rng.choice(n, size=n // 100, replace=False)  # a 1 % metadata filter
    removed = allowed[:3]
    index.remove(removed)
    live_allowed = np.setdiff1d(allowed, removed)
    if path == "exact":
        index.exact_threshold = 10_000
        _forbid(monkeypatch, "_knn")
    else:
        index.exact_threshold = 0
        _forbid(monkeypatch, "_exact")
    queries = np.concatenate([data[rng.choice(n, 15, replace=False)], unit(rng, 5)])
    with_strangers = np.concatenate([allowed, [n + 5, n + 99]])  # ids not in the index are ignored
    results = index.query(queries, k=10, allowed=with_strangers)
    for query, pairs in zip(queries, results, strict=True):
        expected = brute_force(data, live_allowed, query, 10)
        assert [i for i, _ in pairs] == [i for i, _ in expected]
        np.testing.assert_allclose([s for _, s in pairs], [s for _, s in expected], atol=1e-5)


@pytest.mark.parametrize("threshold", [10_000, 0])
def test_tight_filter_returns_every_allowed_id(filled: tuple[VectorIndex, np.ndarray], threshold: int) -> None:
    index, data = filled
    index.exact_threshold = threshold
    allowed = np.array([3, 1717, 4242])
    results = index.query(data[:4], k=10, allowed=allowed)
    assert [sorted(row) for row in only_ids(results)] == [[3, 1717, 4242]] * 4
    assert index.query(data[:2], k=10, allowed=np.array([], dtype=np.int64)) == [[], []]


def test_broad_filter_uses_hnswlib_and_respects_the_filter(
    filled: tuple[VectorIndex, np.ndarray], rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, data = filled
    _forbid(monkeypatch, "_exact")
    allowed = rng.choice(len(data), size=int(len(data) * 0.6), replace=False)  # complement-set filter
    queries = data[rng.choice(len(data), 20, replace=False)]
    results = index.query(queries, k=10, allowed=allowed)
    allowed_set = set(allowed.tolist())
    hits = 0
    for query, pairs in zip(queries, results, strict=True):
        assert len(pairs) == 10 and {i for i, _ in pairs} <= allowed_set
        hits += len({i for i, _ in pairs} & {i for i, _ in brute_force(data, np.sort(allowed), query, 10)})
    assert hits / 200 >= 0.9


def test_hnswlib_shortfall_retries_then_falls_back_to_exact(filled: tuple[VectorIndex, np.ndarray]) -> None:
    index, data = filled
    index.exact_threshold = 0

    class ShortHnsw:
        """Delegates to the real hnswlib index, but knn_query fails as hnswlib does when it finds < k."""

        def __init__(self, real: object) -> None:
            self.real = real
            self.efs: list[int] = []

        def knn_query(self, *_args: object, **_kwargs: object) -> None:
            self.efs.append(self.real.ef)  # type: ignore[attr-defined]
            raise RuntimeError("Cannot return the results in a contiguous 2D array")

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

    short = ShortHnsw(index._index)
    index._index = short  # type: ignore[assignment]
    allowed = np.arange(0, 5000, 50)  # 2 %: below the post-filter's share, above exact_threshold = 0
    pairs = index.query(data[0], k=10, allowed=allowed)[0]
    expected = brute_force(data, allowed, data[0], 10)
    assert [i for i, _ in pairs] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in pairs], [s for _, s in expected], atol=1e-5)
    assert len(short.efs) >= 2 and all(b == 4 * a for a, b in zip(short.efs, short.efs[1:], strict=False))
    assert short.real.ef == index.ef_search  # type: ignore[attr-defined]  # ef is restored


def test_similarities_are_what_a_search_reports(filled: tuple[VectorIndex, np.ndarray]) -> None:
    index, data = filled
    found = index.query(data[:3], k=5)
    for row, pairs in enumerate(found):
        ids = np.array([i for i, _ in pairs])
        np.testing.assert_allclose(index.similarities(data[row], ids)[0], [s for _, s in pairs], atol=1e-5)
    assert index.similarities(data[:2], np.array([], dtype=np.int64)).shape == (2, 0)
    index.remove(np.array([7]))
    with pytest.raises(ValueError, match="id 7 is not in the index"):
        index.similarities(data[0], np.array([3, 7]))


# ---------------------------------------------------------------------- radius query


def test_radius_query_finds_all_planted_near_duplicates(rng: np.random.Generator) -> None:
    dim = 64
    centres = unit(rng, 200, dim)
    sizes = rng.integers(1, 6, size=200)
    sizes[17] = 40  # one big group, so k has to grow past its first step
    members = [centres[c] + 0.01 * rng.standard_normal((s, dim)).astype(np.float32) for c, s in enumerate(sizes)]
    group = np.repeat(np.arange(200), sizes)
    data = np.concatenate(members)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = VectorIndex(dim)
    index.add(np.arange(len(data)), data)
    results = index.radius_query(data, min_similarity=0.9)
    for row, pairs in enumerate(results):
        found = {i for i, _ in pairs}
        assert found == set(np.flatnonzero(group == group[row]).tolist())
        assert all(s >= 0.9 for _, s in pairs)
    capped = index.radius_query(data[group == 17][:1], min_similarity=0.9, max_results=10)[0]
    assert len(capped) == 10


# ---------------------------------------------------------------------- persistence


def test_save_load_round_trip(filled: tuple[VectorIndex, np.ndarray], tmp_path: Path) -> None:
    index, data = filled
    index.remove(np.arange(0, 100, 3))
    path = tmp_path / "index.hnsw"
    index.save(path)
    assert path.read_bytes().startswith(MAGIC)
    loaded = VectorIndex.load(path, DIM, ef_search=80)
    assert loaded.ef_search == 80 and loaded.m == index.m and loaded.dim == DIM
    assert len(loaded) == len(index) and np.array_equal(loaded.ids(), index.ids())
    assert 3 not in loaded and 4 in loaded
    queries = data[:50]
    assert only_ids(loaded.query(queries, k=10)) == only_ids(index.query(queries, k=10))
    allowed = np.arange(0, 5000, 50)
    assert loaded.query(queries, k=5, allowed=allowed) == index.query(queries, k=5, allowed=allowed)
    loaded.add(np.arange(5000, 5000 + loaded.capacity), unit(np.random.default_rng(0), loaded.capacity))
    assert len(loaded) == len(index) + index.capacity
    assert [p.name for p in tmp_path.iterdir()] == ["index.hnsw"]


def test_empty_index_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "index.hnsw"
    VectorIndex(DIM).save(path)
    loaded = VectorIndex.load(path, DIM)
    assert len(loaded) == 0 and loaded.query(np.ones(DIM, dtype=np.float32), k=3) == [[]]


def _saved(tmp_path: Path, rng: np.random.Generator) -> Path:
    index = VectorIndex(DIM)
    index.add(np.arange(300), unit(rng, 300))
    path = tmp_path / "index.hnsw"
    index.save(path)
    return path


def _header_end(raw: bytes) -> int:
    return raw.index(b"\n", len(MAGIC)) + 1


def _rewrite_header(raw: bytes, **changes: object) -> bytes:
    end = _header_end(raw)
    header = json.loads(raw[len(MAGIC) : end])
    header.update(changes)
    return MAGIC + json.dumps(header).encode() + b"\n" + raw[end:]


DAMAGE = {
    "empty": lambda raw: b"",
    "garbage": lambda raw: np.random.default_rng(5).bytes(len(raw)),
    "wrong_magic": lambda raw: b"ISIDX9\n" + raw[len(MAGIC) :],
    "raw_hnswlib_file": lambda raw: raw[_header_end(raw) + 300 * 8 :],
    "cut_in_header": lambda raw: raw[: len(MAGIC) + 20],
    "cut_in_ids": lambda raw: raw[: _header_end(raw) + 100],
    "cut_in_payload": lambda raw: raw[: len(raw) // 2],
    "cut_last_byte": lambda raw: raw[:-1],
    "trailing_bytes": lambda raw: raw + b"\0",
    "flipped_payload_byte": lambda raw: raw[:-500] + bytes([raw[-500] ^ 0xFF]) + raw[-499:],
    "header_not_json": lambda raw: MAGIC + b"{oops\n" + raw[_header_end(raw) :],
    "header_newer_version": lambda raw: _rewrite_header(raw, format_version=2),
    "header_lies_about_count": lambda raw: _rewrite_header(raw, count=299, ids_bytes=299 * 8),
    "header_lies_about_capacity": lambda raw: _rewrite_header(raw, max_elements=10**12),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_file_raises_index_file_error(tmp_path: Path, rng: np.random.Generator, damage: str) -> None:
    path = _saved(tmp_path, rng)
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    with pytest.raises(IndexFileError) as info:
        VectorIndex.load(path, DIM)
    assert info.value.path == path and info.value.reason
    assert [p.name for p in tmp_path.iterdir()] == ["index.hnsw"]  # no scratch file left behind


def test_missing_file_and_dimension_mismatch(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(IndexFileError, match="missing"):
        VectorIndex.load(tmp_path / "nope.hnsw", DIM)
    path = _saved(tmp_path, rng)
    with pytest.raises(IndexFileError, match=f"dimension {DIM}, expected {DIM * 2}"):
        VectorIndex.load(path, DIM * 2)
    with pytest.raises(IndexFileError, match="newer version"):
        path.write_bytes(_rewrite_header(path.read_bytes(), format_version=99))
        VectorIndex.load(path, DIM)


@pytest.mark.parametrize("failure", ["replace", "copy"])
def test_failed_save_keeps_old_file_and_leaves_no_temp_files(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    path = _saved(tmp_path, rng)
    before = path.read_bytes()
    bigger = VectorIndex(DIM)
    bigger.add(np.arange(500), unit(rng, 500))

    def boom(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    if failure == "replace":
        monkeypatch.setattr(atomic.os, "replace", boom)
    else:
        monkeypatch.setattr(vector_index.shutil, "copyfileobj", boom)
    with pytest.raises(OSError, match="disk full"):
        bigger.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["index.hnsw"]
    monkeypatch.undo()
    bigger.save(path)
    assert len(VectorIndex.load(path, DIM)) == 500


def test_save_notices_a_short_hnswlib_payload(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hnswlib's save_index reports nothing when the disk is full; save must not publish the stub."""
    path = _saved(tmp_path, rng)
    before = path.read_bytes()
    index = VectorIndex.load(path, DIM)
    real_save = index._index.save_index

    class DiskFull:
        def __getattr__(self, name: str) -> object:
            return getattr(real_index, name)

        def save_index(self, target: str) -> None:
            real_save(target)
            with open(target, "r+b") as handle:
                handle.truncate(5000)

    real_index = index._index
    index._index = DiskFull()  # type: ignore[assignment]
    with pytest.raises(OSError, match="incomplete index"):
        index.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["index.hnsw"]
    with pytest.raises(OSError):
        VectorIndex(DIM).save(tmp_path / "no such folder" / "index.hnsw")


def test_concurrent_queries_agree(filled: tuple[VectorIndex, np.ndarray]) -> None:
    index, data = filled
    index.exact_threshold = 0
    allowed = np.arange(0, 5000, 3)
    expected = index.query(data[:30], k=5, allowed=allowed)
    outcomes: list[object] = []

    def worker() -> None:
        for _ in range(5):
            outcomes.append(index.query(data[:30], k=5, allowed=allowed) == expected)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [True] * 20


# ---------------------------------------------------------------------- filtered paths and the vector copy


def test_broad_filter_is_applied_after_an_unfiltered_search(
    filled: tuple[VectorIndex, np.ndarray], rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter keeping >= 5 % is applied to an unfiltered search: no exact scan, no Python callback."""
    index, data = filled
    _forbid(monkeypatch, "_exact")
    _forbid(monkeypatch, "_membership_test")
    allowed = np.sort(rng.choice(len(data), size=len(data) // 10, replace=False))
    queries = data[allowed[:20]]
    results = index.query(queries, k=10, allowed=allowed)
    hits = 0
    for query, pairs in zip(queries, results, strict=True):
        assert len(pairs) == 10 and set(only_ids([pairs])[0]) <= set(allowed.tolist())
        assert [s for _, s in pairs] == sorted((s for _, s in pairs), reverse=True)
        hits += len(set(only_ids([pairs])[0]) & {i for i, _ in brute_force(data, allowed, query, 10)})
    assert hits / 200 >= 0.95


def test_filter_at_odds_with_the_query_falls_back_from_the_post_filter(
    filled: tuple[VectorIndex, np.ndarray],
) -> None:
    """When the unfiltered neighbours hold fewer than k allowed ids, an exact scan answers instead."""
    index, data = filled
    allowed = np.arange(2500, 5000)  # clusters 125-249; the query sits in cluster 0
    pairs = index.query(data[0], k=10, allowed=allowed)[0]
    expected = brute_force(data, allowed, data[0], 10)
    assert [i for i, _ in pairs] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in pairs], [s for _, s in expected], atol=1e-5)


def test_exact_scan_after_load_add_and_remove(tmp_path: Path, rng: np.random.Generator) -> None:
    """The compact copy is rebuilt from the file and kept in step by later adds, replacements, removals."""
    data = clustered(rng, centres=100, per=20, noise=0.3)
    index = VectorIndex(DIM)
    index.add(np.arange(2000), data)
    index.remove(np.arange(0, 2000, 9))
    index.save(tmp_path / "index.hnsw")
    loaded = VectorIndex.load(tmp_path / "index.hnsw", DIM)
    extra = unit(rng, 300)
    loaded.add(np.arange(2000, 2300), extra)
    loaded.add(np.array([5, 2001]), data[[6, 7]])  # replacements: id 5 and 2001 now hold rows 6 and 7
    loaded.remove(np.array([1, 2299]))
    everything = np.concatenate([data, extra])
    everything[[5, 2001]] = data[[6, 7]]
    live = loaded.ids()
    assert 1 not in live and 9 not in live and 2299 not in live and 2001 in live
    loaded.exact_threshold = 10_000
    allowed = live[::40]  # 2.5 %: the exact scan
    for query in everything[[3, 6, 2100, 2200]]:
        pairs = loaded.query(query, k=10, allowed=allowed)[0]
        expected = brute_force(everything, allowed, query, 10)
        assert [i for i, _ in pairs] == [i for i, _ in expected]
        np.testing.assert_allclose([s for _, s in pairs], [s for _, s in expected], atol=1e-5)


def test_file_whose_ids_do_not_match_its_vectors_is_damaged(tmp_path: Path, rng: np.random.Generator) -> None:
    """A consistent-looking file (CRC recomputed) listing an id that hnswlib does not hold is refused."""
    path = _saved(tmp_path, rng)
    raw = path.read_bytes()
    end = _header_end(raw)
    header = json.loads(raw[len(MAGIC) : end])
    ids = np.frombuffer(raw[end : end + header["ids_bytes"]], dtype="<i8").copy()
    ids[-1] = 10_000  # still sorted and unique, but no element carries this label
    payload = raw[end + header["ids_bytes"] :]
    header["checksum"] = f"crc32:{zlib.crc32(payload, zlib.crc32(ids.tobytes())):08x}"
    path.write_bytes(MAGIC + json.dumps(header).encode() + b"\n" + ids.tobytes() + payload)
    with pytest.raises(IndexFileError, match="no stored vector"):
        VectorIndex.load(path, DIM)
    assert [p.name for p in tmp_path.iterdir()] == ["index.hnsw"]


def test_damaged_link_lists_are_refused_even_with_a_matching_checksum(tmp_path: Path, rng: np.random.Generator) -> None:
    """The upper-level link lists must tile the payload; a bad size word is an IndexFileError, not a crash."""
    path = _saved(tmp_path, rng)
    raw = bytearray(path.read_bytes())
    end = _header_end(bytes(raw))
    header = json.loads(raw[len(MAGIC) : end])
    payload_start = end + header["ids_bytes"]
    count, per_element = struct.unpack_from("<QQ", raw, payload_start + 16)
    words = np.frombuffer(bytes(raw[payload_start + 96 + count * per_element :]), dtype="<u4")
    first = int(np.flatnonzero(words)[0])  # the size word of the first element with upper levels
    struct.pack_into("<I", raw, payload_start + 96 + count * per_element + 4 * first, int(words[first]) + 4)
    ids_and_payload = bytes(raw[end:])
    header["checksum"] = f"crc32:{zlib.crc32(ids_and_payload):08x}"
    path.write_bytes(MAGIC + json.dumps(header).encode() + b"\n" + ids_and_payload)
    with pytest.raises(IndexFileError, match="link lists"):
        VectorIndex.load(path, DIM)


def test_loading_keeps_every_level_and_deletion(tmp_path: Path, rng: np.random.Generator) -> None:
    """An index with many upper levels (small M) and deletions answers the same after save and load."""
    data = clustered(rng, centres=60, per=50, noise=0.3)
    index = VectorIndex(DIM, m=4)
    index.add(np.arange(3000), data)
    index.remove(np.arange(0, 3000, 5))
    index.save(tmp_path / "index.hnsw")
    loaded = VectorIndex.load(tmp_path / "index.hnsw", DIM)
    assert loaded.m == 4 and loaded.deleted_count == index.deleted_count == 600
    assert loaded._index.get_max_elements() == index.capacity
    assert loaded.query(data[:100], k=10) == index.query(data[:100], k=10)
    loaded.add(np.array([0]), data[0])  # a removed id comes back after loading too
    assert loaded.query(data[0], k=1)[0][0][0] == 0


def test_exact_scan_orders_near_ties_exactly(rng: np.random.Generator) -> None:
    """Scores closer together than the quantised copy can tell apart are still ranked by exact scores."""
    base = unit(rng, 1)[0]
    # similarities ~1e-5 apart: far below what the int8 copy resolves (~1e-2), far above float32 rounding
    twins = base + 1e-2 * rng.standard_normal((60, DIM)).astype(np.float32)
    others = unit(rng, 440)
    data = np.concatenate([twins / np.linalg.norm(twins, axis=1, keepdims=True), others])
    index = VectorIndex(DIM)
    index.add(np.arange(500), data)
    index.exact_threshold = 10_000
    allowed = np.arange(0, 40, 2)  # 4 % (the exact scan), all of them near-twins of the query
    pairs = index.query(base, k=10, allowed=allowed)[0]
    expected = brute_force(data, allowed, base, 10)
    assert [i for i, _ in pairs] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in pairs], [s for _, s in expected], atol=1e-6)


def test_exact_scan_widens_its_shortlist_for_a_crowd_of_near_duplicates(rng: np.random.Generator) -> None:
    """300 near-duplicates all within the copy's error of each other: more than the 138 first kept."""
    base = unit(rng, 1)[0]
    crowd = base + 1e-2 * rng.standard_normal((300, DIM)).astype(np.float32)
    data = np.concatenate([crowd / np.linalg.norm(crowd, axis=1, keepdims=True), unit(rng, 7700)])
    index = VectorIndex(DIM)
    index.add(np.arange(8000), data)
    allowed = np.arange(0, 320)  # 4 %: the exact scan
    pairs = index.query(base, k=10, allowed=allowed)[0]
    expected = brute_force(data, allowed, base, 10)
    assert [i for i, _ in pairs] == [i for i, _ in expected]
