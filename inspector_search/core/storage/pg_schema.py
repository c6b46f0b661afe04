"""The shared archive's PostgreSQL schema: versioned migrations, roles and row-level security.

``server init URL`` (run as the database's owner) creates or migrates the schema and the two group
roles; users get their own login role in one of them (``server add-user``):

* ``inspector_reader``: searches and reads everything (photos, features, vectors, thumbnails);
* ``inspector_contributor`` (also a reader): adds photos and edits or deletes *only the photos it
  added*, enforced by row-level security on ``added_by = current_user``;
* the owner (the role that ran ``server init``) owns the tables and is not bound by the policies.

Vectors (``vector(dim)``, HNSW cosine index) and the projection are derived from the stored
features, so contributors may rewrite them (a refit) and the owner can always rebuild them.
Every statement is parameterised; names go through ``psycopg.sql.Identifier``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import SharedArchiveError
from .pg_connect import connect, redact, translated

READER_ROLE = "inspector_reader"
CONTRIBUTOR_ROLE = "inspector_contributor"
ROLES = {"reader": READER_ROLE, "contributor": CONTRIBUTOR_ROLE}
DEFAULT_VECTOR_DIM = 128  # the local archive's PCA dimension (ProjectionPolicy.dim)
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 100  # as the local hnswlib index (docs/benchmarks.md)
_INIT_LOCK = 0x49535231  # advisory lock key: one `server init` at a time

_V1 = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE schema_info (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE photos (
    id bigserial PRIMARY KEY,
    content_hash text NOT NULL UNIQUE,
    byte_size bigint NOT NULL, width integer, height integer, format text, taken_at text,
    site text, equipment_tag text, equipment_name text, equipment_type text, area text,
    inspected_on date, inspector text, notes text, inspection_notes text, extra jsonb,
    source_path text,
    added_by name NOT NULL DEFAULT current_user,
    added_at timestamptz NOT NULL DEFAULT now(),
    metadata_version integer NOT NULL DEFAULT 1,
    modified_by name NOT NULL DEFAULT current_user,
    modified_at timestamptz NOT NULL DEFAULT now(),
    changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    deleted boolean NOT NULL DEFAULT false);
CREATE INDEX photos_site ON photos (site);
CREATE INDEX photos_equipment ON photos (equipment_tag);
CREATE INDEX photos_day ON photos (inspected_on);
CREATE INDEX photos_changes ON photos (changed_xid, id);
CREATE TABLE features (
    photo_id bigint PRIMARY KEY REFERENCES photos (id) ON DELETE CASCADE,
    model_id text NOT NULL, features halfvec NOT NULL);
CREATE TABLE vectors (
    photo_id bigint PRIMARY KEY REFERENCES photos (id) ON DELETE CASCADE,
    projection_id text NOT NULL, embedding vector({dim}) NOT NULL);
CREATE INDEX vectors_hnsw ON vectors USING hnsw (embedding vector_cosine_ops)
    WITH (m = {m}, ef_construction = {ef_construction});
CREATE TABLE media (
    photo_id bigint PRIMARY KEY REFERENCES photos (id) ON DELETE CASCADE,
    thumbnail bytea NOT NULL, display bytea NOT NULL);
CREATE TABLE labels (
    photo_id bigint NOT NULL REFERENCES photos (id) ON DELETE CASCADE, label text NOT NULL,
    added_by name NOT NULL DEFAULT current_user, added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (photo_id, label));
CREATE TABLE projections (
    id text PRIMARY KEY, dim integer NOT NULL, fitted_on integer NOT NULL, data bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), active boolean NOT NULL DEFAULT false);
CREATE UNIQUE INDEX projections_one_active ON projections (active) WHERE active;
CREATE TABLE metadata_audit (
    id bigserial PRIMARY KEY, photo_id bigint, content_hash text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(), by_role name NOT NULL DEFAULT current_user,
    outcome text NOT NULL, base_version integer, server_version integer, proposed jsonb, kept jsonb);

CREATE FUNCTION photos_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id();
    NEW.modified_at := now();
    NEW.modified_by := current_user;
    RETURN NEW;
END $$;
CREATE TRIGGER photos_touch BEFORE UPDATE ON photos FOR EACH ROW EXECUTE FUNCTION photos_touch();

ALTER TABLE photos ENABLE ROW LEVEL SECURITY;
CREATE POLICY photos_read ON photos FOR SELECT USING (true);
CREATE POLICY photos_insert ON photos FOR INSERT WITH CHECK (added_by = current_user);
CREATE POLICY photos_update ON photos FOR UPDATE USING (added_by = current_user) WITH CHECK (added_by = current_user);
CREATE POLICY photos_delete ON photos FOR DELETE USING (added_by = current_user);
"""

