"""The JSON HTTP API (FastAPI + uvicorn) over the archive façade: search, photos, equipment history,
uploads and imports as background jobs, guarded by API tokens. See ``docs/api.md``.

``python -m inspector_search.api`` prints the OpenAPI document (committed as ``docs/openapi.json``).
FastAPI is imported only by :mod:`.app`, so the token commands and the rest of the program work
without it.
"""
