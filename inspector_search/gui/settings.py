"""User preferences as one typed, declarative list of options, kept apart from window state.

Preferences live under ``preferences/`` and window geometry/splitters under ``window/`` of one
``QSettings``. Every class takes the ``QSettings`` to use, so tests hand in an ini file in a
temporary folder and never touch the real configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "InspectorSearch"
APPLICATION = "Inspector Search"


@dataclass(frozen=True)
class Option:
    """One user preference: its key, type, default and, for numbers, the allowed range."""

    key: str
    type: type
    default: Any
    label: str
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, raw: object) -> Any:
        """Turn a stored value (ini files give strings) into the option's type; default if unusable."""
        try:
            value = _convert(self.type, raw)
        except (TypeError, ValueError):
            return self.default
        if self.minimum is not None and value < self.minimum:
            return self.default
        if self.maximum is not None and value > self.maximum:
            return self.default
        return value


def _convert(kind: type, raw: object) -> Any:
    if kind is bool:
        if isinstance(raw, str):
            if raw.strip().lower() in ("true", "1", "yes", "on"):
                return True
            if raw.strip().lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError(raw)
        return bool(raw)
    if kind is str:
        if not isinstance(raw, str):
            raise TypeError(raw)
        return raw
    return kind(raw)


THUMBNAIL_SIZES = {"small": 112, "medium": 160, "large": 224}

OPTIONS: tuple[Option, ...] = (
    Option("top_k", int, 24, "Number of matches to show", 1, 500),
    Option("min_score", float, 0.0, "Default minimum similarity", -1.0, 1.0),
    Option("thumbnail_size", int, THUMBNAIL_SIZES["medium"], "Thumbnail size (pixels)", 64, 512),
    Option("rotations", bool, False, "Rotation-robust search"),
    Option("group_by_equipment", bool, False, "Group matches by equipment"),
    Option("show_browser", bool, False, "Show the archive browser"),
    Option("last_query_folder", str, "", "Folder of the last opened query photo"),
    Option("last_add_folder", str, "", "Folder last added to the archive"),
    Option("last_metadata_folder", str, "", "Folder of the last metadata CSV"),
    Option("last_layout", str, "", "Last folder layout pattern"),
    Option("recent_archives", str, "", "Archive folders opened lately, newest first, one per line"),
)
_BY_KEY = {option.key: option for option in OPTIONS}


def default_qsettings() -> QSettings:
    """The real per-user settings store; only the application entry point should call this."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


class Preferences:
    """Typed access to the options in :data:`OPTIONS`, stored in the given ``QSettings``."""

    GROUP = "preferences"

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    @property
    def settings(self) -> QSettings:
        """The store these preferences live in (for a second window on the same settings)."""
        return self._settings

    def get(self, key: str) -> Any:
        """The option's stored value, or its default when absent or unusable."""
        option = _BY_KEY[key]
        raw = self._settings.value(f"{self.GROUP}/{key}")
        return option.default if raw is None else option.coerce(raw)

    def set(self, key: str, value: Any) -> None:
        """Store a value; it is checked against the option's type and range first."""
        option = _BY_KEY[key]
        checked = option.coerce(value)
        if checked != value:
            raise ValueError(f"{value!r} is not a valid value for {key!r}")
        self._settings.setValue(f"{self.GROUP}/{key}", checked)

    def as_dict(self) -> dict[str, Any]:
        return {option.key: self.get(option.key) for option in OPTIONS}

    def sync(self) -> None:
        self._settings.sync()


class WindowState:
    """Window geometry, dock/toolbar state and splitter positions (not user preferences)."""

    GROUP = "window"

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    def load(self, name: str) -> QByteArray | None:
        raw = self._settings.value(f"{self.GROUP}/{name}")
        if isinstance(raw, QByteArray) and not raw.isEmpty():
            return raw
        if isinstance(raw, bytes) and raw:
            return QByteArray(raw)
        return None

    def save(self, name: str, state: QByteArray) -> None:
        self._settings.setValue(f"{self.GROUP}/{name}", state)
