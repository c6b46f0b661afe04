"""The JSON objects of the archive's records, shared by ``--json`` on the command line and the HTTP API,
so that both answer a question with the same objects."""

from __future__ import annotations

from typing import Any

from .core.records import AddReport, ArchiveStatus, EquipmentHistory, EquipmentHit, PhotoRecord, SearchHit


def result_json(rank: int, score: float, photo: PhotoRecord) -> dict[str, Any]:
    """One ranked match as ``search --json`` prints it."""
    return {
        "rank": rank, "score": round(score, 5), "image_id": photo.image_id, "path": str(photo.path),
        "equipment_tag": photo.equipment_tag, "equipment_type": photo.equipment_type, "site": photo.site,
        "inspected_on": photo.inspected_on.isoformat() if photo.inspected_on else None,
        "inspector": photo.inspector, "notes": photo.notes, "labels": labels_json(photo),
    }


def labels_json(photo: PhotoRecord) -> list[dict[str, str]]:
    """A photo's labels (defect, severity, equipment type, tags) as kind/value pairs."""
    return [{"kind": label.kind, "value": label.value} for label in photo.labels]


def hit_json(hit: SearchHit | EquipmentHit) -> dict[str, Any]:
    """A search hit with its geometric verification (``inliers``, ``same_object``, ``is_query``), or an
    equipment hit with its ``match_count`` and whether any of its photos is the same object."""
    if isinstance(hit, EquipmentHit):
        return result_json(hit.rank, hit.score, hit.best) | {"match_count": hit.match_count,
                                                             "same_object": hit.same_object}
    return result_json(hit.rank, hit.score, hit.photo) | {"inliers": hit.inliers, "same_object": hit.same_object,
                                                          "is_query": hit.is_query}


def photo_json(photo: PhotoRecord) -> dict[str, Any]:
    """Everything the archive knows about one photo."""
    return {
        "image_id": photo.image_id, "path": str(photo.path), "equipment_tag": photo.equipment_tag,
        "equipment_name": photo.equipment_name, "equipment_type": photo.equipment_type, "site": photo.site,
        "area": photo.area, "inspected_on": photo.inspected_on.isoformat() if photo.inspected_on else None,
        "inspector": photo.inspector, "notes": photo.notes, "width": photo.width, "height": photo.height,
        "taken_at": photo.taken_at, "extra": dict(photo.extra), "labels": labels_json(photo),
    }


def history_json(history: EquipmentHistory) -> dict[str, Any]:
    """An equipment's inspections in date order, as ``history --json`` prints them."""
    eq = history.equipment
    return {
        "equipment": {"tag": eq.tag, "name": eq.name, "type": eq.type, "site": eq.site, "area": eq.area,
                      "photo_count": eq.photo_count},
        "inspections": [
            {"inspected_on": i.inspected_on.isoformat() if i.inspected_on else None, "inspector": i.inspector,
             "notes": i.notes, "photos": [{"image_id": p.image_id, "path": str(p.path), "labels": labels_json(p)}
                                          for p in i.photos]}
            for i in history.inspections],
    }


def status_json(status: ArchiveStatus) -> dict[str, Any]:
    """Counts, model and index state, as ``status --json`` prints them."""
    return {
        "archive": str(status.folder), "photos": status.photos, "files": status.files, "deleted": status.deleted,
        "sites": status.sites, "equipment": status.equipment, "inspections": status.inspections,
        "model": status.model_id, "feature_dim": status.feature_dim, "projection": status.projection,
        "vector_dim": status.vector_dim, "index": {"state": status.index_state, "count": status.indexed},
        "schema_version": status.schema_version,
        "skipped": [{"path": str(s.path), "reason": s.reason, "seen_at": s.seen_at} for s in status.skipped],
        "messages": list(status.messages),
    }


def add_json(report: AddReport) -> dict[str, Any]:
    """What an ``add`` did, as ``add --json`` prints it."""
    return {
        "scanned": report.scanned, "added": report.added, "unchanged": report.unchanged, "moved": report.moved,
        "copies": report.copies, "updated_metadata": report.updated_metadata, "removed": report.removed,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in report.skipped],
        "metadata_errors": list(report.metadata_errors), "cancelled": report.cancelled,
        "seconds": round(report.seconds, 3), "notes": list(report.notes),
    }
