"""Reading the server's changes for a laptop's pull, in cursor order.

Every insert or update of a photo stamps it with the writing transaction's id (``changed_xid``).
A pull reads rows after its cursor and below the horizon ``pg_snapshot_xmin`` taken at its start:
every transaction below the horizon has finished, so no row committed late by a slow writer can
slip behind the cursor. The cursor (xid, photo id) is saved after each applied batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..progress import Progress
from .pg_connect import translated
from .pg_store import PgStore

if TYPE_CHECKING:
    from ..archive import Archive
    from ..sync import PullLimits, SyncReport, SyncState

_ROWS = (
    "SELECT p.id, p.content_hash, p.byte_size, p.width, p.height, p.format, p.taken_at, p.site, p.equipment_tag, "
    "p.equipment_name, p.equipment_type, p.area, p.inspected_on, p.inspector, p.notes, p.inspection_notes, p.extra, "
    "p.metadata_version, p.deleted, p.changed_xid::text::bigint, "
    "COALESCE(octet_length(m.thumbnail) + octet_length(m.display) + COALESCE(octet_length(m.keypoints), 0), 0) "
    "FROM photos p LEFT JOIN media m ON m.photo_id = p.id "
    "WHERE (p.changed_xid, p.id) > (%(xid)s::text::xid8, %(id)s) AND p.changed_xid < %(horizon)s::text::xid8 "
    "AND (%(sites)s::text[] IS NULL OR p.site = ANY(%(sites)s::text[])) "
    "AND (%(since)s::date IS NULL OR p.inspected_on >= %(since)s::date) "
    "ORDER BY p.changed_xid, p.id LIMIT %(limit)s")


def pull_batches(archive: Archive, store: PgStore, state: SyncState, report: SyncReport, limits: PullLimits, *,
                 progress: Progress | None = None, batch: int = 200) -> None:
    """Pull from the saved cursor to the horizon, ``batch`` photos per local transaction, within the budget."""
    from ..sync import FEATURE_BYTES, apply_pulled, server_document

    conn = store.conn()
    with translated(store.url, "pull"):
        horizon = int(conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()[0])
    cursor = (int(state.get("cursor_xid") or 0), int(state.get("cursor_id") or 0))
    used = int(state.conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM photos WHERE origin = 'pulled'").fetchone()[0])
    local = {r[0] for r in archive.catalog.conn.execute("SELECT content_hash FROM images")}
    while True:
        if progress is not None:
            progress.check()
            progress.report(report.pulled + report.updated, 0, "pulling")
        params = {"xid": str(cursor[0]), "id": cursor[1], "horizon": str(horizon), "limit": batch,
                  "sites": list(limits.sites) if limits.sites else None, "since": limits.since}
        with translated(store.url, "pull"):
            rows = conn.execute(_ROWS, params).fetchall()
        if not rows:
            return
        known = state.known()
        items: list[dict[str, Any]] = []
        last = cursor
        over_budget = False
        for row in rows:
            server_id, content_hash, version, deleted = row[0], row[1], row[17], row[18]
            mine = known.get(content_hash)
            item = {"id": server_id, "content_hash": content_hash, "byte_size": row[2], "width": row[3],
                    "height": row[4], "format": row[5], "taken_at": row[6], "version": version, "deleted": deleted,
                    "row": row[7:17], "bytes": int(row[20]) + FEATURE_BYTES * archive.extractor.dim}
            if mine is not None:
                if mine[0] == "shared" or version <= mine[2] or (deleted and mine[0] != "pulled"):
                    last = (row[19], server_id)
                    continue
                items.append(item | {"origin": mine[0], "bytes": 0 if mine[0] == "pushed" else item["bytes"]})
            elif not deleted and content_hash not in local:
                if limits.budget_bytes is not None and used + item["bytes"] > limits.budget_bytes:
                    over_budget = True
                    break
                used += item["bytes"]
                items.append(item | {"origin": "pulled", "new": True})
            last = (row[19], server_id)
        if items:
            with translated(store.url, "pull"):
                _fetch(store, items, server_document)
            apply_pulled(archive, state, report, items)
        cursor = last
        state.set("cursor_xid", str(cursor[0]))
        state.set("cursor_id", str(cursor[1]))
        if over_budget:
            params |= {"xid": str(cursor[0]), "id": cursor[1], "limit": 1 << 62}
            with translated(store.url, "pull"):
                report.not_pulled = sum(1 for r in conn.execute(_ROWS, params) if not r[18] and r[1] not in local)
            return


def _fetch(store: PgStore, items: list[dict[str, Any]], server_document) -> None:
    """Fill in documents (with labels) and, for new photos, features and media."""
    conn = store.conn()
    ids = [i["id"] for i in items]
    labels: dict[int, list[list[str]]] = {}
    for photo_id, kind, value in conn.execute("SELECT photo_id, kind, label FROM labels WHERE photo_id = ANY(%s) "
                                              "ORDER BY photo_id, kind, label", (ids,)):
        labels.setdefault(photo_id, []).append([kind, value])
    new = [i["id"] for i in items if i.get("new")]
    features = store.features_of(new) if new else {}
    media = {}
    if new:
        with conn.cursor(binary=True) as cursor:  # bytea as sent, not hex text twice its size
            media = {r[0]: (bytes(r[1]), bytes(r[2]), bytes(r[3]) if r[3] is not None else None)
                     for r in cursor.execute("SELECT photo_id, thumbnail, display, keypoints FROM media "
                                             "WHERE photo_id = ANY(%s)", (new,))}
    for item in items:
        item["document"] = server_document(item.pop("row"), labels.get(item["id"], []))
        if item.get("new") and item["id"] in features and item["id"] in media:
            item["features"] = features[item["id"]]
            item["thumbnail"], item["display"], item["keypoints"] = media[item["id"]]