_OWNED_CHILD = """
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY {table}_read ON {table} FOR SELECT USING (true);
CREATE POLICY {table}_write ON {table} FOR ALL
    USING (EXISTS (SELECT 1 FROM photos p WHERE p.id = photo_id AND p.added_by = current_user))
    WITH CHECK (EXISTS (SELECT 1 FROM photos p WHERE p.id = photo_id AND p.added_by = current_user));
"""

_GRANTS_V1 = """
GRANT USAGE ON SCHEMA {schema} TO inspector_reader;
GRANT SELECT ON schema_info, photos, features, vectors, media, labels, projections, metadata_audit
    TO inspector_reader;
GRANT INSERT, UPDATE, DELETE ON photos, features, media, labels, vectors TO inspector_contributor;
GRANT INSERT, UPDATE ON projections TO inspector_contributor;
GRANT INSERT ON metadata_audit TO inspector_contributor;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO inspector_contributor;
"""


@dataclass(frozen=True)
class Migration:
    """One named step from version ``n`` to ``n + 1``: SQL templates formatted with the archive's settings."""

    name: str
    scripts: tuple[str, ...]


_V2 = """
ALTER TABLE labels ADD COLUMN kind text NOT NULL DEFAULT 'tag';
ALTER TABLE labels DROP CONSTRAINT labels_pkey;
ALTER TABLE labels ADD PRIMARY KEY (photo_id, kind, label);
GRANT INSERT ON schema_info TO inspector_contributor;  -- the first push records the model (no UPDATE: nothing else)
"""

