"""Words for people: the core's typed errors as short sentences (the GUI's edge of the error layer), counts."""

from __future__ import annotations

from inspector_search.core.errors import (
    ArchiveBusyError,
    Cancelled,
    CatalogError,
    ImageError,
    IndexFileError,
    MetadataError,
    ModelError,
    QueryError,
    SchemaTooNewError,
)

BUSY_MESSAGE = (
    "Another Inspector Search is adding photos to this archive. "
    "Try again when it has finished; searching keeps working meanwhile."
)


def plural(count: int, noun: str) -> str:
    """``1 photo``, ``2 photos``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def describe_error(error: BaseException) -> str:
    """One or two sentences saying what went wrong, without a traceback."""
    if isinstance(error, ArchiveBusyError):
        return BUSY_MESSAGE
    if isinstance(error, ImageError):
        return f"Cannot use {error.path.name}: {error.reason}."
    if isinstance(error, SchemaTooNewError):
        return f"This archive was written by a newer Inspector Search ({error.reason}). Please update the app."
    if isinstance(error, CatalogError):
        return f"The archive catalog cannot be used: {error.reason} ({error.path})."
    if isinstance(error, IndexFileError):
        return f"The search index needs rebuilding: {error.reason}."
    if isinstance(error, ModelError):
        return f"The recognition model cannot be loaded: {error}."
    if isinstance(error, MetadataError):
        return f"The metadata cannot be used: {error}."
    if isinstance(error, QueryError):
        return str(error) or "This search cannot be run."
    if isinstance(error, Cancelled):
        return "Cancelled."
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
    return f"Unexpected error ({type(error).__name__}): {error}"
