"""Names people type (a site, an equipment tag, a type) matched to the names an archive holds.

A typed name matches exactly, else case-insensitively when that is unambiguous ("north" finds
"North", "p-101" finds "P-101"); otherwise :class:`~inspector_search.core.errors.QueryError` says so
and suggests the closest names ("did you mean ...?").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .errors import QueryError

MAX_SUGGESTIONS = 3


def close_names(value: str, known: Iterable[str]) -> list[str]:
    """Up to three known names that look like ``value`` (case ignored), closest first."""
    by_folded: dict[str, str] = {}
    for name in known:
        by_folded.setdefault(name.casefold(), name)
    folded = difflib.get_close_matches(value.casefold(), list(by_folded), n=MAX_SUGGESTIONS, cutoff=0.6)
    return [by_folded[f] for f in folded]


def resolve_name(kind: str, value: str, known: Iterable[str]) -> str:
    """The archive's spelling of ``value`` among ``known`` names of one ``kind`` ("site", "equipment
    tag", ...); raises QueryError naming the value and the closest names when none matches."""
    names = list(known)
    if value in names:
        return value
    same = sorted({name for name in names if name.casefold() == value.casefold()})
    if len(same) == 1:
        return same[0]
    if len(same) > 1:
        raise QueryError(f"{kind} {value!r} is ambiguous: {', '.join(repr(n) for n in same)} differ only in case")
    raise QueryError(unknown_name_message(kind, value, names))


def unknown_name_message(kind: str, value: str, known: Iterable[str]) -> str:
    """``no site 'Nort' in this archive; did you mean 'North'?`` (no suggestion when nothing is close)."""
    message = f"no {kind} {value!r} in this archive"
    suggestions = close_names(value, known)
    if suggestions:
        message += f"; did you mean {' or '.join(repr(s) for s in suggestions)}?"
    return message
