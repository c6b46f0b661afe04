"""The checked container format of the vector index file, and how it is read back safely.

Layout (format 1): ``b"ISIDX1\\n"``; one JSON line (format_version, space, dim, count,
element_count, max_elements, m, ef_construction, ids_bytes, payload_bytes, checksum
"crc32:xxxxxxxx"); the live ids (count x little-endian int64, sorted); hnswlib's ``save_index``
payload. The CRC-32 covers ids and payload; it catches truncation and bit rot, not tampering, and
was chosen by measurement (118 MB index of 100k x 256: crc32 45 ms, sha256 67 ms, blake2b 164 ms).

hnswlib's ``load_index`` can crash the process on a truncated or garbage file, so nothing reaches
it unchecked: :func:`read_header` validates the JSON header and the file length,
:func:`read_ids` the id list, and :func:`read_payload` reads the payload into memory while computing
the CRC, cross-checking hnswlib's own header against ours, checking that the link lists tile the
rest, and pulling every element's label and vector out of hnswlib's level-0 block -- that is how the
index's second, compact copy of its vectors (:mod:`~inspector_search.core.vector_copy`) is rebuilt
without storing it twice on disk. hnswlib then builds the index from that memory through its pickle
format, so no scratch copy of the file is written. hnswlib's payload starts with the header below,
then ``element_count`` elements of ``size_data_per_element`` bytes (links, then the float32 vector
at ``offsetData``, then the uint64 label at ``label_offset``), then each element's upper-level links.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import IndexFileError
from .vector_copy import Codes, quantise

MAGIC = b"ISIDX1\n"
FORMAT_VERSION = 1
SPACE = "cosine"
COPY_CHUNK = 1 << 20
_MAX_HEADER_BYTES = 64 * 1024
# hnswlib's save_index header: offsetLevel0, max_elements, cur_element_count, size_data_per_element,
# label_offset, offsetData, maxlevel, enterpoint_node, maxM, maxM0, M, mult, ef_construction.
HNSW_HEADER = struct.Struct("<QQQQQQiIQQQdQ")
_HEADER_INT_FIELDS = (
    "format_version", "dim", "count", "element_count", "max_elements", "m", "ef_construction",
    "ids_bytes", "payload_bytes",
)  # fmt: skip


def crc32_file(path: Path, crc: int) -> tuple[int, bytes]:
    """Continue a CRC-32 over the bytes of ``path``; also return its first bytes (hnswlib's header)."""
    with open(path, "rb") as handle:
        head = handle.read(HNSW_HEADER.size)
        crc = zlib.crc32(head, crc)
        while chunk := handle.read(COPY_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc, head


@dataclass
class Payload:
    """hnswlib's index as read from the file: the state ``hnswlib.Index(state)`` is built from (its
    pickle format, ``ser_version`` 1), and each element's label and quantised vector."""

    crc: int
    state: dict[str, Any]
    labels: np.ndarray
    rows: Codes


def read_payload(source: IO[bytes], header: dict[str, Any], crc: int, path: Path) -> Payload:
    """Read the hnswlib payload from ``source`` into memory, continuing ``crc``.

    hnswlib's header is checked against ours before anything else is read, and the upper-level link
    lists must tile the rest exactly (IndexFileError otherwise). Nothing in the result may be trusted
    before the caller has compared ``crc`` with the header's checksum. Building the index from
    memory rather than letting ``load_index`` read a scratch copy saves writing the whole index to
    disk at every start (750 MB for 1M vectors).
    """
    head = _read_exactly(source, min(HNSW_HEADER.size, header["payload_bytes"]))
    check_payload_header(head, header, path)
    crc = zlib.crc32(head, crc)
    fields = HNSW_HEADER.unpack(head)
    count, per_element, label_offset, data_offset = fields[2:6]
    level0 = np.empty(count * per_element, dtype=np.int8)
    labels = np.empty(count, dtype=np.int64)
    rows = Codes.empty(count, header["dim"])
    per_chunk = max(1, COPY_CHUNK // per_element)
    for start in range(0, count, per_chunk):
        n = min(per_chunk, count - start)
        block = memoryview(level0)[start * per_element : (start + n) * per_element]
        if source.readinto(block) != len(block):
            raise OSError("unexpected end of file")
        crc = zlib.crc32(block, crc)
        vectors = _strided(block, n, per_element, data_offset, "<f4", header["dim"])
        rows.store(slice(start, start + n), quantise(vectors))
        labels[start : start + n] = _strided(block, n, per_element, label_offset, "<u8", 0)
    rest = _read_exactly(source, header["payload_bytes"] - HNSW_HEADER.size - count * per_element)
    crc = zlib.crc32(rest, crc)
    levels, links = _upper_levels(rest, count, fields[1], 4 * fields[8] + 4, path)
    deleted = _strided(memoryview(level0), count, per_element, 2, "u1", 0) & 1  # hnswlib's DELETE_MARK
    state = {
        "ser_version": 1, "space": SPACE, "dim": header["dim"], "index_inited": True, "ep_added": True,
        "normalize": True, "num_threads": os.cpu_count() or 1, "seed": 100, "offset_level0": fields[0],
        "max_elements": fields[1], "cur_element_count": count, "size_data_per_element": per_element,
        "label_offset": label_offset, "offset_data": data_offset, "max_level": fields[6],
        "enterpoint_node": fields[7], "max_M": fields[8], "max_M0": fields[9], "M": fields[10], "mult": fields[11],
        "ef_construction": fields[12], "ef": 10, "has_deletions": bool(deleted.any()),
        "size_links_per_element": 4 * fields[8] + 4, "allow_replace_deleted": False,
        "label_lookup_external": labels.astype(np.uint64), "label_lookup_internal": np.arange(count, dtype=np.uint32),
        "element_levels": levels, "data_level0": level0, "link_lists": links,
    }  # fmt: skip
    return Payload(crc, state, labels, rows)


def _strided(block: memoryview, n: int, stride: int, offset: int, dtype: str, width: int) -> np.ndarray:
    """A view of one field of ``n`` fixed-size records: (n,) or, with ``width``, (n, width)."""
    item = np.dtype(dtype).itemsize
    if n == 0:
        return np.empty((0, width) if width else (0,), dtype=dtype)
    if width:
        return np.ndarray((n, width), dtype=dtype, buffer=block, offset=offset, strides=(stride, item))
    return np.ndarray((n,), dtype=dtype, buffer=block, offset=offset, strides=(stride,))


def _upper_levels(rest: bytes, count: int, max_elements: int, size_links: int,
                  path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse the upper-level link lists (per element: uint32 byte size, then the lists) into hnswlib's
    pickle fields ``element_levels`` and ``link_lists``. Sizes are multiples of 4, so the section is
    read as 32-bit words and only elements with upper levels (~1/M of them) are visited one by one."""
    if len(rest) % 4:
        raise IndexFileError(path, "index payload's link lists are damaged")
    words = np.frombuffer(rest, dtype="<u4")
    nonzero = np.flatnonzero(words)
    levels = np.zeros(max_elements, dtype=np.int32)
    spans: list[tuple[int, int]] = []
    element, word = 0, 0
    while element < count:
        after = int(np.searchsorted(nonzero, word))  # the words before the next non-zero one: empty elements
        following = int(nonzero[after]) if after < nonzero.size else words.size
        if following - word >= count - element:  # the remaining elements are all empty
            word += count - element
            element = count
            break
        element += following - word
        size = int(words[following])
        if size % size_links:
            raise IndexFileError(path, "index payload's link lists are damaged")
        levels[element] = size // size_links
        spans.append((following + 1, following + 1 + size // 4))
        element, word = element + 1, following + 1 + size // 4
    if word != words.size:
        raise IndexFileError(path, "index payload's link lists do not match its elements")
    links = np.concatenate([words[a:b] for a, b in spans]) if spans else np.empty(0, dtype="<u4")
    return levels, links.view(np.int8)


def _read_exactly(source: IO[bytes], length: int) -> bytes:
    """``length`` bytes from ``source``; OSError at an early end of file."""
    data = source.read(length)
    if len(data) != length:
        raise OSError("unexpected end of file")
    return data


def read_header(handle: IO[bytes], path: Path, dim: int) -> dict[str, Any]:
    """Read and validate the magic bytes, the JSON header line and the file length (catches truncation)."""
    if handle.read(len(MAGIC)) != MAGIC:
        raise IndexFileError(path, "not an Inspector Search index file (wrong magic bytes)")
    line = handle.readline(_MAX_HEADER_BYTES)
    if not line.endswith(b"\n"):
        raise IndexFileError(path, "index file header is truncated or damaged")
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        raise IndexFileError(path, "index file header is damaged") from None
    if not isinstance(header, dict) or not all(
        isinstance(header.get(name), int) and not isinstance(header.get(name), bool) and header[name] >= 0
        for name in _HEADER_INT_FIELDS
    ):
        raise IndexFileError(path, "index file header is incomplete or damaged")
    if header["format_version"] > FORMAT_VERSION:
        raise IndexFileError(path, f"written by a newer version (format {header['format_version']})")
    if header["format_version"] < 1 or header.get("space") != SPACE or not isinstance(header.get("checksum"), str):
        raise IndexFileError(path, "index file header is damaged or of an unknown kind")
    if header["dim"] != dim:
        raise IndexFileError(path, f"index has dimension {header['dim']}, expected {dim}")
    if header["ids_bytes"] != 8 * header["count"] or not (
        header["count"] <= header["element_count"] <= header["max_elements"]
    ):
        raise IndexFileError(path, "index file header is inconsistent")
    expected = handle.tell() + header["ids_bytes"] + header["payload_bytes"]
    actual = os.fstat(handle.fileno()).st_size
    if actual != expected:
        problem = "is truncated" if actual < expected else "has unexpected trailing data"
        raise IndexFileError(path, f"index file {problem} ({actual} bytes, expected {expected})")
    return header


def read_ids(handle: IO[bytes], header: dict[str, Any], path: Path) -> np.ndarray:
    """Read the live ids section; IndexFileError unless it is sorted, unique and non-negative."""
    raw = handle.read(header["ids_bytes"])
    if len(raw) != header["ids_bytes"]:
        raise IndexFileError(path, "index file is truncated")
    ids = np.frombuffer(raw, dtype="<i8").astype(np.int64)
    if ids.size and (ids[0] < 0 or np.any(np.diff(ids) <= 0)):
        raise IndexFileError(path, "index file is damaged (id list is not sorted and unique)")
    return ids


def check_payload_header(head: bytes, header: dict[str, Any], path: Path) -> None:
    """Cross-check hnswlib's own header with ours, so a format change or mix-up never reaches load_index."""
    if len(head) < HNSW_HEADER.size:
        raise IndexFileError(path, "index payload is too short")
    fields = HNSW_HEADER.unpack(head)
    max_elements, count, per_element, label_offset, data_offset = fields[1:6]
    max_m0, m = fields[9], fields[10]
    minimum = HNSW_HEADER.size + count * (per_element + 4)
    if (
        max_elements != header["max_elements"]
        or count != header["element_count"]
        or label_offset - data_offset != 4 * header["dim"]
        or per_element != label_offset + 8
        or m != header["m"]
        or max_m0 != 2 * m
        or header["payload_bytes"] < minimum
    ):
        raise IndexFileError(path, "index payload does not match its header (damaged or unsupported)")
