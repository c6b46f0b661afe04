"""Per-photo metadata read from the folders a photo sits in: ``Layout("{site}/{equipment}/{date}")``.

Used when an archive's photos are filed by site, equipment and date instead of (or besides) a
metadata CSV (:mod:`.metadata`); the archive façade asks the layout for each photo's
:class:`~.metadata.PhotoMetadata`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath
from types import MappingProxyType

from .errors import MetadataError
from .metadata import PhotoMetadata, parse_date

#: Layout placeholders and the :class:`PhotoMetadata` field each one fills.
PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "site": "site",
        "area": "area",
        "equipment": "equipment_tag",
        "type": "equipment_type",
        "name": "equipment_name",
        "date": "inspected_on",
        "inspector": "inspector",
    }
)

_DATE_SHAPE = r"\d{4}-\d{1,2}-\d{1,2}|\d{8}|\d{1,2}\.\d{1,2}\.\d{4}"


@dataclass(frozen=True)
class _Component:
    strict: re.Pattern[str]  # {date} only matches date-shaped text
    loose: re.Pattern[str]  # {date} matches anything, like the other placeholders


class Layout:
    """Metadata read from the folders a photo sits in, e.g. ``Layout("{site}/{equipment}/{date}")``.

    Each ``/``-separated pattern component matches one folder, counted from the root being added;
    only the first N folders are used (N = number of components), the file name never is. A
    component may mix literal text and placeholders (``{date}_{inspector}``); ``*`` matches any text
    (a lone ``*`` skips a folder). Placeholders are :data:`PLACEHOLDERS`; each matches non-greedily
    within one folder name, except that ``{date}`` first tries to take a date-shaped run
    (``2023-05-14``, ``20230514``...). Literal text matches case-insensitively.
    """

    def __init__(self, pattern: str) -> None:
        """Compile ``pattern``; raise :class:`MetadataError` when it cannot be used."""
        self.pattern = pattern
        text = pattern.strip().replace("\\", "/").strip("/")
        if text.startswith("./"):
            text = text[2:]
        if not text:
            raise MetadataError(f"layout pattern is empty; use placeholders like {_valid_placeholders()}")
        self._fields: list[str] = []
        self._components = [self._compile(part, pattern) for part in text.split("/")]

    @property
    def fields(self) -> tuple[str, ...]:
        """The :class:`PhotoMetadata` fields this pattern fills, in pattern order."""
        return tuple(self._fields)

    def match(self, relative_path: PurePath | str) -> PhotoMetadata | None:
        """Metadata for a photo path relative to the root being added, or ``None`` when the photo has
        fewer folders than the pattern has components or a folder does not match. A ``{date}`` that
        does not parse leaves ``inspected_on`` empty."""
        parts = [p for p in str(relative_path).replace("\\", "/").split("/") if p not in ("", ".")]
        if PurePath(relative_path).is_absolute() or str(relative_path).startswith(("/", "\\")) or ".." in parts:
            return None
        folders = parts[:-1]
        if len(folders) < len(self._components):
            return None
        values: dict[str, str] = {}
        for component, folder in zip(self._components, folders, strict=False):
            m = component.strict.fullmatch(folder) or component.loose.fullmatch(folder)
            if m is None:
                return None
            values.update({k: v.strip() for k, v in m.groupdict().items() if v and v.strip()})
        result = {PLACEHOLDERS[k]: v for k, v in values.items() if k != "date"}
        return PhotoMetadata(**result, inspected_on=_date_or_none(values.get("date")))

    def _compile(self, component: str, pattern: str) -> _Component:
        strict: list[str] = []
        loose: list[str] = []
        previous: str | None = None  # the last placeholder token, while no literal text followed it
        for m in re.finditer(r"\{([^{}]*)\}|\*|[^{}*]+|[{}]", component):
            token = m[0]
            if token in ("{", "}"):
                raise MetadataError(f"layout pattern '{pattern}': unbalanced braces in '{component}'")
            if m[1] is None and token != "*":
                strict.append(re.escape(token))
                loose.append(re.escape(token))
                previous = None
                continue
            if previous is not None:
                raise MetadataError(
                    f"layout pattern '{pattern}': {previous} and {token} need literal text between them"
                )
            previous = token
            if token == "*":
                strict.append(r"[^/]*?")
                loose.append(r"[^/]*?")
                continue
            placeholder = self._placeholder(m[1], pattern)
            loose.append(f"(?P<{placeholder}>[^/]+?)")
            strict.append(f"(?P<{placeholder}>{_DATE_SHAPE})" if placeholder == "date" else loose[-1])
        return _Component(re.compile("".join(strict), re.IGNORECASE), re.compile("".join(loose), re.IGNORECASE))

    def _placeholder(self, raw: str, pattern: str) -> str:
        name = raw.strip().lower()
        if name not in PLACEHOLDERS:
            raise MetadataError(
                f"layout pattern '{pattern}': unknown placeholder {{{raw}}}; valid: {_valid_placeholders()}"
            )
        if PLACEHOLDERS[name] in self._fields:
            raise MetadataError(f"layout pattern '{pattern}': {{{name}}} is used twice")
        self._fields.append(PLACEHOLDERS[name])
        return name

    def __repr__(self) -> str:
        return f"Layout({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)


def _valid_placeholders() -> str:
    return ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + " and * (any folder)"


def _date_or_none(text: str | None) -> date | None:
    """The date a folder name gives, or None when it has none or it does not parse."""
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError:
        return None
