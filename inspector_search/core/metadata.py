"""Per-photo metadata from a maintenance-system CSV export (folder names: :mod:`.folder_layout`).

Pure standard library: no Qt, no database. The archive façade reads a :class:`MetadataTable` once per
``add`` run and asks it (and an optional :class:`~.folder_layout.Layout`) for each photo's
:class:`PhotoMetadata`.
File-level problems raise :class:`MetadataError`; row-level problems become :class:`RowError` entries
and the row is skipped whole, so a row is never half-imported.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, time
from pathlib import Path
from types import MappingProxyType

from .errors import LabelError, MetadataError
from .labels import split_tags

KNOWN_COLUMNS = (
    "path",
    "equipment_tag",
    "equipment_name",
    "equipment_type",
    "site",
    "area",
    "inspected_on",
    "inspector",
    "notes",
)

#: Other header spellings accepted for the known columns (after trimming, case folding, and turning
#: spaces and hyphens into underscores).
_ALIASES_BY_COLUMN = {
    "path": "file filename file_name filepath file_path photo photo_path image image_path",
    "equipment_tag": "tag equipment equipment_id asset_tag",
    "equipment_name": "name",
    "equipment_type": "type equipment_class",
    "site": "plant",
    "area": "location",
    "inspected_on": "date inspection_date inspected inspected_at",
    "inspector": "inspected_by",
    "notes": "note comment comments remarks",
}
COLUMN_ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: column for column, aliases in _ALIASES_BY_COLUMN.items() for alias in aliases.split()}
)

_EMPTY: Mapping[str, str] = MappingProxyType({})
_FOLD_CASE = os.name == "nt"  # Windows file names are case-insensitive; elsewhere keep case.
_SNIFF_BYTES = 8192
MAX_CELL_CHARS = 131_072
"""Longest value one cell may hold (the csv module's own default limit); a longer one skips its row."""
_FIELD_LIMIT_LOCK = threading.Lock()
_DELIMITERS = ",;\t"
_FORMULA = re.compile(r"[=+\-@][A-Za-z(]")
_ABSOLUTE_KEY = re.compile(r"/|[A-Za-z]:/")

_TIME = r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
_YMD = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})" + _TIME)
_DMY_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})" + _TIME)
_DMY_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})" + _TIME)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
# What a date looks like inside a folder name; tried before the plain non-greedy match.


# --------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class PhotoMetadata:
    """What is known about one photo; ``None`` means "not given". ``extra`` holds unknown CSV columns.

    Records from different sources combine with :meth:`merged`, e.g. folder layout first and the CSV
    row on top: ``layout_meta.merged(csv_meta)``.
    """

    equipment_tag: str | None = None
    equipment_name: str | None = None
    equipment_type: str | None = None
    site: str | None = None
    area: str | None = None
    inspected_on: date | None = None
    inspector: str | None = None
    notes: str | None = None
    extra: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        # Freeze a caller's dict so the record stays immutable (and cannot alias the caller's dict).
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def __reduce__(self) -> tuple[type[PhotoMetadata], tuple[object, ...]]:
        # The read-only mapping cannot be pickled or deep-copied as is; rebuild from a plain dict.
        return PhotoMetadata, (
            *(getattr(self, f.name) for f in fields(self) if f.name != "extra"),
            dict(self.extra),
        )

    def merged(self, other: PhotoMetadata) -> PhotoMetadata:
        """Return a copy where every non-``None`` field of ``other`` overrides ours; extras are
        merged key by key with ``other`` winning."""
        values = {
            f.name: getattr(other, f.name) if getattr(other, f.name) is not None else getattr(self, f.name)
            for f in fields(self)
            if f.name != "extra"
        }
        return PhotoMetadata(**values, extra={**self.extra, **other.extra})

    def is_empty(self) -> bool:
        """True when nothing at all is known (no field set, no extra column)."""
        return not self.extra and all(getattr(self, f.name) is None for f in fields(self) if f.name != "extra")


