"""The checked container format of the vector index file, and how it is read back safely.

Layout (format 1): ``b"ISIDX1\\n"``; one JSON line (format_version, space, dim, count,
element_count, max_elements, m, ef_construction, ids_bytes, payload_bytes, checksum
"crc32:xxxxxxxx"); the live ids (count x little-endian int64, sorted); hnswlib's ``save_index``
payload. The CRC-32 covers ids and payload; it catches truncation and bit rot, not tampering, and
was chosen by measurement (118 MB index of 100k x 256: crc32 45 ms, sha256 67 ms, blake2b 164 ms).

hnswlib's ``load_index`` can crash the process on a truncated or garbage file, so nothing reaches
it unchecked: :func:`read_header` validates the JSON header and the file length,
:func:`read_ids` the id list, and :func:`copy_payload` copies the payload to a scratch file (which
hnswlib then loads) while computing the CRC, cross-checking hnswlib's own header against ours and
pulling every element's label and vector out of hnswlib's level-0 block -- that is how the index's
second, compact copy of its vectors (:mod:`~inspector_search.core.vector_copy`) is rebuilt without
storing it twice on disk. hnswlib's payload starts with the header below, then ``element_count``
elements of ``size_data_per_element`` bytes (links, then the float32 vector at ``offsetData``, then
the uint64 label at ``label_offset``), then each element's upper-level links.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from .atomic import temporary_path
from .errors import IndexFileError
from .vector_copy import narrow

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


def copy_payload(source: IO[bytes], target: IO[bytes], header: dict[str, Any], crc: int,
                 path: Path) -> tuple[int, np.ndarray, np.ndarray]:
    """Copy the hnswlib payload from ``source`` to ``target``, continuing ``crc``.

    hnswlib's header is checked against ours before anything else is read (IndexFileError). On the
    way, each element's label and vector are taken from the level-0 block. Returns (crc, labels
    int64, vectors narrowed to uint16 rows); they are only trustworthy once the caller has
    compared the CRC with the header's.
    """
    head = _read_exactly(source, min(HNSW_HEADER.size, header["payload_bytes"]))
    check_payload_header(head, header, path)
    crc = zlib.crc32(head, crc)
    target.write(head)
    count, per_element, label_offset, data_offset = HNSW_HEADER.unpack(head)[2:6]
    dim = header["dim"]
    labels = np.empty(count, dtype=np.int64)
    rows = np.empty((count, dim), dtype=np.uint16)
    per_chunk = max(1, COPY_CHUNK // per_element)
    for start in range(0, count, per_chunk):
        n = min(per_chunk, count - start)
        block = _read_exactly(source, n * per_element)
        crc = zlib.crc32(block, crc)
        target.write(block)
        vectors = np.ndarray((n, dim), dtype="<f4", buffer=block, offset=data_offset, strides=(per_element, 4))
        rows[start : start + n] = narrow(vectors)
        labels[start : start + n] = np.ndarray((n,), dtype="<u8", buffer=block, offset=label_offset,
                                               strides=(per_element,))
    remaining = header["payload_bytes"] - HNSW_HEADER.size - count * per_element
    while remaining:
        chunk = _read_exactly(source, min(COPY_CHUNK, remaining))
        crc = zlib.crc32(chunk, crc)
        target.write(chunk)
        remaining -= len(chunk)
    return crc, labels, rows


def _read_exactly(source: IO[bytes], length: int) -> bytes:
    """``length`` bytes from ``source``; OSError at an early end of file."""
    data = source.read(length)
    if len(data) != length:
        raise OSError("unexpected end of file")
    return data


def scratch_path(path: Path) -> Path:
    """A fresh name for the verified payload: next to the index, or in the system temp folder when
    the index folder is read-only."""
    candidate = temporary_path(path)
    return candidate if os.access(candidate.parent, os.W_OK) else Path(tempfile.gettempdir()) / candidate.name


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
