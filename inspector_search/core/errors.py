"""Typed domain errors raised by the core; only the CLI and GUI turn them into words for people."""

from __future__ import annotations

from pathlib import Path


class InspectorSearchError(Exception):
    """Base class of every error the core raises on purpose."""


class ImageError(InspectorSearchError):
    """An image file could not be read or decoded; ``reason`` is a short human phrase."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(InspectorSearchError):
    """A model file or its manifest is missing, damaged or does not match."""


class CatalogError(InspectorSearchError):
    """The catalog database cannot be used (damaged, foreign, or written by a newer version)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SchemaTooNewError(CatalogError):
    """The catalog was written by a newer Inspector Search; it is refused, never downgraded."""


class IndexFileError(InspectorSearchError):
    """A derived file (vector index, PCA) is missing, stale or damaged; it can be rebuilt."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ArchiveBusyError(InspectorSearchError):
    """Another process is already writing to this archive."""


class LockFileError(InspectorSearchError):
    """The archive's lock file cannot be used (a folder in its place, not writable, a full disk...)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot use the lock file {self.path}: {reason}")


class MetadataError(InspectorSearchError):
    """A metadata file or layout pattern cannot be used at all (not a row-level problem)."""


class QueryError(InspectorSearchError):
    """A search request is invalid (bad filter value, empty archive, bad crop box...)."""


class NotAnArchiveError(InspectorSearchError):
    """A folder named as an archive holds none (no catalog): a read was asked, so nothing is created."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class Cancelled(InspectorSearchError):
    """A long job was cancelled by the user; work committed so far is kept."""


class LabelError(InspectorSearchError):
    """A label change or a label file cannot be applied (unknown photo, empty or over-long label,
    conflicting rows); nothing of it was applied."""


class SharedArchiveError(InspectorSearchError):
    """A shared (PostgreSQL) plant archive cannot be reached or used: server down, connection dropped,
    permission refused, schema of another version. The message names the server (never a password)."""
