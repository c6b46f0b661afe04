"""Dates as people read them: "14 May 2023", "2 Apr 2016, 12:15" (never ISO strings with a "T")."""

from __future__ import annotations

from datetime import date, datetime

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def human_date(value: date | None) -> str:
    """``14 May 2023``; ``undated`` for ``None``. Day, month name and year read the same in every country."""
    if value is None:
        return "undated"
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def human_timestamp(text: str | None) -> str | None:
    """A stored timestamp (EXIF ``2016-04-02T12:15:53`` or ``2016:04:02 12:15:53``) as ``2 Apr 2016, 12:15``;
    text that is no timestamp is returned as it is, ``None`` stays ``None``."""
    if not text:
        return None
    cleaned = text.strip()
    if len(cleaned) >= 10 and cleaned[4] == ":" and cleaned[7] == ":":  # EXIF's own spelling of a date
        cleaned = cleaned[:4] + "-" + cleaned[5:7] + "-" + cleaned[8:]
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return text
    if len(cleaned) <= 10:
        return human_date(moment.date())
    return f"{human_date(moment.date())}, {moment:%H:%M}"
