"""Reading a label CSV: which labels to give which archive photos.

Columns: ``path`` (absolute, or relative to the CSV) or ``image_id``, plus any of ``defect``,
``severity``, ``equipment_type`` and ``tags`` (several separated by ``;``, ``|`` or ``,``). The whole
file is checked before anything is applied: unknown photos, rows without a label, empty, over-long
or unprintable labels and rows that give one photo two different defects (severities, equipment
types) are all reported with their line numbers, and then nothing is applied.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

from .errors import LabelError, MetadataError
from .labels import SINGLE_VALUED, clean_value, split_tags
from .metadata import _pick_delimiter, _read_text

LABEL_COLUMNS = {"defect": "defect", "defect_class": "defect", "severity": "severity",
                 "equipment_type": "equipment_type", "type": "equipment_type", "tags": "tag", "tag": "tag"}
MAX_REPORTED = 25


def read_label_file(path: Path, find_photo: Callable[[str], int | None]) -> list[tuple[int, str, str]]:
    """The ``(photo id, kind, value)`` assignments of a label CSV. ``find_photo`` maps a path (as the
    archive stores it) or an id cell to a live photo id. Raises :class:`LabelError` naming every bad
    line, or :class:`MetadataError` when the file cannot be read at all."""
    text = _read_text(path)
    delimiter, sep_line = _pick_delimiter(text)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if sep_line:
        rows = rows[1:]
    start = 2 if sep_line else 1
    if not rows:
        raise MetadataError(f"{path.name}: the file is empty")
    header = [re.sub(r"[\s\-]+", "_", cell.strip().casefold()) for cell in rows[0]]
    key_column = "path" if "path" in header else "image_id" if "image_id" in header else None
    if key_column is None:
        raise MetadataError(f"{path.name}: line {start}: no 'path' or 'image_id' column")
    kinds = {n: LABEL_COLUMNS[c] for n, c in enumerate(header) if c in LABEL_COLUMNS}
    if not kinds:
        raise MetadataError(f"{path.name}: line {start}: no label column (defect, severity, equipment_type, tags)")
    key_at = header.index(key_column)
    problems: list[str] = []
    assignments: list[tuple[int, str, str]] = []
    single: dict[tuple[int, str], tuple[str, int]] = {}  # (photo, kind) -> (value, line)
    for line, cells in enumerate(rows[1:], start=start + 1):
        if not any(c.strip() for c in cells):
            continue
        key = cells[key_at].strip() if key_at < len(cells) else ""
        image_id = _photo_of(key, key_column, path, find_photo)
        if image_id is None:
            problems.append(f"line {line}: no archive photo {key!r}" if key else f"line {line}: empty {key_column}")
            continue
        given = 0
        for column, kind in kinds.items():
            cell = cells[column] if column < len(cells) else ""
            if not cell.strip():
                continue
            try:
                values = split_tags(cell) if kind == "tag" else [clean_value(kind, cell)]
            except LabelError as exc:
                problems.append(f"line {line}: {exc}")
                continue
            for value in values:
                given += 1
                if kind in SINGLE_VALUED:
                    earlier = single.setdefault((image_id, kind), (value, line))
                    if earlier[0] != value:
                        problems.append(f"line {line}: {kind} {value!r} conflicts with {earlier[0]!r} on line "
                                        f"{earlier[1]} for the same photo")
                        continue
                assignments.append((image_id, kind, value))
        if not given and not any(p.startswith(f"line {line}:") for p in problems):
            problems.append(f"line {line}: no label given")
    if problems:
        shown = problems[:MAX_REPORTED] + ([f"... and {len(problems) - MAX_REPORTED} more"]
                                           if len(problems) > MAX_REPORTED else [])
        raise LabelError(f"{path.name}: {len(problems)} bad line(s), no label was applied:\n  " + "\n  ".join(shown))
    return list(dict.fromkeys(assignments))


def _photo_of(key: str, column: str, csv_path: Path, find_photo: Callable[[str], int | None]) -> int | None:
    if not key:
        return None
    if column == "image_id":
        return find_photo(key) if key.isdigit() else None
    candidate = Path(key)
    if not candidate.is_absolute():
        candidate = csv_path.parent / candidate
    for spelling in (str(candidate), str(candidate.absolute()), str(candidate.resolve())):
        found = find_photo(spelling)
        if found is not None:
            return found
    return None