MIGRATIONS: list[Migration] = [
    Migration("create schema v1: photos, features, vectors (HNSW), media, labels, projections, audit, RLS",
              (_V1, *(_OWNED_CHILD.replace("{table}", t) for t in ("features", "media", "labels")), _GRANTS_V1)),
    Migration("v2: labels carry their kind (defect, severity, equipment_type, tag) as the local catalog's do",
              (_V2,)),
    Migration("v3: media keep the keypoints of their display copy (computed once by the pusher, not per laptop)",
              ("ALTER TABLE media ADD COLUMN keypoints bytea;",)),
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class InitReport:
    """What ``server init`` did."""

    url: str
    from_version: int
    to_version: int
    vector_dim: int
    applied: tuple[str, ...]


def schema_version(conn) -> int:
    """The schema version of the connected database (0 when the archive was never initialised)."""
    exists = conn.execute("SELECT to_regclass('schema_info') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM schema_info WHERE key = 'version'").fetchone()
    return int(row[0]) if row else 0


def check_schema(conn, url: str) -> int:
    """Refuse a server whose schema this program cannot use: never initialised, older (ask IT to run
    ``server init``) or newer (update the program). Returns the version."""
    version = schema_version(conn)
    if version == 0:
        raise SharedArchiveError(f"{redact(url)}: not a shared archive yet; run `inspector-search server init URL`")
    if version > SCHEMA_VERSION:
        raise SharedArchiveError(f"{redact(url)}: the archive's schema is version {version}, newer than this "
                                 f"Inspector Search knows ({SCHEMA_VERSION}); update the program (nothing was changed)")
    if version < SCHEMA_VERSION:
        raise SharedArchiveError(f"{redact(url)}: the archive's schema is version {version}, older than this "
                                 f"program needs ({SCHEMA_VERSION}); ask IT to run `inspector-search server init URL`")
    return version


def init_server(url: str, vector_dim: int = DEFAULT_VECTOR_DIM) -> InitReport:
    """Create or migrate the schema and the group roles (idempotent; one transaction per migration).
    Refuses a newer schema without touching it. ``vector_dim`` only applies to a new archive."""
    from psycopg import sql

    conn = connect(url, autocommit=True, vectors=False)
    try:
        with translated(url, "server init"):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INIT_LOCK,))
                _ensure_group_roles(conn)
            start = schema_version(conn)
            if start > SCHEMA_VERSION:
                raise SharedArchiveError(f"{redact(url)}: the archive's schema is version {start}, newer than "
                                         f"this Inspector Search knows ({SCHEMA_VERSION}); nothing was changed")
            if start:
                vector_dim = int(conn.execute("SELECT value FROM schema_info WHERE key = 'vector_dim'").fetchone()[0])
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            applied = []
            for version in range(start, SCHEMA_VERSION):
                migration = MIGRATIONS[version]
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INIT_LOCK,))
                    if schema_version(conn) != version:  # another `server init` got there first
                        continue
                    for script in migration.scripts:
                        text = script.format(dim=int(vector_dim), m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                                             schema="{schema}")
                        conn.execute(sql.SQL(text).format(schema=sql.Identifier(schema)))
                    _set_info(conn, "version", str(version + 1))
                    if version == 0:
                        _set_info(conn, "vector_dim", str(int(vector_dim)))
                applied.append(migration.name)
            _set_info(conn, "archive_id", secrets.token_hex(16), replace=False)  # a laptop's link names it
        return InitReport(redact(url), start, SCHEMA_VERSION, int(vector_dim), tuple(applied))
    finally:
        conn.close()


def _set_info(conn, key: str, value: str, replace: bool = True) -> None:
    conflict = "DO UPDATE SET value = EXCLUDED.value" if replace else "DO NOTHING"
    conn.execute("INSERT INTO schema_info (key, value) VALUES (%s, %s) ON CONFLICT (key) " + conflict, (key, value))


def _ensure_group_roles(conn) -> None:
    """The cluster-wide group roles (NOLOGIN), made once; contributors are readers too."""
    from psycopg import sql

    for role in (READER_ROLE, CONTRIBUTOR_ROLE):
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER_ROLE), sql.Identifier(CONTRIBUTOR_ROLE)))


def add_user(url: str, name: str, role: str, password: str | None = None) -> str:
    """Create (or re-grant) a login role ``name`` in the ``reader`` or ``contributor`` group. The password
    (generated when none is given) is sent only as a SCRAM verifier computed here; returns the password."""
    from psycopg import sql

    if role not in ROLES:
        raise SharedArchiveError(f"unknown role {role!r}: choose one of {', '.join(sorted(ROLES))}")
    password = password or secrets.token_urlsafe(18)
    conn = connect(url, autocommit=True, vectors=False)
    try:
        with translated(url, f"add user {name}"), conn.transaction():
            verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name),
                                                                             sql.Literal(verifier)))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(ROLES[role]), sql.Identifier(name)))
            others = [r for r in ROLES.values() if r != ROLES[role]]
            _revoke(conn, others, name)
        return password
    finally:
        conn.close()


def _revoke(conn, roles: Sequence[str], name: str) -> None:
    from psycopg import sql

    for other in roles:
        if other == READER_ROLE:  # a contributor stays a reader through its group
            continue
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), sql.Identifier(name)))