@dataclass(frozen=True)
class RowError:
    """A CSV row that was skipped, and why. ``line`` is the physical line where the row starts
    (the header is line 1); ``source`` is the file name used when printing."""

    line: int
    path: str | None
    reason: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source} line {self.line}" if self.source else f"line {self.line}"
        return f"{where}: {self.reason}"


@dataclass
class _LookupIndex:
    """Secondary keys of a table's rows, built on the first :meth:`MetadataTable.lookup`."""

    size: int
    csv_relative: dict[str, str]  # absolute key of a relative row resolved against the CSV folder
    by_name: dict[str, list[str]]  # bare file name -> row keys


@dataclass
class MetadataTable:
    """The usable rows of one metadata CSV, keyed by :func:`path_key` of their ``path`` cell.

    ``columns`` are the header's columns in file order, known ones under their canonical name
    (:data:`KNOWN_COLUMNS`), unknown ones as written. ``row_count`` counts the non-blank data rows
    in the whole file (also for a preview, where only the first rows are parsed). ``rows`` should not
    be edited after the first :meth:`lookup` (its secondary index is cached).
    """

    source: Path
    rows: dict[str, PhotoMetadata] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    row_count: int = 0
    lines: dict[str, int] = field(default_factory=dict)  # row key -> the physical line where its row starts
    _index: _LookupIndex | None = field(default=None, init=False, repr=False, compare=False)

    def lookup(self, file_path: Path, roots: Sequence[Path]) -> PhotoMetadata | None:
        """Find the row for a photo on disk, or ``None`` (see :meth:`lookup_key` for the order)."""
        key = self.lookup_key(file_path, roots)
        return None if key is None else self.rows[key]

    def lookup_key(self, file_path: Path, roots: Sequence[Path]) -> str | None:
        """The key in ``rows`` of the row for a photo on disk, or ``None``; lets a caller count which
        rows were used. See :meth:`lookup_match` for the order."""
        match = self.lookup_match(file_path, roots)
        return None if match is None else match[0]

    def lookup_match(self, file_path: Path, roots: Sequence[Path]) -> tuple[str, bool] | None:
        """(key in ``rows``, found by file name only) of the row for a photo on disk, or ``None``.
        CSV ``path`` cells may use ``/`` or ``\\``; they are tried in this order:

        1. an absolute path equal to the photo's absolute path;
        2. a path relative to the CSV file's folder (``..`` allowed);
        3. a path relative to one of ``roots`` (the folders being added), in the given order;
        4. the file name alone, for rows that give no usable folder (a bare name, or an absolute path
           from another machine), and only when no other such row has the same file name. A relative
           row's folders must match: ``A/IMG_0001.JPG`` never applies to ``B/IMG_0001.JPG``.
        """
        index = self._lookup_index()
        file_key = path_key(os.path.abspath(file_path))
        if file_key in self.rows:  # relative keys never equal an absolute one
            return file_key, False
        if file_key in index.csv_relative:
            return index.csv_relative[file_key], False
        for root in roots:
            prefix = path_key(os.path.abspath(root)).rstrip("/") + "/"
            if file_key.startswith(prefix) and file_key[len(prefix) :] in self.rows:
                return file_key[len(prefix) :], False
        candidates = index.by_name.get(posixpath.basename(file_key), [])
        return (candidates[0], True) if len(candidates) == 1 else None

    def _lookup_index(self) -> _LookupIndex:
        if self._index is not None and self._index.size == len(self.rows):
            return self._index
        csv_dir = path_key(os.path.abspath(self.source.parent)).rstrip("/")
        csv_relative: dict[str, str] = {}
        by_name: dict[str, list[str]] = {}
        for key in self.rows:
            if not _is_absolute_key(key):
                csv_relative[posixpath.normpath(f"{csv_dir}/{key}")] = key
            if "/" not in key or _is_absolute_key(key):  # a relative row with folders never matches by name
                by_name.setdefault(posixpath.basename(key), []).append(key)
        self._index = _LookupIndex(len(self.rows), csv_relative, by_name)
        return self._index


# ------------------------------------------------------------------------------------ small helpers


def path_key(p: str, *, fold_case: bool | None = None) -> str:
    """Normalise a path written in a CSV or found on disk so that equal files get equal keys.

    Separators become ``/``, ``./`` and ``..`` are collapsed (:func:`posixpath.normpath`), Unicode is
    NFC-normalised (macOS writes decomposed names), and case is folded on Windows only
    (``fold_case`` overrides the platform default). An empty or ``.`` path gives ``""``.
    """
    text = unicodedata.normalize("NFC", str(p).strip().replace("\\", "/"))
    if not text:
        return ""
    text = posixpath.normpath(text)
    if text == ".":
        return ""
    return text.casefold() if (_FOLD_CASE if fold_case is None else fold_case) else text


def _is_absolute_key(key: str) -> bool:
    return _ABSOLUTE_KEY.match(key) is not None


def looks_like_formula(text: str) -> bool:
    """True for a cell a spreadsheet would run as a formula (``=``, ``+``, ``-`` or ``@`` followed by
    a letter or ``(``). Such cells are imported as plain text; this is for flagging them in a UI."""
    return _FORMULA.match(text) is not None


def neutralise_formula(text: str) -> str:
    """Make a value safe to write into a CSV that a spreadsheet will open: a value starting with
    ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading single quote, so it is shown as
    text instead of being run as a formula (CSV injection). For exporters."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _date_or_reason(text: str) -> date | str:
    """Parse a date cell; return the date, or ``"bad date"`` / ``"ambiguous date"``."""
    value = text.strip()
    if m := _COMPACT.fullmatch(value):
        return _make_date(int(m[1]), int(m[2]), int(m[3])) or "bad date"
    if m := _YMD.fullmatch(value):
        ok = _time_ok(m.groups()[4:])
        return (_make_date(int(m[1]), int(m[3]), int(m[4])) if ok else None) or "bad date"
    if m := _DMY_DOTTED.fullmatch(value):
        ok = _time_ok(m.groups()[3:])
        return (_make_date(int(m[3]), int(m[2]), int(m[1])) if ok else None) or "bad date"
    if (m := _DMY_SLASH.fullmatch(value)) and _time_ok(m.groups()[3:]):
        first, second, year = int(m[1]), int(m[2]), int(m[3])
        readings = {d for d in (_make_date(year, second, first), _make_date(year, first, second)) if d}
        if len(readings) == 1:
            return readings.pop()
        return "ambiguous date" if readings else "bad date"
    return "bad date"


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _time_ok(parts: Sequence[str | None]) -> bool:
    hour, minute, second = parts
    if hour is None:
        return True
    try:
        time(int(hour), int(minute or 0), int(second or 0))
    except ValueError:
        return False
    return True


def parse_date(text: str) -> date:
    """Parse an inspection date as exported by maintenance systems and spreadsheets.

    Accepts ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD``, ``DD.MM.YYYY``, any of those with a time
    (``HH:MM[:SS]``, ignored), and ``DD/MM/YYYY`` only when just one reading is a valid date (day > 12,
    or a day-first reading that is impossible month-first and vice versa; equal day and month are
    fine). Raises ``ValueError("bad date '...'")`` or ``ValueError("ambiguous date '...'")``.
    """
    result = _date_or_reason(text)
    if isinstance(result, str):
        raise ValueError(f"{result} '{text}'")
    return result


# --------------------------------------------------------------------------------------- CSV reading


def _read_text(path: Path) -> str:
    """Read and decode the whole file: UTF-8 (with or without BOM), else cp1252."""
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MetadataError(f"{name}: file not found ({path})") from None
    except OSError as exc:
        raise MetadataError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise MetadataError(f"{name}: the file is UTF-16; save it as 'CSV UTF-8' instead")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if raw.startswith(b"\xef\xbb\xbf"):
            line = raw[: exc.start].count(b"\n") + 1
            raise MetadataError(f"{name}: marked as UTF-8 but line {line} has bytes that are not UTF-8") from None
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError as exc2:
            line = raw[: exc2.start].count(b"\n") + 1
            raise MetadataError(
                f"{name}: line {line} has bytes that are neither UTF-8 nor Windows-1252 text"
            ) from None
    if "\x00" in text:
        raise MetadataError(f"{name}: not a text file (it contains NUL bytes)")
    if not text.strip():
        raise MetadataError(f"{name}: the file is empty")
    return text


def _pick_delimiter(text: str) -> tuple[str, bool]:
    """Choose the delimiter among ``, ; TAB``; return it and whether line 1 is an Excel ``sep=`` line.

    :class:`csv.Sniffer` looks at the first 8 KB; its guess is kept only when the header line contains
    it, otherwise the candidate most frequent in the header line wins, and ``,`` when there is none.
    """
    lines = text[:_SNIFF_BYTES].splitlines() or [""]
    if m := re.fullmatch(r"sep=(.)", lines[0].strip(), flags=re.IGNORECASE):
        return m[1], True
    first_line = next((line for line in lines if line.strip()), "")
    try:
        sniffed = csv.Sniffer().sniff(text[:_SNIFF_BYTES], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and sniffed in first_line:
        return sniffed, False
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return (best if counts[best] else ","), False


def _canonical(header: str) -> str:
    key = re.sub(r"[\s\-]+", "_", header.strip().casefold())
    return key if key in KNOWN_COLUMNS else COLUMN_ALIASES.get(key, header.strip())


def _parse_header(cells: list[str], name: str) -> list[str | None]:
    """Map header cells to column names (canonical for known columns, as written for the others,
    ``None`` for unnamed columns, whose cells are ignored). Raises on a missing ``path`` column or a
    column given twice."""
    columns: list[str | None] = []
    given_as: dict[str, str] = {}
    for cell in cells:
        header = cell.replace("\ufeff", "").strip()
        if not header:
            columns.append(None)
            continue
        column = _canonical(header)
        folded = column.casefold()
        if folded in given_as:
            first = given_as[folded]
            what = f"both give {column}" if column in KNOWN_COLUMNS else "have the same name"
            raise MetadataError(f"{name}: columns '{first}' and '{header}' {what}")
        given_as[folded] = header
        columns.append(column)
    if "path" not in columns:
        found = ", ".join(c.replace("\ufeff", "").strip() for c in cells if c.strip())
        raise MetadataError(f"{name}: no 'path' column (found: {found})")
    return columns


def _is_blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


def tags_cell(extra: Mapping[str, str]) -> str | None:
    """The ``tags`` column of a metadata row (any capitalisation), kept among its extra columns."""
    return next((value for column, value in extra.items() if column.casefold() == "tags"), None)


def _clean(cell: str) -> str | None:
    text = cell.replace("\r\n", "\n").replace("\r", "\n").strip()
    return text or None


def _parse_row(
    cells: list[str], columns: list[str | None], line: int, seen: dict[str, int]
) -> tuple[str, PhotoMetadata] | RowError:
    """Turn one data row into ``(key, metadata)`` or the reason it is skipped."""
    values: dict[str, str | None] = {}
    extra: dict[str, str] = {}
    for column, cell in zip(columns, cells, strict=False):
        value = _clean(cell)
        if column is None:
            continue
        if column in KNOWN_COLUMNS:
            values[column] = value
        elif value is not None:
            extra[column] = value
    raw_path = values.pop("path", None)
    oversized = next((i for i, cell in enumerate(cells) if len(cell) > MAX_CELL_CHARS), None)
    if oversized is not None:
        column = columns[oversized] if oversized < len(columns) and columns[oversized] else f"column {oversized + 1}"
        reason = f"{column}: a value of {len(cells[oversized]):,} characters, more than the {MAX_CELL_CHARS:,} allowed"
        return RowError(line, None if raw_path and len(raw_path) > MAX_CELL_CHARS else raw_path, reason)
    if len(cells) > len(columns) and not _is_blank(cells[len(columns) :]):
        reason = f"{len(cells)} values but the header has {len(columns)} columns (unquoted delimiter?)"
        return RowError(line, raw_path, reason)
    key = path_key(raw_path or "")
    if not key:
        return RowError(line, raw_path, "empty path")
    if key in seen:
        return RowError(line, raw_path, f"duplicate path, first given on line {seen[key]}")
    when: date | None = None
    if (raw_date := values.pop("inspected_on", None)) is not None:
        parsed = _date_or_reason(raw_date)
        if isinstance(parsed, str):
            return RowError(line, raw_path, f"{parsed} '{raw_date}' in inspected_on")
        when = parsed
    if (tags := tags_cell(extra)) is not None:
        try:
            split_tags(tags)
        except LabelError as exc:
            return RowError(line, raw_path, f"tags: {exc}")
    seen[key] = line  # only accepted rows: a corrected row after a refused one is not a "duplicate"
    return key, PhotoMetadata(**values, inspected_on=when, extra=extra)


def _records(
    reader: Iterator[list[str]], line_num: Callable[[], int], name: str
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first physical line, cells)`` for every CSV record. Broken quoting (the reader is
    strict, so an unclosed quote cannot silently swallow the rest of the file) raises
    :class:`MetadataError` naming the line where the row starts."""
    previous = line_num()
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = "a quoted value is never closed" if "end of data" in str(exc) else str(exc)
            raise MetadataError(f"{name} line {previous + 1}: {reason}; check the quotes in this row") from None
        yield previous + 1, cells
        previous = line_num()


def read_metadata_csv(path: Path, max_preview_rows: int | None = None) -> MetadataTable:
    """Read a metadata CSV exported from a maintenance system or a spreadsheet.

    Encodings: UTF-8 with or without BOM, then Windows-1252. Delimiter: ``,`` ``;`` or TAB (sniffed).
    Headers are matched case-insensitively with aliases (:data:`COLUMN_ALIASES`); unknown columns
    land in :attr:`PhotoMetadata.extra`. Bad rows are skipped and listed in ``errors``; formula-like
    cells are kept as plain text. With ``max_preview_rows`` only that many data rows are parsed (the
    whole file is still decoded and counted). Raises :class:`MetadataError` when the file is unusable.
    """
    path = Path(path)
    text = _read_text(path)
    # The csv module refuses a whole file at its first cell over its (process-wide) limit; lift it while this
    # file is parsed, so such a row is reported and skipped by _parse_row and the others are imported.
    with _FIELD_LIMIT_LOCK:
        previous = csv.field_size_limit(sys.maxsize)
        try:
            return _read_table(path, text, max_preview_rows)
        finally:
            csv.field_size_limit(previous)


def _read_table(path: Path, text: str, max_preview_rows: int | None) -> MetadataTable:
    """The parsing half of :func:`read_metadata_csv`."""
    name = path.name
    delimiter, sep_line = _pick_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True, strict=True)
    records = _records(reader, lambda: reader.line_num, name)
    if sep_line:
        next(records, None)
    header = next((cells for _, cells in records if not _is_blank(cells)), None)
    if header is None:
        raise MetadataError(f"{name}: no header row")
    columns = _parse_header(header, name)
    table = MetadataTable(source=path, columns=[c for c in columns if c is not None])
    seen: dict[str, int] = {}
    for line, cells in records:
        if _is_blank(cells):
            continue
        table.row_count += 1
        if max_preview_rows is not None and table.row_count > max_preview_rows:
            continue
        result = _parse_row(cells, columns, line, seen)
        if isinstance(result, RowError):
            table.errors.append(replace(result, source=name))
        else:
            table.rows[result[0]] = result[1]
            table.lines[result[0]] = line
    return table


def preview_csv(path: Path, n: int = 20) -> MetadataTable:
    """Read a metadata CSV for the import preview: only the first ``n`` data rows are parsed (their
    errors included), ``row_count`` still tells how many rows the whole file has."""
    return read_metadata_csv(path, max_preview_rows=n)
